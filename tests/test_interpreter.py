"""One interpreter for PyTorch and Keras: the same Python gets the same analysis.

Each test writes one program twice, once with PyTorch layers and once with Keras
layers, and checks that both give the same findings (codes, lines, conditions).
These are the cases where the two frontends used to disagree.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from layerlint.engine import check_paths
from layerlint.frontends.python.interpreter import Limits
from layerlint.registry import select_rules

# Spellings of the same layers: the programs below are templates over these.
TORCH = {
    "imports": "import torch.nn as nn",
    "drop": "nn.Dropout(0.5)",
    "bn": "nn.BatchNorm1d(8)",
    "dense": "nn.Linear(8, 8)",
    "seq": "nn.Sequential",
}
KERAS = {
    "imports": "import keras; from keras import layers as L",
    "drop": "L.Dropout(0.5)",
    "bn": "L.BatchNormalization()",
    "dense": "L.Dense(8)",
    "seq": "keras.Sequential",
}


def _findings(tmp_path: Path, template: str, spelling: dict[str, str], name: str,
              select: tuple[str, ...] = ("LL0", "LL101")) -> list[tuple[int, str, str]]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(template).format(**spelling))
    result = check_paths([path], select_rules(list(select)))
    assert not result.internal_errors
    return sorted((f.location.line, f.code, f.message.rsplit("(when ", 1)[-1]
                   if "(when " in f.message else "") for f in result.findings)


def _same(tmp_path: Path, template: str, **kwargs: object) -> list[tuple[int, str, str]]:
    torch = _findings(tmp_path, template, TORCH, "model_torch", **kwargs)  # type: ignore[arg-type]
    keras = _findings(tmp_path, template, KERAS, "model_keras", **kwargs)  # type: ignore[arg-type]
    assert torch == keras
    return torch


def test_a_list_that_contains_itself_is_walked_once(tmp_path):
    found = _same(tmp_path, """
        {imports}
        blocks = [{dense}, {drop}]
        blocks.append(blocks)
        blocks.append({bn})
        model = {seq}(blocks)
    """)
    assert found == [(3, "LL101", "")]  # the dropout reaches the batchnorm; no LL002


def test_a_module_constant_folds_a_condition(tmp_path):
    found = _same(tmp_path, """
        {imports}
        USE_DROPOUT = False
        blocks = [{dense}]
        if USE_DROPOUT:
            blocks.append({drop})
        blocks.append({bn})
        model = {seq}(blocks)
    """)
    assert found == []  # the dropout is dead code


def test_return_ends_a_function(tmp_path):
    found = _same(tmp_path, """
        {imports}
        def head(blocks, plain):
            if plain:
                return blocks
            blocks.append({drop})
            return blocks
        model = {seq}(head([{dense}], True) + [{bn}])
    """)
    assert found == []  # ``return blocks`` left before the dropout was added


def test_try_else_runs(tmp_path):
    found = _same(tmp_path, """
        {imports}
        blocks = [{dense}]
        try:
            blocks.append({drop})
        except ImportError:
            pass
        else:
            blocks.append({bn})
        model = {seq}(blocks)
    """)
    assert found == [(5, "LL101", "")]


def test_range_is_unrolled_alike(tmp_path):
    found = _same(tmp_path, """
        {imports}
        blocks = []
        for i in range(3):
            blocks.append({dense})
            if i == 2:
                blocks.append({drop})
        blocks.append({bn})
        model = {seq}(blocks)
    """)
    assert found == [(7, "LL101", "")]  # the third pass exists: range(3) ran to the end


def test_a_builder_function_nobody_calls_is_analysed(tmp_path):
    found = _same(tmp_path, """
        {imports}
        def build():
            return {seq}([{dense}, {drop}, {bn}])
    """)
    assert found == [(4, "LL101", "")]


def test_a_parameter_default_is_a_condition_in_both(tmp_path):
    found = _same(tmp_path, """
        {imports}
        def build(use_dropout=True):
            blocks = [{dense}]
            if use_dropout:
                blocks.append({drop})
            blocks.append({bn})
            return {seq}(blocks)
    """)
    assert found == [(6, "LL101", "use_dropout)")]


@pytest.mark.parametrize("spelling", [TORCH, KERAS], ids=["torch", "keras"])
def test_the_depth_limit_is_shared_and_becomes_a_note(tmp_path, spelling):
    # helpers that call each other deeper than the limit: the innermost is opaque,
    # and the model says its analysis stopped there
    depth = Limits().depth + 4
    helpers = "\n".join(
        f"def h{i}(blocks):\n    return h{i + 1}(blocks + [{spelling['dense']}])"
        for i in range(depth))
    path = tmp_path / "deep.py"
    path.write_text(f"{spelling['imports']}\n{helpers}\n"
                    f"def h{depth}(blocks):\n    return blocks\n"
                    f"model = {spelling['seq']}(h0([{spelling['drop']}, {spelling['bn']}]))\n")
    result = check_paths([path], select_rules(["LL002", "LL101"]))
    assert not result.internal_errors
    # what was past the limit is unknown (so is the list built from it), and the
    # model says so instead of passing silently
    assert [f.code for f in result.findings] == ["LL002"]
    assert "h25: calls nested too deeply to analyse" in result.findings[0].message


@pytest.mark.parametrize("spelling", [TORCH, KERAS], ids=["torch", "keras"])
def test_a_step_budget_hit_is_reported_not_dropped(tmp_path, spelling):
    # a loop that would run for ever in the interpreter if nothing stopped it
    path = tmp_path / "huge.py"
    path.write_text(textwrap.dedent("""
        {imports}
        def build():
            blocks = []
            while True:
                for i in range(64):
                    for j in range(64):
                        for k in range(64):
                            blocks.append({dense})
            return {seq}(blocks)
    """).format(**spelling))
    result = check_paths([path], select_rules(["LL002"]))
    assert not result.internal_errors
    assert [f.code for f in result.findings] == ["LL002"]
    assert "too large to analyse in full" in result.findings[0].message


@pytest.mark.parametrize("source", [
    "a = 9 ** 63\nb = a ** 63\nc = b ** 63\nd = c ** 63\nx = [d]",
    "s = 'a' * 10 ** 12\nx = [s]",
    "n = int(1e999)\nx = [n]",
    "r = range(10 ** 30)\nfor i in r:\n    pass",
    "r = range(0, 1, 0)\nfor i in r:\n    pass",
    "x = 1\nfor _ in range(64):\n    x = x * x",
])
@pytest.mark.parametrize("spelling", [TORCH, KERAS], ids=["torch", "keras"])
def test_arithmetic_is_bounded(tmp_path, spelling, source):
    path = tmp_path / "bounded.py"
    path.write_text(spelling["imports"] + "\n" + source + f"\nmodel = {spelling['seq']}"
                    f"([{spelling['drop']}, {spelling['bn']}])\n")
    result = check_paths([path], select_rules(["LL1"]))
    assert not result.internal_errors
    assert [f.code for f in result.findings] == ["LL101"]


@pytest.mark.parametrize(("source", "expected"), [
    ("model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3), nn.BatchNorm1d(4))\n",
     ["LL101"]),
    ("model = Sequential([Dense(8), Dropout(0.3), BatchNormalization()])\n", ["LL101"]),
    # a name defined in the file is the file's own, not the framework's
    ("class Dropout:\n    pass\n"
     "model = Sequential([Dense(8), Dropout(0.3), BatchNormalization()])\n", []),
])
def test_a_snippet_without_imports_is_analysed_when_its_names_are_unambiguous(
        tmp_path, source, expected):
    path = tmp_path / "snippet.py"
    path.write_text(source)
    result = check_paths([path], select_rules(["LL101"]))
    assert [f.code for f in result.findings] == expected


def test_a_tuple_of_unknown_length_keeps_the_producers_of_its_tensors(tmp_path):
    path = tmp_path / "attn.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Attn(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.drop = nn.Dropout(0.1)
                self.to_q = nn.Linear(dim, dim)
                self.to_kv = nn.Linear(dim, dim * 2)
                self.bn = nn.BatchNorm1d(dim)
            def forward(self, x):
                x = self.drop(x)
                q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2, dim=1))
                return self.bn(v)
    """))
    result = check_paths([path], select_rules(["LL101"]))
    assert [(f.code, f.location.line) for f in result.findings] == [("LL101", 6)]


def test_a_log_of_a_shifted_probability_is_guarded(tmp_path):
    # ``log(p + eps)`` cannot reach -inf: LL209 says what it does instead
    path = tmp_path / "loss.py"
    path.write_text(textwrap.dedent("""
        import torch
        import torch.nn.functional as F
        def loss(logits, y, eps=1e-20):
            p = F.softmax(logits, dim=-1)
            bare = torch.log(p)
            guarded = torch.log(p + eps)
            return F.nll_loss(bare, y) + F.nll_loss(guarded, y)
    """))
    result = check_paths([path], select_rules(["LL209"]))
    assert [(f.code, f.location.line, "-inf (NaN" in f.message, "log(eps)" in f.message)
            for f in result.findings] == [("LL209", 6, True, False), ("LL209", 7, False, True)]


def test_a_literal_training_false_at_a_keras_call_is_inference_mode(tmp_path):
    # Keras runs a layer called with ``training=False`` in inference mode even in ``fit``:
    # the dropout never drops, the batchnorm never updates its moving statistics. Only
    # the literal counts: ``training=training`` follows the caller, who trains.
    template = """
        import keras
        from keras import layers as L

        class Block(L.Layer):
            def __init__(self):
                super().__init__()
                self.drop = L.Dropout(0.5)
                self.bn = L.BatchNormalization()

            def call(self, x, training=False):
                return self.bn(self.drop(x, training={drop}), training={bn})

        inputs = keras.Input((8,))
        outputs = Block()(L.Dense(8)(inputs))
        model = keras.Model(inputs, outputs)
    """
    def findings(drop: str, bn: str) -> list[tuple[int, str, str]]:
        return _findings(tmp_path, template, {"drop": drop, "bn": bn}, "model_keras")

    assert findings("training", "training") == [(8, "LL101", "")]
    assert findings("False", "training") == []
    assert findings("training", "False") == []
    assert findings("True", "training") == [(8, "LL101", "")]


def test_a_module_dict_filled_by_key_is_followed(tmp_path):
    # ``self.blocks = nn.ModuleDict()`` then ``self.blocks["drop"] = ...``: the layers
    # run in insertion order, named by their keys
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleDict()
                self.blocks["fc"] = nn.Linear(10, 20)
                self.blocks["drop"] = nn.Dropout(0.5)
                self.blocks["bn"] = nn.BatchNorm1d(20)
                self.stages = nn.ModuleList([nn.Identity(), nn.Linear(20, 20)])
                self.stages[0] = nn.Dropout(0.1)
                self.norm = nn.BatchNorm1d(20)

            def forward(self, x):
                for name in self.blocks:
                    x = self.blocks[name](x)
                for stage in self.stages:
                    x = stage(x)
                return self.norm(x)
    """))
    result = check_paths([path], select_rules(["LL101"]))
    assert [(f.location.line, f.message.split(" (")[0]) for f in result.findings] == [
        (9, "`self.blocks.drop`"), (12, "`self.stages[0]`")]


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_an_import_of_a_name_too_long_for_a_file_is_not_a_read_error(tmp_path, framework):
    # the import is looked up as a project file by path; a 300-character module name
    # is a path the system refuses (ENAMETOOLONG), which once made the file an LL001
    long = "a" * 300
    layers = ("import torch.nn as nn\nmodel = nn.Sequential(nn.Dropout(0.1), nn.BatchNorm1d(3))"
              if framework == "torch" else "from keras import layers\n"
              "model = keras.Sequential([layers.Dropout(0.1), layers.BatchNormalization()])")
    path = tmp_path / "model.py"
    path.write_text(f"from {long} import Block\nimport {long}.b\n{layers}\n")
    script = tmp_path / "script.py"  # no framework marker: its imports are looked up
    script.write_text(f"from {long} import build\nbuild().compile(loss='mse')\n")
    result = check_paths([path, script], select_rules(["LL0", "LL101"]))
    assert not result.internal_errors
    assert [(Path(f.location.path).name, f.code) for f in result.findings] == [
        ("model.py", "LL101")]


def test_the_training_code_of_a_file_shares_one_budget(tmp_path):
    # many large helpers in a file that names a loss (torch/overrides.py took 6.4 s
    # re-running each): once the file's training code has spent its budget, the rest is
    # an LL002 note naming what was not analysed, and what came before keeps its findings
    helpers = "".join(f"def f{n}(x):\n    f{n - 1}(x)\n    f{n - 1}(x)\n\n"
                      for n in range(1, 21))
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
        criterion = nn.CrossEntropyLoss()

        def train(x, y):
            criterion(model(x), y).backward()

        def f0(x):
            return x

    """) + helpers)
    result = check_paths([path], select_rules(["LL002", "LL201"]))
    assert not result.internal_errors
    assert ("LL201", 4) in [(f.code, f.location.line) for f in result.findings]
    notes = [f.message for f in result.findings
             if "training code too large to analyse in full" in f.message]
    assert len(notes) == 1 and "4 functions not analysed (`f17`" in notes[0], notes
