"""Positional parameters of the framework calls whose arguments layerlint reads or edits.

One table for the interpreter (naming positional arguments) and the fixer (refusing
to add a keyword that is already passed by position).
"""

from __future__ import annotations

import re

__all__ = ["argument_slot", "positional_parameters"]

_TORCH_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "bias")
_TORCH_CONV_TRANSPOSE = ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "output_padding", "groups", "bias", "dilation")
_KERAS_CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
               "groups", "activation", "use_bias")

_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), params) for pattern, params in (
        (r"^torch\.nn\.ConvTranspose\dd$", _TORCH_CONV_TRANSPOSE),
        (r"^torch\.nn\.LazyConvTranspose\dd$", _TORCH_CONV_TRANSPOSE[1:]),
        (r"^torch\.nn\.Conv\dd$", _TORCH_CONV),
        (r"^torch\.nn\.LazyConv\dd$", _TORCH_CONV[1:]),
        (r"^torch\.nn\.Linear$", ("in_features", "out_features", "bias")),
        (r"^torch\.nn\.LazyLinear$", ("out_features", "bias")),
        (r"^torch\.nn\.Bilinear$", ("in1_features", "in2_features", "out_features", "bias")),
        (r"^torch\.nn\.(BatchNorm\dd|SyncBatchNorm)$",
         ("num_features", "eps", "momentum", "affine", "track_running_stats")),
        (r"^torch\.nn\.LazyBatchNorm\dd$", ("eps", "momentum", "affine", "track_running_stats")),
        (r"^torch\.nn\.functional\.batch_norm$",
         ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
          "eps")),
        (r"^torch\.nn\.(Feature)?(Alpha)?Dropout(\dd)?$", ("p", "inplace")),
        (r"^torch\.nn\.functional\.(feature_)?(alpha_)?dropout(\dd)?$",
         ("input", "p", "training", "inplace")),
        (r"^torch\.nn\.(Log)?Softmax(2d)?$", ("dim",)),
        (r"^torch\.(nn\.functional\.|special\.)?(log_)?softmax$", ("input", "dim")),
        (r"^torch\.nn\.LeakyReLU$", ("negative_slope", "inplace")),
        (r"^keras\.layers\.Dense$", ("units", "activation", "use_bias")),
        (r"^keras\.layers\.EinsumDense$", ("equation", "output_shape", "activation",
                                           "bias_axes")),
        (r"^keras\.layers\.Conv(olution)?\dD$", _KERAS_CONV),
        (r"^keras\.layers\.Conv\dDTranspose$",
         ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
          "dilation_rate", "activation", "use_bias")),
        (r"^keras\.layers\.DepthwiseConv\dD$",
         ("kernel_size", "strides", "padding", "depth_multiplier", "data_format",
          "dilation_rate", "activation", "use_bias")),
        (r"^keras\.layers\.SeparableConv\dD$",
         ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
          "depth_multiplier", "activation", "use_bias")),
        (r"^keras\.layers\.BatchNormalization$",
         ("axis", "momentum", "epsilon", "center", "scale")),
        (r"^keras\.layers\.Activation$", ("activation",)),
        (r"^keras\.layers\.Softmax$", ("axis",)),
        (r"^tensorflow\.nn\.(log_)?softmax$", ("logits", "axis")),
        (r"^keras\.(ops|activations)\.(log_)?softmax$", ("x", "axis")),
        (r"^keras\.layers\.ReLU$", ("max_value", "negative_slope", "threshold")),
        (r"^keras\.layers\.LeakyReLU$", ("negative_slope",)),
        (r"^keras\.layers\.ELU$", ("alpha",)),
        (r"^keras\.layers\.(Spatial|Gaussian|Alpha)?Dropout(\dD)?$", ("rate",)),
        (r"^keras\.losses\.[A-Z]\w*$", ("from_logits",)),
    )
)
_CACHE: dict[str, tuple[str, ...]] = {}


def positional_parameters(op: str) -> tuple[str, ...]:
    """The names of ``op``'s leading positional parameters, () when not tabled."""
    found = _CACHE.get(op)
    if found is None:
        found = _CACHE[op] = next(
            (params for pattern, params in _PATTERNS if pattern.match(op)), ())
    return found


def argument_slot(op: str, name: str) -> int | None:
    """The position at which ``name`` may be passed to ``op``, None when not tabled."""
    params = positional_parameters(op)
    return params.index(name) if name in params else None
