from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Act, LayerGraph, Tri
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event


class KerasCallWithoutTraining(Rule):
    """## What it does
    Reports, in Keras training code (under `tf.GradientTape`, or in a `train_step`
    override), a model or layer that contains dropout or batchnorm called without
    `training=True` (no `training` argument, or `training=False`). The model is
    found where it is built in the same file: a `Sequential`, a functional
    `keras.Model(inputs, outputs)`, a subclassed model, or a function that builds
    one.

    ## Why is this bad?
    Keras layers take their mode from the `training` argument of each call, and it
    defaults to inference in a custom loop (`model.fit` passes `training=True`
    itself). The gradients are taken through the inference-mode model: dropout
    never drops (no regularisation) and batchnorm normalises with its moving
    statistics, which are never updated, so they stay at their initial values
    (mean 0, variance 1) and evaluation later uses statistics that never saw the
    data. Nothing raises.

    ## Known problems
    - A model built in another file, or returned by a function of another module,
      is not looked into and not reported.
    - A `training` argument given by a variable is trusted.
    - Calls under the tape that are not the model being trained (a frozen
      teacher called on purpose in inference mode) are reported if they hold
      dropout or batchnorm: suppress the finding there.

    ## Fix safety
    There is no automatic fix: pass `training=True` to the call inside the tape.

    ## Evidence
    `layerlint verify LL402` reproduces Keras' semantics in torch (Keras is not a
    dependency of layerlint). The reproduction is faithful because Keras documents
    what `training=False` does, and torch's `eval()` does the same to the same
    layers: a `BatchNormalization` called with `training=False` ("which is the
    default") normalises with its moving mean and variance and does not update
    them, and a `Dropout` in inference mode returns its input; gradients still
    flow through both. So the flagged arm trains an MLP (Dense -> BatchNormalization
    -> ReLU -> Dropout(0.5), twice, then Dense, with Keras' initialisers, `epsilon`
    and momentum) with every training step's forward in `eval()`, and the fixed arm
    in `train()`, from identical weights and batch order.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds, 20 epochs): after training steps in inference mode the moving
    statistics were bit-identical to their initial values (mean 0, variance 1)
    while the weights moved, and two forward passes gave identical outputs, i.e.
    dropout was off (exact, confirmed). The pre-registered training endpoint did
    *not* show harm: inference-mode test NLL was 0.016 nats *lower* (95% CI
    -0.022..-0.010, contradicted) and test accuracy equivalent (-0.20 pp). The
    model trained this way is consistent with itself (it is trained and evaluated
    with the same frozen statistics), and on this small, standardised dataset
    losing dropout and batch statistics did not hurt. The message therefore states
    the mechanism (the model trains without dropout and batch statistics), not a
    loss of accuracy; deeper models, unnormalised inputs, or a later `fit` /
    `training=True` call that switches to statistics the model never trained with
    may differ, and were not measured.

    ## References
    - Keras guide "Writing a training loop from scratch" (`model(x, training=True)`
      under the tape).
    - Keras `BatchNormalization` documentation: during inference ("when calling
      the layer/model with the argument `training=False` (which is the default)")
      the layer normalises with its moving mean and variance.
    - Keras `Dropout` documentation (`training`: dropout in training mode, "doing
      nothing" in inference mode); Keras FAQ "What's the difference between the
      `training` argument in `call()` and the `trainable` attribute?".
    """

    code = "LL402"
    name = "keras-call-without-training"
    message = "`{model}` is called {how} under gradient recording: {effect}"

    invalid = (
        Example.keras("""
            import tensorflow as tf
            from tensorflow import keras

            model = keras.Sequential([
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(10),
            ])
            optimizer = keras.optimizers.Adam()
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

            for x, y in dataset:
                with tf.GradientTape() as tape:
                    logits = model(x)  # error: LL402
                    loss = loss_fn(y, logits)
                grads = tape.gradient(loss, model.trainable_weights)
                optimizer.apply_gradients(zip(grads, model.trainable_weights))
        """),
        Example.keras("""
            import keras

            class Classifier(keras.Model):
                def __init__(self):
                    super().__init__()
                    self.conv = keras.layers.Conv2D(32, 3)
                    self.bn = keras.layers.BatchNormalization()
                    self.head = keras.layers.Dense(10)

                def call(self, x, training=None):
                    return self.head(self.bn(self.conv(x), training=training))

                def train_step(self, data):
                    x, y = data
                    with tf.GradientTape() as tape:
                        y_pred = self(x, training=False)  # error: LL402
                        loss = self.compute_loss(y=y, y_pred=y_pred)
                    return {"loss": loss}
        """),
    )
    valid = (
        Example.keras("""
            import tensorflow as tf
            from tensorflow import keras

            model = keras.Sequential([
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(10),
            ])
            plain = keras.Sequential([keras.layers.Dense(10)])
            model.compile(optimizer="adam", loss="mse")
            model.fit(x_train, y_train, epochs=3)

            for x, y in dataset:
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True)) + loss_fn(y, plain(x))
                grads = tape.gradient(loss, model.trainable_weights)
            val = model(x_val)
        """),
    )
    unsupported = {
        "pytorch": "PyTorch has no per-call training flag: the mode is set on the module "
                   "with `model.train()` / `model.eval()` (see LL405).",
        "onnx": "An ONNX graph records no training code.",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            for event in routine.events():
                if event.act is not Act.MODEL_CALL or not event.facts.get("recording"):
                    continue
                state = event.facts["training"]
                if state not in (Tri.DEFAULT_OFF, Tri.OFF):
                    continue
                dropout, batchnorm = event.facts["has_dropout"], event.facts["has_batchnorm"]
                if not (dropout or batchnorm):
                    continue
                parts = [*(["dropout is off"] if dropout else []),
                         *(["batchnorm's moving statistics stay at their initial values"]
                           if batchnorm else [])]
                how = "with `training=False`" if state is Tri.OFF else "without `training=True`"
                yield at_event(self, event, model=event.subject, how=how,
                               effect=f"it trains in inference mode ({' and '.join(parts)})")
