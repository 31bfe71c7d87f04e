from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Act, Kind, LayerGraph, RoutineKind, Tri, lookup
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event


class FunctionalDropoutAlwaysOn(Rule):
    """## What it does
    Reports a functional dropout inside a layer's or model's methods (`forward`,
    `call`) that stays active in evaluation mode: `F.dropout`, `F.dropout1d/2d/3d`
    without `training=` (their default is `training=True`), any functional dropout
    with a literal `training=True`, `F.batch_norm(..., training=True)` with running
    statistics, and `tf.nn.dropout` / `keras.random.dropout` in a Keras layer's
    `call` (they have no mode at all).

    ## Why is this bad?
    Unlike `nn.Dropout`, the functional form does not know whether the module is
    in training or evaluation mode: `model.eval()` does not reach it. The dropout
    keeps zeroing and rescaling activations at test time, so predictions are
    random (two calls on the same input differ) and, on average, worse than those
    of the same weights with dropout off. A literal `F.batch_norm(...,
    training=True)` keeps normalising with batch statistics and updating its running
    statistics during evaluation.

    ## Known problems
    - Monte-Carlo dropout (sampling several predictions at test time) uses
      `training=True` on purpose: suppress the finding there
      (`# noqa: LL401`).
    - `F.alpha_dropout` and `F.feature_alpha_dropout` default to `training=False`:
      without `training=` they are never active, which is a different mistake and
      is not reported.
    - A mode given by a variable (`training=self.training`, `training=flag`) is
      trusted.

    ## Fix safety
    The fix adds `training=self.training` (or replaces a literal
    `training=True`), so the dropout follows `model.train()` / `model.eval()`. It
    is unsafe: it changes what the model computes in evaluation mode (which is the
    point). It is offered only for a call written directly in a PyTorch module's
    method, not passed by position; Keras' `tf.nn.dropout` has no mode argument:
    use a `Dropout` layer and pass `training` on.

    ## Evidence
    Exact checks (EVIDENCE.md's mechanism endpoint; `layerlint verify LL401`): the
    same trained MLP in `eval()` mode, with `F.dropout(x, 0.5)` vs
    `F.dropout(x, 0.5, training=self.training)`.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0,
    scikit-learn digits): in `eval()` mode 10.2% of the
    test predictions changed between two calls on the same input with `F.dropout(x,
    0.5)`, none with `training=self.training` (exact, supported); over 10 seeds with
    identical training, evaluation with the dropout left on cost 3.78 pp test accuracy
    (95% CI +2.65..+4.90, worse in 10 of 10 seeds) and 0.104 nats of test NLL (CI
    +0.096..+0.113).

    ## References
    - PyTorch `torch.nn.functional.dropout` documentation (`training=True` by
      default).
    - pytorch/pytorch issues on `F.dropout` ignoring `model.eval()`; the PyTorch
      forum thread "F.dropout in eval mode".
    - TensorFlow `tf.nn.dropout`: "applies dropout regardless of training mode".
    """

    code = "LL401"
    name = "functional-dropout-always-on"
    message = "`{call}` stays active in evaluation mode ({why}): {effect}"

    invalid = (
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, 0.5)  # error: LL401
                    return self.fc2(x)
        """),
        Example.pytorch("""
            import torch
            from torch import nn
            from torch.nn import functional as F

            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.proj = nn.Linear(dim, dim)
                    self.register_buffer("mean", torch.zeros(dim))
                    self.register_buffer("var", torch.ones(dim))

                def forward(self, x):
                    x = F.dropout2d(x, p=0.1, training=True)  # error: LL401
                    x = F.batch_norm(x, self.mean, self.var, training=True)  # error: LL401
                    return self.proj(x)
        """),
        Example.keras("""
            import tensorflow as tf
            from tensorflow import keras

            class NoisyDense(keras.layers.Layer):
                def __init__(self, units):
                    super().__init__()
                    self.dense = keras.layers.Dense(units)

                def call(self, inputs, training=None):
                    x = self.dense(inputs)
                    return tf.nn.dropout(x, rate=0.3)  # error: LL401
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Classifier(nn.Module):
                def __init__(self, p=0.5):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.fc2 = nn.Linear(256, 10)
                    self.p = p

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, self.p, training=self.training)
                    x = F.dropout(x, self.p, self.training)
                    x = F.alpha_dropout(x, 0.1)
                    return self.fc2(x)
        """),
        Example.pytorch("""
            import torch.nn.functional as F

            def augment(batch):
                # data augmentation outside any model: meant to be random
                return F.dropout(batch, 0.1)
        """),
        Example.keras("""
            import tensorflow as tf
            from tensorflow import keras

            class NoisyDense(keras.layers.Layer):
                def __init__(self, units):
                    super().__init__()
                    self.dense = keras.layers.Dense(units)
                    self.dropout = keras.layers.Dropout(0.3)

                def call(self, inputs, training=None):
                    return self.dropout(self.dense(inputs), training=training)
        """),
    )
    unsupported = {
        "onnx": "An ONNX graph keeps no module mode: a dropout exported in training mode "
                "is a Dropout node whose mode is the graph's own `training_mode` input "
                "(LL002 reports eval-mode exports).",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            if routine.kind is not RoutineKind.LAYER_METHOD:
                continue
            for event in routine.events():
                if event.act is not Act.STOCHASTIC_CALL:
                    continue
                op = str(event.facts["op"])
                state = event.facts["training"]
                if lookup(op).kind is Kind.BATCHNORM:
                    if state is not Tri.ON or not event.facts.get("running_statistics"):
                        continue
                    effect = ("it normalises with the batch's statistics and overwrites "
                              "the running statistics during evaluation")
                elif state in (Tri.ON, Tri.DEFAULT_ON):
                    effect = EFFECT
                else:
                    continue
                keyword = str(event.facts.get("keyword") or "")
                why = (f"`{keyword}=True`" if state is Tri.ON else
                       f"`{keyword}` defaults to True" if keyword else "it has no mode")
                autofix = Fix.follow_mode(event.location, op, event.facts.get("self_name"))
                yield at_event(self, event, autofix=autofix, call=event.facts["label"], why=why,
                               effect=effect)


EFFECT = "inference predictions are random and worse"
