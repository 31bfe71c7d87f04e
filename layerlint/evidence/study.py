"""``layerlint verify --study seed-orderings``: the often-quoted table of ten Conv block
orderings (Conv / ELU / MaxPool / Dropout / BatchNorm), rerun with confidence intervals.

Design (EVIDENCE.md §5): every ordering has the same parameter shapes, so within a seed
all orderings start from identical weights and see the same batch order (a randomized
complete block design, seed = block). Full mode: 10 seeds x 5 stratified folds x 20
epochs. The CPU design is reduced (opt-in): 3 seeds x 1 fold x 15 epochs on scikit-learn
digits (8x8, so convolutions are padded), unless ``--seeds`` says otherwise.
Primary endpoint: test NLL after the last epoch (as in the quoted table).
Analysis: mean NLL per ordering with a 95% t-interval over seeds (folds averaged within a
seed); Friedman test blocked on seeds; each ordering vs the canonical
Conv-BN-Act-Pool-Drop by paired t-test with Holm correction; how often each ordering is
best over 2000 bootstrap resamples of seeds; "tied with best" = not Holm-significantly
worse than the best ordering.
Control: Conv-BN-Pool-Act-Drop computes the same function as the canonical ordering
(max pooling commutes with the monotone ELU). It is tested on its own, outside the Holm
family of the ten orderings and outside the best-ordering search: it passes when its
per-seed NLL equals the canonical ordering's bit for bit, or else when the paired
difference is equivalent within CONTROL_DELTA (TOST at 95%); failing to find a
difference is not enough.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from layerlint.evidence.context import Context, TensorData
from layerlint.evidence.harness import _device_info, _versions, atomic_write_json, code_key
from layerlint.evidence.stats import EQUIVALENT, holm, summarize
from layerlint.evidence.training import evaluate, fit, init_hash

__all__ = ["ORDERINGS", "run"]

# (ordering, test loss quoted in the original single-run table on full MNIST, rounded to
# 3 significant digits). Source: the seed's table as transcribed, with every digit, in
# the research notes (EVIDENCE.md §5); it is one run per ordering with no spread.
ORDERINGS: tuple[tuple[str, float | None], ...] = (
    ("Conv-Act-Drop-BN-Pool", 0.0426), ("Conv-Act-Drop-Pool-BN", 0.0501),
    ("Conv-Act-BN-Pool-Drop", 0.0491), ("Conv-Act-BN-Drop-Pool", 0.0681),
    ("Conv-BN-Act-Drop-Pool", 0.0389), ("Conv-BN-Act-Pool-Drop", 0.0413),
    ("Conv-BN-Drop-Act-Pool", 0.0514), ("Conv-Drop-Act-BN-Pool", 0.0483),
    ("Conv-Drop-Act-Pool-BN", 0.0472), ("Conv-Drop-BN-Act-Pool", 0.0324),
)
CODE = "seed-orderings"  # for code_key
CANONICAL = "Conv-BN-Act-Pool-Drop"
CONTROL = "Conv-BN-Pool-Act-Drop"  # same function as CANONICAL
CONTROL_DELTA = 0.005  # nats: the control's equivalence margin, half the rules' 0.01


def _block(order: str, conv: nn.Conv2d, p: float) -> list[nn.Module]:
    make = {"Conv": lambda: conv, "Act": nn.ELU, "Pool": lambda: nn.MaxPool2d(2),
            "Drop": lambda: nn.Dropout(p),
            "BN": lambda: nn.BatchNorm2d(conv.out_channels, eps=1e-3, momentum=0.01)}
    return [make[name]() for name in order.split("-")]


def build(order: str, shape: tuple[int, ...], classes: int) -> nn.Sequential:
    channels, height, width = shape
    conv1 = nn.Conv2d(channels, 32, 3, padding=1)
    conv2 = nn.Conv2d(32, 64, 3, padding=1)
    dense = nn.Linear(64 * (height // 4) * (width // 4), 512)
    head = nn.Linear(512, classes)
    return nn.Sequential(*_block(order, conv1, 0.2), *_block(order, conv2, 0.3),
                         nn.Flatten(), dense, nn.ELU(), head)


def _torch_source(order: str) -> str:
    """The ordering as PyTorch source, for linting with layerlint itself."""
    text = {"Conv": "nn.Conv2d({i}, {o}, 3, padding=1)", "Act": "nn.ELU()",
            "Pool": "nn.MaxPool2d(2)", "Drop": "nn.Dropout({p})",
            "BN": "nn.BatchNorm2d({o}, eps=1e-3, momentum=0.01)"}
    lines = []
    for i, o, p in ((1, 32, 0.2), (32, 64, 0.3)):
        lines += [f"            {text[n].format(i=i, o=o, p=p)}," for n in order.split("-")]
    body = "\n".join(lines)
    return ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.net = nn.Sequential(\n" + body +
            "\n            nn.Flatten(),\n            nn.Linear(3136, 512),\n"
            "            nn.ELU(),\n            nn.Linear(512, 10),\n        )\n\n"
            "    def forward(self, x):\n        return self.net(x)\n")


def rules_firing(order: str) -> list[str] | None:
    """Codes layerlint reports on the ordering's source; None if no rule can see it."""
    from layerlint.engine import check_paths
    from layerlint.registry import all_rules

    rules = [r for r in all_rules() if r.code.startswith("LL1")]
    if not rules:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.py"
        path.write_text(_torch_source(order), encoding="utf-8")
        result = check_paths([path], rules)
    return sorted({f.code for f in result.findings})


def _fold(data: TensorData, fold: int, folds: int) -> TensorData:
    """Fold k of a stratified k-fold over train+test (fold assignment fixed, seed 0)."""
    if folds == 1:
        return data
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    assign = torch.empty(len(y), dtype=torch.long)
    rng = np.random.default_rng(0)
    for label in torch.unique(y).tolist():
        index = np.flatnonzero((y == label).cpu().numpy())
        assign[rng.permutation(index)] = torch.arange(len(index)) % folds
    test = (assign == fold).to(x.device)
    return TensorData(data.name, x[~test], y[~test], x[test], y[test], data.n_classes,
                      data.image_shape, data.info)


def _trial(ctx: Context, order: str, seed: int, fold: int, folds: int, epochs: int) -> dict:
    data = _fold(ctx.data("image").images(), fold, folds)
    generator = ctx.seed(seed)
    model = build(order, data.image_shape, data.n_classes).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=epochs, batch=32)
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "train_loss": curve}


def analyse(per_seed: dict[str, list[float]], control: str | None = None) -> dict:
    """Per-ordering mean/CI, Friedman, Holm pairwise vs canonical and vs best, bootstrap.

    ``control`` gets a table row but stays out of the Friedman test, the Holm families and
    the best-ordering search (it is tested on its own: ``control_test``)."""
    from scipy import stats

    names = [n for n in per_seed if n != control]
    matrix = np.array([per_seed[n] for n in names])  # orderings x seeds
    n = matrix.shape[1]
    t = float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.inf
    table = {}
    for name, row in ((n, np.asarray(per_seed[n])) for n in per_seed):
        half = t * row.std(ddof=1) / math.sqrt(n) if n > 1 else math.inf
        table[name] = {"mean": float(row.mean()), "ci": [float(row.mean() - half),
                                                         float(row.mean() + half)]}
    friedman = (float(stats.friedmanchisquare(*matrix).pvalue)
                if n >= 2 and len(names) >= 3 else None)

    def paired_p(a: str, b: str) -> float:
        d = np.asarray(per_seed[a]) - np.asarray(per_seed[b])
        if n < 2 or not np.any(d):
            return 1.0
        if d.std(ddof=1) == 0:
            return 0.0
        return float(stats.ttest_rel(per_seed[a], per_seed[b]).pvalue)

    best = min(names, key=lambda k: table[k]["mean"])
    vs_canonical = holm({k: paired_p(k, CANONICAL) for k in names if k != CANONICAL})
    vs_best = holm({k: paired_p(k, best) for k in names if k != best})
    rng = np.random.default_rng(0)
    wins = dict.fromkeys(names, 0)
    for _ in range(2000):
        sample = matrix[:, rng.integers(0, n, n)].mean(axis=1)
        wins[names[int(sample.argmin())]] += 1
    for name in names:
        table[name]["p_vs_canonical_holm"] = vs_canonical.get(name)
        table[name]["tied_with_best"] = name == best or vs_best[name] >= 0.05
        table[name]["best_frequency"] = wins[name] / 2000
    if control is not None:
        table[control].update(p_vs_canonical_holm=None, tied_with_best=None,
                              best_frequency=None)
    return {"orderings": table, "friedman_p": friedman, "best": best}


def control_test(control: list[float], canonical: list[float]) -> dict:
    """The control on its own: bit-identical to the canonical ordering, or equivalent."""
    diffs = [a - b for a, b in zip(control, canonical, strict=True)]
    gap = max(abs(d) for d in diffs)
    if gap == 0:
        return {"max_abs_gap": 0.0, "test": "bit-identical per-seed NLL", "passed": True}
    summary = summarize(diffs, CONTROL_DELTA)
    return {"max_abs_gap": gap, "summary": summary.to_dict(), "passed":
            summary.verdict == EQUIVALENT and not summary.zero_variance,
            "test": f"equivalence within +-{CONTROL_DELTA} nats (TOST, 95%)"}


def run(name: str, ctx: Context, options, echo, session=None) -> dict:
    """Run (or resume) the study; ``session`` (a RaySession) runs the trials as Ray tasks."""
    if name != "seed-orderings":
        raise ValueError(f"unknown study {name!r}")
    seeds = options.seeds or ctx.budget(2, 3, 10)
    folds = ctx.budget(1, 1, 5)
    epochs = ctx.budget(1, 15, 20)
    orders = [o for o, _ in ORDERINGS] + [CONTROL]
    path = options.out / "seed-orderings.json"
    config = {"mode": ctx.mode, "seeds": seeds, "folds": folds, "epochs": epochs,
              "device": ctx.device.type, "torch": torch.__version__,
              "code_key": code_key(sys.modules[__name__]),
              "data": str(ctx.data_dir or "digits")}
    previous = {}
    if path.is_file():
        import json

        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            previous = old.get("trials", {}) if old.get("config") == config else {}
        except ValueError:
            previous = {}
    report = {"study": name, "config": config, "trials": previous, "complete": False,
              "device": _device_info(ctx), "versions": _versions(),
              "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    pending = [(o, s, f) for o in orders for s in range(seeds) for f in range(folds)
               if f"{o}|{s}|{f}" not in previous]
    echo(f"seed-orderings: {len(orders)} orderings x {seeds} seeds x {folds} folds x "
         f"{epochs} epochs on {ctx.device} ({len(pending)} trials to run)")
    from layerlint.evidence.harness import _progress

    bar = _progress(len(pending), "seed-orderings", options.progress)
    items = [(order, seed, fold, folds, epochs) for order, seed, fold in pending]
    results = (session.map(f"{__name__}:_trial", ctx, items) if session is not None
               else ((args, _trial(ctx, *args)) for args in items))
    try:
        for (order, seed, fold, _folds, _epochs), metrics in results:
            report["trials"][f"{order}|{seed}|{fold}"] = metrics
            report["datasets"] = ctx.datasets()
            atomic_write_json(path, report)
            bar.update(1)
    finally:
        bar.close()
    trials = report["trials"]
    for seed in range(seeds):  # pairing: identical initial weights across orderings
        hashes = {trials[f"{o}|{seed}|0"]["init_hash"] for o in orders}
        if len(hashes) != 1:
            raise RuntimeError(f"seed {seed}: orderings start from different weights")
    per_seed = {o: [float(np.mean([trials[f"{o}|{s}|{f}"]["nll"] for f in range(folds)]))
                    for s in range(seeds)] for o in orders}
    analysis = analyse(per_seed, control=CONTROL)
    report["analysis"] = analysis
    report["per_seed_nll"] = per_seed
    report["control"] = {"name": f"{CONTROL} == {CANONICAL}",
                         **control_test(per_seed[CONTROL], per_seed[CANONICAL])}
    report["rules"] = {o: rules_firing(o) for o in orders}
    if not ctx.datasets():  # every trial ran elsewhere (Ray) or was resumed
        ctx.data("image")
    report["datasets"] = ctx.datasets()
    report["complete"] = True
    atomic_write_json(path, report)
    (options.out / "seed-orderings.md").write_text(markdown(report), encoding="utf-8")
    _plot(report, options.out)
    return {"study": report}


def markdown(report: dict) -> str:
    a = report["analysis"]
    quoted = dict(ORDERINGS)
    cfg = report["config"]
    out = [f"# Seed-orderings study ({cfg['mode']} mode: {cfg['seeds']} seeds x "
           f"{cfg['folds']} folds x {cfg['epochs']} epochs, data {cfg['data']})", "",
           f"Device {report['device']['type']} ({report['device'].get('name')}), torch "
           f"{report['versions']['torch']}, {report['date']}. Friedman p = "
           f"{a['friedman_p'] if a['friedman_p'] is None else format(a['friedman_p'], '.3g')}."
           , "",
           "| # | ordering | test NLL mean [95% CI] | quoted (1 run, MNIST) | vs canonical "
           "(Holm p) | tied with best | best in bootstrap | rules firing |",
           "|---|---|---|---|---|---|---|---|"]
    for i, (name, row) in enumerate(a["orderings"].items(), start=1):
        rules = report["rules"].get(name)
        p = row["p_vs_canonical_holm"]
        tied = {True: "yes", False: "no", None: "-"}[row["tied_with_best"]]
        frequency = "-" if row["best_frequency"] is None else f"{row['best_frequency']:.0%}"
        out.append(
            f"| {i if name != CONTROL else 'control'} | {name} | {row['mean']:.4f} "
            f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}] | {quoted.get(name, '-')} | "
            f"{'-' if p is None else format(p, '.3g')} | "
            f"{tied} | {frequency} | "
            f"{'n/a' if rules is None else ', '.join(rules) or 'none'} |")
    c = report["control"]
    out += ["", f"Control {c['name']} (tested on its own, {c['test']}; outside the Holm "
            f"family): max per-seed gap {c['max_abs_gap']:.2g}, "
            f"{'passed' if c['passed'] else 'FAILED'}."]
    return "\n".join(out) + "\n"


def _plot(report: dict, out_dir: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = report["analysis"]["orderings"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    means = [rows[n]["mean"] for n in names]
    errors = [[m - rows[n]["ci"][0] for n, m in zip(names, means, strict=True)],
              [rows[n]["ci"][1] - m for n, m in zip(names, means, strict=True)]]
    ax.errorbar(range(len(names)), means, yerr=errors, fmt="o", capsize=3,
                label="this run (95% CI)")
    quoted = dict(ORDERINGS)
    ax.scatter([i for i, n in enumerate(names) if quoted.get(n)],
               [quoted[n] for n in names if quoted.get(n)], marker="x", color="red",
               label="quoted (1 run, full MNIST)")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("test NLL")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "seed-orderings.png", dpi=110)
    plt.close(fig)
