"""Keras fixtures hit exactly their inline markers; the clean Keras models stay silent.

All rules run except the opt-in ones, which run only on a file whose markers ask for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layerlint.engine import check_paths
from layerlint.registry import all_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_MARKER = re.compile(r"#\s*error:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")


def _expected(path: Path) -> set[tuple[int, str]]:
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _MARKER.search(line)
        if match:
            marks.update((number, code.strip()) for code in match.group(1).split(","))
    return marks


def _rules_for(expected: set[tuple[int, str]]):
    asked = {code for _, code in expected}
    return [rule for rule in all_rules() if rule.default_enabled or rule.code in asked]


def _findings(path: Path, rules) -> tuple[set[tuple[int, str]], str]:
    result = check_paths([path], rules)
    assert not result.internal_errors, result.internal_errors
    shown = "\n".join(f"{f.location.line}: {f.code} {f.message}" for f in result.findings)
    return {(f.location.line, f.code) for f in result.findings}, shown


KERAS = sorted((FIXTURES / "keras").glob("*.py"))
CLEAN = sorted((FIXTURES / "clean").glob("keras_*.py"))


def test_the_fixture_sets_are_there():
    assert len(KERAS) >= 4 and len(CLEAN) >= 3


@pytest.mark.parametrize("path", KERAS, ids=lambda p: p.name)
def test_keras_fixture_hits_exactly_its_markers(path):
    expected = _expected(path)
    assert expected, "a fixture of bugs must mark them"
    found, shown = _findings(path, _rules_for(expected))
    assert found == expected, shown


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_clean_keras_model_is_silent(path):
    assert not _expected(path)
    found, shown = _findings(path, _rules_for(set()))
    assert not found, shown


def test_a_script_that_never_names_keras_follows_the_project_models(monkeypatch):
    # train.py only imports the builders of models.py and compiles with string losses:
    # it is analysed with the Keras semantics of the module it imports
    monkeypatch.chdir(FIXTURES / "keras")
    folder = Path("script_project")
    files = sorted(folder.glob("*.py"))
    expected = {(path.name, line, code) for path in files for line, code in _expected(path)}
    assert {code for _, _, code in expected} == {"LL101", "LL204", "LL206"}
    for paths in ([folder], [folder / "train.py", folder / "models.py"]):
        result = check_paths(paths, _rules_for(set()))
        assert not result.internal_errors
        assert {(Path(f.location.path).name, f.location.line, f.code)
                for f in result.findings} == expected
    # checked alone, the script still reads the models it imports (from disk)
    alone = check_paths([folder / "train.py"], _rules_for(set()))
    assert {(f.location.line, f.code) for f in alone.findings} == {(12, "LL204")}
