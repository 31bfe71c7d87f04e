"""Render evidence reports (table rows, Markdown, plots) and compare with the bundled
reference result. Torch-free: ``layerlint explain`` uses it."""

from __future__ import annotations

import json
import urllib.parse
from importlib import resources
from pathlib import Path

__all__ = ["compare_reference", "describe_reference", "effect_text", "load_reference",
           "markdown", "plots", "table_row"]

REFERENCE_NAME = "reference.json"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}" if abs(value) < 1e-3 and value \
        else f"{value:.{digits}f}"


def effect_text(primary: dict) -> str:
    """'+0.778 [0.763, 0.793] log ratio' or the exact measurement."""
    if primary.get("exact"):
        return f"exact: {primary['value']:.3g}"
    scale = primary.get("scale", 1.0) or 1.0
    low, high = primary["ci"]
    unit = f" {primary['unit']}" if primary.get("unit") else ""
    text = f"{primary['mean'] * scale:+.3f} [{low * scale:+.3f}, {high * scale:+.3f}]{unit}"
    return text + (" (no variance)" if primary.get("zero_variance") else "")


def _comparison_effect(row: dict) -> str:
    c, s = row["comparison"], row["summary"]
    return effect_text({**c, **s, "ci": [s["ci_low"], s["ci_high"]]})


def verdict_text(report: dict) -> str:
    primary = report["primary"]
    if report.get("withheld"):
        return "withheld (control failed)"
    if primary.get("exact"):  # a deterministic primary: it shows the mechanism only
        return f"mechanism only (exact: {_mechanism(primary.get('mechanism'))})"
    text = primary["verdict"]
    if primary.get("note", "").startswith("smaller than delta"):
        text += ", < delta"
    if primary.get("zero_variance"):
        text += f" (no variance in {primary['n']} seeds)"
    return text


def _mechanism(verdict: str | None) -> str:
    """Mechanism rows of references recorded before schema 2 used rule verdicts."""
    return {"supported": "confirmed", "equivalent": "confirmed",
            "contradicted": "refuted"}.get(verdict or "", verdict or "?")


def secondary_text(row: dict) -> str:
    """'test NLL: supported +0.019 [...] nats (exploratory, Holm p 0.0021)'; the interval
    is Bonferroni-simultaneous over the secondary family (95% jointly)."""
    s = row["summary"]
    holm_p = row.get("holm_p")
    extra = "exploratory" + ("" if holm_p is None else f", Holm p {holm_p:.2g}")
    verdict = s["verdict"] + (", < delta" if s["note"].startswith("smaller than delta")
                              else "")
    return f"{row['comparison']['name']}: {verdict} {_comparison_effect(row)} ({extra})"


def secondary_rows(report: dict) -> list[dict]:
    name = report["primary"]["name"]
    return [r for r in report.get("comparisons", [])
            if r.get("role", "secondary") == "secondary" and r["comparison"]["name"] != name]


def mechanism_text(report: dict) -> str:
    """'exact: 9 of 9 confirmed' plus the names of any refuted row."""
    rows = report.get("exact", [])
    if not rows:
        return ""
    refuted = [e["name"] for e in rows if _mechanism(e["verdict"]) != "confirmed"]
    text = f"mechanism (exact): {len(rows) - len(refuted)} of {len(rows)} confirmed"
    return text + (f", refuted: {'; '.join(refuted)}" if refuted else "")


def controls_text(report: dict) -> str:
    """What the controls did, or plainly that none ran."""
    controls = report.get("controls") or []
    if not controls:
        return "none run"
    return ", ".join(f"{c['name'].split(':')[0]} {'passed' if c['passed'] else 'FAILED'}"
                     for c in controls)


def table_row(report: dict) -> dict[str, str]:
    primary = report["primary"]
    return {"rule": report["code"], "endpoint": primary["name"],
            "effect (95% CI)": effect_text(primary),
            "seeds": str(primary["n"]) if not primary.get("exact") else "-",
            "verdict": verdict_text(report), "controls": controls_text(report)}


def _rule_folder(code: str):
    root = resources.files("layerlint.rules")
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith(code.lower() + "_"):
            return entry
    return None


def load_reference(code: str) -> dict | None:
    folder = _rule_folder(code)
    if folder is None:
        return None
    entry = folder / REFERENCE_NAME
    if not entry.is_file():
        return None
    try:
        return json.loads(entry.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _setting(report: dict) -> str:
    device = report["device"]
    gpu = (f", driver {device.get('driver') or '?'}, CUDA {device.get('cuda') or '?'}"
           if device["type"] == "cuda" else "")
    return (f"{report['mode']} mode, {device['type']} ({device.get('name') or '?'}{gpu}), "
            f"torch {report['versions']['torch']}, {report['date'][:10]}")


def compare_reference(report: dict, reference: dict | None) -> tuple[str, str]:
    """'reproduced' when the verdict matches and the CIs overlap (exact: same verdict)."""
    if reference is None:
        return "no reference", ""
    fresh, ref = report["primary"], reference["primary"]
    setting = f"reference: {_setting(reference)}"
    if fresh["name"] != ref["name"]:
        return "differs", f"primary endpoint changed ({ref['name']!r}); {setting}"
    if fresh["verdict"] != ref["verdict"] or fresh.get("mechanism") != ref.get("mechanism"):
        return "differs", f"verdict {fresh['verdict']} vs reference {ref['verdict']}; {setting}"
    if not fresh.get("exact") and fresh["ci"] and ref["ci"]:
        low, high = fresh["ci"]
        ref_low, ref_high = ref["ci"]
        if high < ref_low or low > ref_high:
            return "differs", (f"same verdict, but the CI does not overlap the reference "
                               f"{effect_text(ref)}; {setting}")
    return "reproduced", setting


def reference_rows(codes: list[str]) -> list[str]:
    """README table rows (Markdown) of the bundled reference results."""
    rows = []
    for code in codes:
        reference = load_reference(code)
        if reference is None:
            continue
        primary = reference["primary"]
        others = [secondary_text(r) for r in secondary_rows(reference)]
        others += [t for t in [mechanism_text(reference)] if t]
        seeds = "-" if primary.get("exact") else str(primary["n"])
        rows.append(f"| {code} | {primary['name']} | {effect_text(primary)} | {seeds} | "
                    f"{verdict_text(reference)} | {'; '.join(others) or '-'} | "
                    f"{controls_text(reference)} | {reference['wall_s']:.0f} s |")
    return rows


def describe_reference(code: str) -> str | None:
    """The bundled reference result as Markdown lines for ``layerlint explain``: the
    primary endpoint's verdict, then every other endpoint, nulls included."""
    reference = load_reference(code)
    if reference is None:
        return None
    primary = reference["primary"]
    lines = [f"- primary endpoint, {primary['name']}: **{verdict_text(reference)}**, "
             f"{effect_text(primary)}"
             + (f", {primary['n']} seeds" if not primary.get("exact") else "")
             + (f" ({primary['note']})" if primary.get("note") else "")]
    lines += [f"- secondary, {secondary_text(r)}" for r in secondary_rows(reference)]
    for check in reference.get("exact", []):
        if check["name"] != primary["name"]:
            lines.append(f"- mechanism (exact), {check['name']}: "
                         f"{_mechanism(check['verdict'])}, {check['endpoint']} = "
                         f"{check['value']:.4g}")
    lines.append(f"- controls: {controls_text(reference)}")
    if reference.get("comparisons"):
        lines.append("- effects are paired differences with 95% CIs (secondary endpoints: "
                     "jointly, Bonferroni); positive means the flagged pattern is worse; "
                     "only the primary endpoint gives a verdict")
    lines.append(f"- recorded: {_setting(reference)}; rerun with "
                 f"`layerlint verify {code}`")
    return "\n".join(lines)


def markdown(report: dict, reference_status: tuple[str, str] | None = None,
             plot_files: list[Path] | None = None) -> str:
    """The report as Markdown; ``plot_files`` (written beside it by ``plots``) are
    embedded by their file names, so the images show wherever the folder is viewed."""
    out = [f"# {report['code']} evidence ({report['mode']} mode)", "",
           report.get("question", ""), "",
           f"- device: {_device_line(report['device'])}",
           "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
           f"- date: {report['date']}, wall time {report.get('wall_s')} s",
           "- datasets: " + ", ".join(f"{k} (sha256 {v['sha256'][:12]}…, pinned "
                                      f"{v['pinned']})" for k, v in report["datasets"].items()),
           f"- primary endpoint: {report['primary']['name']}; verdict: "
           f"**{verdict_text(report)}**, {effect_text(report['primary'])}",
           f"- controls: {controls_text(report)}"]
    if reference_status:
        out.append(f"- against the bundled reference: {reference_status[0]} "
                   f"({reference_status[1]})")
    if report["exact"]:
        out += ["", "## Mechanism (exact checks: they show the mechanism, never a verdict)",
                "", "| check | endpoint | value | expectation |", "|---|---|---|---|"]
        for e in report["exact"]:
            out.append(f"| {_cell(e['name'])} | {_cell(e['endpoint'])} | {e['value']:.4g} | "
                       f"{_mechanism(e['verdict'])} |")
    if report["comparisons"]:
        out += ["", "## Paired comparisons (A - B, positive = flagged arm worse)", "",
                "Secondary endpoints are exploratory: Bonferroni-simultaneous intervals "
                "(95% jointly) and Holm-adjusted p.", "",
                "| comparison | role | A | B | mean [CI] | level | d_z | Wilcoxon p | "
                "Holm p | A worse | verdict |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in report["comparisons"]:
            comp, s = c["comparison"], c["summary"]
            scale = comp["scale"]
            out.append(
                f"| {_cell(comp['name'])} | {c.get('role', '?')} | {_cell('/'.join(comp['a']))} | "
                f"{_cell('/'.join(comp['b']))} | "
                f"{s['mean'] * scale:+.4f} [{s['ci_low'] * scale:+.4f}, "
                f"{s['ci_high'] * scale:+.4f}]{_bca(s, scale)} {_cell(comp['unit'])} | "
                f"{s.get('level', 0.95):.1%} | {_num(s['d_z'], 2)} | "
                f"{_num(s['wilcoxon_p'], 3)} | {_num(c.get('holm_p'), 3)} | "
                f"{s['worse_in']} of {s['n']} | "
                f"{s['verdict']}{' (' + _cell(s['note']) + ')' if s['note'] else ''} |")
    out += ["", "## Controls", ""]
    out += [f"- {c['name']}: {'passed' if c['passed'] else 'FAILED'}"
            for c in report["controls"]] or ["- none run: this run has no A/A or determinism "
                                              "control, so nothing vouches for the harness"]
    if plot_files:
        out += ["", "## Plots", ""]
        out += [f"![{_PLOT_TITLES.get(p.stem.rsplit('_', 1)[-1], p.stem)}]"
                f"({urllib.parse.quote(p.name)})" for p in plot_files]
    out += ["", "Per-seed values are in the JSON report."]
    return "\n".join(out) + "\n"


_PLOT_TITLES = {"differences": "Paired differences per seed, with the 95% CI and ±δ",
                "training": "Training loss per epoch: each seed (thin) and the mean (bold)"}


def plots(report: dict, out_dir: Path) -> list[Path]:
    """Paired differences per seed with the CI, and training curves; [] without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return []
    written = []
    comparisons = report["comparisons"]
    if comparisons:
        fig, axes = plt.subplots(1, len(comparisons), figsize=(3.2 * len(comparisons), 3),
                                 squeeze=False)
        for ax, c in zip(axes[0], comparisons, strict=True):
            comp, s, scale = c["comparison"], c["summary"], c["comparison"]["scale"]
            diffs = [d * scale for d in c["diffs"]]
            ax.scatter(range(1, len(diffs) + 1), diffs, s=12, label="seed (A - B)")
            ax.axhline(0, color="grey", lw=0.8)
            ax.axhspan(s["ci_low"] * scale, s["ci_high"] * scale, alpha=0.25,
                       label="95% CI of the mean")
            for sign in (-1, 1):
                ax.axhline(sign * comp["delta"] * scale, color="red", ls=":", lw=0.8,
                           label=f"±δ = {comp['delta'] * scale:.3g} (smallest effect of "
                                 "interest)" if sign > 0 else None)
            ax.set_title(f"{comp['name']}\n{s['verdict']}", fontsize=8)
            ax.set_xlabel("seed", fontsize=8)
            ax.set_ylabel(f"A - B ({comp['unit']})", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=6)
        fig.tight_layout()
        path = out_dir / f"{report['code']}_differences.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    curves = {arm: [row[arm]["train_loss"] for row in report["trials"].values()
                    if isinstance(row.get(arm, {}).get("train_loss"), list)]
              for arm in report["arms"]}
    if any(curves.values()):
        fig, ax = plt.subplots(figsize=(4.5, 3))
        for arm, runs in curves.items():
            colour = f"C{report['arms'].index(arm)}"  # one colour per arm
            for run in runs:
                ax.plot(range(1, len(run) + 1), run, lw=0.5, alpha=0.35, color=colour)
            length = min((len(run) for run in runs), default=0)
            if length:
                mean = [sum(run[i] for run in runs) / len(runs) for i in range(length)]
                ax.plot(range(1, length + 1), mean, lw=2.2, color=colour,
                        label=f"{arm} (mean of {len(runs)} seeds)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"{report['code']}_training.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _cell(text: str) -> str:
    """A Markdown table cell: endpoints such as ||dL/db|| would split the row."""
    return text.replace("|", "\\|")


def _device_line(device: dict) -> str:
    parts = [f"{device['type']} ({device.get('name')})", f"threads {device.get('threads')}"]
    if device.get("cpu") and device.get("cpu") != device.get("name"):
        parts.append(f"CPU {device['cpu']}")
    if device["type"] == "cuda":
        parts += [f"driver {device.get('driver') or '?'}", f"CUDA {device.get('cuda') or '?'}",
                  f"cuDNN {device.get('cudnn') or '?'}"]
    return ", ".join(parts)


def _bca(summary: dict, scale: float) -> str:
    """The BCa bootstrap interval, when the run had enough seeds for one."""
    if summary.get("bca_low") is None:
        return ""
    return f" (BCa [{summary['bca_low'] * scale:+.4f}, {summary['bca_high'] * scale:+.4f}])"
