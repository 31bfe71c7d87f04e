from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Act, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event


class UnregisteredSubmodule(Rule):
    """## What it does
    Reports layers kept on a PyTorch module in a plain `list`, `tuple` or `dict`
    attribute: `self.blocks = [Block(d) for _ in range(n)]`,
    `self.heads = {"a": nn.Linear(...)}`, or `self.layers = []` followed by
    `self.layers.append(nn.Conv2d(...))`.

    ## Why is this bad?
    `nn.Module` registers a sub-module only when it is assigned directly as an
    attribute or held by `nn.ModuleList` / `nn.ModuleDict` / `nn.Sequential`.
    Layers in a plain container still run in `forward`, so nothing fails, but
    their parameters are missing from `.parameters()` (the optimizer never updates
    them: they stay at their random initialisation), from `.to(device)` /
    `.cuda()` (a device-mismatch error, or silently on the CPU), from
    `state_dict()` (checkpoints lose them) and from `model.train()` /
    `model.eval()` (their dropout and batchnorm never change mode).

    ## Known problems
    - A container wrapped later (`nn.ModuleList(self.layers)`,
      `nn.Sequential(*self.layers)`) or a class that calls `add_module`,
      `register_module` or `setattr` is trusted and not reported.
    - Only elements that construct a layer are counted (`nn.Linear(...)`, a module
      class of the project); a list of already registered layers
      (`[self.conv1, self.conv2]`) is fine and not reported.

    ## Fix safety
    The fix wraps the container: `nn.ModuleList([...])` for a list or tuple,
    `nn.ModuleDict({...})` for a dict (whose keys must then be strings). It is
    unsafe: the module gains parameters, so `state_dict()` keys, the parameter
    count and what the optimizer trains change (which is the point), and old
    checkpoints no longer match.

    ## Evidence
    Exact checks (`layerlint verify LL404`): a model whose hidden layers sit in a
    plain list, trained on scikit-learn digits like the same model with
    `nn.ModuleList`.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0): with the hidden layers in a
    plain list, their weights were bit-identical after training (max change 0;
    0.167 with `nn.ModuleList`), the model reported 1,290 of its 26,122 parameters
    and 2 of 6 `state_dict` entries (exact, supported); over 10 seeds it lost 12.1
    pp of test accuracy (95% CI +10.8..+13.4, worse in 10 of 10) and 1.57 nats of
    test NLL.

    ## References
    - PyTorch `nn.ModuleList` / `nn.ModuleDict` documentation ("Holds submodules in
      a list ... properly registered, and will be visible by all Module methods").
    - PyTorch forum, "Parameters of layers in a Python list are not registered".
    """

    code = "LL404"
    name = "unregistered-submodule"
    message = ("`{attribute}` keeps {count} in a plain {container}: {effect}")

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, dims):
                    super().__init__()
                    self.hidden = [nn.Linear(a, b) for a, b in zip(dims, dims[1:])]  # error: LL404
                    self.out = nn.Linear(dims[-1], 10)

                def forward(self, x):
                    for layer in self.hidden:
                        x = layer(x).relu()
                    return self.out(x)
        """),
        Example.pytorch("""
            from torch import nn

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1)

                def forward(self, x):
                    return x + self.conv(x)

            class Net(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    self.stages = []  # error: LL404
                    for _ in range(depth):
                        self.stages.append(Block(64))
                    self.heads = {"cls": nn.Linear(64, 10), "box": nn.Linear(64, 4)}  # error: LL404

                def forward(self, x):
                    for stage in self.stages:
                        x = stage(x)
                    x = x.mean((2, 3))
                    return {name: head(x) for name, head in self.heads.items()}
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, dims):
                    super().__init__()
                    self.hidden = nn.ModuleList(
                        [nn.Linear(a, b) for a, b in zip(dims, dims[1:])])
                    layers = [nn.Linear(dims[-1], 32), nn.ReLU()]
                    self.tail = nn.Sequential(*layers)
                    self.heads = nn.ModuleDict({"cls": nn.Linear(32, 10)})

                def forward(self, x):
                    for layer in self.hidden:
                        x = layer(x).relu()
                    return self.heads["cls"](self.tail(x))
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 16, 3)
                    self.conv2 = nn.Conv2d(16, 16, 3)
                    self.convs = [self.conv1, self.conv2]  # already registered
                    self.blocks = [nn.Linear(16, 16) for _ in range(2)]
                    self.blocks = nn.ModuleList(self.blocks)
                    self.sizes = [16, 32]

                def forward(self, x):
                    for conv in self.convs:
                        x = conv(x)
                    return x
        """),
        Example.pytorch("""
            import torch.nn as nn
            from torch.nn import ModuleList

            class Stack(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    layers = ModuleList([])  # a ModuleList filled by append and insert
                    for _ in range(depth):
                        layers.append(nn.Linear(16, 16))
                    layers.insert(0, nn.Linear(8, 16))
                    self.layers = layers

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
        """),
    )
    unsupported = {
        "keras": "Keras tracks layers assigned in lists, tuples and dicts (its attribute "
                 "tracking wraps them), so their weights are registered.",
        "onnx": "An ONNX graph holds only the weights that were exported.",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            for event in routine.events():
                if event.act is not Act.PLAIN_CONTAINER:
                    continue
                layers = [op.rsplit(".", 1)[-1] for op in event.facts["layers"]]
                container = str(event.facts["container"])
                count = f"layers ({', '.join(layers)})"
                autofix = Fix.register(event.location, str(event.facts["base"]), container)
                yield at_event(self, event, autofix=autofix, attribute=event.subject,
                               count=count, container=container, effect=EFFECT)


EFFECT = ("their parameters are not registered, so the optimizer, `.to(device)` and "
          "`state_dict()` miss them")
