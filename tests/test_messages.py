"""Messages a user reads: each names the layers and values as the user wrote them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from layerlint.engine import check_paths
from layerlint.registry import select_rules

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _messages(path: Path, code: str) -> list[str]:
    return [f.message for f in check_paths([path], select_rules([code])).findings
            if f.code == code]


def test_ll301_momentum_half_gives_no_conversion_to_the_same_value(lint):
    """momentum=0.5 is reported (the catalog's >= 0.5) but used to advise "use 0.5"."""
    (found,) = lint("import torch.nn as nn\nnet = nn.Sequential(nn.BatchNorm1d(8, momentum=0.5))\n",
                    select=["LL301"])
    assert found.message == (
        "`net[0]` (BatchNorm1d) has momentum=0.5: in either convention that gives the new "
        "batch and the running statistics equal weight, a very fast-moving average (the "
        "defaults: 0.1 in PyTorch, 0.99 in Keras); check that it is meant")


def test_ll301_on_a_torch_export_advises_on_the_value_written_in_torch(tmp_path):
    """A torch momentum=0.99 exports as ONNX momentum 0.01; the advice was "use 0.99"."""
    path = tmp_path / "export.onnxtxt"
    path.write_text(textwrap.dedent("""\
        <ir_version: 8, opset_import: ["" : 17], producer_name: "pytorch">
        g (float[N, 8] x) => (float[N, 8] y)
        <float[8] s, float[8] b, float[8] m, float[8] v>
        {
           ["/bn/BatchNormalization"] y, rm, rv = BatchNormalization <momentum: float = 0.01, training_mode: int = 1> (x, s, b, m, v)
        }
    """))  # noqa: E501
    (message,) = _messages(path, "LL301")
    assert message == (
        "`bn` (BatchNormalization) has momentum=0.01: in the PyTorch source it was exported "
        "from, that is momentum=0.99, the new batch's weight (running = 0.01*running + "
        "0.99*batch), which is the Keras convention; use 0.01 there (or the default 0.1)")
    other = path.with_name("other.onnxtxt")  # another producer: ONNX's own convention
    other.write_text(path.read_text().replace(', producer_name: "pytorch"', ""))
    (message,) = _messages(other, "LL301")
    assert message.endswith("which is the PyTorch convention; use 0.99")


def test_ll107_names_a_batchnorm_written_after_the_dropout_as_an_earlier_pass():
    """The block's dropout follows the previous block's batchnorm (line 13), which the
    message said it "follows" without saying why line 13 comes first."""
    messages = _messages(FIXTURES / "keras" / "block_factories.py", "LL107")
    assert any(m.startswith(
        "`Dropout(rate)` (Dropout, p=0.1) follows batchnorm `BatchNormalization()` (line 13) "
        "in an earlier pass through this code (a loop or a block applied more than once);")
        for m in messages)


def test_a_block_that_is_an_element_of_the_model_is_not_named_by_a_bare_number():
    """DenseNet's _DenseBlock: the batchnorm of its second layer was "in `1`"."""
    (message,) = _messages(FIXTURES / "torch" / "densenet.py", "LL101")
    assert "reaches batchnorm `self.norm1` (line 17) in `self[1]` while training" in message
    assert "in `1`" not in message


def test_ll101_and_ll107_name_a_dropout_the_same_way():
    """One place (layer_ref) formats a dropout and its rate for every rule."""
    for path in (FIXTURES / "torch" / "mlp.py", FIXTURES / "keras" / "block_factories.py"):
        findings = check_paths([path], select_rules(["LL101", "LL107"])).findings
        by_code: dict[str, dict] = {"LL101": {}, "LL107": {}}
        for f in findings:
            by_code[f.code][f.location] = f.message.split(" reaches ")[0].split(" follows ")[0]
        shared = by_code["LL101"].keys() & by_code["LL107"].keys()
        assert shared
        for location in shared:
            assert by_code["LL101"][location].split(" in `")[0] == \
                by_code["LL107"][location].split(" in `")[0]
