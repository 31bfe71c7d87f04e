from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Act, LayerGraph, Loop
from layerlint.ir.code import innermost_loops
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event, passes_to


def _trains(loop: Loop) -> bool:
    """Gradients that add up in place (not a tape's returned gradients) and a step."""
    events = list(loop.events())
    return any(e.act is Act.BACKWARD and e.facts.get("accumulates") for e in events) and \
        any(e.act is Act.STEP for e in events)


class MissingZeroGrad(Rule):
    """## What it does
    Reports training code whose loop calls `backward()` and `optimizer.step()` but
    never clears the gradients inside that loop: no `optimizer.zero_grad()`,
    `model.zero_grad()` (with or without `set_to_none`), `p.grad = None` or
    `p.grad.zero_()`, neither in the loop nor in a function or method it calls.
    The loop is the innermost one around the backward and the step. The finding
    is at the `step()`; the calls the step was reached through are related.

    ## Why is this bad?
    `backward()` adds each batch's gradient to `.grad` rather than replacing it.
    Without clearing, step k applies the sum of the gradients of all batches so
    far: the effective learning rate grows with every step and the update points
    along an ever-older average direction, so the loss stalls or diverges.
    Nothing raises.

    ## Known problems
    - Gradient accumulation that clears every k steps (`if (i + 1) % k == 0:
      optimizer.step(); optimizer.zero_grad()`) clears inside the loop and is not
      reported. Clearing once before the loop is reported: it only clears the
      first step.
    - A call the analysis cannot follow (a function from outside the run, a
      method inherited from a library class) that receives the optimizer, or the
      object holding it, may clear the gradients: the loop is then not reported.
    - An optimizer is recognised by its construction (`torch.optim.*`) or its
      name (`optimizer`, `opt`, `optim_g`, `self.optimizer`); a scheduler's
      `step()` is not an optimizer step.
    - Keras and TensorFlow return fresh gradients from `tape.gradient`: nothing
      accumulates and nothing is reported.

    ## Fix safety
    There is no automatic fix: where to clear (before `backward()`, or after
    `step()`) and whether accumulation was meant are for the author to decide.
    Call `optimizer.zero_grad(set_to_none=True)` once per step.

    ## Evidence
    Exact check (`layerlint verify LL403`): after two steps without clearing,
    `.grad` equals the sum of the two batches' gradients; then the loss of an MLP
    on scikit-learn digits trained for a few epochs with and without clearing.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0): `.grad` after two
    uncleared backward calls equals the sum of the two batches' gradients exactly
    (relative error 0; its norm was 1.88 times the last batch's alone): supported.
    The training endpoint did **not** show harm at this scale: with SGD at lr 0.01
    for 5 epochs the uncleared run reached 13.8 pp *higher* test accuracy (CI
    11.5..16.2 over 10 seeds), because the running sum acts like a growing learning
    rate on an under-trained model. The finding is therefore worded by the
    mechanism (each step applies the sum of all earlier gradients), not by a loss
    of accuracy.

    ## References
    - PyTorch "Zeroing out gradients in PyTorch" recipe; `torch.optim.Optimizer.zero_grad`.
    - pytorch/examples' training loops (`optimizer.zero_grad()` every step).
    """

    code = "LL403"
    name = "missing-zero-grad"
    message = "`{optimizer}.step()` in a loop that never clears gradients: {effect}"

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            criterion = nn.CrossEntropyLoss()
            optimizer.zero_grad()  # once, before the loop: clears only the first step

            for epoch in range(10):
                for x, y in loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()  # error: LL403
        """),
        Example.pytorch("""
            import torch

            class Trainer:
                def __init__(self, model, lr):
                    self.model = model
                    self.opt = torch.optim.Adam(model.parameters(), lr=lr)

                def update(self, batch):
                    loss = self.model(batch).mean()
                    loss.backward()
                    self.opt.step()  # error: LL403
                    return loss.item()

                def fit(self, loader, epochs):
                    for _ in range(epochs):
                        for batch in loader:
                            self.update(batch)
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            model = nn.Linear(64, 10)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30)
            accumulation = 4

            def reset(opt):
                opt.zero_grad(set_to_none=True)

            for epoch in range(10):
                for i, (x, y) in enumerate(loader):
                    loss = nn.functional.cross_entropy(model(x), y) / accumulation
                    loss.backward()
                    if (i + 1) % accumulation == 0:
                        optimizer.step()
                        reset(optimizer)
                scheduler.step()
        """),
        Example.pytorch("""
            import torch

            def train(model, loader, optimizer):
                for x, y in loader:
                    for p in model.parameters():
                        p.grad = None
                    loss = torch.nn.functional.mse_loss(model(x), y)
                    loss.backward()
                    optimizer.step()
        """),
        Example.keras("""
            import tensorflow as tf
            from tensorflow import keras

            model = keras.Sequential([keras.layers.Dense(10)])
            optimizer = keras.optimizers.Adam()

            for x, y in dataset:
                with tf.GradientTape() as tape:
                    loss = keras.losses.mse(y, model(x, training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
        """),
    )
    unsupported = {
        "keras": "Keras and TensorFlow return new gradients from `tape.gradient` on every "
                 "step; nothing accumulates, so there is nothing to clear.",
        "onnx": "An ONNX graph records no training loop.",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            for loop in innermost_loops(routine, _trains):
                events = list(loop.events())
                if any(e.act is Act.CLEAR_GRAD for e in events):
                    continue
                steps = [e for e in events if e.act is Act.STEP]
                opaque = [e for e in events if e.act is Act.OPAQUE_CALL]
                if any(passes_to(call, step.subject) for call in opaque for step in steps):
                    continue
                backward = next(e for e in events if e.act is Act.BACKWARD)
                yield at_event(self, steps[0], related=[
                    (backward.location, "gradients are added to `.grad` here"),
                    (loop.location, "the loop")], optimizer=steps[0].subject, effect=EFFECT)


EFFECT = "each step applies the sum of all previous batches' gradients"
