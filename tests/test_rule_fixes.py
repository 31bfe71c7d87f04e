"""The fixes the real rules offer (LL101, LL104, LL106), applied and re-linted."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from layerlint.cli import cli


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def put(source: str) -> str:
        source = textwrap.dedent(source)
        (tmp_path / "model.py").write_text(source)
        return source

    return put


def _check(*args: str):
    result = CliRunner().invoke(cli, ["check", "--format", "json", *args, "model.py"])
    return result, [(f["code"], f["line"]) for f in json.loads(result.stdout)]


TORCH = """\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1),  # stem
                nn.Dropout(0.2),  # regularise
                nn.BatchNorm2d(16),
                nn.ReLU(inplace=True),
                nn.ReLU(),
            )
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(self.features(x).mean((2, 3)))
"""


def test_torch_sequential_unsafe_fixes(write, tmp_path):
    source = write(TORCH)
    result, found = _check()
    assert found == [("LL101", 9), ("LL106", 12)]
    fixes = {f["code"]: f["fix"] for f in json.loads(result.stdout)}
    assert fixes["LL101"]["applicability"] == "unsafe"
    # --fix alone: every fix here is unsafe, nothing changes
    assert _check("--fix")[1] == found
    assert (tmp_path / "model.py").read_text() == source
    result, found = _check("--fix", "--unsafe-fixes")
    assert result.exit_code == 0 and found == []
    # the move made the conv feed the batchnorm directly: LL104, fixed in the next pass
    assert (tmp_path / "model.py").read_text() == source.replace(
        "            nn.Conv2d(3, 16, 3, padding=1),  # stem\n"
        "            nn.Dropout(0.2),  # regularise\n"
        "            nn.BatchNorm2d(16),\n"
        "            nn.ReLU(inplace=True),\n"
        "            nn.ReLU(),\n",
        "            nn.Conv2d(3, 16, 3, padding=1, bias=False),  # stem\n"
        "            nn.BatchNorm2d(16),\n"
        "            nn.Dropout(0.2),  # regularise\n"
        "            nn.ReLU(inplace=True),\n")
    assert "Fixed 3 problems." in result.stderr


def test_keras_sequential_unsafe_fixes(write, tmp_path):
    write("""\
        from tensorflow import keras
        from tensorflow.keras import layers

        model = keras.Sequential([
            keras.Input((32,)),
            layers.Dense(64),
            layers.Dropout(0.3),
            layers.BatchNormalization(),
            layers.Dense(64, activation="relu"),
            layers.Activation("relu"),
            layers.Dense(10, activation="softmax"),
        ])
    """)
    assert _check()[1] == [("LL101", 7), ("LL106", 10)]
    result, found = _check("--fix", "--unsafe-fixes")
    assert found == []
    fixed = (tmp_path / "model.py").read_text()
    assert "    layers.Dense(64, use_bias=False),\n    layers.BatchNormalization(),\n" \
           "    layers.Dropout(0.3),\n" in fixed
    assert "Activation" not in fixed


def test_ll104_in_init_and_forward(write, tmp_path):
    write("""\
        import torch.nn as nn

        class Encoder(nn.Module):
            def __init__(self, n_in, n_hidden):
                super().__init__()
                self.fc = nn.Linear(n_in, n_hidden)
                self.bn = nn.BatchNorm1d(n_hidden)

            def forward(self, x):
                return self.bn(self.fc(x.flatten(1))).relu()
    """)
    result = CliRunner().invoke(cli, ["check", "--diff", "--unsafe-fixes", "model.py"])
    assert result.exit_code == 1
    diff = result.stdout
    assert "-        self.fc = nn.Linear(n_in, n_hidden)\n" \
           "+        self.fc = nn.Linear(n_in, n_hidden, bias=False)\n" in diff
    assert _check("--fix", "--unsafe-fixes")[1] == []


def test_no_fix_outside_a_literal_sequential(write, tmp_path):
    source = write("""\
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.5)
                self.bn = nn.BatchNorm1d(8)
                self.fc = nn.Linear(8, 8, bias=False)
                self.act = nn.ReLU()
                self.out = nn.Linear(8, 2)

            def forward(self, x):
                x = self.bn(self.drop(self.fc(x)))
                return self.out(F.relu(self.act(x)))
    """)
    result, found = _check("--fix", "--unsafe-fixes")
    assert found == [("LL101", 7), ("LL106", 15)]
    assert (tmp_path / "model.py").read_text() == source
    assert "Fixed" not in result.stderr
    assert [f["fix"] for f in json.loads(result.stdout)] == [None, None]
    text = CliRunner().invoke(cli, ["check", "model.py"]).stdout
    assert "[*]" not in text and "fixable" not in text


LOOP_BLOCK = """\
    import torch.nn as nn


    def block(c):
        return nn.Sequential(
            nn.Linear(c, c, bias=False),
            nn.BatchNorm1d(c),
            nn.ReLU(),
            nn.Dropout(0.5),  # regularise
        )


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            for _ in range(3):
                layers.append(block(8))
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.body(x))
"""


def test_a_fix_that_would_not_resolve_the_finding_is_not_offered(write, tmp_path):
    """The dropout of a block built in a loop reaches the next block's batchnorm
    wherever it sits in its block: moving it before the ReLU changed the function and
    resolved nothing, yet said "Fixed 1 problem"."""
    source = write(LOOP_BLOCK)
    result, found = _check("--unsafe-fixes")
    assert found == [("LL101", 9)]
    assert json.loads(result.stdout)[0]["fix"] is None
    text = CliRunner().invoke(cli, ["check", "--unsafe-fixes", "model.py"])
    assert "[*]" not in text.stdout and "fixable" not in text.stdout
    diff = CliRunner().invoke(cli, ["check", "--diff", "--unsafe-fixes", "model.py"])
    assert diff.stdout == "" and "No fixes available." in diff.stderr
    fixed = CliRunner().invoke(cli, ["check", "--fix", "--unsafe-fixes", "model.py"])
    assert "Fixed" not in fixed.stderr and fixed.exit_code == 1
    assert (tmp_path / "model.py").read_text() == source


def test_repeated_ll101_fixes_do_not_stack_dropouts(write, tmp_path):
    """Each dropout before the batchnorm used to be moved after it in turn, until
    three dropouts sat in a row before the ReLU."""
    source = write("""\
        import torch.nn as nn

        mlp = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(32, 64),
            nn.Dropout(0.2),
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )
        head = nn.Sequential(
            nn.Linear(64, 64),
            nn.Dropout(0.3),
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(64, 10),
        )
    """)
    result, found = _check("--fix", "--unsafe-fixes")
    fixed = (tmp_path / "model.py").read_text()
    # one dropout moved after the batchnorm; the other is reported, not stacked on it;
    # in `head` a dropout already follows the batchnorm: no fix
    assert fixed == source.replace(
        "    nn.Dropout(0.1),\n    nn.Linear(32, 64),\n    nn.Dropout(0.2),\n"
        "    nn.BatchNorm1d(64),\n",
        "    nn.Linear(32, 64),\n    nn.Dropout(0.2),\n    nn.BatchNorm1d(64),\n"
        "    nn.Dropout(0.1),\n")
    assert found == [("LL101", 5), ("LL101", 13)]
    assert [f["fix"] for f in json.loads(result.stdout) if f["code"] == "LL101"] == [None, None]
    assert "Fixed 1 problem." in result.stderr
