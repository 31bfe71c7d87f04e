from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import fed_losses, is_sigmoid, loss_ref, squash_ref


class DoubleSigmoid(Rule):
    """## What it does
    Reports a sigmoid whose output is the input of a loss that applies a sigmoid
    itself.

    The losses: torch `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`,
    Keras `BinaryCrossentropy(from_logits=True)` after a sigmoid (also a Keras
    model whose last layer has `activation="sigmoid"`). The finding is at the
    sigmoid; the loss is the related location. A sigmoid fed to `nn.BCELoss` is
    LL203, not this rule.

    ## Why is this bad?
    The sigmoid is applied twice: the loss sees sigmoid(sigmoid(z)), which lies in
    (0.5, 0.731). The model can never predict a confident negative, so the loss
    cannot fall below 0.6931 for negatives (y=0) and 0.3133 for positives (y=1),
    and the outputs users read as probabilities are miscalibrated.

    ## Known problems
    - The model and its loss are linked by following training code (see LL201);
      a model or loss that arrives as an untyped argument is not followed.
    - A sigmoid used only for metrics or inference (under `torch.no_grad()`,
      after `model.eval()`, in evaluation functions) is not reported.

    ## Fix safety
    There is no automatic fix: removing the sigmoid changes what the model
    returns. Return the logits and apply `torch.sigmoid` only where
    probabilities are needed.

    ## Evidence
    Confirmed numerically (EVIDENCE.md §1.4, §3.2): `BCEWithLogits(sigmoid(z))`
    has a floor of 0.3133 for y=1 and 0.6931 for y=0, whatever z. `layerlint
    verify LL202` trains sigmoid -> BCEWithLogits against logits ->
    BCEWithLogits and compares test NLL and calibration.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    breast_cancer, 10 seeds; `layerlint explain` shows it, `layerlint verify LL202`
    re-runs it): floors 0.3133 / 0.6931 reproduced; the sigmoid output of the
    double-sigmoid model had equivalent test NLL (-0.000, 95% CI -0.002..+0.001) and
    0.56 pp lower accuracy (CI +0.24..+0.88).

    ## References
    - PyTorch `nn.BCEWithLogitsLoss` documentation: "This loss combines a
      `Sigmoid` layer and the `BCELoss` in one single class."
    - Keras `BinaryCrossentropy`: `from_logits=True` means the output is not
      squashed by a sigmoid.
    """

    code = "LL202"
    name = "double-sigmoid"
    message = ("{sigmoid} output is the input of {loss}, which applies a sigmoid itself: "
               "the sigmoid is applied twice and the loss cannot fall below 0.31 (y=1) "
               "or 0.69 (y=0); pass the logits")

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Scorer(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(32, 1)

                def forward(self, x):
                    return torch.sigmoid(self.fc(x))  # error: LL202

            model = Scorer()
            criterion = nn.BCEWithLogitsLoss()
            for x, y in loader:
                loss = criterion(model(x).squeeze(1), y)
                loss.backward()
        """),
        Example.pytorch("""
            import torch.nn.functional as F

            def step(model, x, y):
                p = model(x).sigmoid()  # error: LL202
                return F.binary_cross_entropy_with_logits(p, y)
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(30,))
            x = layers.Dense(16, activation="relu")(inputs)
            outputs = layers.Dense(1, activation="sigmoid")(x)  # error: LL202
            model = keras.Model(inputs, outputs)
            model.compile(optimizer="adam",
                          loss=keras.losses.BinaryCrossentropy(from_logits=True))
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Scorer(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(32, 1)

                def forward(self, x):
                    return self.fc(x)

            model = Scorer()
            criterion = nn.BCEWithLogitsLoss()
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                predicted = torch.sigmoid(logits) > 0.5
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(30,))
            outputs = layers.Dense(1, activation="sigmoid")(inputs)
            model = keras.Model(inputs, outputs)
            model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy())
        """),
    )
    unsupported = {
        "onnx": "ONNX has no binary cross-entropy operator: an exported training graph "
                "spells it as elementwise Log/Mul/Sub ops, which are not a loss layer",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for sigmoid in graph.of_kind(Kind.ACTIVATION):
            if not is_sigmoid(sigmoid):
                continue
            for loss in fed_losses(graph, sigmoid, "binary_logits"):
                yield self.report(sigmoid, related=(loss,), sigmoid=squash_ref(sigmoid),
                                  loss=loss_ref(loss, sigmoid))
