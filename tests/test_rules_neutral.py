"""Rules never know the frontend: no rule reads which frontend built a graph, a layer's
raw (framework-spelled) arguments, or spells a framework's names outside its docs and
examples. Adding a frontend must touch no rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from layerlint.ir.kinds import VOCABULARY

RULES = Path(__file__).resolve().parent.parent / "rules"
CHECKED = sorted([*RULES.glob("*/rule.py"), RULES / "_common.py", RULES / "_losses.py"])
FRAMEWORK_PREFIXES = ("torch.", "keras.", "tf.", "tensorflow.", "onnx::")
ONNX_OPS = frozenset(op.split("::", 1)[1] for op in VOCABULARY if op.startswith("onnx::"))
# attributes only frontends, the engine and the fixer may read
BANNED_ATTRIBUTES = frozenset({"frontend", "attrs"})


def _exempt(tree: ast.Module) -> set[int]:
    """ids of string constants that are docs or examples: docstrings, ``Example.*(...)``
    arguments and the ``unsupported`` table (frontend -> why)."""
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                exempt.add(id(first.value))
        is_example = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and isinstance(node.func.value, ast.Name)
                      and node.func.value.id == "Example")
        is_unsupported = (isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "unsupported" for t in node.targets))
        if is_example or is_unsupported:
            exempt.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Constant))
    return exempt


def violations(source: str) -> list[str]:
    tree = ast.parse(source)
    exempt = _exempt(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRIBUTES:
            found.append(f"line {node.lineno}: reads `.{node.attr}`")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in exempt:
            text = node.value
            if text.startswith(FRAMEWORK_PREFIXES) or text in ONNX_OPS:
                found.append(f"line {node.lineno}: spells {text!r}")
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_reads_only_the_neutral_graph(path):
    assert violations(path.read_text()) == []


@pytest.mark.parametrize("snippet", [
    "if graph.frontend == 'onnx': pass",
    "key = 'use_bias' if 'use_bias' in layer.attrs else 'bias'",
    "WITH_LOGITS = {'torch.nn.BCELoss': 'BCEWithLogitsLoss'}",
    "ok = layer.op == 'keras.layers.Dense'",
    "ok = op.startswith('tf.nn')",
    "ok = layer.op.endswith('BatchNormalization')",
    "ok = layer.op == 'onnx::Relu'",
])
def test_the_ban_catches_framework_knowledge(snippet):
    assert violations(snippet)


def test_docs_and_examples_may_name_frameworks():
    source = '''
class R:
    """Reports `torch.nn.Dropout` before `keras.layers.BatchNormalization`."""
    invalid = (Example.pytorch("""import torch.nn as nn"""), Example.onnx("""Relu"""))
    unsupported = {"keras": "keras.losses has no such loss"}
'''
    assert violations(source) == []


def _builds_fixes_directly(source: str) -> list[str]:
    """Rules ask for fix intents (``Fix.register(...)``); how an intent is spelled in a
    framework lives in ``layerlint.frontends.spelling``, not in the rule."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id == "Edit":
            found.append(f"line {node.lineno}: names an edit")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "Fix":
            found.append(f"line {node.lineno}: builds a Fix by hand")
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_fixes_are_intents(path):
    assert _builds_fixes_directly(path.read_text()) == []


def test_the_intent_check_catches_hand_built_fixes():
    assert _builds_fixes_directly("f = Fix(Edit.REGISTER, 'x', False, loc, value='list')")
