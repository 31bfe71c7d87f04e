"""A training loop with the training-code mistakes as switches (the LL4xx evidence).

``layerlint.evidence.training.fit`` is the correct loop; this one can leave out
``zero_grad`` (LL403) or the ``model.train()`` after validation (LL405), or run every
training step's forward in inference mode (LL402: a Keras model called without
``training=True``), so each arm differs from its fix by exactly the line the rule is
about.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.context import TensorData
from layerlint.evidence.training import evaluate

__all__ = ["train_loop", "weights"]


def weights(model: nn.Module) -> torch.Tensor:
    """Every parameter (registered or not) of the model, flattened, as a copy."""
    return torch.cat([p.detach().flatten() for p in model.parameters()]).clone()


def train_loop(model: nn.Module, data: TensorData, generator: torch.Generator, *,
               epochs: int, lr: float = 1e-3, batch: int = 64, optimizer: str = "adam",
               zero_grad: bool = True, train_each_epoch: bool = True,
               validate: bool = False, params: list | None = None,
               inference: bool = False) -> list[float]:
    """Train in place; with ``validate``, evaluate at the end of each epoch (which puts
    the model in eval mode); ``train_each_epoch`` calls ``model.train()`` at the top of
    every epoch, otherwise only once before the loop. ``inference`` calls
    ``model.eval()`` in its place: batchnorm uses and keeps its running statistics and
    dropout is the identity, while gradients still flow to every parameter."""
    params = list(model.parameters()) if params is None else params
    opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr))
    n = len(data.y_train)
    curve = []
    mode = model.eval if inference else model.train
    mode()
    for _ in range(epochs):
        if train_each_epoch:
            mode()
        order = torch.randperm(n, generator=generator).to(data.x_train.device)
        total = 0.0
        for start in range(0, n, batch):
            index = order[start:start + batch]
            if zero_grad:
                opt.zero_grad(set_to_none=True)
            value = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            value.backward()
            opt.step()
            total += float(value.detach()) * len(index)
        curve.append(total / n)
        if validate:
            evaluate(model, data.x_test, data.y_test)
    return curve
