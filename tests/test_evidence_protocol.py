"""The evidence modules against the pre-registered protocol, and the bundled references
against the code that produced them (EVIDENCE.md §3.1-§3.2)."""

from __future__ import annotations

import importlib
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from layerlint.evidence.harness import MECHANISM_ONLY, _clean, analyse, code_key  # noqa: E402
from layerlint.evidence.report import describe_reference, load_reference  # noqa: E402
from layerlint.evidence.runner import discover  # noqa: E402

pytestmark = pytest.mark.torch

# The primary endpoint of every rule as EVIDENCE.md §3.2 pre-registers it, in the words
# of the module that measures it, and whether the protocol made it a trained paired
# endpoint ("comparison") or a deterministic measurement ("exact").
# LL101: "Primary endpoint (mechanistic), measured as specified: ... r = running_var /
#   Var_eval(BN input)" (measured on trained models, so a comparison).
# LL102: step 2 "Primary: test NLL". LL103: "Primary: test accuracy".
# LL104: "Primary (deterministic): ... ||dL/db|| / ||dL/dW|| < 1e-9".
# LL105: "Primary: test NLL". LL106: "Primary: test NLL" (non-idempotent pairs).
# LL107: "Primary: test accuracy". LL201: "Primary: test NLL of each model's predictive
#   distribution". LL202: "Primary: test NLL and ECE of sigma(z)" (§3.1: one primary; NLL).
# LL203: "Primary: fraction of misclassified training examples with exactly-zero
#   gradient". LL204-LL210 (second round, pre-registered in their modules'
#   docstrings): test NLL (LL204, LL205, LL207, LL209, LL210), test accuracy (LL206,
#   LL208).
#   LL301: "Primary: eval-mode test accuracy". LL302: "Deterministic: ...
#   after one epoch the upstream weights are unchanged".
PROTOCOL = {
    "LL101": ("variance shift", "comparison"),
    "LL102": ("test NLL", "comparison"),
    "LL103": ("test accuracy", "comparison"),
    "LL104": ("bias gradient is zero before a training-mode BN", "exact"),
    "LL105": ("test NLL (p=0.5)", "comparison"),
    "LL106": ("test NLL", "comparison"),
    "LL107": ("test accuracy (p=0.5)", "comparison"),
    "LL201": ("test NLL", "comparison"),
    "LL202": ("test NLL", "comparison"),
    "LL203": ("dead gradients", "comparison"),
    "LL204": ("test NLL", "comparison"),
    "LL205": ("test NLL", "comparison"),
    "LL206": ("test accuracy", "comparison"),
    "LL207": ("test NLL", "comparison"),
    "LL208": ("test accuracy", "comparison"),
    "LL209": ("test NLL", "comparison"),
    "LL210": ("test NLL", "comparison"),
    "LL301": ("test accuracy", "comparison"),
    "LL302": ("Dropout(1.0): upstream weights never change", "exact"),
    # The training-code rules (not in §3.2): each module's docstring pre-registers an
    # exact mechanism check as primary, the training endpoints as secondary.
    "LL401": ("F.dropout without training= changes eval-mode predictions from call to call",
              "exact"),
    # LL402: its docstring pre-registers a training endpoint as primary (whether harm is
    # claimed), with the mechanism as exact rows.
    "LL402": ("test NLL", "comparison"),
    "LL403": ("without zero_grad, .grad is the sum of both batches' gradients", "exact"),
    "LL404": ("layers in a plain list are never updated by the optimizer", "exact"),
    "LL405": ("after eval(), training steps leave BN statistics frozen and dropout off",
              "exact"),
    "LL406": ("`module.requires_grad = False` leaves the layer training", "exact"),
}
# Words each primary comparison's endpoint must contain (what §3.2 measures).
ENDPOINT_WORDS = {"LL101": "running var", "LL102": "NLL", "LL103": "accuracy",
                  "LL105": "NLL", "LL106": "NLL", "LL107": "accuracy", "LL201": "NLL",
                  "LL202": "NLL", "LL203": "zero grad", "LL204": "NLL", "LL205": "NLL",
                  "LL206": "accuracy", "LL207": "NLL", "LL208": "accuracy", "LL209": "NLL",
                  "LL210": "NLL", "LL301": "accuracy", "LL402": "NLL"}


def _module(code: str):
    return importlib.import_module(discover()[code])


@pytest.mark.parametrize("code", sorted(PROTOCOL))
def test_primary_endpoint_is_declared_as_the_protocol_registers_it(code):
    module = _module(code)
    name, kind = PROTOCOL[code]
    assert module.PRIMARY == name
    comparisons = {c.name: c for c in module.COMPARISONS}
    if kind == "comparison":
        assert ENDPOINT_WORDS[code].lower() in comparisons[name].endpoint.lower()
    else:
        assert name not in comparisons
        assert name in {check.name for check in module.exact(_ctx())}


def _ctx():
    from layerlint.evidence.context import Context, configure_determinism

    configure_determinism(torch.device("cpu"), 1)
    return Context(mode="smoke")


def test_every_module_declares_its_primary_endpoint():
    # rules added after §3.2 was written declare theirs too (the harness's fallback to
    # the first comparison is for modules written before PRIMARY existed)
    for code in discover():
        module = _module(code)
        declared = getattr(module, "PRIMARY", None)
        names = {c.name for c in module.COMPARISONS}
        assert declared, f"{code} declares no PRIMARY"
        assert declared in names or declared in {e.name for e in module.exact(_ctx())}


@pytest.mark.parametrize("code", sorted(PROTOCOL))
def test_no_reference_verdict_rests_on_an_identity(code):
    reference = load_reference(code)
    assert reference["primary_endpoint"] == PROTOCOL[code][0]
    primary = reference["primary"]
    assert primary["name"] == PROTOCOL[code][0]
    if primary.get("exact"):
        assert primary["verdict"] == MECHANISM_ONLY
    else:
        assert primary["verdict"] in ("supported", "contradicted", "equivalent",
                                      "inconclusive")
    for check in reference["exact"]:  # mechanism rows carry expectations, not verdicts
        assert check["verdict"] in ("confirmed", "refuted")


@pytest.mark.parametrize("code", sorted(discover()))
def test_bundled_reference_is_not_stale(code):
    """Fails when the module, the evidence package's keyed files or layerlint's version
    changed after the reference was recorded: rerun ``layerlint verify CODE --mode quick
    --device cpu`` and copy the JSON over ``reference.json``."""
    module = _module(code)
    reference = load_reference(code)
    assert reference is not None, f"{code} has no reference.json"
    assert reference.get("code_key") == code_key(module), (
        f"{code}/reference.json is stale: recorded by other code than the current one")
    # its statistics are what the current analysis computes from its own per-seed values
    fresh = analyse(module, reference["trials"], reference["seeds"])
    assert json.loads(json.dumps(_clean(fresh))) == reference["comparisons"]


def test_stale_reference_is_detected(monkeypatch):
    module = _module("LL105")
    before = code_key(module)
    from layerlint.evidence import harness

    monkeypatch.setattr(harness, "__version__", "99.0")
    assert code_key(module) != before  # a new layerlint version makes it stale
    monkeypatch.undo()
    monkeypatch.setattr(harness, "KEYED_FILES", harness.KEYED_FILES[:-1])
    assert code_key(module) != before  # so does any change to training.py


@pytest.mark.parametrize("code", ["LL202", "LL203"])
def test_explain_shows_the_training_endpoints_verdicts(code):
    text = describe_reference(code)
    reference = load_reference(code)
    first = text.splitlines()[0]
    assert first.startswith(f"- primary endpoint, {PROTOCOL[code][0]}: **")
    for row in reference["comparisons"]:  # every endpoint, nulls included
        name, verdict = row["comparison"]["name"], row["summary"]["verdict"]
        assert any(line.startswith(("- primary endpoint, " + name,
                                    "- secondary, " + name + ": " + verdict))
                   for line in text.splitlines()), (name, text)
    for check in reference["exact"]:
        assert f"- mechanism (exact), {check['name']}: {check['verdict']}" in text
    assert "- controls: " in text


def test_references_report_their_controls_and_device():
    for code in discover():
        reference = load_reference(code)
        device = reference["device"]
        assert device["cpu"] and device["cpu"] != "x86_64" or device["type"] == "cuda"
        if reference["arms"]:
            names = [c["name"] for c in reference["controls"]]
            assert reference["controls_run"] and any(n.startswith("determinism")
                                                     for n in names), code
            assert not reference["withheld"]
        else:
            assert reference["controls"] == [] and not reference["controls_run"]


def test_markdown_report_rows_keep_their_columns():
    import re

    from layerlint.evidence.report import markdown

    text = markdown(load_reference("LL104"))  # its endpoints contain ||dL/db||
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert any("\\|\\|dL/db\\|\\|" in row for row in rows)
    for row in rows:  # 4 columns in the mechanism table, 11 in the comparisons
        assert len(re.split(r"(?<!\\)\|", row)) in (6, 13), row
