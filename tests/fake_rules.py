"""Test rules that attach fixes, for testing the machinery around rules (fixes,
suppressions of related lines, notebooks) independently of the real catalog."""

from __future__ import annotations

from layerlint import linter, registry
from layerlint.fix import Fix
from layerlint.ir import Kind
from layerlint.registry import all_rules
from layerlint.rule import Rule


class MoveDropout(Rule):
    code, name, message = "LL901", "test-move", "dropout before batchnorm"

    def check(self, graph):
        for dropout in graph.of_kind(Kind.DROPOUT):
            bn = graph.first_reachable(dropout, Kind.BATCHNORM)
            if bn is not None:
                yield self.report(dropout, related=(bn,),
                                  autofix=Fix.move_after(dropout, bn, safe=True))


class RemoveActivation(Rule):
    code, name, message = "LL902", "test-remove", "activation after activation"

    def check(self, graph):
        for act in graph.of_kind(Kind.ACTIVATION):
            before = graph.predecessors(act)
            if act.op == "keras.layers.Activation" and before and \
                    before[0].kind is Kind.ACTIVATION:
                yield self.report(act, autofix=Fix.remove(act, safe=False))


class NoBias(Rule):
    code, name, message = "LL903", "test-bias", "bias"

    def check(self, graph):
        for layer in graph.of_kind(Kind.WEIGHTED):
            if layer.attrs.get("use_bias") is True and any(
                    n.kind is Kind.BATCHNORM for n in graph.successors(layer)):
                yield self.report(layer, autofix=Fix.set_argument(layer, "use_bias", False,
                                                                   safe=False))


def use_fake_rules(monkeypatch) -> None:
    """Add the test rules to the catalog the linter and configuration see."""
    # With the diagnostics only: the real rules would add their own findings.
    diagnostics = [rule for rule in all_rules() if rule.code.startswith("LL0")]
    rules = (*diagnostics, MoveDropout, RemoveActivation, NoBias)
    monkeypatch.setattr(linter, "all_rules", lambda: rules)
    monkeypatch.setattr(registry, "all_rules", lambda: rules)  # selection's defaults
