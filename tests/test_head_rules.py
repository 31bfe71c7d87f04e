"""The output-head and loss rules of the second round (LL204-LL210, LL110): the
multi-file fixture projects, the fixes as a user applies them, and the look-alikes
that must stay silent."""

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
HEAD_RULES = ["LL204", "LL205", "LL206", "LL207", "LL208", "LL209", "LL210"]
HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def test_torch_project_hits_exactly_itsexpected_markers(monkeypatch):
    # logits in models.py, losses in train.py; every rule of the project is marked,
    # and the look-alikes (an inference softmax, attention pooling over a Linear(h, 1),
    # log_softmax into NLLLoss) stay silent under every rule
    monkeypatch.chdir(FIXTURES / "torch")
    files = sorted(Path("heads_project").glob("*.py"))
    expected = expected_markers(files)
    assert {code for _, _, code in expected} == set(HEAD_RULES)
    assert reported([Path("heads_project")], ["ALL"]) == expected


def _run(tmp_path: Path, code: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "script.py"
    path.write_text(HEADER + textwrap.dedent(code))
    result = CliRunner().invoke(cli, ["check", "--no-cache", *args, str(path)])
    return result.exit_code, result.output, path.read_text()


def test_ll205_unsafe_fix_uses_log_softmax(tmp_path):
    code = """
        model = nn.Sequential(nn.Linear(8, 4), nn.Softmax(dim=1))
        for x, y in loader:
            F.nll_loss(model(x), y).backward()
            F.nll_loss(torch.softmax(model[0](x), dim=1), y).backward()
    """
    status, output, text = _run(tmp_path, code, "--select", "LL205", "--fix")
    assert status == 1 and "2 hidden fixes can be enabled with --unsafe-fixes" in output
    assert "nn.Softmax(dim=1)" in text  # not applied without --unsafe-fixes
    status, output, text = _run(tmp_path, code, "--select", "LL205", "--fix", "--unsafe-fixes")
    assert status == 0, output
    assert "nn.LogSoftmax(dim=1)" in text
    assert "F.nll_loss(torch.log_softmax(model[0](x), dim=1), y)" in text


def test_ll208_unsafe_fix_adds_dim_minus_one(tmp_path):
    code = """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)
                self.norm = nn.LogSoftmax()

            def forward(self, x):
                return self.norm(self.fc(x)), F.softmax(x), F.softmax(x, 1)
    """
    status, output, text = _run(tmp_path, code, "--select", "LL208")
    assert status == 1
    assert "`self.norm` without `dim`" in output and "`F.softmax` without `dim`" in output
    assert output.count("LL208") == 2
    status, output, text = _run(tmp_path, code, "--select", "LL208", "--fix", "--unsafe-fixes")
    assert status == 0, output
    assert "nn.LogSoftmax(dim=-1)" in text
    assert "F.softmax(x, dim=-1), F.softmax(x, 1)" in text


def test_ll209_safe_fix_only_for_a_nested_softmax_call(tmp_path):
    code = """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                a = torch.log(F.softmax(self.fc(x), dim=1))
                p = F.softmax(self.fc(x), dim=1)
                return a, torch.log(p), p
    """
    status, output, text = _run(tmp_path, code, "--select", "LL209", "--fix")
    assert status == 1, output  # the log of a stored softmax is left for the user
    assert "a = F.log_softmax(self.fc(x), dim=1)" in text
    assert "return a, torch.log(p), p" in text
    assert output.count("LL209") == 1


@pytest.mark.parametrize(("code", "expected"), [
    # a 1-unit layer followed by sigmoid, and one scored over time (attention)
    ("nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())", []),
    ("nn.Sequential(nn.Linear(8, 1), nn.Softmax(dim=-1))", ["LL206"]),
    ("nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=-1))", []),
    # a conv with one output channel: softmax over channels is constant, over space not
    ("nn.Sequential(nn.Conv2d(8, 1, 1), nn.Softmax(dim=1))", ["LL206"]),
    ("nn.Sequential(nn.Conv2d(8, 1, 1), nn.Flatten(1), nn.Softmax(dim=1))", []),
    ("nn.Sequential(nn.Linear(8, n_out), nn.Softmax(dim=-1))", []),
])
def test_ll206_reads_units_and_axis(tmp_path, code, expected):
    path = tmp_path / "model.py"
    path.write_text(HEADER + f"model = {code}\n")
    found = check_paths([path], select_rules(["LL206"])).findings
    assert [f.code for f in found] == expected


def test_ll206_keras_one_unit_softmax_message(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import keras
        from keras import layers
        model = keras.Sequential([layers.Dense(8, activation="relu"),
                                  layers.Dense(1), layers.Softmax()])
    """))
    (finding,) = check_paths([path], select_rules(["LL206"])).findings
    assert finding.location.line == 5
    assert finding.message == (
        "`Softmax()` normalises over the single unit of `Dense(1)`: its output is "
        "constantly 1, so it never learns; use a sigmoid for one unit")


def test_ll204_keras_fix_sets_from_logits_only_on_a_loss_object(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import keras
        from keras import layers
        a = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(10)])
        a.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy())
        b = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(1)])
        b.compile(optimizer="adam", loss="binary_crossentropy")
    """))
    findings = check_paths([path], select_rules(["LL204"]), fixable=True).findings
    assert [(f.location.line, f.fix is not None) for f in findings] == [(5, True), (7, False)]
    assert "Keras clips and renormalises" in findings[0].message
    assert "`Dense(1)`" in findings[1].message
    result = CliRunner().invoke(cli, ["check", "--no-cache", "--select", "LL204", "--fix",
                                      "--unsafe-fixes", str(path)])
    assert result.exit_code == 1, result.output
    assert "keras.losses.CategoricalCrossentropy(from_logits=True)" in path.read_text()


def test_ll204_torch_nll_on_logits_names_the_layer_in_the_other_file(monkeypatch):
    monkeypatch.chdir(FIXTURES / "torch")
    findings = [f for f in check_paths([Path("heads_project")],
                                       select_rules(["LL204"]), fixable=True).findings]
    (finding,) = findings
    assert finding.message.startswith(
        "`criterion` expects log-probabilities but its input is the logits of "
        "`self.classifier`: the loss is -z[y], unbounded below")
    assert [(Path(r.location.path).name, r.location.line) for r in finding.related] == [
        ("models.py", 15)]
    assert finding.fix is not None and not finding.fix.safe


# -- LL110 shared-batchnorm: what counts as one object applied twice -----------------------
_LL110_MODULE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 8, 3, bias=False)
        self.b = nn.Conv2d(8, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.stats_free = nn.BatchNorm2d(8, track_running_stats=False)

    def forward(self, x, y, items):
{body}
"""


@pytest.mark.parametrize(("body", "lines"), [
    # two inputs of forward are two inputs, not one
    ("return self.bn(x) + self.bn(y)", [14]),
    # a loop of known length applies it on each pass (reported once)
    ("for _ in range(3):\n    x = self.bn(self.a(x))\nreturn x", [15]),
    # the same objects on the same tensor compute one value: one input
    ("return self.bn(self.a(x)) * self.bn(self.a(x))", []),
    # if/else: only one side runs; an early return excludes what follows
    ("if x.shape[1] > 4:\n    return self.bn(self.a(x))\nreturn self.bn(self.b(x))", []),
    ("z = self.bn(self.a(x)) if self.training else self.bn(self.b(x))\nreturn z", []),
    # a loop over items of unknown number may run once
    ("return [self.bn(item) for item in items]", []),
    ("for item in items:\n    x = x + self.bn(item)\nreturn x", []),
    ("while x.shape[-1] > 4:\n    x = self.bn(self.a(x))\nreturn x", []),
    # no running statistics, nothing to mix
    ("return self.stats_free(self.a(x)) + self.stats_free(self.b(x))", []),
])
def test_ll110_which_second_applications_count(tmp_path, body, lines):
    path = tmp_path / "net.py"
    path.write_text(HEADER + _LL110_MODULE.format(body=textwrap.indent(body, " " * 8)))
    findings = check_paths([path], select_rules(["LL110"])).findings
    assert [f.location.line for f in findings] == lines


def test_ll110_message_names_the_first_application(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(HEADER + _LL110_MODULE.format(
        body="        p = self.bn(self.a(x))\n        return p + self.bn(self.b(y))"))
    (finding,) = check_paths([path], select_rules(["LL110"])).findings
    assert (finding.location.line, finding.location.column) == (15, 20)
    assert finding.message.startswith(
        "batchnorm `self.bn` is applied again here to another input (first at line 14)")
    # the first application, then the constructor
    assert [r.location.line for r in finding.related] == [14, 10]


def test_ll110_training_code_calls_are_forward_passes_of_their_own(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(HEADER + _LL110_MODULE.format(body="        return self.bn(self.a(x))") + """
model = Net()
for epoch in range(3):
    for x, y in loader:
        loss = F.cross_entropy(model(x, x, None), y)
        loss.backward()
    with torch.no_grad():
        model(x, x, None)
""")
    assert check_paths([path], select_rules(["LL110"])).findings == []


def test_ll110_keras_functional_submodel_applied_to_two_inputs(tmp_path):
    path = tmp_path / "siamese.py"
    path.write_text(textwrap.dedent("""
        import keras
        from keras import layers

        x_in = keras.Input(shape=(8,))
        encoder = keras.Model(x_in, layers.BatchNormalization()(layers.Dense(8)(x_in)))
        a, b = keras.Input(shape=(8,)), keras.Input(shape=(8,))
        siamese = keras.Model([a, b], layers.Subtract()([encoder(a), encoder(b)]))
        for epoch in range(3):
            for batch in data:
                encoder(batch, training=True)
    """))
    (finding,) = check_paths([path], select_rules(["LL110"])).findings
    assert finding.location.line == 6 and "more than once" in finding.message


def test_ll110_keras_inference_mode_call_does_not_update_the_statistics(tmp_path):
    path = tmp_path / "frozen.py"
    path.write_text(textwrap.dedent("""
        import keras
        from keras import layers

        a, b = keras.Input(shape=(8,)), keras.Input(shape=(8,))
        bn = layers.BatchNormalization()
        x = bn(layers.Dense(8)(a))
        y = bn(layers.Dense(8)(b), training=False)
        model = keras.Model([a, b], layers.Concatenate()([x, y]))
    """))
    assert check_paths([path], select_rules(["LL110"])).findings == []


# -- LL208 / LL209 in helpers: read whether or not anything calls them, reported once ---
_HELPERS = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4, bias=False)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.fc(x))

    def predict(self, x):
        return torch.log(F.softmax(self(x)))

    def predict_pair(self, a, b):
        return F.softmax(self(a), dim=-1), F.softmax(self(b), dim=-1)

    @staticmethod
    def scores(logits):
        return torch.softmax(logits, -1)


def loss_fn(logits, y):
    return -(torch.log(F.softmax(logits)) * y).sum()


def attention(q, k):
    return F.softmax(q @ k.transpose(-2, -1), dim=-1) @ k
"""


def test_ll208_ll209_in_helpers_nothing_calls(tmp_path):
    path = tmp_path / "helpers.py"
    path.write_text(HEADER + _HELPERS)
    findings = check_paths([path], select_rules(["ALL"])).findings
    # predict (line 15) and loss_fn (line 26): the log and the softmax without dim; the
    # explicit axes, the attention softmax and the two calls of self in predict_pair
    # (a helper, not a forward pass: no LL110) are silent
    assert sorted((f.location.line, f.code) for f in findings) == [
        (15, "LL208"), (15, "LL209"), (26, "LL208"), (26, "LL209")]


def test_ll208_ll209_in_a_helper_that_training_code_calls_are_reported_once(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(HEADER + _HELPERS + """
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = loss_fn(model(x), y) + F.nll_loss(model.predict(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""")
    findings = check_paths([path], select_rules(["LL208", "LL209"])).findings
    assert sorted((f.location.line, f.code) for f in findings) == [
        (15, "LL208"), (15, "LL209"), (26, "LL208"), (26, "LL209")]


def test_a_helper_of_plain_math_is_not_read_as_layers(tmp_path):
    # timm's Mish backward: a helper that applies a sigmoid is read for LL208/LL209, but
    # its tanh(softplus(x)) is math, not two activations in a network (LL106)
    path = tmp_path / "activations.py"
    path.write_text(HEADER + textwrap.dedent("""
        def mish_bwd(x, grad_output):
            x_sigmoid = torch.sigmoid(x)
            x_tanh_sp = F.softplus(x).tanh()
            return grad_output.mul(x_tanh_sp + x * x_sigmoid * (1 - x_tanh_sp * x_tanh_sp))

        def nll(logits, y):
            return -torch.log(torch.softmax(logits, dim=-1))[y]
    """))
    result = check_paths([path], select_rules(["ALL"]))
    assert [(f.code, f.location.line) for f in result.findings] == [("LL209", 11)]
