"""The pre-commit hook, for real: ``pre-commit try-repo`` installs this checkout
(a normal, non-editable build) into its own virtualenv and runs it on staged files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

BAD = (  # LL101: the dropout feeds the batchnorm
    "import torch.nn as nn\n\n"
    "model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Dropout(0.5), nn.BatchNorm1d(8),\n"
    "                      nn.ReLU(), nn.Linear(8, 2))\n"
)
BROKEN = "import torch.nn as nn\n\nmodel = nn.Sequential(\n"  # LL001: a syntax error
CLEAN = (
    "import torch.nn as nn\n\n"
    "model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(),\n"
    "                      nn.Dropout(0.2), nn.Linear(8, 2))\n"
)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def _snapshot(dest: Path) -> None:
    """Commit this checkout's tracked and unignored files, as they are now, to ``dest``
    (try-repo installs a commit; this tests the working tree, not only the last commit)."""
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "snapshot")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout")
    base = tmp_path_factory.mktemp("precommit")
    source = base / "layerlint-src"
    _snapshot(source)
    env = {**os.environ, "PRE_COMMIT_HOME": str(base / "cache"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("VIRTUAL_ENV", None)
    return source, env


def _try_repo(hook: tuple[Path, dict[str, str]], project: Path) -> subprocess.Popen:
    """Start ``pre-commit try-repo`` on the project's staged files.

    try-repo installs the hook into a fresh store each time (about a minute, mostly
    waiting on the package index), so the cases run side by side.
    """
    source, env = hook
    rev = _git(source, "rev-parse", "HEAD").strip()
    return subprocess.Popen(
        [sys.executable, "-m", "pre_commit", "try-repo", str(source), "layerlint",
         "--ref", rev, "--verbose"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _project(folder: Path, files: dict[str, str], unstaged: dict[str, str] | None = None
             ) -> Path:
    folder.mkdir()
    _git(folder, "init", "-q")
    for name, text in files.items():
        (folder / name).write_text(text)
    _git(folder, "add", "-A")
    for name, text in (unstaged or {}).items():
        (folder / name).write_text(text)
    return folder


def test_hook_fails_on_finding_passes_on_clean_and_skips_without_files(hook_repo, tmp_path):
    projects = {
        "bad": _project(tmp_path / "bad", {"model.py": BAD, "notes.txt": "x\n"}),
        "clean": _project(tmp_path / "clean", {"model.py": CLEAN}),
        # No matching file staged: the hook must be skipped, not lint the whole folder
        # (which holds a broken, unstaged file here).
        "none": _project(tmp_path / "none", {"README.txt": "hello\n"},
                         unstaged={"unstaged.py": BROKEN}),
    }
    runs = {name: _try_repo(hook_repo, folder) for name, folder in projects.items()}
    out = {}
    for name, proc in runs.items():
        out[name] = proc.communicate(timeout=900)[0]
    codes = {name: proc.returncode for name, proc in runs.items()}

    assert codes["bad"] == 1, out["bad"]
    assert "model.py:3:52: LL101" in out["bad"]
    assert "notes.txt" not in out["bad"].split("hook id: layerlint", 1)[1]

    assert codes["clean"] == 0, out["clean"]
    assert "Passed" in out["clean"]

    assert codes["none"] == 0, out["none"]
    assert "Skipped" in out["none"]
