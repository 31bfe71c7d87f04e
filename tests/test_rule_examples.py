"""Every rule example runs as a test against that rule alone (markers: ``# error: LLxxx``)."""

from __future__ import annotations

import pytest

from layerlint.engine import check_paths
from layerlint.registry import all_rules


def _cases():
    for rule in all_rules():
        for kind, examples in (("invalid", rule.invalid), ("valid", rule.valid)):
            for index, example in enumerate(examples):
                yield pytest.param(
                    rule, example, id=f"{rule.code}-{kind}-{example.frontend}-{index}"
                )


@pytest.mark.parametrize(("rule", "example"), list(_cases()))
def test_example(rule, example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"example{example.suffix}"
    path.write_text(example.code)
    result = check_paths([path], [rule])
    assert not result.internal_errors
    found = {(f.location.line, f.code) for f in result.findings}
    assert found == example.expected(), "\n".join(
        f"{f.location.line}: {f.code} {f.message}" for f in result.findings
    )


def test_invalid_examples_expect_findings():
    for rule in all_rules():
        for example in rule.invalid:
            assert example.expected(), f"{rule.code} invalid example has no marker"
        for example in rule.valid:
            assert not example.expected(), f"{rule.code} valid example has a marker"
