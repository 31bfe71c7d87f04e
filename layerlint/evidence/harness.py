"""Run one evidence module: trials per (seed, arm), resume, controls, statistics.

The JSON report is rewritten atomically after every trial, so an interrupted run
resumes from the trials already done (same ``config_key``: the code that computes the
numbers, layerlint's version, mode, device type, torch and data).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import math
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from layerlint import __version__
from layerlint.evidence.api import Comparison, ExactCheck
from layerlint.evidence.stats import holm, summarize

__all__ = ["HarnessError", "atomic_write_json", "code_key", "primary_name", "run_module"]

SCHEMA = 2
MECHANISM_ONLY = "mechanism only"  # the primary is a deterministic check: no harm verdict
# The evidence package files that decide a trial's numbers or a report's statistics.
# Rendering (report, runner), scheduling (parallel, ray_backend) and the study are left
# out: changing them changes no recorded value.
KEYED_FILES = ("api.py", "context.py", "data.py", "harness.py", "stats.py", "training.py")


class HarnessError(RuntimeError):
    """The harness found a broken invariant (pairing, determinism)."""


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def atomic_write_json(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(payload), indent=1, sort_keys=True, allow_nan=False)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _versions() -> dict[str, str]:
    import numpy
    import torch

    found = {"layerlint": __version__, "python": platform.python_version(),
             "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import sklearn
        found["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    return found


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo, sysctl on macOS), else the architecture."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def gpu_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi; None when it cannot be asked."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def _device_info(ctx) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"type": ctx.device.type, "threads": torch.get_num_threads(),
                            "cpu": cpu_model(), "cpus": os.cpu_count()}
    if ctx.device.type == "cuda":
        index = ctx.device.index if ctx.device.index is not None else 0
        props = torch.cuda.get_device_properties(index)
        info.update(name=torch.cuda.get_device_name(index), gpus=torch.cuda.device_count(),
                    memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", driver=gpu_driver(),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        info["name"] = info["cpu"]
    return info


def code_key(module: ModuleType) -> str:
    """Hash of what computes a module's numbers: the module's source, the keyed files of
    the evidence package and layerlint's version. A bundled reference with another
    code key is stale."""
    digest = hashlib.sha256(f"{__version__}\0{module.CODE}\0".encode())
    digest.update(inspect.getsource(module).encode())
    package = Path(__file__).resolve().parent
    for name in KEYED_FILES:
        digest.update(b"\0" + name.encode() + b"\0" + (package / name).read_bytes())
    return digest.hexdigest()[:16]


def _config_key(module: ModuleType, ctx, versions: dict) -> str:
    parts = [code_key(module), ctx.mode, ctx.device.type, versions["torch"],
             str(ctx.data_dir or "")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _trial_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


def _compare(comparison: Comparison, trials: dict, seeds: list[int], level: float = 0.95
             ) -> dict:
    diffs, values_a, values_b = [], [], []
    for seed in seeds:
        row = trials[str(seed)]
        a = float(row[comparison.a[0]][comparison.a[1]])
        b = float(row[comparison.b[0]][comparison.b[1]])
        values_a.append(a)
        values_b.append(b)
        diffs.append(comparison.difference(a, b))
    summary = summarize(diffs, comparison.delta, level)
    return {"comparison": comparison.to_dict(), "summary": summary.to_dict(),
            "diffs": diffs, "a": values_a, "b": values_b}


def primary_name(module: ModuleType) -> str | None:
    """The declared primary endpoint; older modules: the first comparison, else the exact
    check they marked primary."""
    declared = getattr(module, "PRIMARY", None)
    if declared:
        return declared
    comparisons = getattr(module, "COMPARISONS", ())
    return comparisons[0].name if comparisons else None


def analyse(module: ModuleType, trials: dict, seeds: list[int]) -> list[dict]:
    """Every comparison: the primary at 95%; the secondaries as one exploratory family,
    with Bonferroni-simultaneous intervals (95% jointly) and Holm-adjusted t-test p."""
    comparisons: tuple[Comparison, ...] = getattr(module, "COMPARISONS", ())
    primary = primary_name(module)
    secondary = [c for c in comparisons if c.name != primary]
    level = 1 - 0.05 / len(secondary) if secondary else 0.95
    rows = []
    for comparison in comparisons:
        role = "primary" if comparison.name == primary else "secondary"
        row = _compare(comparison, trials, seeds, 0.95 if role == "primary" else level)
        row["role"] = role
        rows.append(row)
    adjusted = holm({r["comparison"]["name"]: r["summary"]["t_p"] for r in rows
                     if r["role"] == "secondary"})
    for row in rows:
        if row["role"] == "secondary":
            row["holm_p"] = adjusted[row["comparison"]["name"]]
            row["family"] = len(secondary)
    return rows


def _controls(module: ModuleType, ctx, trials: dict, seeds: list[int],
              rerun: Callable[[int, str], dict]) -> list[dict]:
    """A/A on the primary comparison's fixed arm (even vs odd seeds: independent
    initialisations of the same model; costs no training) and a bit-exact rerun of one
    trial (costs one trial)."""
    found = []
    comparisons = sorted(getattr(module, "COMPARISONS", ()),
                         key=lambda c: c.name != primary_name(module))  # primary first
    if comparisons and len(seeds) >= 4:
        primary = comparisons[0]
        arm, key = primary.b
        diffs = [primary.difference(float(trials[str(s)][arm][key]),
                                    float(trials[str(t)][arm][key]))
                 for s, t in zip(seeds[0::2], seeds[1::2], strict=False)]
        summary = summarize(diffs, primary.delta)
        passed = summary.ci_low <= 0 <= summary.ci_high
        found.append({"name": f"A/A: {arm} vs {arm} (independent seeds)",
                      "summary": summary.to_dict(), "passed": passed})
    arms = getattr(module, "ARMS", ())
    if arms and seeds:
        arm = arms[-1]
        again = _trial_metrics(rerun(seeds[0], arm))
        before = _trial_metrics(trials[str(seeds[0])][arm])
        found.append({"name": f"determinism: rerun seed {seeds[0]} {arm}",
                      "passed": again == before})
    return found


def _check_pairing(module: ModuleType, seed: int, row: dict) -> None:
    if not getattr(module, "PAIRED_INIT", False):
        return
    hashes = {arm: row[arm].get("init_hash") for arm in module.ARMS if arm in row}
    if len(set(hashes.values())) > 1:
        raise HarnessError(f"{module.CODE} seed {seed}: arms start from different "
                           f"weights {hashes}")


def _primary(report: dict, name: str | None) -> dict:
    """The verdict row. A primary that is an exact check (the protocol pre-registered a
    deterministic measurement) gives no verdict on harm: ``mechanism only``."""
    for c in report["comparisons"]:
        if c["comparison"]["name"] == name:
            s = c["summary"]
            return {"name": name, "endpoint": c["comparison"]["endpoint"],
                    "verdict": s["verdict"], "exact": False, "mean": s["mean"],
                    "ci": [s["ci_low"], s["ci_high"]], "n": s["n"], "note": s["note"],
                    "unit": c["comparison"]["unit"], "scale": c["comparison"]["scale"],
                    "delta": c["comparison"]["delta"], "zero_variance": s["zero_variance"]}
    exact = [e for e in report["exact"] if e["name"] == name or (name is None and
                                                                 e.get("primary"))]
    if exact:
        e = exact[0]
        return {"name": e["name"], "endpoint": e["endpoint"], "verdict": MECHANISM_ONLY,
                "mechanism": e["verdict"], "exact": True, "value": e["value"], "mean": None,
                "ci": None, "n": 0, "unit": "", "note": ""}
    raise HarnessError(f"{report['code']}: primary endpoint {name!r} is neither a "
                       f"comparison nor an exact check")


def run_module(module: ModuleType, ctx, out_dir: Path, *, seeds: int | None = None,
               controls: bool | None = None, progress: bool = True, jobs: int = 1,
               run_trial: Callable | None = None) -> dict:
    """Run (or resume) a module's trials and write ``out_dir/<code>.json``."""
    from layerlint.evidence import parallel

    versions = _versions()
    n_seeds = seeds if seeds is not None else module.SEEDS[ctx.mode]
    seed_list = list(range(n_seeds))
    path = out_dir / f"{module.CODE}.json"
    key = _config_key(module, ctx, versions)
    primary = primary_name(module)
    trials: dict[str, dict] = {}
    resumed = 0
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("config_key") == key:
            trials = old.get("trials", {})
            resumed = sum(len(v) for v in trials.values())
    started = time.perf_counter()
    report: dict[str, Any] = {
        "schema": SCHEMA, "code": module.CODE, "module": module.__name__,
        "question": (module.__doc__ or "").strip().splitlines()[0],
        "mode": ctx.mode, "device": _device_info(ctx), "versions": versions,
        "config_key": key, "code_key": code_key(module), "primary_endpoint": primary,
        "arms": list(getattr(module, "ARMS", ())),
        "paired_init": bool(getattr(module, "PAIRED_INIT", False)),
        "seeds": seed_list, "trials": trials, "exact": [], "comparisons": [],
        "controls": [], "controls_run": False, "datasets": {}, "withheld": False,
        "complete": False,
        "resumed_trials": resumed,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    exact_fn = getattr(module, "exact", None)
    if exact_fn is not None:
        checks: list[ExactCheck] = exact_fn(ctx)
        report["exact"] = [c.to_dict() for c in checks]
    pending = [(s, arm) for s in seed_list for arm in report["arms"]
               if arm not in trials.get(str(s), {})]
    runner = run_trial or parallel.make_runner(module, ctx, jobs)

    def record(seed: int, arm: str, metrics: dict) -> None:
        trials.setdefault(str(seed), {})[arm] = metrics
        if all(a in trials[str(seed)] for a in report["arms"]):
            _check_pairing(module, seed, trials[str(seed)])
        report["datasets"] = ctx.datasets() or report["datasets"]
        atomic_write_json(path, report)

    bar = _progress(len(pending), module.CODE, progress)
    try:
        for seed, arm, metrics in runner(pending):
            record(seed, arm, metrics)
            bar.update(1)
    finally:
        bar.close()
    if not ctx.datasets():  # every trial was resumed: load data for the dataset hashes
        for name in getattr(module, "DATASETS", ()):
            ctx.data(name)
    report["datasets"] = ctx.datasets()
    report["comparisons"] = analyse(module, trials, seed_list)
    if controls is None or controls:  # every mode: the A/A is free, the rerun one trial
        def rerun(seed: int, arm: str) -> dict:
            return next(iter(runner([(seed, arm)])))[2]
        report["controls"] = _controls(module, ctx, trials, seed_list, rerun)
        report["controls_run"] = bool(report["controls"])
        report["withheld"] = not all(c["passed"] for c in report["controls"])
    report["primary"] = _primary(report, primary)
    report["wall_s"] = round(time.perf_counter() - started, 2)
    report["trial_wall_s"] = round(sum(m.get("_wall_s", 0.0) for row in trials.values()
                                       for m in row.values()), 2)
    report["complete"] = True
    atomic_write_json(path, report)
    return report


class _NoBar:
    def update(self, _n: int) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, label: str, enabled: bool):
    if not enabled or total == 0:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=f"{label} trials", unit="trial", leave=False)
