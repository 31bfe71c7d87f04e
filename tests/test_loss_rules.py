"""The loss rules (LL201-LL203) end to end: training code lowered by the frontends,
models and training scripts in separate files, fixtures, and the cases that must
stay silent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from markers import expected_markers, reported

from layerlint.cli import cli
from layerlint.engine import check_paths
from layerlint.registry import select_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
LOSS_RULES = ["LL201", "LL202", "LL203"]


@pytest.mark.parametrize("target", ["torch/train_project", "keras/compile_from_logits.py"])
def test_fixtureexpected_markers(target, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    path = Path(target)
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    expected = expected_markers(files)
    assert {code for _, _, code in expected} == set(LOSS_RULES) if path.is_dir() else expected
    assert reported([path], LOSS_RULES) == expected


@pytest.mark.parametrize("target", ["clean/train_project", "clean/keras_compile.py"])
def test_clean_fixtures_are_silent_for_every_rule(target, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    assert reported([Path(target)], ["ALL"]) == set()


# --- the command line: model and training script in separate files ---------------------

def test_cli_model_and_training_script(monkeypatch):
    monkeypatch.chdir(FIXTURES / "torch" / "train_project")
    result = CliRunner().invoke(cli, ["check", "--format", "json", "model.py", "train.py"])
    assert result.exit_code == 1, result.output
    import json

    findings = json.loads(result.output)
    by_code = {f["code"]: f for f in findings}
    assert set(by_code) == {"LL201", "LL203"}
    softmax = by_code["LL201"]
    assert (softmax["path"], softmax["line"]) == ("model.py", 26)
    assert [(r["path"], r["line"]) for r in softmax["related"]] == [("train.py", 62)]
    assert "`criterion` (CrossEntropyLoss, train.py:62)" in softmax["message"]
    sigmoid = by_code["LL203"]
    assert (sigmoid["path"], sigmoid["line"]) == ("model.py", 35)
    assert [(r["path"], r["line"]) for r in sigmoid["related"]] == [("train.py", 38)]


def test_cli_project_folder(monkeypatch):
    monkeypatch.chdir(FIXTURES / "torch")
    result = CliRunner().invoke(cli, ["check", "--select", "LL2", "train_project"])
    assert result.exit_code == 1, result.output
    for where in ("train_project/model.py:26:", "train_project/model.py:35:",
                  "train_project/lit_tagger.py:17:", "train_project/distill.py:14:"):
        assert where in result.output


def test_finding_in_a_file_outside_the_run_is_not_reported(monkeypatch):
    # ``check train.py`` follows model.py but reports only in the files it was given.
    monkeypatch.chdir(FIXTURES / "torch" / "train_project")
    result = CliRunner().invoke(cli, ["check", "train.py"])
    assert result.exit_code == 0, result.output


# --- PyTorch: what is followed ---------------------------------------------------------

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def codes(lint, code: str, select=None) -> list[tuple[int, str]]:
    return [(f.location.line, f.code)
            for f in lint(HEADER + textwrap.dedent(code), select=select or LOSS_RULES)]


SOFTMAX_NET = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return F.softmax(self.fc(x), dim=-1)
"""


def test_module_level_loop_with_wrapped_model(lint):
    found = codes(lint, SOFTMAX_NET + """
    model = nn.DataParallel(Net().to("cuda"))
    criterion = nn.CrossEntropyLoss().cuda()
    for x, y in loader:
        loss = criterion(model(x).view(-1, 3), y.view(-1))
        loss.backward()
    """)
    assert found == [(11, "LL201")]


def test_functional_loss_on_model_output(lint):
    found = codes(lint, SOFTMAX_NET + """
    def fit(loader):
        net = Net()
        for x, y in loader:
            F.cross_entropy(input=net(x), target=y).backward()
    """)
    assert found == [(11, "LL201")]


def test_tuple_output_logits_and_probs(lint):
    # forward returns both; training uses the logits: silent. Using the probs: found.
    model = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            logits = self.fc(x)
            return logits, logits.softmax(-1)

    def fit(loader):
        net = Net()
        criterion = nn.CrossEntropyLoss()
        for x, y in loader:
            logits, probs = net(x)
            criterion({which}, y).backward()
    """
    assert codes(lint, model.format(which="logits")) == []
    assert codes(lint, model.format(which="probs")) == [(12, "LL201")]


@pytest.mark.parametrize("training", [
    # metrics and evaluation only
    """
    def fit(loader):
        net = Net()
        criterion = nn.CrossEntropyLoss()
        net.eval()
        for x, y in loader:
            print(criterion(net(x), y))
    """,
    """
    def fit(loader):
        net = Net()
        criterion = nn.CrossEntropyLoss()
        with torch.no_grad():
            for x, y in loader:
                print(criterion(net(x), y))
    """,
    """
    def validate(net, loader):
        return sum(F.cross_entropy(net(x), y) for x, y in loader)

    validate(Net(), loader)
    """,
    """
    @torch.inference_mode()
    def score(net, loader):
        return [F.cross_entropy(net(x), y) for x, y in loader]

    score(Net(), loader)
    """,
    # a softmax only to read predictions
    """
    def fit(loader):
        net = Net()
        for x, y in loader:
            pred = net(x).argmax(1)
            accuracy = (pred == y).float().mean()
    """,
])
def test_evaluation_only_is_silent(lint, training):
    assert codes(lint, SOFTMAX_NET + training) == []


def test_training_after_evaluation_is_found(lint):
    found = codes(lint, SOFTMAX_NET + """
    def fit(net, loader):
        criterion = nn.CrossEntropyLoss()
        for epoch in range(10):
            net.train()
            for x, y in loader:
                criterion(net(x), y).backward()
            net.eval()

    fit(Net(), loader)
    """)
    assert found == [(11, "LL201")]


def test_sigmoid_losses_are_told_apart(lint):
    scorer = """
    class Scorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 1)

        def forward(self, x):
            return torch.sigmoid(self.fc(x))

    def fit(loader):
        model = Scorer()
        criterion = nn.{loss}()
        for x, y in loader:
            criterion(model(x), y).backward()
    """
    assert codes(lint, scorer.format(loss="BCELoss")) == [(11, "LL203")]
    assert codes(lint, scorer.format(loss="BCEWithLogitsLoss")) == [(11, "LL202")]
    assert codes(lint, scorer.format(loss="MSELoss")) == []


def test_lightning_training_step_found_and_validation_step_silent(lint):
    module = """
    import pytorch_lightning as pl

    class Lit(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)
            self.loss_fn = nn.CrossEntropyLoss()

        def forward(self, x):
            return self.fc(x)

        def {step}(self, batch, batch_idx):
            x, y = batch
            return self.loss_fn(F.softmax(self(x), dim=1), y)
    """
    assert codes(lint, module.format(step="training_step")) == [(18, "LL201")]
    assert codes(lint, module.format(step="validation_step")) == []
    assert codes(lint, module.format(step="predict_step")) == []


def test_loss_rules_name_the_loss_and_its_line(lint):
    findings = lint(HEADER + textwrap.dedent(SOFTMAX_NET + """
    criterion = nn.CrossEntropyLoss()

    def fit(loader):
        net = Net()
        for x, y in loader:
            criterion(net(x), y).backward()
    """), select=["LL201"])
    assert len(findings) == 1
    finding = findings[0]
    assert "`criterion` (CrossEntropyLoss, line 13)" in finding.message
    assert [r.location.line for r in finding.related] == [13]


# --- Keras ----------------------------------------------------------------------------

KERAS = "import keras\nfrom keras import layers\n"


@pytest.mark.parametrize(("loss", "expected"), [
    ("keras.losses.CategoricalCrossentropy(from_logits=True)", [(7, "LL201")]),
    ("keras.losses.CategoricalCrossentropy(True)", [(7, "LL201")]),
    ("keras.losses.CategoricalCrossentropy(from_logits=False)", []),
    ("keras.losses.CategoricalCrossentropy(from_logits=LOGITS)", []),  # unknown: silent
    ('"categorical_crossentropy"', []),
])
def test_keras_compile_loss(lint, loss, expected):
    code = KERAS + textwrap.dedent(f"""
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss={loss})
    """)
    assert [(f.location.line, f.code) for f in lint(code, select=LOSS_RULES)] == expected


def test_keras_subclassed_model_compiled(lint):
    code = KERAS + textwrap.dedent("""
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(3)
            self.softmax = layers.Softmax()

        def call(self, x):
            return self.softmax(self.out(self.hidden(x)))

    model = Classifier()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    """)
    assert [(f.location.line, f.code) for f in lint(code, select=LOSS_RULES)] == [(9, "LL201")]


def test_notebook_training_cells(tmp_path, monkeypatch):
    import json

    cells = [
        HEADER,
        textwrap.dedent(SOFTMAX_NET),
        "%matplotlib inline\nmodel = Net()\ncriterion = nn.CrossEntropyLoss()",
        "for epoch in range(100):\n    for xb, yb in loader:\n"
        "        criterion(model(xb), yb).backward()",
    ]
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                           "execution_count": None, "source": c} for c in cells],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps(notebook))
    monkeypatch.chdir(tmp_path)
    findings = check_paths([path], select_rules(LOSS_RULES)).findings
    assert [(f.location.cell, f.code) for f in findings] == [(2, "LL201")]
    assert "(CrossEntropyLoss, cell 3, line 3)" in findings[0].message


# --- LL203's unsafe fix ---------------------------------------------------------------

BCE_SCRIPT = HEADER + textwrap.dedent("""
    model = nn.Sequential(
        nn.Linear(30, 16),
        nn.ReLU(),
        nn.Linear(16, 1),
        nn.Sigmoid(),
    )
    criterion = nn.BCELoss(reduction="mean")
    for x, y in loader:
        criterion(model(x), y).backward()


    def step(net, x, y):
        probs = torch.sigmoid(net(x))
        return F.binary_cross_entropy(probs, y)
""")


def test_ll203_unsafe_fix_uses_the_logits_loss_and_drops_the_sigmoid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "train.py"
    path.write_text(BCE_SCRIPT)
    safe_only = CliRunner().invoke(cli, ["check", "--select", "LL203", "--fix", "train.py"])
    assert safe_only.exit_code == 1 and path.read_text() == BCE_SCRIPT
    result = CliRunner().invoke(cli, ["check", "--select", "ALL", "--fix",
                                      "--unsafe-fixes",
                                      "train.py"])
    assert result.exit_code == 0, result.output
    fixed = path.read_text()
    assert "nn.Sigmoid()" not in fixed and "nn.Linear(16, 1),\n)" in fixed
    assert 'criterion = nn.BCEWithLogitsLoss(reduction="mean")' in fixed
    assert "probs = net(x)\n" in fixed
    assert "F.binary_cross_entropy_with_logits(probs, y)" in fixed


def test_ll203_fix_not_offered_when_unsafe_to_edit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the loss is in another file than the sigmoid
    findings = check_paths([FIXTURES / "torch" / "train_project"],
                           select_rules(["LL203"]), fixable=True).findings
    assert len(findings) == 1 and findings[0].fix is None
    # the same BCELoss also takes an input without the sigmoid (renaming it breaks that)
    findings = lint(tmp_path, HEADER + textwrap.dedent("""
        model = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
        criterion = nn.BCELoss()
        for x, y in loader:
            loss = criterion(model(x), y) + criterion(x.clamp(0, 1), y)
    """))
    assert [(f.code, f.fix) for f in findings] == [("LL203", None)]


def lint(folder: Path, code: str) -> list:
    path = folder / "script.py"
    path.write_text(code)
    return check_paths([path], select_rules(["LL203"]), fixable=True).findings


def test_trainer_class_holding_model_and_loss(lint):
    found = codes(lint, SOFTMAX_NET + """
    class Trainer:
        def __init__(self, model, criterion, lr=1e-3):
            self.model = model
            self.criterion = criterion
            self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

        def fit(self, loader, epochs=3):
            for _ in range(epochs):
                for x, y in loader:
                    self.optimizer.zero_grad()
                    self.criterion(self.model(x), y).backward()

    if __name__ == "__main__":
        Trainer(Net(), nn.CrossEntropyLoss()).fit(loader)
    """)
    assert found == [(11, "LL201")]
