"""The vocabulary: which operator names are which kind of layer, kept as data.

Every frontend canonicalises its names (``torch.nn.Dropout``, ``keras.layers.Dense``,
``onnx::Relu``) and looks them up here, so rules never see a framework name.
Activation functions are keyed by a short function name (``relu``, ``gelu``) whose
algebraic traits the ordering rules need.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(str, enum.Enum):
    WEIGHTED = "weighted"
    BATCHNORM = "batchnorm"
    NORM = "norm"  # normalisation without running statistics (LayerNorm, GroupNorm...)
    DROPOUT = "dropout"
    ACTIVATION = "activation"
    POOL = "pool"
    SHAPE = "shape"
    MERGE = "merge"
    SOFTMAX = "softmax"
    LOSS = "loss"
    INPUT = "input"
    OPAQUE = "opaque"


@dataclass(frozen=True, slots=True)
class ActivationTraits:
    # relu(m*x) == m*relu(x) for m >= 0: commutes with a dropout mask.
    positively_homogeneous: bool
    # non-decreasing: commutes with max pooling.
    monotone: bool
    # f(f(x)) == f(x): a repeat is only wasted compute.
    idempotent: bool = False


ACTIVATIONS: dict[str, ActivationTraits] = {
    "relu": ActivationTraits(True, True, idempotent=True),
    "relu6": ActivationTraits(False, True, idempotent=True),
    "leaky_relu": ActivationTraits(True, True),
    "prelu": ActivationTraits(True, True),
    "rrelu": ActivationTraits(True, True),
    "elu": ActivationTraits(False, True),
    "selu": ActivationTraits(False, True),
    "celu": ActivationTraits(False, True),
    "gelu": ActivationTraits(False, False),
    "silu": ActivationTraits(False, False),
    "mish": ActivationTraits(False, False),
    "hardswish": ActivationTraits(False, False),
    "hardsigmoid": ActivationTraits(False, True),
    "hardtanh": ActivationTraits(False, True, idempotent=True),
    "sigmoid": ActivationTraits(False, True),
    "tanh": ActivationTraits(False, True),
    "softplus": ActivationTraits(False, True),
    "softsign": ActivationTraits(False, True),
    "tanhshrink": ActivationTraits(False, False),
    "logsigmoid": ActivationTraits(False, True),
}

# Aliases different frameworks use for the same function.
ACTIVATION_ALIASES: dict[str, str] = {
    "swish": "silu",
    "hard_swish": "hardswish",
    "hard_silu": "hardswish",
    "hard_sigmoid": "hardsigmoid",
    "leakyrelu": "leaky_relu",
    "log_sigmoid": "logsigmoid",
    "relu_": "relu",
}


# LL106: the interval an activation's output lies in, and the interval on which it is
# the identity. g(f(x)) == f(x) exactly when g is the identity on f's output range.
_INF = float("inf")
OUTPUT_RANGE: dict[str, tuple[float, float]] = {
    "relu": (0.0, _INF), "relu6": (0.0, 6.0), "hardtanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0), "hardsigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0),
    "softplus": (0.0, _INF), "softsign": (-1.0, 1.0), "elu": (-1.0, _INF),
    "celu": (-1.0, _INF), "logsigmoid": (-_INF, 0.0),
}
IDENTITY_ON: dict[str, tuple[float, float]] = {
    "relu": (0.0, _INF), "relu6": (0.0, 6.0), "hardtanh": (-1.0, 1.0),
    "leaky_relu": (0.0, _INF), "prelu": (0.0, _INF), "rrelu": (0.0, _INF),
    "elu": (0.0, _INF), "celu": (0.0, _INF),
}


def activation_name(name: str) -> str | None:
    """Canonical activation function name for ``name``, or None if it is not one."""
    key = name.lower()
    key = ACTIVATION_ALIASES.get(key, key)
    return key if key in ACTIVATIONS else None


@dataclass(frozen=True, slots=True)
class OpInfo:
    kind: Kind
    activation: str | None = None  # for ACTIVATION: key into ACTIVATIONS
    pool: str | None = None  # for POOL: "max", "avg", "lp", "adaptive_max", "adaptive_avg"
    log: bool = False  # for SOFTMAX: log-softmax
    # for LOSS: what the loss expects as input:
    # "logits", "log_probs", "probs", "binary_logits", "binary_probs", and
    # "binary_probs_clipped" (probabilities clipped to [eps, 1 - eps] before the log, as
    # Keras does: stable after a sigmoid, unlike torch's BCELoss)
    expects: str | None = None
    # for OPAQUE: an elementwise function that some rules name ("log", for LL209);
    # every other rule sees an opaque layer, as before
    function: str | None = None

    @property
    def traits(self) -> ActivationTraits | None:
        return ACTIVATIONS.get(self.activation) if self.activation else None


def _act(name: str) -> OpInfo:
    return OpInfo(Kind.ACTIVATION, activation=name)


def _entries() -> dict[str, OpInfo]:
    table: dict[str, OpInfo] = {}

    def add(names: str, info: OpInfo) -> None:
        for name in names.split():
            table[name] = info

    # --- PyTorch modules (torch.nn.X) -------------------------------------------------
    nn = "torch.nn."
    F = "torch.nn.functional."
    add(" ".join(nn + n for n in (
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d "
        "LazyConv1d LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d "
        "LazyConvTranspose3d Linear LazyLinear Bilinear").split()),
        OpInfo(Kind.WEIGHTED))
    add(" ".join(nn + n for n in (
        "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
        "LazyBatchNorm3d SyncBatchNorm").split()), OpInfo(Kind.BATCHNORM))
    add(F + "batch_norm", OpInfo(Kind.BATCHNORM))
    add(" ".join(nn + n for n in (
        "LayerNorm GroupNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d RMSNorm "
        "LocalResponseNorm LazyInstanceNorm1d LazyInstanceNorm2d LazyInstanceNorm3d").split()),
        OpInfo(Kind.NORM))
    add(" ".join(F + n for n in "layer_norm group_norm instance_norm rms_norm".split()),
        OpInfo(Kind.NORM))
    add(" ".join(nn + n for n in (
        "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout").split()),
        OpInfo(Kind.DROPOUT))
    add(" ".join(F + n for n in (
        "dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout").split()),
        OpInfo(Kind.DROPOUT))
    for cls, act in {
        "ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
        "RReLU": "rrelu", "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu",
        "SiLU": "silu", "Mish": "mish", "Hardswish": "hardswish",
        "Hardsigmoid": "hardsigmoid", "Hardtanh": "hardtanh", "Sigmoid": "sigmoid",
        "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign",
        "Tanhshrink": "tanhshrink", "LogSigmoid": "logsigmoid",
    }.items():
        add(nn + cls, _act(act))
    for fn in ACTIVATIONS:
        add(f"{F}{fn} {F}{fn}_ torch.{fn} torch.{fn}_ torch.Tensor.{fn} torch.Tensor.{fn}_",
            _act(fn))
    add(F + "hardswish torch.Tensor.hardswish", _act("hardswish"))
    add("torch.special.expit", _act("sigmoid"))
    for cls, pool in {
        "MaxPool1d": "max", "MaxPool2d": "max", "MaxPool3d": "max",
        "AvgPool1d": "avg", "AvgPool2d": "avg", "AvgPool3d": "avg",
        "LPPool1d": "lp", "LPPool2d": "lp", "LPPool3d": "lp",
        "AdaptiveMaxPool1d": "max", "AdaptiveMaxPool2d": "max", "AdaptiveMaxPool3d": "max",
        "AdaptiveAvgPool1d": "avg", "AdaptiveAvgPool2d": "avg", "AdaptiveAvgPool3d": "avg",
        "FractionalMaxPool2d": "max", "FractionalMaxPool3d": "max",
    }.items():
        add(nn + cls, OpInfo(Kind.POOL, pool=pool))
    for fn in (
        "max_pool1d max_pool2d max_pool3d adaptive_max_pool1d adaptive_max_pool2d "
        "adaptive_max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d "
        "adaptive_avg_pool2d adaptive_avg_pool3d lp_pool1d lp_pool2d lp_pool3d"
    ).split():
        pool = "max" if "max" in fn else "avg" if "avg" in fn else "lp"
        add(f"{F}{fn} torch.{fn}", OpInfo(Kind.POOL, pool=pool))
    add(" ".join(nn + n for n in "Flatten Unflatten Identity".split()), OpInfo(Kind.SHAPE))
    add("torch.flatten torch.reshape torch.squeeze torch.unsqueeze torch.permute "
        "torch.transpose torch.movedim " + " ".join("torch.Tensor." + m for m in (
            "view reshape flatten squeeze unsqueeze permute transpose contiguous float "
            "half double bfloat16 to type view_as reshape_as expand expand_as "
            "unflatten movedim t clone detach").split()), OpInfo(Kind.SHAPE))
    add("torch.cat torch.concat torch.concatenate torch.stack torch.add torch.Tensor.add "
        "torch.Tensor.add_ torch.sum", OpInfo(Kind.MERGE))
    add(f"{nn}Softmax {nn}Softmax2d {F}softmax torch.softmax torch.Tensor.softmax "
        "torch.special.softmax", OpInfo(Kind.SOFTMAX))
    add(f"{nn}LogSoftmax {F}log_softmax torch.log_softmax torch.Tensor.log_softmax "
        "torch.special.log_softmax", OpInfo(Kind.SOFTMAX, log=True))
    add(f"{nn}CrossEntropyLoss {F}cross_entropy", OpInfo(Kind.LOSS, expects="logits"))
    add(f"{nn}NLLLoss {F}nll_loss", OpInfo(Kind.LOSS, expects="log_probs"))
    add(f"{nn}BCEWithLogitsLoss {F}binary_cross_entropy_with_logits",
        OpInfo(Kind.LOSS, expects="binary_logits"))
    add(f"{nn}BCELoss {F}binary_cross_entropy", OpInfo(Kind.LOSS, expects="binary_probs"))
    add("torch.log torch.log_ torch.Tensor.log torch.Tensor.log_",
        OpInfo(Kind.OPAQUE, function="log"))

    # --- Keras (canonical prefix keras.layers.) ---------------------------------------
    kl = "keras.layers."
    add(" ".join(kl + n for n in (
        "Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose "
        "Convolution1D Convolution2D Convolution3D DepthwiseConv1D DepthwiseConv2D "
        "SeparableConv1D SeparableConv2D Dense EinsumDense").split()), OpInfo(Kind.WEIGHTED))
    add(kl + "BatchNormalization", OpInfo(Kind.BATCHNORM))
    add(" ".join(kl + n for n in (
        "LayerNormalization GroupNormalization UnitNormalization RMSNormalization").split()),
        OpInfo(Kind.NORM))
    add(" ".join(kl + n for n in (
        "Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianDropout "
        "AlphaDropout").split()), OpInfo(Kind.DROPOUT))
    add(f"{kl}ReLU", _act("relu"))
    add(f"{kl}LeakyReLU", _act("leaky_relu"))
    add(f"{kl}ELU", _act("elu"))
    add(f"{kl}PReLU", _act("prelu"))
    add(f"{kl}Softmax", OpInfo(Kind.SOFTMAX))
    for cls, pool in {
        "MaxPooling1D": "max", "MaxPooling2D": "max", "MaxPooling3D": "max",
        "MaxPool1D": "max", "MaxPool2D": "max", "MaxPool3D": "max",
        "AveragePooling1D": "avg", "AveragePooling2D": "avg", "AveragePooling3D": "avg",
        "AvgPool1D": "avg", "AvgPool2D": "avg", "AvgPool3D": "avg",
        "GlobalMaxPooling1D": "max", "GlobalMaxPooling2D": "max", "GlobalMaxPooling3D": "max",
        "GlobalAveragePooling1D": "avg", "GlobalAveragePooling2D": "avg",
        "GlobalAveragePooling3D": "avg", "GlobalAvgPool2D": "avg", "GlobalMaxPool2D": "max",
    }.items():
        add(kl + cls, OpInfo(Kind.POOL, pool=pool))
    add(" ".join(kl + n for n in (
        "Flatten Reshape Permute RepeatVector Identity Cropping1D Cropping2D "
        "ZeroPadding1D ZeroPadding2D ZeroPadding3D").split()), OpInfo(Kind.SHAPE))
    add(" ".join(kl + n for n in (
        "Add Concatenate Average Maximum Minimum Multiply Subtract add concatenate average "
        "maximum minimum multiply subtract").split()), OpInfo(Kind.MERGE))

    add("keras.Input keras.layers.Input keras.layers.InputLayer", OpInfo(Kind.INPUT))
    # Keras / TensorFlow activation functions (``activation=tf.nn.relu``, ``tf.nn.relu(x)``)
    act_modules = ("keras.activations.", "keras.ops.", "keras.ops.nn.", "tensorflow.nn.")
    for fn in (*ACTIVATIONS, *ACTIVATION_ALIASES):
        add(" ".join(m + fn for m in act_modules), _act(activation_name(fn) or fn))
    add("tensorflow.sigmoid tensorflow.math.sigmoid", _act("sigmoid"))
    add("tensorflow.tanh tensorflow.math.tanh", _act("tanh"))
    add("tensorflow.math.softplus", _act("softplus"))
    add(" ".join(m + "softmax" for m in act_modules), OpInfo(Kind.SOFTMAX))
    add(" ".join(m + "log_softmax" for m in act_modules), OpInfo(Kind.SOFTMAX, log=True))
    add("keras.ops.add tensorflow.add tensorflow.math.add keras.ops.concatenate "
        "tensorflow.concat", OpInfo(Kind.MERGE))
    add("keras.ops.reshape keras.ops.squeeze keras.ops.expand_dims keras.ops.transpose "
        "keras.ops.cast tensorflow.reshape tensorflow.squeeze tensorflow.expand_dims "
        "tensorflow.transpose tensorflow.identity tensorflow.cast", OpInfo(Kind.SHAPE))
    add("tensorflow.nn.dropout", OpInfo(Kind.DROPOUT))
    add("keras.ops.log tensorflow.math.log tensorflow.log", OpInfo(Kind.OPAQUE, function="log"))
    add("torch.dropout torch.dropout_ torch.alpha_dropout torch.feature_alpha_dropout "
        "torch.feature_dropout", OpInfo(Kind.DROPOUT))

    # --- ONNX (onnx::Op) --------------------------------------------------------------
    add("onnx::Conv onnx::ConvTranspose onnx::Gemm onnx::MatMul", OpInfo(Kind.WEIGHTED))
    add("onnx::BatchNormalization", OpInfo(Kind.BATCHNORM))
    add("onnx::LayerNormalization onnx::GroupNormalization onnx::InstanceNormalization "
        "onnx::RMSNormalization onnx::LRN", OpInfo(Kind.NORM))
    add("onnx::Dropout", OpInfo(Kind.DROPOUT))
    for op, act in {
        "Relu": "relu", "LeakyRelu": "leaky_relu", "PRelu": "prelu", "Elu": "elu",
        "Selu": "selu", "Celu": "celu", "Gelu": "gelu", "Sigmoid": "sigmoid", "Tanh": "tanh",
        "HardSigmoid": "hardsigmoid", "HardSwish": "hardswish", "Softplus": "softplus",
        "Softsign": "softsign", "Mish": "mish", "Swish": "silu",
    }.items():
        add("onnx::" + op, _act(act))
    for op, pool in {
        "MaxPool": "max", "AveragePool": "avg", "LpPool": "lp", "GlobalMaxPool": "max",
        "GlobalAveragePool": "avg", "GlobalLpPool": "lp",
    }.items():
        add("onnx::" + op, OpInfo(Kind.POOL, pool=pool))
    add("onnx::Flatten onnx::Reshape onnx::Identity onnx::Cast onnx::Transpose "
        "onnx::Squeeze onnx::Unsqueeze onnx::CastLike onnx::Expand", OpInfo(Kind.SHAPE))
    # Patterns the ONNX frontend lowers (not ONNX ops): x*Sigmoid(x), Log(Sigmoid(x)).
    add("onnx::SiLU", _act("silu"))
    add("onnx::LogSigmoid", _act("logsigmoid"))
    add("onnx::Add onnx::Concat onnx::Sum", OpInfo(Kind.MERGE))
    add("onnx::Softmax", OpInfo(Kind.SOFTMAX))
    add("onnx::LogSoftmax", OpInfo(Kind.SOFTMAX, log=True))
    add("onnx::SoftmaxCrossEntropyLoss", OpInfo(Kind.LOSS, expects="logits"))
    add("onnx::NegativeLogLikelihoodLoss", OpInfo(Kind.LOSS, expects="log_probs"))
    add("onnx::Log", OpInfo(Kind.OPAQUE, function="log"))
    return table


VOCABULARY: dict[str, OpInfo] = _entries()

# LL208: softmax ops whose axis PyTorch picks from the input's rank when ``dim`` is
# omitted (torch.softmax and Tensor.softmax require it: omitting it is a TypeError).
IMPLICIT_SOFTMAX_DIM = frozenset(
    f"torch.nn.{n}" for n in ("Softmax", "LogSoftmax", "Softmin", "functional.softmax",
                              "functional.log_softmax", "functional.softmin"))

# LL206: the attribute holding a weighted layer's number of output units, and the axis
# those units lie on (torch convolutions are channels-first; Keras is channels-last).
OUTPUT_UNITS: dict[str, tuple[str, int]] = {
    "torch.nn.Linear": ("out_features", -1), "torch.nn.LazyLinear": ("out_features", -1),
    "torch.nn.Bilinear": ("out_features", -1),
    **{f"torch.nn.{lazy}Conv{d}d": ("out_channels", 1) for d in (1, 2, 3)
       for lazy in ("", "Lazy")},
    "keras.layers.Dense": ("units", -1),
    **{f"keras.layers.{conv}{d}D": ("filters", -1) for d in (1, 2, 3)
       for conv in ("Conv", "Convolution")},
}


def softmax_axis(op: str, attrs: Mapping[str, object]) -> object:
    """The axis a softmax layer normalises over: an int, None when PyTorch picks it
    from the input's rank (LL208), or the attribute as given (unresolved)."""
    for key in ("dim", "axis"):
        if key in attrs:
            return attrs[key]
    if op in IMPLICIT_SOFTMAX_DIM:
        return None
    if op == "torch.nn.Softmax2d":
        return -3
    return -1  # Keras and ONNX (opset >= 13) default to the last axis


_OPAQUE = OpInfo(Kind.OPAQUE)


def lookup(op: str) -> OpInfo:
    """The kind of a canonical operator name; unknown names are opaque, never guessed."""
    return VOCABULARY.get(op, _OPAQUE)


def activation_op(name: str) -> OpInfo | None:
    """OpInfo for an activation given by function name (Keras strings, ``activation=``)."""
    key = activation_name(name)
    if key is None:
        if name.lower() == "softmax":
            return OpInfo(Kind.SOFTMAX)
        if name.lower() == "log_softmax":
            return OpInfo(Kind.SOFTMAX, log=True)
        return None
    return _act(key)
