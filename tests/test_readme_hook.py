"""The README's `repo: local` pre-commit snippet works as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parent.parent / "README.md"


def _snippet() -> dict:
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S):
        config = yaml.safe_load(block)
        if isinstance(config, dict) and config.get("repos", [{}])[0].get("repo") == "local":
            return config
    raise AssertionError("no `repo: local` snippet in the README")


def test_readme_local_hook_fails_on_a_finding(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    config = _snippet()
    assert config["repos"][0]["hooks"][0]["require_serial"] is True
    (tmp_path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "model.py").write_text(
        "import torch.nn as nn\n\n"
        "net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), "
        "nn.Linear(8, 2))\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / ".cache"),
           # the hook's `language: system` finds the layerlint of this interpreter
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    run = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "model.py:3:38: LL101" in run.stdout
