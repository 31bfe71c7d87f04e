from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import fed_losses, loss_ref, squash_ref


class SoftmaxBeforeCrossEntropy(Rule):
    """## What it does
    Reports a softmax (or log-softmax) whose output is the input of a
    cross-entropy loss that expects logits.

    The losses: torch `nn.CrossEntropyLoss` / `F.cross_entropy`,
    Keras `CategoricalCrossentropy(from_logits=True)` /
    `SparseCategoricalCrossentropy(from_logits=True)` (also a Keras model whose
    last layer has `activation="softmax"` and is compiled with such a loss), ONNX
    `SoftmaxCrossEntropyLoss`. The finding is at the softmax; the loss is the
    related location. The model and the training code may be in different files
    of the same run (`layerlint check model.py train.py`).

    ## Why is this bad?
    These losses apply log-softmax themselves, so the model is trained on
    `log_softmax(softmax(z))`. Its inputs lie in [0, 1], so the predicted
    distribution can never be confident: with C classes the training loss cannot
    fall below log(1 + (C-1)/e) (1.46 for 10 classes, 5.91 for 1000), and the
    gradient on a confidently wrong example is about 40 times smaller than with
    logits. Training is slow and the loss plateaus far above zero. A log-softmax
    before these losses is only redundant (log-softmax is idempotent under them),
    but it is reported too: it usually signals the same confusion.

    ## Known problems
    - The link from a model to its loss is found by following training code
      (`loss = criterion(model(x), y)`, `F.cross_entropy(...)`, Lightning
      `training_step`) where the model and the loss are known values; a model or
      loss passed in as an untyped argument from outside the run is not followed.
    - A softmax used only for metrics or inference (under `torch.no_grad()`, after
      `model.eval()`, in `validation_step`/`predict`-style functions, or in
      `forward` only when `not self.training`) is not reported, by design.
    - An operation the analysis does not model between the softmax and the loss
      (`torch.log`, a custom function) hides the pair.

    ## Fix safety
    There is no automatic fix: removing the softmax changes what the model
    returns at inference time. Return the logits from `forward` and apply the
    softmax where probabilities are needed, or keep it and use `nn.NLLLoss` on
    `log_softmax` instead.

    ## Evidence
    Confirmed numerically (EVIDENCE.md §1.4, §3.2): when probabilities are fed as
    logits the training-loss floor is log(1 + (C-1)/e) — 0.3133 (C=2), 1.4612
    (C=10), 3.6222 (C=100), 5.9095 (C=1000) — and the gradient norm on a
    confidently wrong example (logit 4 on the wrong class) is 0.0327 against
    1.3068 with logits. `layerlint verify LL201` trains both variants (MLP,
    softmax -> `F.cross_entropy` vs logits -> `F.cross_entropy`) and compares
    test NLL over several seeds.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL201` re-runs
    it): loss floor 1.4612 for 10 classes reproduced; in a small MLP, softmax ->
    `F.cross_entropy` gave 0.011 nats higher test NLL (95% CI +0.008..+0.014) and
    0.64 pp lower accuracy (CI +0.36..+0.93), with a final training loss stuck 1.43
    nats higher.

    ## References
    - PyTorch `nn.CrossEntropyLoss` documentation: "The `input` is expected to
      contain the unnormalized logits for each class".
    - Keras `CategoricalCrossentropy`: `from_logits=True` means the output is
      not normalised by a softmax.
    """

    code = "LL201"
    name = "softmax-before-cross-entropy"
    message = "{softmax} output is the input of {loss}, {why}"

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    return F.softmax(self.fc2(x), dim=1)  # error: LL201

            def train(loader, epochs=5):
                model = Net()
                criterion = nn.CrossEntropyLoss()
                optimizer = torch.optim.Adam(model.parameters())
                for _ in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
        """),
        Example.pytorch("""
            import torch
            import torch.nn.functional as F

            def training_step(model, x, y):
                logits = model(x)
                probs = torch.softmax(logits, dim=1)  # error: LL201
                return F.cross_entropy(probs, y)
        """),
        Example.pytorch("""
            import torch.nn as nn
            import pytorch_lightning as pl

            class LitClassifier(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Sequential(
                        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 5),
                        nn.Softmax(dim=-1),  # error: LL201
                    )
                    self.criterion = nn.CrossEntropyLoss()

                def forward(self, x):
                    return self.net(x)

                def training_step(self, batch, batch_idx):
                    x, y = batch
                    return self.criterion(self(x), y)
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax"),  # error: LL201
            ])
            model.compile(
                optimizer="adam",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               probs = Softmax <axis: int = 1> (logits)  # error: LL201
               loss = SoftmaxCrossEntropyLoss (probs, labels)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(784, 10)

                def forward(self, x):
                    return self.fc(x)

            def train(loader):
                model = Net()
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    logits = model(x)
                    loss = criterion(logits, y)
                    accuracy = (F.softmax(logits, dim=1).argmax(1) == y).float().mean()
                    loss.backward()
                model.eval()
                with torch.no_grad():
                    for x, y in loader:
                        probs = F.softmax(model(x), dim=1)
                        val_loss = criterion(probs, y)
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(784, 10)

                def forward(self, x):
                    return F.log_softmax(self.fc(x), dim=1)

            def train(loader):
                model = Net()
                for x, y in loader:
                    F.nll_loss(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(784, 10)

                def forward(self, x):
                    x = self.fc(x)
                    if not self.training:
                        x = F.softmax(x, dim=1)
                    return x

            def train(loader):
                model = Net()
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    criterion(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            def distillation_loss(student, teacher, x):
                # soft targets: the softmax is the *target*, not the input
                return F.cross_entropy(student(x), F.softmax(teacher(x) / 4.0, dim=1))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ])
            model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy())
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(784,))
            x = layers.Dense(128, activation="relu")(inputs)
            logits = layers.Dense(10)(x)
            model = keras.Model(inputs, logits)
            model.compile(optimizer="adam",
                          loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               loss = SoftmaxCrossEntropyLoss (logits, labels)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for softmax in graph.of_kind(Kind.SOFTMAX):
            for loss in fed_losses(graph, softmax, "logits"):
                if softmax.info.log:
                    why = ("which applies log-softmax itself: the log-softmax is redundant "
                           "(same loss, extra work); pass the logits")
                else:
                    why = ("which applies log-softmax itself: the loss cannot fall below "
                           "log(1 + (C-1)/e) and gradients shrink; pass the logits")
                yield self.report(softmax, related=(loss,), softmax=squash_ref(softmax),
                                  loss=loss_ref(loss, softmax), why=why)
