"""Meta-tests over the rule catalog: codes, names, defaults, docs, examples, vocabulary.

The expected catalog is copied from RULES.md (the specification), which is not part
of the repository; a change there must be copied here by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.ir.kinds import ACTIVATIONS, Kind, activation_op, lookup
from layerlint.registry import all_rules, get_rule
from layerlint.rule import FRONTENDS

ROOT = Path(__file__).resolve().parent.parent

# code -> (name, enabled by default)
CATALOG = {
    "LL001": ("parse-error", True),
    "LL002": ("incomplete-analysis", True),
    "LL003": ("unused-suppression", False),  # a diagnostic added by the suppressions work
    "LL101": ("dropout-before-batchnorm", True),
    "LL102": ("batchnorm-activation-gap", True),
    "LL103": ("activation-before-batchnorm", False),
    "LL104": ("bias-before-batchnorm", True),
    "LL105": ("dropout-on-output", True),
    "LL106": ("repeated-activation", True),
    "LL107": ("dropout-with-batchnorm", False),
    "LL110": ("shared-batchnorm", True),
    "LL201": ("softmax-before-cross-entropy", True),
    "LL202": ("double-sigmoid", True),
    "LL203": ("sigmoid-then-bce", True),
    "LL204": ("logits-into-probability-loss", True),
    "LL205": ("softmax-into-nll-loss", True),
    "LL206": ("single-unit-softmax", True),
    "LL207": ("activation-on-logits", True),
    "LL208": ("implicit-softmax-dim", True),
    "LL209": ("log-of-softmax", True),
    "LL210": ("softmax-with-binary-loss", True),
    "LL301": ("batchnorm-momentum-convention", True),
    "LL302": ("dropout-rate-out-of-range", True),
    "LL401": ("functional-dropout-always-on", True),
    "LL402": ("keras-call-without-training", True),
    "LL403": ("missing-zero-grad", True),
    "LL404": ("unregistered-submodule", True),
    "LL405": ("eval-without-train", True),
    "LL406": ("ineffective-freeze", True),
}

SECTIONS = ("What it does", "Why is this bad?", "Known problems", "Fix safety", "Evidence",
            "References")


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_catalog_rule_exists_with_name_and_default(code):
    rule = get_rule(code)
    assert rule is not None, f"{code} is in the catalog but not registered"
    assert (rule.name, rule.default_enabled) == CATALOG[code]


def test_no_rule_outside_the_catalog():
    assert {rule.code for rule in all_rules()} <= set(CATALOG)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_rule_folder_and_class_names(rule):
    package = rule.__module__.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    assert package == f"{rule.code.lower()}_{rule.name.replace('-', '_')}"
    assert rule.__name__ == "".join(part.capitalize() for part in rule.name.split("-"))


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_rule_doc_has_all_sections_in_order(rule):
    headings = re.findall(r"^## (.+?)\s*$", rule.doc(), re.M)
    assert tuple(headings) == SECTIONS
    for section in re.split(r"^## .+$", rule.doc(), flags=re.M)[1:]:
        assert section.strip(), f"{rule.code} has an empty section"
    assert rule.summary()


@pytest.mark.parametrize(
    "rule", [r for r in all_rules() if not r.code.startswith("LL0")], ids=lambda r: r.code)
def test_rule_has_pytorch_examples(rule):
    if "pytorch" in rule.unsupported:  # a Keras-only mistake (LL402) says why instead
        assert not any(e.frontend == "pytorch" for e in rule.invalid)
        return
    assert any(e.frontend == "pytorch" for e in rule.invalid), f"{rule.code}: no invalid example"
    assert any(e.frontend == "pytorch" for e in rule.valid), f"{rule.code}: no valid example"
    for example in rule.invalid:
        assert {code for _, code in example.expected()} == {rule.code}


@pytest.mark.parametrize(
    "rule", [r for r in all_rules() if not r.code.startswith("LL0")], ids=lambda r: r.code)
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_rule_covers_every_frontend(rule, frontend):
    """Each frontend has an invalid and a valid example, or a stated reason why not."""
    invalid = [e for e in rule.invalid if e.frontend == frontend]
    valid = [e for e in rule.valid if e.frontend == frontend]
    if frontend in rule.unsupported:
        assert rule.unsupported[frontend].strip()
        assert not invalid, f"{rule.code} has {frontend} examples but calls it unsupported"
    else:
        assert invalid and valid, f"{rule.code}: no {frontend} examples and no reason"


@pytest.mark.parametrize(
    "rule", [r for r in all_rules() if not r.code.startswith("LL0")], ids=lambda r: r.code)
def test_rule_message_fields(rule):
    # Every rule's message is a format string with named fields only.
    fields = re.findall(r"{([^}]*)}", rule.message)
    assert fields and all(re.fullmatch(r"[a-z_]+", f) for f in fields), rule.message


# --- the vocabulary: every name RULES.md's "Words used below" lists -----------------------

_NN, _F = "torch.nn.", "torch.nn.functional."
_KL = "keras.layers."

DROPOUT = [
    *(_NN + n for n in "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout "
      "FeatureAlphaDropout".split()),
    *(_F + n for n in "dropout dropout1d dropout2d dropout3d alpha_dropout "
      "feature_alpha_dropout".split()),
    *(_KL + n for n in "Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D "
      "GaussianDropout AlphaDropout".split()),
    "onnx::Dropout",
]
BATCHNORM = [
    *(_NN + n for n in "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
      "LazyBatchNorm3d SyncBatchNorm".split()),
    _F + "batch_norm", _KL + "BatchNormalization", "onnx::BatchNormalization",
]
NOT_BATCHNORM = [
    *(_NN + n for n in "LayerNorm GroupNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d "
      "RMSNorm".split()),
    *(_F + n for n in "layer_norm group_norm instance_norm rms_norm".split()),
    *(_KL + n for n in "LayerNormalization GroupNormalization RMSNormalization".split()),
    *("onnx::" + n for n in "LayerNormalization GroupNormalization InstanceNormalization "
      "RMSNormalization".split()),
]
# canonical op -> activation function
ACTIVATION = {
    **{_NN + cls: fn for cls, fn in {
        "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
        "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu", "SiLU": "silu",
        "Mish": "mish", "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid",
        "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus"}.items()},
    **{_F + fn: fn for fn in "relu relu6 leaky_relu prelu elu selu celu gelu silu mish "
       "hardswish hardsigmoid sigmoid tanh softplus".split()},
    _F + "relu_": "relu", "torch.relu": "relu", "torch.relu_": "relu",
    "torch.sigmoid": "sigmoid", "torch.tanh": "tanh", "torch.Tensor.relu": "relu",
    "torch.Tensor.relu_": "relu", "torch.Tensor.sigmoid": "sigmoid",
    "torch.Tensor.tanh": "tanh",
    "tensorflow.nn.relu": "relu", "tensorflow.nn.relu6": "relu6",
    "tensorflow.nn.leaky_relu": "leaky_relu", "tensorflow.nn.elu": "elu",
    "tensorflow.nn.selu": "selu", "tensorflow.nn.gelu": "gelu", "tensorflow.nn.silu": "silu",
    "tensorflow.nn.swish": "silu", "tensorflow.nn.sigmoid": "sigmoid",
    "tensorflow.nn.tanh": "tanh", "tensorflow.nn.softplus": "softplus",
    "tensorflow.sigmoid": "sigmoid", "tensorflow.math.sigmoid": "sigmoid",
    "tensorflow.tanh": "tanh", "keras.activations.relu": "relu",
    "keras.activations.gelu": "gelu", "keras.ops.sigmoid": "sigmoid",
    _KL + "ReLU": "relu", _KL + "LeakyReLU": "leaky_relu", _KL + "ELU": "elu",
    _KL + "PReLU": "prelu",
    **{"onnx::" + op: fn for op, fn in {
        "Relu": "relu", "LeakyRelu": "leaky_relu", "Elu": "elu", "Selu": "selu",
        "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hardsigmoid",
        "HardSwish": "hardswish", "Gelu": "gelu", "Softplus": "softplus", "Mish": "mish",
        "PRelu": "prelu"}.items()},
}
# Keras `Activation("...")` / `activation="..."` strings -> activation function
KERAS_ACTIVATION_STRINGS = {
    "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "elu": "elu",
    "selu": "selu", "celu": "celu", "gelu": "gelu", "silu": "silu", "swish": "silu",
    "mish": "mish", "hard_swish": "hardswish", "hard_silu": "hardswish",
    "hard_sigmoid": "hardsigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
    "softplus": "softplus",
}
WEIGHTED = [
    *(_NN + n for n in "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d "
      "LazyConv2d LazyConvTranspose2d Linear LazyLinear".split()),
    *(_KL + n for n in "Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose "
      "DepthwiseConv2D SeparableConv2D Dense".split()),
    "onnx::Conv", "onnx::ConvTranspose", "onnx::Gemm", "onnx::MatMul",
]
SHAPE = [
    _NN + "Flatten", _NN + "Identity", "torch.flatten", "torch.reshape", "torch.permute",
    "torch.squeeze", "torch.unsqueeze",
    *("torch.Tensor." + m for m in "view reshape flatten permute squeeze unsqueeze contiguous "
      "float half double to type".split()),
    *(_KL + n for n in "Flatten Reshape Permute Identity".split()),
    *("onnx::" + n for n in "Flatten Reshape Identity Cast Transpose Squeeze Unsqueeze".split()),
]
MERGE = ["torch.cat", "torch.add", _KL + "Add", _KL + "Concatenate", "onnx::Add",
         "onnx::Concat"]
SOFTMAX = [_NN + "Softmax", _F + "softmax", "torch.softmax", "torch.Tensor.softmax",
           _KL + "Softmax", "onnx::Softmax"]
LOG_SOFTMAX = [_NN + "LogSoftmax", _F + "log_softmax", "torch.log_softmax", "onnx::LogSoftmax"]
POOL = {
    _NN + "MaxPool2d": "max", _NN + "AdaptiveMaxPool2d": "max", _F + "max_pool2d": "max",
    _NN + "AvgPool2d": "avg", _NN + "AdaptiveAvgPool2d": "avg", _F + "avg_pool2d": "avg",
    _F + "adaptive_avg_pool2d": "avg", _NN + "LPPool2d": "lp",
    _KL + "MaxPooling2D": "max", _KL + "AveragePooling2D": "avg",
    _KL + "GlobalAveragePooling2D": "avg", _KL + "GlobalMaxPooling2D": "max",
    "onnx::MaxPool": "max", "onnx::AveragePool": "avg", "onnx::LpPool": "lp",
    "onnx::GlobalAveragePool": "avg",
}


@pytest.mark.parametrize(("names", "kind"), [
    (DROPOUT, Kind.DROPOUT), (BATCHNORM, Kind.BATCHNORM), (NOT_BATCHNORM, Kind.NORM),
    (WEIGHTED, Kind.WEIGHTED), (SHAPE, Kind.SHAPE), (MERGE, Kind.MERGE),
    (SOFTMAX, Kind.SOFTMAX), (LOG_SOFTMAX, Kind.SOFTMAX),
], ids=["dropout", "batchnorm", "not-batchnorm", "weighted", "shape", "merge", "softmax",
        "log-softmax"])
def test_vocabulary_kinds(names, kind):
    wrong = {name: lookup(name).kind for name in names if lookup(name).kind is not kind}
    assert not wrong


def test_vocabulary_softmax_log_flag():
    assert not any(lookup(name).log for name in SOFTMAX)
    assert all(lookup(name).log for name in LOG_SOFTMAX)
    assert activation_op("softmax").kind is Kind.SOFTMAX
    assert activation_op("log_softmax").log


def test_vocabulary_activations():
    wrong = {name: lookup(name) for name, fn in ACTIVATION.items()
             if lookup(name).kind is not Kind.ACTIVATION or lookup(name).activation != fn}
    assert not wrong
    for text, fn in KERAS_ACTIVATION_STRINGS.items():
        info = activation_op(text)
        assert info is not None and info.kind is Kind.ACTIVATION and info.activation == fn
    assert activation_op("linear") is None


def test_vocabulary_pools():
    wrong = {name: lookup(name) for name, pool in POOL.items()
             if lookup(name).kind is not Kind.POOL or lookup(name).pool != pool}
    assert not wrong


def test_vocabulary_log_is_an_opaque_function():
    # LL209 names the log; every other rule still sees an opaque layer
    for name in ("torch.log", "torch.Tensor.log", "keras.ops.log", "tensorflow.math.log",
                 "onnx::Log"):
        assert (lookup(name).kind, lookup(name).function) == (Kind.OPAQUE, "log"), name
    assert lookup("torch.exp").function is None


def test_unknown_names_are_opaque():
    assert lookup("mylib.Block").kind is Kind.OPAQUE
    assert lookup("torch.nn.Module").kind is Kind.OPAQUE


def test_activation_traits_match_the_catalog():
    listed = set(ACTIVATION.values())
    # LL102: "anything but ReLU, LeakyReLU, PReLU" is not positively homogeneous.
    assert {fn for fn in listed if ACTIVATIONS[fn].positively_homogeneous} == {
        "relu", "leaky_relu", "prelu"}
    # LL102: the non-monotone activations are GELU, SiLU/Swish, Mish, Hardswish.
    assert {fn for fn in listed if not ACTIVATIONS[fn].monotone} == {
        "gelu", "silu", "mish", "hardswish"}
    assert {fn for fn, t in ACTIVATIONS.items() if t.idempotent} == {"relu", "relu6", "hardtanh"}


# --- README -----------------------------------------------------------------------------

_TABLE = re.compile(r"(<!-- rules-table[^>]*-->\n)(.*?)(<!-- end rules-table -->)", re.S)


def test_readme_rules_table_is_current():
    result = CliRunner().invoke(cli, ["rules", "--format", "markdown"])
    assert result.exit_code == 0
    match = _TABLE.search((ROOT / "README.md").read_text())
    assert match, "README has no rules-table markers"
    assert match.group(2) == result.output, (
        "README rules table is stale: paste `layerlint rules --format markdown` between "
        "the rules-table markers")
