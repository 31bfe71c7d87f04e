"""The wheel is what users get: build it, install it into a fresh venv, run it elsewhere.

Offline: the wheel is built without build isolation (setuptools comes from the test
extra) and installed with ``--no-index --no-deps``; its dependencies are lent to the
new venv from this environment by a ``.pth`` file after checking that they satisfy
the wheel's own ``Requires-Dist``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from layerlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent

# Build outputs and environments never belong in the copy the wheel is built from.
_IGNORE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*venv*", "venv*",
    ".pytest_cache", ".ruff_cache", ".layerlint_cache", "verify-report",
)


def _run(*args: str | Path, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh venv's bin folder, the wheel) with layerlint installed from the wheel."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=_IGNORE)
    dist = tmp / "dist"
    built = _run(sys.executable, "-m", "build", "--wheel", "--no-isolation",
                 "--skip-dependency-check", "--outdir", dist, source, cwd=tmp)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("layerlint-*.whl")

    venv = tmp / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    pip = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
               "--no-deps", "--disable-pip-version-check", wheel, cwd=tmp)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                cwd=tmp).stdout.strip()
    lent = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    Path(site, "_layerlint_test_deps.pth").write_text("\n".join(lent) + "\n")
    return python.parent, wheel


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


@pytest.mark.slow
def test_wheel_dependencies(installed):
    _, wheel = installed
    requirements = _requirements(wheel)
    core = {r.name.lower() for r in requirements if r.marker is None}
    assert core == {"libcst", "click", "onnx"}  # torch only in an extra
    assert any(r.name == "torch" and r.marker is not None for r in requirements)
    # the editor server's pygls, too: `pip install 'layerlint[server]'`
    assert [str(r.marker) for r in requirements if r.name == "pygls"] == ['extra == "server"']
    for requirement in requirements:
        if requirement.marker is None:  # the ones lent to the fresh venv must fit
            assert requirement.specifier.contains(
                metadata.version(requirement.name), prereleases=True), requirement


@pytest.mark.slow
def test_wheel_runs_outside_the_checkout(installed, tmp_path):
    bin_dir, _ = installed
    layerlint = bin_dir / ("layerlint.exe" if os.name == "nt" else "layerlint")
    where = _run(bin_dir / "python", "-c",
                 "import layerlint, layerlint.rules; "
                 "print(layerlint.__file__); print(layerlint.rules.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(bin_dir.parent.resolve()), line

    rules = _run(layerlint, "rules", "--format", "json", cwd=tmp_path)
    assert rules.returncode == 0, rules.stderr
    assert [r["code"] for r in json.loads(rules.stdout)] == [r.code for r in all_rules()]

    shutil.copy(ROOT / "fixtures" / "torch" / "mlp.py", tmp_path / "mlp.py")
    check = _run(layerlint, "check", "--isolated", "--format", "json", "mlp.py",
                 cwd=tmp_path)
    assert check.returncode == 1, check.stderr
    found = {(f["path"], f["line"], f["code"]) for f in json.loads(check.stdout)}
    assert ("mlp.py", 13, "LL101") in found

    module = _run(bin_dir / "python", "-m", "layerlint", "check", "--isolated",
                  "mlp.py", cwd=tmp_path)
    assert module.returncode == 1 and "LL101" in module.stdout
