from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import BINARY_PROBS, fed_losses, loss_ref, output_units, squash_ref


class SoftmaxWithBinaryLoss(Rule):
    """## What it does
    Reports a softmax over several units whose output is the input of a binary
    cross-entropy: torch `nn.BCELoss` / `F.binary_cross_entropy`, Keras
    `BinaryCrossentropy` / `"binary_crossentropy"`.

    The finding is at the softmax; the loss is the related location. A softmax over
    a single unit is LL206's business.

    ## Why is this bad?
    A binary cross-entropy scores each unit as an independent yes/no label, but a
    softmax makes the units compete: they sum to 1, so two labels can never both be
    likely. For a multi-label task the model cannot express its targets; for a
    single-label task the loss is the wrong one (categorical cross-entropy is), and
    Keras then reports *binary* accuracy under the name "accuracy", which is
    inflated (with 10 classes a model that predicts nothing scores 90%).

    ## Known problems
    - The link from a model to its loss is found by following training code (see
      LL201).
    - A softmax whose number of units is not a literal is reported (it is only
      silent when the units are known to be 1, which LL206 reports).

    ## Fix safety
    No automatic fix: the remedy depends on the task. Single-label: categorical
    cross-entropy (`nn.CrossEntropyLoss` on the logits, Keras
    `categorical_crossentropy`). Multi-label: a sigmoid instead of the softmax.

    ## Evidence
    Exact (mechanism, no training): Keras' binary accuracy of a constant, uniform
    prediction on one-hot targets with 10 classes is 0.9, its categorical accuracy
    0.1. `layerlint verify LL210` trains an MLP on scikit-learn digits with softmax
    -> binary cross-entropy on one-hot targets against softmax-free
    `cross_entropy` (identical initial weights).

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): binary accuracy of a uniform prediction over 10 classes is
    0.9 (categorical 0.1). On a single-label task with one-hot targets the trained
    model was *not* worse: test NLL 0.003 nats lower (95% CI 0.002..0.004,
    "contradicted", below the 0.01 of interest) and equivalent accuracy. So the harm
    shown is the misleading metric and a multi-label target the softmax cannot
    express, not a training cost on single-label data.

    ## References
    - Keras `compile` documentation: with `metrics=["accuracy"]` the metric is
      chosen from the loss (`binary_crossentropy` gives binary accuracy).
    - PyTorch `nn.BCELoss` documentation: one independent binary target per element.
    """

    code = "LL210"
    name = "softmax-with-binary-loss"
    message = ("{softmax} output is the input of {loss}: the softmax makes the classes "
               "compete while the loss scores each unit as an independent label (and Keras "
               "then reports binary accuracy); use categorical cross-entropy (single-label) "
               "or a sigmoid (multi-label)")

    invalid = (
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(64,)),
                layers.Dense(32, activation="relu"),
                layers.Dense(10, activation="softmax"),  # error: LL210
            ])
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5),
                nn.Softmax(dim=1),  # error: LL210
            )
            criterion = nn.BCELoss()
            for x, y_onehot in loader:
                criterion(model(x), y_onehot).backward()
        """),
    )
    valid = (
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(64,)),
                layers.Dense(32, activation="relu"),
                layers.Dense(10, activation="sigmoid"),
            ])
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5), nn.Sigmoid())
            criterion = nn.BCELoss()
            for x, y in loader:
                criterion(model(x), y).backward()
        """),
    )
    unsupported = {
        "onnx": "ONNX has no binary cross-entropy operator: an exported training graph "
                "spells it as elementwise Log/Mul/Sub ops, which are not a loss layer",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for softmax in graph.of_kind(Kind.SOFTMAX):
            if softmax.info.log or _single_unit(graph, softmax):
                continue
            for loss in fed_losses(graph, softmax, *BINARY_PROBS):
                yield self.report(softmax, related=(loss,), softmax=squash_ref(softmax),
                                  loss=loss_ref(loss, softmax))


def _single_unit(graph: LayerGraph, softmax: Layer) -> bool:
    producers = graph.predecessors(softmax)
    return any(found is not None and found[0] == 1 and not isinstance(found[0], bool)
               for found in map(output_units, producers))
