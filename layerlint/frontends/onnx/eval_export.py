"""Eval-mode export detection: a graph whose exporter removed dropout or folded
batchnorm declares those kinds hidden, and the engine reports the selected rules that
need them (LL002, with how to export instead)."""

from __future__ import annotations

from dataclasses import dataclass

from layerlint.ir import Hidden, Kind

__all__ = ["TRAINING_EXPORT", "Evidence", "eval_mode_hidden"]

# How to export a torch model so that Dropout and BatchNormalization survive (torch 2.13).
TRAINING_EXPORT = (
    "torch.onnx.export(model.train(), args, f, "
    "training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, dynamo=False)"
)


@dataclass
class Evidence:
    """What the lowering saw that tells a training export from an eval-mode one."""

    weighted: int = 0
    convs: int = 0
    batchnorms: int = 0
    dropouts: int = 0
    training: bool = False
    folded_batchnorm: bool = False


def eval_mode_hidden(seen: Evidence) -> Hidden | None:
    """What an export may have hidden: dropout or batchnorm layers (LL002).

    Heuristic: a graph is a training export when any BatchNormalization has
    ``training_mode=1``, any Dropout's training_mode is constant true, or the dynamo
    exporter recorded a training-mode batchnorm. Otherwise, in a graph with weighted
    layers: no Dropout node means an exporter may have removed them; no
    BatchNormalization node while Conv nodes exist (or a Conv weight renamed by
    TorchScript's folding, or onnxscript's FuseBatchNorm rewrite) means batchnorm
    may have been folded into the convolutions.
    """
    if seen.training or not seen.weighted:
        return None
    hidden: list[str] = []
    kinds: set[Kind] = set()
    if not seen.dropouts:
        hidden.append("no Dropout node (eval-mode exports remove them)")
        kinds.add(Kind.DROPOUT)
    if seen.folded_batchnorm or (not seen.batchnorms and seen.convs):
        hidden.append("BatchNorm folded into Conv weights (renamed onnx::Conv_* or "
                      "rewritten by FuseBatchNorm)" if seen.folded_batchnorm else
                      "no BatchNormalization node next to Conv layers (eval-mode exports "
                      "fold them into the Conv)")
        kinds.add(Kind.BATCHNORM)
    if not hidden:
        return None
    return Hidden(frozenset(kinds), f"graph looks like an eval-mode export: "
                  f"{'; '.join(hidden)}", f"export in training mode: {TRAINING_EXPORT}")
