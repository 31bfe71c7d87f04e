"""The source fixer: LibCST edits from Fix descriptions, exact or refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from layerlint.fix import Edit, Fix
from layerlint.frontends.source_fixer import plan
from layerlint.ir import Location
from layerlint.rule import Finding, Severity


def _loc(source: str, snippet: str, nth: int = 0) -> Location:
    hits = [(n, line.index(snippet)) for n, line in enumerate(source.splitlines(), start=1)
            if snippet in line]
    line, column = hits[nth]
    return Location("m.py", line, column + 1, line, column + 1 + len(snippet))


def _finding(fix: Fix) -> Finding:
    return Finding("LL999", "test", Severity.WARNING, "m", fix.target, fix=fix)


def _plan(source: str, *fixes: Fix):
    source = textwrap.dedent(source)
    return plan(Path("m.py"), source.encode(), [_finding(f) for f in fixes], "m.py")


TORCH = textwrap.dedent("""\
    import torch.nn as nn

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3),  # stem
        nn.Dropout(0.5),  # regularise
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ReLU(),
    )
    head = nn.Linear(8, 2, True)
    other = nn.Sequential(nn.BatchNorm1d(2))
""")


def _set(source, snippet, op, argument="bias", nth=0):
    return Fix(Edit.SET_ARGUMENT, "d", False, _loc(source, snippet, nth), op,
               argument=argument, value=False)


def test_move_set_argument_and_comments_kept():
    result = _plan(
        TORCH,
        Fix(Edit.MOVE_AFTER, "d", False, _loc(TORCH, "nn.Dropout(0.5)"), "torch.nn.Dropout",
            anchor=_loc(TORCH, "nn.BatchNorm2d(8)")),
        _set(TORCH, "nn.Conv2d(3, 8, 3)", "torch.nn.Conv2d"),
    )
    assert not result.refused
    assert result.fixed == TORCH.replace(
        "    nn.Conv2d(3, 8, 3),  # stem\n"
        "    nn.Dropout(0.5),  # regularise\n"
        "    nn.BatchNorm2d(8),\n",
        "    nn.Conv2d(3, 8, 3, bias=False),  # stem\n"
        "    nn.BatchNorm2d(8),\n"
        "    nn.Dropout(0.5),  # regularise\n")


def test_remove_last_element_keeps_trailing_comma():
    result = _plan(TORCH, Fix(Edit.REMOVE, "d", False, _loc(TORCH, "nn.ReLU()", 1),
                              "torch.nn.ReLU"))
    assert result.fixed == TORCH.replace("    nn.ReLU(),\n    nn.ReLU(),\n", "    nn.ReLU(),\n")


def test_move_to_the_end_of_a_one_line_sequential():
    source = "import torch.nn as nn\nnet = nn.Sequential(nn.Dropout(), nn.BatchNorm1d(4))\n"
    result = _plan(source, Fix(Edit.MOVE_AFTER, "d", False, _loc(source, "nn.Dropout()"), "",
                               anchor=_loc(source, "nn.BatchNorm1d(4)")))
    assert result.fixed.endswith("nn.Sequential(nn.BatchNorm1d(4), nn.Dropout())\n")


def test_keras_list():
    source = textwrap.dedent("""\
        from tensorflow import keras
        from tensorflow.keras import layers

        model = keras.Sequential([
            layers.Dense(64, activation="relu"),
            layers.Activation("relu"),
            layers.Dense(10),
        ])
        conv = layers.Conv2D(8, 3, padding="same")
    """)
    result = _plan(source,
                   Fix(Edit.REMOVE, "d", False, _loc(source, 'layers.Activation("relu")'), ""),
                   _set(source, 'layers.Conv2D(8, 3, padding="same")', "keras.layers.Conv2D",
                        "use_bias"))
    assert not result.refused
    assert 'Activation' not in result.fixed
    assert 'layers.Conv2D(8, 3, padding="same", use_bias=False)' in result.fixed


def test_existing_keyword_replaced():
    source = "import torch.nn as nn\nfc = nn.Linear(2, 3, bias=True)\n"
    result = _plan(source, _set(source, "nn.Linear(2, 3, bias=True)", "torch.nn.Linear"))
    assert result.fixed.endswith("nn.Linear(2, 3, bias=False)\n")


@pytest.mark.parametrize(("fix", "reason"), [
    (lambda s: _set(s, "nn.Linear(8, 2, True)", "torch.nn.Linear"), "passed by position"),
    (lambda s: _set(s, "nn.Linear(8, 2, True)", "my.Custom"), "does not construct my.Custom"),
    (lambda s: Fix(Edit.REMOVE, "d", False, _loc(s, "nn.Linear(8, 2, True)"), ""),
     "not an element of a literal Sequential"),
    (lambda s: Fix(Edit.REMOVE, "d", False, _loc(s, "nn.BatchNorm1d(2)"), ""),
     "only layer"),
    (lambda s: Fix(Edit.MOVE_AFTER, "d", False, _loc(s, "nn.Dropout(0.5)"), "",
                   anchor=_loc(s, "nn.BatchNorm1d(2)")), "not in one literal Sequential"),
    (lambda s: Fix(Edit.REMOVE, "d", False, Location("m.py", 2, 1, 2, 5), ""),
     "no single constructor call"),
    (lambda s: Fix(Edit.REMOVE, "d", False, Location("m.onnx", 1, 1, node="n (#1)"), ""),
     "no editable source"),
])
def test_refused(fix, reason):
    result = _plan(TORCH, fix(TORCH))
    assert result.fixed == result.original == TORCH
    [(_, why)] = result.refused
    assert reason in why


def test_conflicting_container_edits_apply_one():
    result = _plan(
        TORCH,
        Fix(Edit.REMOVE, "d", False, _loc(TORCH, "nn.ReLU()", 1), ""),
        Fix(Edit.MOVE_AFTER, "d", False, _loc(TORCH, "nn.Dropout(0.5)"), "",
            anchor=_loc(TORCH, "nn.BatchNorm2d(8)")),
    )
    assert len(result.applied) == 1 and "another fix" in result.refused[0][1]


def test_star_args_refused():
    source = "import torch.nn as nn\nfc = nn.Linear(*dims)\n"
    result = _plan(source, _set(source, "nn.Linear(*dims)", "torch.nn.Linear"))
    assert "*args" in result.refused[0][1]


def test_code_that_would_not_parse_is_never_produced(monkeypatch):
    import libcst as cst

    from layerlint.frontends import source_fixer

    monkeypatch.setattr(source_fixer, "_literal", lambda value: cst.Name("else"))
    source = "import torch.nn as nn\nfc = nn.Linear(2, 3)\n"
    result = _plan(source, _set(source, "nn.Linear(2, 3)", "torch.nn.Linear"))
    assert result.fixed == source and not result.applied
    assert "would not parse" in result.refused[0][1]


def test_unknown_signature_refuses_when_positional():
    source = "from mylib import Custom\nc = Custom(8, 2)\nd = Custom(bias=True)\n"
    first = _plan(source, _set(source, "Custom(8, 2)", "mylib.Custom"))
    assert "may be passed by position" in first.refused[0][1]
    second = _plan(source, _set(source, "Custom(bias=True)", "mylib.Custom"))
    assert second.fixed.endswith("d = Custom(bias=False)\n")


@pytest.mark.parametrize("closing", [",  # bn\n)", "  # bn\n)"])
def test_moving_to_the_end_keeps_each_comment_with_its_layer(closing):
    """The last element's trailing comment used to stay on the last line, now the
    moved layer's; with or without a trailing comma."""
    source = ("import torch.nn as nn\nnet = nn.Sequential(\n    nn.Linear(4, 4),  # lin\n"
              "    nn.Dropout(0.5),  # drop\n    nn.BatchNorm1d(4)" + closing + "\n")
    result = _plan(source, Fix(Edit.MOVE_AFTER, "d", False, _loc(source, "nn.Dropout(0.5)"),
                               "torch.nn.Dropout", anchor=_loc(source, "nn.BatchNorm1d(4)")))
    assert not result.refused
    tail = closing.split("  # bn")[0]
    assert result.fixed.endswith("    nn.BatchNorm1d(4),  # bn\n    nn.Dropout(0.5)" + tail
                                 + "  # drop\n)\n")


def test_removing_the_last_element_takes_its_comment_along():
    source = ("import torch.nn as nn\nnet = nn.Sequential(\n    nn.ReLU(),\n"
              "    nn.ReLU(),  # again\n)\n")
    result = _plan(source, Fix(Edit.REMOVE, "r", False, _loc(source, "nn.ReLU()", 1),
                               "torch.nn.ReLU"))
    assert result.fixed.endswith("nn.Sequential(\n    nn.ReLU(),\n)\n")


def test_a_keras_list_whose_last_comment_would_be_misplaced_is_refused():
    source = textwrap.dedent("""\
        from tensorflow import keras
        from tensorflow.keras import layers

        model = keras.Sequential([
            layers.Dropout(0.3),  # drop
            layers.BatchNormalization()  # bn
        ])
    """)
    result = _plan(source, Fix(Edit.MOVE_AFTER, "d", False, _loc(source, "layers.Dropout(0.3)"),
                               "", anchor=_loc(source, "layers.BatchNormalization()")))
    assert [reason for _, reason in result.refused] == [
        "the last layer's comment would stay at the end"]
