"""``verify --backend ray`` on a local Ray: the same per-seed values as the default
backend, and a killed sweep resumes without recomputing what it recorded."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
ray = pytest.importorskip("ray")

from layerlint.evidence.context import Context, configure_determinism  # noqa: E402
from layerlint.evidence.harness import run_module  # noqa: E402
from layerlint.evidence.ray_backend import RayOptions, RaySession  # noqa: E402
from layerlint.evidence.runner import discover  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def session():
    """One local Ray (2 CPUs) for the module; verify joins it instead of starting one."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    configure_determinism(torch.device("cpu"), 1)
    yield RaySession(RayOptions(), "cpu", threads=1)
    ray.shutdown()


def _module(code: str):
    return importlib.import_module(discover()[code])


def _values(trials: dict) -> dict:
    return {seed: {arm: {k: v for k, v in m.items() if not k.startswith("_")}
                   for arm, m in row.items()} for seed, row in trials.items()}


def test_verify_backend_ray_gives_the_default_backends_per_seed_values(session, tmp_path):
    from click.testing import CliRunner

    from layerlint.cli import cli

    args = ["verify", "LL101", "LL301", "--mode", "smoke", "--device", "cpu"]
    local = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "local")])
    on_ray = CliRunner().invoke(cli, [*args, "--backend", "ray", "--out", str(tmp_path / "ray")])
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    assert "ray: local, 2 CPUs, 0 GPUs; per trial 1 CPU, 0 GPU" in on_ray.stderr
    assert ray.is_initialized()  # it joined the running Ray and left it running
    for code in ("LL101", "LL301"):
        a = json.loads((tmp_path / "local" / f"{code}.json").read_text())
        b = json.loads((tmp_path / "ray" / f"{code}.json").read_text())
        assert sorted(b["trials"]) == ["0", "1"]
        assert _values(a["trials"]) == _values(b["trials"])  # bit-identical floats
        assert a["comparisons"] == b["comparisons"] and a["primary"] == b["primary"]
        assert a["config_key"] == b["config_key"]


def test_interrupted_ray_sweep_resumes_and_recomputes_nothing(session, tmp_path):
    module = _module("LL105")  # 4 arms x 2 seeds
    ctx = Context(mode="smoke")
    calls: list[tuple[int, str]] = []

    def interrupted(pending):
        for index, item in enumerate(session.runner(module, ctx)(pending)):
            if index == 3:
                raise KeyboardInterrupt
            calls.append(item[:2])
            yield item

    with pytest.raises(KeyboardInterrupt):
        run_module(module, ctx, tmp_path, progress=False, run_trial=interrupted)
    partial = json.loads((tmp_path / "LL105.json").read_text())
    assert not partial["complete"] and sum(map(len, partial["trials"].values())) == 3
    again: list[tuple[int, str]] = []

    def counting(pending):
        pending = list(pending)
        again.extend(pending)
        yield from session.runner(module, ctx)(pending)

    report = run_module(module, ctx, tmp_path, progress=False, run_trial=counting,
                        controls=False)
    assert report["complete"] and report["resumed_trials"] == 3
    assert len(again) == 5 and not set(again) & set(calls)


@pytest.mark.slow
def test_killed_ray_cli_sweep_resumes(tmp_path):
    """A real process: Ctrl-C (SIGINT) during ``verify --backend ray``, then rerun."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "layerlint", "verify", "LL105", "--mode", "smoke",
               "--device", "cpu", "--seeds", "30", "--backend", "ray", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    path, recorded = out / "LL105.json", 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            recorded = sum(map(len, json.loads(path.read_text())["trials"].values()))
        except (OSError, ValueError):
            recorded = 0
        if recorded >= 3:
            os.kill(process.pid, signal.SIGINT)
            break
        time.sleep(0.05)
    process.communicate(timeout=120)
    saved = json.loads(path.read_text())
    kept = sum(map(len, saved["trials"].values()))
    assert recorded >= 3 and not saved["complete"] and 3 <= kept < 120
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(path.read_text())
    assert report["complete"] and report["resumed_trials"] == kept
    for seed, row in saved["trials"].items():  # recorded trials kept, wall times included:
        for arm, values in row.items():       # none was run again
            assert report["trials"][seed][arm] == values


def test_seed_orderings_study_on_ray_matches_local(session, tmp_path):
    from layerlint.evidence.runner import VerifyOptions, verify

    reports = {}
    for backend in ("local", "ray"):
        options = VerifyOptions(mode="smoke", device="cpu", out=tmp_path / backend,
                                study="seed-orderings", progress=False, backend=backend)
        (result,) = verify(options, echo=lambda _text: None)
        reports[backend] = result["study"]
    local, on_ray = reports["local"], reports["ray"]
    assert on_ray["complete"] and len(on_ray["trials"]) == 11 * 2  # orderings x seeds
    assert local["trials"] == on_ray["trials"]  # bit-identical, key by key
    assert local["per_seed_nll"] == on_ray["per_seed_nll"]
    assert on_ray["datasets"] == local["datasets"] and on_ray["datasets"]
