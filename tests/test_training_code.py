"""Training-code facts (``layerlint.ir.code``) and the LL4xx rules end to end: what the
frontend records, the precision traps that must stay silent, projects of several
files, notebooks, and the fixes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.frontends import Project, load_graphs
from layerlint.ir import Act, Loop, RoutineKind, Tri


def _routines(tmp_path: Path, source: str, name: str = "train.py") -> dict:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    project = Project([path], display=lambda p: p.name)
    return {r.name: r for g in load_graphs(path, project) for r in g.code}


def _shape(items) -> list:
    """Acts and loops as nested lists: ("step", "optimizer") or [ ...loop body... ]."""
    return [_shape(i.body) if isinstance(i, Loop) else (i.act.value, i.subject)
            for i in items if isinstance(i, Loop) or i.act is not Act.OPAQUE_CALL]


def _check(tmp_path: Path, files: dict[str, str], *args: str) -> list[tuple]:
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(source))
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format",
                                      "json", "--select", "LL4", *args, *files])
    assert result.exit_code in (0, 1), result.output
    return [(f["path"], f["line"], f["code"]) for f in json.loads(result.stdout)]


# ------------------------------------------------------------------ facts
def test_loop_structure_and_inlined_helper(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routines = _routines(tmp_path, """
        import torch

        def clear(opt):
            opt.zero_grad()

        def train(model, loader, optimizer):
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
            for epoch in range(3):
                model.train()
                for x, y in loader:
                    loss = model(x).sum()
                    loss.backward()
                    optimizer.step()
                    clear(optimizer)
                scheduler.step()
                model.train(False)
    """)
    train = routines["train"]
    assert train.kind is RoutineKind.FUNCTION and train.is_training_code()
    assert _shape(train.body) == [[
        ("train-mode", "model"),
        [("backward", "loss"), ("step", "optimizer"), ("clear-grad", "optimizer")],
        ("eval-mode", "model"),
    ]]
    clear = next(e for e in train.events() if e.act is Act.CLEAR_GRAD)
    assert clear.location.line == 5 and [v.line for v in clear.via] == [15]
    assert not routines["clear"].is_training_code()


def test_stochastic_call_modes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routines = _routines(tmp_path, """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(this, x, flag):
                x = F.dropout(x)
                x = F.dropout(x, 0.5, True)
                x = F.dropout(x, training=flag)
                x = F.alpha_dropout(x, 0.1)
                return F.dropout2d(x, p=0.1, training=False)
    """)
    forward = routines["Net.forward"]
    assert forward.kind is RoutineKind.LAYER_METHOD
    calls = [e for e in forward.events() if e.act is Act.STOCHASTIC_CALL]
    assert [(e.facts["training"], e.facts["text"]) for e in calls] == [
        (Tri.DEFAULT_ON, ""), (Tri.ON, "True"), (Tri.EXPRESSION, "flag"),
        (Tri.DEFAULT_OFF, ""), (Tri.OFF, "False")]
    assert {e.facts["self_name"] for e in calls} == {"this"}


def test_flag_owners(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routines = _routines(tmp_path, """
        import torch
        import torch.nn as nn

        layer = nn.Linear(2, 2)
        layer.requires_grad = False
        w = nn.Parameter(torch.zeros(2))
        w.requires_grad = False
        t = torch.zeros(2)
        t.requires_grad = True
        for m in layer.modules():
            m.requires_grads = False
        layer.weight.requires_grad = False
        something.requires_grad = False
    """)
    flags = [(e.subject, e.facts["owner"], e.facts["flag"])
             for e in routines["<module>"].events() if e.act is Act.FLAG_ASSIGN]
    assert flags == [("layer", "module", True), ("w", "parameter", True),
                     ("t", "tensor", True), ("m", "module", False),
                     ("layer.weight", "parameter", True), ("something", "unknown", True)]


# ------------------------------------------------------------------ precision traps
SILENT = {
    "accumulation": """
        for i, (x, y) in enumerate(loader):
            loss = criterion(model(x), y) / 4
            loss.backward()
            if (i + 1) % 4 == 0:
                optimizer.step()
                optimizer.zero_grad()
    """,
    "set_to_none on the model": """
        for x, y in loader:
            model.zero_grad(set_to_none=True)
            criterion(model(x), y).backward()
            opt.step()
    """,
    "grad tensor zeroed": """
        for x, y in loader:
            criterion(model(x), y).backward()
            optimizer.step()
            for p in model.parameters():
                p.grad.zero_()
    """,
    "opaque call receives the optimizer": """
        from mylib import reset
        for x, y in loader:
            criterion(model(x), y).backward()
            optimizer.step()
            reset(optimizer)
    """,
    "scheduler step only": """
        for epoch in range(10):
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            lr_scheduler.step()
    """,
    "train at top, eval at end": """
        for epoch in range(10):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            model.eval()
    """,
    "eval outside the loop": """
        for x, y in loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
    """,
    "tape gradients do not accumulate": """
        import tensorflow as tf
        for x, y in dataset:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    """,
    "dropout mode from a variable": """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x, sample=False):
                return F.dropout(x, 0.5, training=self.training or sample)
    """,
    "dropout under a mode test": """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x):
                if self.training:
                    x = F.dropout(x, 0.5)
                return F.dropout(x, 0.1) if self.training else x
    """,
    "distributed autograd keeps gradients per context": """
        import torch.distributed.autograd as dist_autograd
        for x, y in loader:
            with dist_autograd.context() as context_id:
                loss = criterion(model(x), y)
                dist_autograd.backward(context_id, [loss])
                opt.step(context_id)
    """,
    "functional dropout outside a module": """
        import torch.nn.functional as F

        def corrupt(x):
            return F.dropout(x, 0.2)
    """,
    "list wrapped before use": """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(4, 4), nn.ReLU()]
                self.net = nn.Sequential(*self.layers)
                blocks = [nn.Linear(4, 4) for _ in range(3)]
                self.blocks = nn.ModuleList(blocks)
    """,
    "registered by add_module": """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(4, 4) for _ in range(3)]
                for i, layer in enumerate(self.layers):
                    self.add_module(f"layer{i}", layer)
    """,
    "plain list on a class that is not a module": """
        import torch.nn as nn

        class Ensemble:
            def __init__(self):
                self.members = [nn.Linear(4, 2) for _ in range(5)]
    """,
    "flag on parameters and tensors": """
        import torch

        for name, p in model.named_parameters():
            p.requires_grad = "head" in name
        x = torch.randn(3)
        x.requires_grad = True
    """,
}


@pytest.mark.parametrize("name", sorted(SILENT))
def test_precision_traps_are_silent(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    source = SILENT[name]
    if "import torch" not in source:
        source = "import torch\n" + textwrap.dedent(source)
    assert _check(tmp_path, {"train.py": source}) == []


# ------------------------------------------------------------------ projects, notebooks
HELPERS = """
    def step(model, batch, optimizer):
        loss = model(batch).mean()
        loss.backward()
        optimizer.step()

    def clear(optimizer):
        optimizer.zero_grad()
"""


def test_zero_grad_in_a_helper_of_another_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = """
        import torch
        from helpers import clear, step

        optimizer = torch.optim.Adam(model.parameters())
        for batch in loader:
            clear(optimizer)
            step(model, batch, optimizer)
    """
    assert _check(tmp_path, {"train.py": train, "helpers.py": HELPERS}) == []
    missing = train.replace("    clear(optimizer)\n", "")
    # the step is in helpers.py, reached through the loop of train.py
    assert _check(tmp_path, {"train.py": missing, "helpers.py": HELPERS}) == [
        ("helpers.py", 5, "LL403")]


def test_a_name_a_package_re_exports_from_outside_is_not_a_project_function(
        tmp_path, monkeypatch):
    # timm's layers/__init__.py re-exports torch names; the walk that follows project
    # calls took the re-exported name for a (file, name) pair and crashed on 99 files
    monkeypatch.chdir(tmp_path)
    files = {
        "pkg/__init__.py": "from torch.nn.init import trunc_normal_\n"
                           "from torch.nn import Dropout\n",
        "pkg/model.py": """
            import torch
            from . import trunc_normal_, Dropout

            def init(layer):
                trunc_normal_(layer.weight)
                return Dropout(0.1)

            def train(model, optimizer, loader):
                for x, y in loader:
                    init(model)
                    model(x).sum().backward()
                    optimizer.step()
        """,
    }
    assert _check(tmp_path, files, "--select", "LL002") == [("pkg/model.py", 13, "LL403")]


def test_freeze_of_a_model_class_from_another_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {
        "models/net.py": """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.stem = nn.Linear(4, 4)
        """,
        "models/__init__.py": "from .net import Net\n",
        "train.py": """
            import torch
            from models import Net

            net = Net()
            net.stem.requires_grad = False
            net.requires_grad = False
        """,
    }
    assert _check(tmp_path, files) == [("train.py", 6, "LL406"), ("train.py", 7, "LL406")]


def test_notebook_cells(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = [
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
        "class Net(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.3)",
        "for x, y in loader:\n    loss = crit(net(x), y)\n    loss.backward()\n"
        "    optimizer.step()",
    ]
    (tmp_path / "nb.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                   "execution_count": None, "source": c.splitlines(True)} for c in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format", "json",
                                      "--select", "LL4", "nb.ipynb"])
    found = [(f["code"], f["cell"], f["line"], f["column"])
             for f in json.loads(result.stdout)]
    assert found == [("LL401", 2, 3, 16), ("LL403", 3, 4, 5)]


# ------------------------------------------------------------------ the walk's gate
def test_routines_without_training_acts_are_not_walked(tmp_path, monkeypatch):
    # model code (most of a model file) yields opaque calls at most: it is not walked,
    # not even for a docstring that shows ``model.eval()``
    from layerlint.frontends.python import training

    walked: list[str] = []
    routine = training._Walker.routine
    monkeypatch.setattr(training._Walker, "routine", lambda self, name, *a, **k: (
        walked.append(name), routine(self, name, *a, **k))[1])
    routines = _routines(tmp_path, """
        import torch.nn as nn
        import torch.nn.functional as F

        def block(width):
            \"\"\"Use as ``model = block(4); model.eval()``.\"\"\"
            return nn.Sequential(nn.Linear(width, width), nn.ReLU())

        class Net(nn.Module):
            def __init__(self, dropout=0.1):
                super().__init__()
                self.body = block(4)
                self.dropout = nn.Dropout(dropout)

            def forward(self, x):
                return self.dropout(F.relu(self.body(x)))
    """, name="model.py")
    assert routines == {}
    assert walked == []


def test_acts_reached_indirectly_are_still_found(tmp_path, monkeypatch):
    # what the gate must not miss: an op under an alias of its own name, a method named
    # on the next line, a base class's method in another file, a callee's callee
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from torch.nn.functional import dropout as drop

        class Base(nn.Module):
            def regularise(self, x):
                return drop(x, 0.5)
    """))
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        import torch
        from base import Base

        class Net(Base):
            def forward(self, x):
                return self.regularise(x)

        def evaluate(model):
            return (model
                    .eval())

        def outer(model):
            return evaluate(model)
    """))
    net = Project([tmp_path / "net.py", tmp_path / "base.py"], display=lambda p: p.name)
    routines = {r.name: r for g in load_graphs(tmp_path / "net.py", net) for r in g.code}
    forward = [e for e in routines["Net.forward"].events()
               if e.act is Act.STOCHASTIC_CALL]
    assert [(e.facts["op"], e.facts["training"]) for e in forward] == [
        ("torch.nn.functional.dropout", Tri.DEFAULT_ON)]
    assert _shape(routines["evaluate"].body) == [("eval-mode", "model")]
    assert _shape(routines["outer"].body) == [("eval-mode", "model")]


# ------------------------------------------------------------------ messages and fixes
def test_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = [nn.Linear(4, 4), nn.Conv1d(4, 4, 1)]

            def forward(self, x):
                return F.dropout(x, 0.5)

        for step, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            crit(net(x), y).backward()
            optimizer.step()
            if step % 100 == 0:
                net.eval()
    """))
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format", "json",
                                      "--select", "LL4", "m.py"])
    messages = {f["code"]: f["message"] for f in json.loads(result.stdout)}
    assert messages == {
        "LL401": "`F.dropout` stays active in evaluation mode (`training` defaults to True): "
                 "inference predictions are random and worse",
        "LL404": "`self.blocks` keeps layers (Linear, Conv1d) in a plain list: their "
                 "parameters are not registered, so the optimizer, `.to(device)` and "
                 "`state_dict()` miss them",
        "LL405": "`net.eval()` in a training loop that never calls `net.train()`: later "
                 "training steps run with dropout off and batchnorm statistics frozen",
    }


FIXABLE = """\
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(4, 4) for _ in range(2)]
        self.heads = {"a": nn.Linear(4, 1)}

    def forward(self, x):
        x = F.dropout(x, 0.1)  # keep this comment
        return F.dropout(x, p=0.1, training=True)


backbone = torchvision.models.resnet18()
backbone.requires_grad = False
for p in backbone.fc.parameters():
    p.require_grad = True
"""

FIXED = """\
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 1)})

    def forward(self, x):
        x = F.dropout(x, 0.1, training=self.training)  # keep this comment
        return F.dropout(x, p=0.1, training=self.training)


backbone = torchvision.models.resnet18()
backbone.requires_grad_(False)
for p in backbone.fc.parameters():
    p.requires_grad = True
"""


def test_fixes_apply_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(FIXABLE)
    runner = CliRunner()
    listed = runner.invoke(cli, ["check", "--isolated", "--no-cache", "--format", "json",
                                 "model.py"])
    fixes = {(f["code"], f["line"]): f["fix"] for f in json.loads(listed.stdout)}
    assert set(fixes) == {("LL404", 9), ("LL404", 10), ("LL401", 13), ("LL401", 14),
                          ("LL406", 18), ("LL406", 20)}
    assert all(fix["applicability"] == "unsafe" for fix in fixes.values())
    assert fixes[("LL406", 18)]["message"] == "call `requires_grad_(False)`"
    # safe fixes only: nothing changes
    runner.invoke(cli, ["check", "--isolated", "--no-cache", "--fix", "model.py"])
    assert (tmp_path / "model.py").read_text() == FIXABLE
    result = runner.invoke(cli, ["check", "--isolated", "--no-cache", "--fix",
                                 "--unsafe-fixes", "model.py"])
    assert (tmp_path / "model.py").read_text() == FIXED
    assert result.exit_code == 0, result.output


def test_fix_refused_where_the_mode_is_positional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = textwrap.dedent("""
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x):
                return F.dropout(x, 0.5, True)
    """)
    (tmp_path / "model.py").write_text(source)
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--fix",
                                      "--unsafe-fixes", "model.py"])
    assert (tmp_path / "model.py").read_text() == source
    assert "Fixed" not in result.output
    listed = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format",
                                      "json", "model.py"])
    assert [f["fix"] for f in json.loads(listed.stdout)] == [None]  # not offered


def test_keras_calls_under_the_tape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routines = _routines(tmp_path, """
        import tensorflow as tf
        from tensorflow import keras

        model = keras.Sequential([keras.layers.Dense(4), keras.layers.BatchNormalization()])
        with tf.GradientTape() as tape:
            y = model(x)
            z = model(x, True)
        w = model(x)
    """)
    calls = [(e.location.line, e.facts["training"], e.facts["has_batchnorm"],
              e.facts["has_dropout"]) for e in routines["<module>"].events()
             if e.act is Act.MODEL_CALL]
    assert calls == [(7, Tri.DEFAULT_OFF, True, False), (8, Tri.ON, True, False)]


def test_a_keras_model_of_project_blocks_holds_their_layers(tmp_path, monkeypatch):
    # the dropout and batchnorm are in the blocks the model builds, not in the model
    monkeypatch.chdir(tmp_path)
    files = {
        "blocks.py": """
            import tensorflow as tf

            class ConvBlock(tf.keras.layers.Layer):
                def __init__(self, filters):
                    super().__init__()
                    self.conv = tf.keras.layers.Conv2D(filters, 3)
                    self.bn = tf.keras.layers.BatchNormalization()

                def call(self, x, training=False):
                    return tf.nn.relu(self.bn(self.conv(x), training=training))
        """,
        "train.py": """
            import tensorflow as tf
            from blocks import ConvBlock

            class Net(tf.keras.Model):
                def __init__(self):
                    super().__init__()
                    self.block = ConvBlock(32)
                    self.drop = Head()

                def call(self, x, training=False):
                    return self.drop(self.block(x, training=training), training=training)

            class Head(tf.keras.layers.Layer):
                def __init__(self):
                    super().__init__()
                    self.drop = tf.keras.layers.Dropout(0.5)
                    self.fc = tf.keras.layers.Dense(10)

                def call(self, x, training=False):
                    return self.fc(self.drop(x, training=training))

            model = Net()
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x))
        """,
    }
    for name, source in files.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    project = Project([tmp_path / name for name in files], display=lambda p: p.name)
    calls = [(e.facts["has_dropout"], e.facts["has_batchnorm"])
             for g in load_graphs(tmp_path / "train.py", project) for r in g.code
             for e in r.events() if e.act is Act.MODEL_CALL]
    assert calls == [(True, True)]


def test_training_fixes_are_spelled_by_the_spelling_tables(tmp_path, monkeypatch):
    # the rules ask for intents; the framework's names come from spelling.py only
    from layerlint.frontends import spelling

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(spelling.REGISTERING, "torch.nn.Module",
                        {"list": "torch.nn.Sequential"})
    monkeypatch.setitem(spelling.SETTERS, "torch.nn.Module", {})
    monkeypatch.setitem(spelling.FOLLOW_MODE, "torch.nn.functional.dropout",
                        ("training", "{self}.training and not {self}.frozen"))
    (tmp_path / "model.py").write_text(FIXABLE)
    listed = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format",
                                      "json", "model.py"])
    found = {(f["code"], f["line"]): f for f in json.loads(listed.stdout)}
    register = found[("LL404", 9)]["fix"]
    assert register["message"] == "hold them in `Sequential`"
    assert register["edits"][0]["content"].startswith("nn.Sequential([nn.Linear(4, 4)")
    assert found[("LL404", 10)]["fix"] is None  # no registering dict spelled
    assert found[("LL406", 18)]["fix"] is None  # no setter spelled: no fix, plainer words
    assert "(the method is" not in found[("LL406", 18)]["message"]
    mode = found[("LL401", 13)]["fix"]
    assert mode["message"] == "set `training=self.training and not self.frozen`"
    assert mode["edits"][0]["content"] == ", training=self.training and not self.frozen"


def test_register_fix_spells_the_container_through_the_files_imports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = textwrap.dedent("""
        from torch.nn import Linear, Module, ModuleList

        class Net(Module):
            def __init__(self):
                super().__init__()
                self.blocks = [Linear(4, 4) for _ in range(2)]

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return x
    """)
    (tmp_path / "model.py").write_text(source)
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--fix",
                                      "--unsafe-fixes", "model.py"])
    assert (tmp_path / "model.py").read_text() == source.replace(
        "self.blocks = [Linear(4, 4) for _ in range(2)]",
        "self.blocks = ModuleList([Linear(4, 4) for _ in range(2)])")
    assert result.exit_code == 0, result.output


def test_keras_model_mode_given_by_its_own_parameter(tmp_path, monkeypatch):
    # TensorFlow-Examples' DCGAN and CNN notebooks: ``call(self, x, is_training=False)``
    # passes ``training=is_training`` on to its layers, so ``is_training=True`` trains them
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gan.py").write_text(textwrap.dedent("""
        import tensorflow as tf
        from tensorflow.keras import Model, layers

        class Generator(Model):
            def __init__(self):
                super().__init__()
                self.fc = layers.Dense(16)
                self.bn = layers.BatchNormalization()

            def call(self, x, is_training=False):
                return self.bn(self.fc(x), training=is_training)

        class Noisy(Model):
            def __init__(self):
                super().__init__()
                self.drop = layers.Dropout(0.5)

            def call(self, x, *, training=True):
                return self.drop(x, training=training)

        generator = Generator()
        noisy = Noisy()
        optimizer = tf.optimizers.Adam()

        def run_optimization(noise):
            with tf.GradientTape() as g:
                a = generator(noise, is_training=True)
                b = generator(noise, True)
                c = generator(noise)
                d = noisy(noise)
                loss = tf.reduce_mean(a + b + c + d)
            grads = g.gradient(loss, generator.trainable_variables)
            optimizer.apply_gradients(zip(grads, generator.trainable_variables))
    """))
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "--format", "json",
                                      "--select", "LL402", "gan.py"])
    assert [(f["line"], f["message"].split(" is called")[0]) for f in
            json.loads(result.stdout)] == [(30, "`generator`")]


def test_a_tensor_stored_by_one_method_is_no_layer_of_another(tmp_path, monkeypatch):
    # tensorflow/docs' migration_debugging notebook: a loss stored on the model in
    # train_step and read by a test method crashed the frontend (an edge to a layer of
    # another graph)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "check.py").write_text(textwrap.dedent("""
        import numpy as np
        import tensorflow as tf

        class Model(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.logs = {"loss": []}

            def train_step(self, data):
                x, y = data
                with tf.GradientTape() as tape:
                    loss = self.compiled_loss(y, self(x))
                self.logs["loss"].append(loss)

        class Check:
            def setup(self):
                self.model = Model()
                self.model.train_step((x, y))

            def test_loss(self):
                np.testing.assert_allclose(self.model.logs["loss"][:10], 0.0)
    """))
    result = CliRunner().invoke(cli, ["check", "--isolated", "--no-cache", "check.py"])
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
