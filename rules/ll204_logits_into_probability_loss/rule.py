from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import PROBABILITIES, logit_sources, loss_ref


class LogitsIntoProbabilityLoss(Rule):
    """## What it does
    Reports a loss that expects probabilities or log-probabilities whose input is
    logits: the output of a weighted layer (through shape-only ops, pooling,
    normalisation, dropout or residual adds) with no softmax, log-softmax or
    sigmoid after it.

    The losses: torch `nn.NLLLoss` / `F.nll_loss` (log-probabilities),
    `nn.BCELoss` / `F.binary_cross_entropy` (probabilities); Keras
    `CategoricalCrossentropy`, `SparseCategoricalCrossentropy`,
    `BinaryCrossentropy` and their string names, left at `from_logits=False`; ONNX
    `NegativeLogLikelihoodLoss`. The finding is at the loss; the layer that
    produced the logits is the related location, possibly in another file.

    ## Why is this bad?
    `NLLLoss` only picks `-input[y]`: on raw scores it is unbounded below, so
    training drives the scores up without limit and the loss goes negative.
    Keras' cross-entropies clip the "probabilities" to [1e-7, 1 - 1e-7] (and
    renormalise the categorical ones): scores outside that range get no gradient,
    and the model is trained on something that is not its predictive
    distribution. torch's `BCELoss` raises at run time once a value leaves [0, 1].

    ## Known problems
    - An activation before the loss (ReLU, tanh) is neither logits nor
      probabilities; it is not reported here.
    - A model whose last layer is not known (a pretrained backbone, a custom
      function) is not reported.

    ## Fix safety
    An unsafe fix uses the loss on logits: `nn.NLLLoss` -> `nn.CrossEntropyLoss`,
    `F.nll_loss` -> `F.cross_entropy`, `nn.BCELoss` -> `nn.BCEWithLogitsLoss`,
    `F.binary_cross_entropy` -> `F.binary_cross_entropy_with_logits`, or
    `from_logits=True` on a Keras loss object. It is unsafe because code that reads
    the model's output as probabilities (metrics, thresholds, `predict`) must now
    apply the softmax or sigmoid itself.

    ## Evidence
    Exact (mechanism, no training): `nll_loss` of raw scores equals `-z_y` and has
    no lower bound. `layerlint verify LL204` trains an MLP on scikit-learn digits
    with `nll_loss` on its raw scores against `cross_entropy` (identical initial
    weights) and compares the test NLL of the two models' softmax outputs.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): `nll_loss` of raw scores is exactly `-z[y]`; in training the
    loss fell to about -2050 (the scores grew without limit), the test accuracy of
    the softmax output stayed at chance (10%, against 96.4% with `cross_entropy`)
    and its test NLL was 52 nats higher (95% CI +42..+62).

    ## References
    - PyTorch `nn.NLLLoss` documentation: "The input given through a forward call is
      expected to contain log-probabilities of each class."
    - Keras `CategoricalCrossentropy` documentation: `from_logits` "Whether
      `y_pred` is expected to be a logits tensor. By default, we assume that
      `y_pred` encodes a probability distribution."
    """

    code = "LL204"
    name = "logits-into-probability-loss"
    message = "{loss} expects {expected} but its input is the logits of {producer}: {why}"

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            def train(loader):
                model = Net()
                criterion = nn.NLLLoss()  # error: LL204
                optimizer = torch.optim.Adam(model.parameters())
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10),
            ])
            model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy())  # error: LL204
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               loss = NegativeLogLikelihoodLoss (logits, labels)  # error: LL204
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
            for x, y in loader:
                F.nll_loss(F.log_softmax(model(x), dim=1), y).backward()
                F.cross_entropy(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn

            scorer = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
            criterion = nn.BCELoss()
            for x, y in loader:
                criterion(scorer(x).squeeze(1), y).backward()
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10),
            ])
            model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(30,)),
                layers.Dense(16, activation="relu"),
                layers.Dense(1, activation="sigmoid"),
            ])
            model.compile(optimizer="adam", loss="binary_crossentropy")
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               logp = LogSoftmax <axis: int = 1> (logits)
               loss = NegativeLogLikelihoodLoss (logp, labels)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for loss in graph.of_kind(Kind.LOSS):
            if loss.info.expects not in PROBABILITIES:
                continue
            producers = logit_sources(graph, loss)
            if not producers:
                continue
            expects = loss.info.expects
            expected, why = _EXPECTED[expects]
            yield self.report(loss, related=producers, autofix=Fix.loss_on_logits(loss, safe=False),
                              loss=loss_ref(loss, producers[0]).split(" (", 1)[0],
                              expected=expected, producer=f"`{producers[0].label}`",
                              why=why)


_EXPECTED = {
    "log_probs": ("log-probabilities",
                  "the loss is -z[y], unbounded below (it goes negative); use "
                  "CrossEntropyLoss on the logits"),
    "probs": ("probabilities",
              "Keras clips and renormalises the scores as if they were probabilities; "
              "pass from_logits=True"),
    "binary_probs": ("probabilities",
                     "it raises once a value leaves [0, 1]; use BCEWithLogitsLoss"),
    "binary_probs_clipped": ("probabilities",
                             "Keras clips the scores to [1e-7, 1 - 1e-7] and scores outside "
                             "get no gradient; pass from_logits=True"),
}
