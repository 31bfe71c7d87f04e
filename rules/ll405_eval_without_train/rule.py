from __future__ import annotations

import re
from collections.abc import Iterator

from layerlint.ir import Act, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event, passes_to, training_loops

# Models that are kept in evaluation mode on purpose beside the one being trained.
_AUXILIARY = re.compile(r"ema|teacher|target|frozen|momentum|pretrained|swa|avg|average|"
                        r"reference|(^|_)ref(_|$)|(^|_)old(_|$)", re.I)


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class EvalWithoutTrain(Rule):
    """## What it does
    Reports training code whose loop switches a model to evaluation mode
    (`model.eval()`, `model.train(False)`), typically to validate, but never back
    with `model.train()` inside that loop, neither directly nor in a function it
    calls. The finding is at the `eval()`.

    ## Why is this bad?
    The mode is a flag on the model that stays set. After the first validation
    every later training step runs in evaluation mode: dropout is off (no
    regularisation) and batchnorm normalises with its running statistics and
    stops updating them, so the model trains on a different function than the one
    the first epoch learned, usually generalising worse. Nothing raises.

    ## Known problems
    - `model.train()` at the top of the epoch loop, with `eval()` at its end, is
      the usual pattern and is not reported.
    - Models kept in evaluation mode on purpose (`ema_model`, `teacher`,
      `target_net`, `frozen_*`) are not reported, nor a model passed to a call the
      analysis cannot follow (which may call `train()`).
    - A model whose layers have no dropout or batchnorm is unaffected; the rule
      does not look inside the model.

    ## Fix safety
    There is no automatic fix: call `model.train()` at the top of each epoch (or
    right after validation).

    ## Evidence
    Exact check (`layerlint verify LL405`): after `model.eval()` the next training
    steps of an MLP with dropout and batchnorm run with dropout off and leave the
    batchnorm's running statistics unchanged; then a training endpoint.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0): after `model.eval()`, a
    training step left the batchnorm running statistics bit-identical and two
    forward passes gave identical outputs, i.e. dropout was off (exact, supported).
    The training endpoint did not show harm in a one-hidden-layer MLP on digits
    (10 epochs, 10 seeds): test accuracy was equivalent (-0.24 pp, CI -0.79..+0.30)
    and test NLL slightly *lower* (-0.046 nats). The finding is worded by the
    mechanism (training runs with dropout off and the statistics frozen), not by a
    loss of accuracy; deeper, more regularised models may differ.

    ## References
    - PyTorch `nn.Module.train` / `nn.Module.eval` documentation.
    - pytorch/examples' `imagenet/main.py` (`model.train()` at the start of every
      epoch's `train()`).
    """

    code = "LL405"
    name = "eval-without-train"
    message = "`{model}.eval()` in a training loop that never calls `{model}.train()`: {effect}"

    invalid = (
        Example.pytorch("""
            import torch

            def evaluate(model, loader):
                model.eval()  # error: LL405
                with torch.no_grad():
                    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

            def fit(model, train_loader, val_loader, epochs):
                optimizer = torch.optim.Adam(model.parameters())
                model.train()
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        torch.nn.functional.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    print(epoch, evaluate(model, val_loader))
        """),
        Example.pytorch("""
            import torch

            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(net(x), y)
                loss.backward()
                optimizer.step()
                if step % 500 == 0:
                    net.eval()  # error: LL405
                    with torch.no_grad():
                        val = criterion(net(x_val), y_val)
        """),
    )
    valid = (
        Example.pytorch("""
            import torch

            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

            def fit(model, ema_model, train_loader, val_loader, epochs):
                optimizer = torch.optim.Adam(model.parameters())
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        torch.nn.functional.cross_entropy(model(x), y).backward()
                        optimizer.step()
                        ema_model.eval()
                    print(epoch, evaluate(model, val_loader))
        """),
        Example.pytorch("""
            def validate(model, loader):
                model.eval()
                ...
                model.train()

            for epoch in range(10):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                validate(model, val_loader)
        """),
    )
    unsupported = {
        "keras": "Keras has no persistent mode: `training` is passed on each call (LL402).",
        "onnx": "An ONNX graph records no training loop.",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            for loop in training_loops(routine):
                events = list(loop.events())
                for event in events:
                    if event.act is not Act.EVAL_MODE or _AUXILIARY.search(event.subject):
                        continue
                    model = event.subject
                    if any(e.act is Act.TRAIN_MODE and _related(e.subject, model)
                           for e in events):
                        continue
                    if any(e.act is Act.OPAQUE_CALL and passes_to(e, model) for e in events):
                        continue
                    yield at_event(self, event, related=[(loop.location, "the training loop")],
                                   model=model, effect=EFFECT)


EFFECT = "later training steps run with dropout off and batchnorm statistics frozen"
