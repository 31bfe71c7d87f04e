"""Fuzz: mutated ONNX models never crash the check, never hang, never pass silently.

Seeded and bounded (a few hundred cases); every input gets findings or none, and a
malformed one LL001, never an internal error or a traceback.
"""

from __future__ import annotations

import time

import pytest

from layerlint.engine import check_paths
from layerlint.registry import all_rules

onnx_mutations = pytest.importorskip("onnx_mutations")

CASES = 300
# Catches a hang or a blow-up only (a loaded 2-core machine); speed is benchmarked.
SECONDS_PER_CASE = 20


def test_mutated_models_never_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rules = all_rules()
    codes = {rule.code for rule in rules}
    outcomes: dict[str, int] = {}
    for name, suffix, data in onnx_mutations.cases(seed=17, count=CASES):
        path = tmp_path / f"case{suffix}"
        path.write_bytes(data)
        start = time.perf_counter()
        result = check_paths([path], rules)
        elapsed = time.perf_counter() - start
        assert not result.internal_errors, (name, result.internal_errors)
        assert elapsed < SECONDS_PER_CASE, (name, elapsed)
        for finding in result.findings:
            assert finding.code in codes, (name, finding)
            assert "internal error" not in finding.message, (name, finding.message)
        for code in {f.code for f in result.findings} or {"none"}:
            outcomes[code] = outcomes.get(code, 0) + 1
    # The mutants reach the lowering and the rules, not only the reader's LL001.
    assert outcomes.get("LL001", 0) > 30
    assert sum(n for code, n in outcomes.items() if code not in ("LL001", "LL002")) > 30
