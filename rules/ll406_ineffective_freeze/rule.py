from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Act, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._training import at_event


class IneffectiveFreeze(Rule):
    """## What it does
    Reports an attempt to freeze parameters that does nothing: a misspelt flag
    (`p.require_grad = False`, `requires_grads`) on a parameter or a module, and
    `module.requires_grad = False` on a module (`model`, `self.encoder`, a layer
    from `model.children()` / `model.modules()`, a torchvision or timm model),
    where `requires_grad` is a plain attribute; the method is `requires_grad_()`.

    ## Why is this bad?
    Python lets any object take a new attribute, so neither line raises. The
    parameters' own `requires_grad` flags stay `True`: the "frozen" layers keep
    receiving gradients and the optimizer keeps updating them. Fine-tuning then
    silently trains the whole backbone (slower, more memory, and the pre-trained
    features drift), and a "linear probe" is not one.

    ## Known problems
    - Whether the object is a module is found from where it came from (a layer
      constructor, a model factory, `self.<attr>` assigned one in `__init__`,
      `.children()` / `.modules()`, a `model`-named argument, well-known
      sub-module names such as `backbone`, `features`, `encoder`); an object of
      unknown type is not reported for the correctly spelt flag.
    - `self.requires_grad = flag` inside a class (a stored setting) is not reported
      unless the value is a literal.
    - `p.requires_grad = False` on a parameter or tensor works and is never reported.

    ## Fix safety
    The fix rewrites `module.requires_grad = False` as
    `module.requires_grad_(False)` and a misspelt flag on a parameter as
    `requires_grad`. It is unsafe: it changes which parameters train.

    ## Evidence
    Exact checks (`layerlint verify LL406`): after `model.requires_grad = False` and
    after `p.require_grad = False` for every parameter, one SGD step on
    scikit-learn digits still changes the weights; `model.requires_grad_(False)`
    leaves them unchanged.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0): after
    `model[0].requires_grad = False`, and after `p.require_grad = False` for its
    parameters, one SGD step still changed the layer's weights (max change 0.0058;
    both of its parameters still required gradients); after
    `model[0].requires_grad_(False)` the change was exactly 0 (all exact,
    supported).

    ## References
    - PyTorch `nn.Module.requires_grad_` and "Locally disabling gradient
      computation" documentation.
    - PyTorch forum threads on `model.requires_grad = False` not freezing a model.
    """

    code = "LL406"
    name = "ineffective-freeze"
    severity = Rule.severity
    message = "`{target} = {value}` {why}: {effect}"

    invalid = (
        Example.pytorch("""
            import torchvision

            model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
            model.requires_grad = False  # error: LL406
            for p in model.fc.parameters():
                p.require_grad = True  # error: LL406
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Probe(nn.Module):
                def __init__(self, encoder, classes):
                    super().__init__()
                    self.encoder = nn.TransformerEncoder(
                        nn.TransformerEncoderLayer(256, 8), num_layers=6)
                    self.head = nn.Linear(256, classes)
                    self.encoder.requires_grad = False  # error: LL406

            def freeze_early_layers(model):
                for child in list(model.children())[:-2]:
                    child.requires_grad = False  # error: LL406
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torchvision

            model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
            model.requires_grad_(False)
            for p in model.fc.parameters():
                p.requires_grad = True
            model.fc.weight.requires_grad = True
            x = torch.zeros(3, requires_grad=False)
            x.requires_grad = True
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Adapter(nn.Module):
                def __init__(self, dim, requires_grad=True):
                    super().__init__()
                    self.proj = nn.Linear(dim, dim)
                    self.requires_grad = requires_grad  # a stored setting

                def freeze(self):
                    for name, param in self.named_parameters():
                        param.requires_grad = False
        """),
    )
    unsupported = {
        "keras": "Keras freezes with `layer.trainable = False`, a property of every layer "
                 "and model, so setting it does freeze.",
        "onnx": "An ONNX graph has no training code and no trainable flags.",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for routine in graph.code:
            for event in routine.events():
                if event.act is not Act.FLAG_ASSIGN:
                    continue
                facts = event.facts
                if facts["self_attribute"] and not facts["literal"]:
                    continue
                on_module = facts["owner"] == "module"
                if facts["flag"] and not on_module:
                    continue
                flag = str(facts["flag_name"])
                autofix = (Fix.set_on_parameters(event.location, str(facts["base"]), flag,
                                                 str(facts["value"])) if on_module
                           else Fix.respell(event.location, flag))
                if facts["flag"]:
                    method = f" (the method is `{autofix.value}()`)" if autofix else ""
                    why = f"sets a plain attribute on a module, not its parameters' `{flag}`" \
                          + method
                else:
                    why = f"sets a new attribute `{facts['attribute']}`, not `{flag}`"
                yield at_event(self, event, autofix=autofix,
                               target=f"{event.subject}.{facts['attribute']}",
                               value=facts["value"], why=why, effect=EFFECT)


EFFECT = "the parameters keep their flag and keep training"
