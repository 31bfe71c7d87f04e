"""``layerlint verify``: discover evidence modules, run them, summarise.

The CLI passes ``echo``; nothing here exits. torch is imported only after
``require_torch`` has succeeded.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTALL_HINT", "MissingTorch", "VerifyOptions", "discover", "require_torch",
           "verify"]

INSTALL_HINT = "pip install 'layerlint[verify]'"
_FOLDER = re.compile(r"^(ll\d{3})_\w+$")


class MissingTorch(RuntimeError):
    pass


@dataclass(frozen=True)
class VerifyOptions:
    codes: tuple[str, ...] = ()
    mode: str = "quick"
    device: str = "auto"
    seeds: int | None = None
    out: Path = Path("layerlint-evidence")
    data: Path | None = None
    jobs: int = 1
    study: str | None = None
    threads: int = 1
    progress: bool = True
    backend: str = "local"  # "local" (serial or --jobs processes) or "ray"
    address: str | None = None  # Ray cluster address; None starts a local Ray
    gpus_per_trial: float | None = None
    cpus_per_trial: float | None = None  # default: the thread count


def require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingTorch(f"`layerlint verify` needs torch: {INSTALL_HINT}") from None


def discover() -> dict[str, str]:
    """Rule code -> evidence module name, for every ``rules/<folder>/evidence.py``.

    Folders are scanned on disk, so a rule folder that has only its evidence (no
    ``__init__.py`` yet: a namespace package) is found too.
    """
    import layerlint.rules as package

    found: dict[str, str] = {}
    for root in package.__path__:
        for folder in sorted(Path(root).iterdir()):
            match = _FOLDER.match(folder.name)
            if match and (folder / "evidence.py").is_file():
                found[match.group(1).upper()] = f"{package.__name__}.{folder.name}.evidence"
    return dict(sorted(found.items()))


def prepare_out(out: Path) -> None:
    """Create the report folder and check that reports can be written there (before any
    trial runs); ValueError (a usage error) saying why not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"--out {out}: not a folder") from None
    except OSError as error:
        raise ValueError(f"--out {out}: cannot create the report folder: "
                         f"{error.strerror or error}") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ValueError(f"--out {out}: cannot write reports there: "
                         f"{error.strerror or error}") from None


def _check_resumable(path: Path) -> None:
    """A report left there is resumed or replaced; a JSON file of another shape is not
    layerlint's to overwrite: ValueError (a usage error)."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return  # absent or unreadable: the harness starts anew
    trials = old.get("trials", {}) if isinstance(old, dict) else None
    if not isinstance(trials, dict) or not all(isinstance(t, dict) for t in trials.values()):
        raise ValueError(f"--out {path.parent}: {path.name} there is not a layerlint "
                         f"evidence report; move it away or choose another --out")


def select(codes: tuple[str, ...], available: dict[str, str]) -> list[str]:
    """Codes or prefixes (LL1, LL101); empty selects every module."""
    if not codes:
        return list(available)
    chosen: list[str] = []
    for raw in codes:
        key = raw.strip().upper()
        matched = [code for code in available if code.startswith(key)] if key else []
        if not key.startswith("LL") or not matched:
            raise ValueError(f"no evidence module for {raw!r}; available: "
                             f"{', '.join(available)}")
        chosen += [c for c in matched if c not in chosen]
    return chosen


def with_user_mode(path: Path) -> None:
    """Give a JSON report the permissions any file the user writes gets (their umask):
    the harness writes it atomically through mkstemp, which creates it 0600. (Done
    here, not in the harness: the harness's source is part of every reference's code
    key.)"""
    mask = os.umask(0o022)  # the only way to read the umask is to set it: restore it
    os.umask(mask)
    try:
        os.chmod(path, 0o666 & ~mask)
    except OSError:
        pass  # not written (an empty run): nothing to publish


def verify(options: VerifyOptions, echo: Callable[[str], None]) -> list[dict]:
    """Run the selected modules; return one result dict per rule (report + status)."""
    require_torch()
    prepare_out(options.out)  # before any trial runs
    from layerlint.evidence import report as _report
    from layerlint.evidence.context import Context, configure_determinism, resolve_device
    from layerlint.evidence.harness import run_module

    device = resolve_device(options.device)
    configure_determinism(device, options.threads)
    ctx = Context(mode=options.mode, device=device, data_dir=options.data)
    available = discover()
    chosen = [] if options.study else select(options.codes, available)
    for code in chosen:
        _check_resumable(options.out / f"{code}.json")
    session = _ray_session(options, device.type, echo) if options.backend == "ray" else None
    results = []
    try:
        if options.study:
            from layerlint.evidence import study

            result = study.run(options.study, ctx, options, echo, session)
            with_user_mode(options.out / f"{options.study}.json")
            return [result]
        for code in chosen:
            module = importlib.import_module(available[code])
            echo(f"{code}: running {options.mode} mode on {device} ...")
            report = run_module(module, ctx, options.out, seeds=options.seeds,
                                progress=options.progress, jobs=options.jobs,
                                run_trial=session.runner(module, ctx) if session else None)
            with_user_mode(options.out / f"{code}.json")
            status = _report.compare_reference(report, _report.load_reference(code))
            pngs = _report.plots(report, options.out)
            (options.out / f"{code}.md").write_text(_report.markdown(report, status, pngs),
                                                    encoding="utf-8")
            results.append({"report": report, "reference": status, "plots": pngs})
    finally:
        if session is not None:
            session.close()
    return results


def _ray_session(options: VerifyOptions, device_type: str, echo: Callable[[str], None]):
    from layerlint.evidence.ray_backend import RayOptions, RaySession

    cpus = options.cpus_per_trial or float(options.threads)
    ray_options = RayOptions(address=options.address, cpus_per_trial=cpus,
                             gpus_per_trial=options.gpus_per_trial,
                             local_cpus=int(options.jobs * cpus) if options.jobs > 1 else None)
    return RaySession(ray_options, device_type, options.threads, echo)


def render_table(results: list[dict]) -> str:
    from layerlint.evidence.report import table_row

    if results and "study" in results[0]:
        from layerlint.evidence.study import markdown

        return markdown(results[0]["study"])
    rows = []
    for result in results:
        row = table_row(result["report"])
        row["reference"] = result["reference"][0]
        rows.append(row)
    if not rows:
        return ""
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    line = "  ".join(h.ljust(widths[h]) for h in headers)
    body = ["  ".join(r[h].ljust(widths[h]) for h in headers) for r in rows]
    notes = [f"{r['report']['code']}: {r['report']['primary']['note']}" for r in results
             if r["report"]["primary"].get("note", "").startswith(("about", "no variance"))]
    notes += [f"{r['report']['code']}: no controls ran (no trained arms)" for r in results
              if not r["report"].get("controls_run")]
    notes += [f"{r['report']['code']} vs reference: {r['reference'][0]} ({r['reference'][1]})"
              for r in results if r["reference"][1]]
    return "\n".join([line, "  ".join("-" * widths[h] for h in headers), *body, "", *notes])
