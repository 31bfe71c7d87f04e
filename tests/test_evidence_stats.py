"""Verdict logic of EVIDENCE.md §3.1 on constructed samples (no torch needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")

from layerlint.evidence.report import compare_reference, effect_text  # noqa: E402
from layerlint.evidence.stats import decide, holm, no_variance_bound, summarize  # noqa: E402


def _sample(mean: float, sd: float, n: int = 10, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)  # exact mean and sd
    return list(mean + sd * noise)


def test_clear_effect_is_supported():
    s = summarize(_sample(0.05, 0.01), delta=0.01)
    assert s.verdict == "supported" and s.note == ""
    assert s.ci_low > 0.01 and s.worse_in == 10
    assert s.d_z == pytest.approx(5.0)
    assert s.wilcoxon_p is not None and s.wilcoxon_p < 0.01


def test_small_but_real_effect_is_supported_below_delta():
    s = summarize(_sample(0.003, 0.001), delta=0.01)
    assert (s.verdict, s.note) == ("supported", "smaller than delta")


def test_zero_effect_with_tight_ci_is_equivalent():
    s = summarize(_sample(0.0, 0.002), delta=0.01)
    assert s.verdict == "equivalent"
    assert -0.01 < s.ci_low < 0 < s.ci_high < 0.01


def test_reversed_effect_is_contradicted():
    s = summarize(_sample(-0.05, 0.01), delta=0.01)
    assert s.verdict == "contradicted" and s.worse_in == 0


def test_noise_is_inconclusive_and_says_how_many_seeds():
    s = summarize(_sample(0.004, 0.05), delta=0.01)
    assert s.verdict == "inconclusive"
    assert s.needed_n is not None and s.needed_n > 10
    assert str(s.needed_n) in s.note


def test_t_interval_matches_the_formula():
    d = [0.1, 0.3, 0.2, 0.4, 0.0]
    s = summarize(d, delta=0.05)
    half = 2.7764451 * np.std(d, ddof=1) / math.sqrt(5)
    assert s.ci_low == pytest.approx(0.2 - half) and s.ci_high == pytest.approx(0.2 + half)


def test_zero_variance_interval_from_few_seeds_is_not_a_verdict():
    # LL104's and LL203's old references: [0, 0] from identical differences was read as
    # a certain "equivalent"; below ten seeds it must stay inconclusive and say why.
    s = summarize([0.0, 0.0, 0.0], delta=0.01)
    assert (s.ci_low, s.ci_high, s.d_z, s.wilcoxon_p, s.t_p) == (0, 0, None, None, None)
    assert s.zero_variance and s.verdict == "inconclusive" and s.needed_n == 10
    assert s.note == ("no variance observed in 3 seeds: a zero-width interval is not a "
                      "verdict below 10 seeds")
    s = summarize([0.02] * 9, delta=0.01)
    assert s.verdict == "inconclusive" and s.zero_variance


def test_zero_variance_from_enough_seeds_decides_but_says_so():
    s = summarize([0.0] * 10, delta=0.01)
    assert s.verdict == "equivalent" and s.zero_variance
    assert "no variance observed: all 10 seeds gave the same difference" in s.note
    assert "at most 26%" in s.note  # rule of three: 1 - 0.05 ** (1 / 10)
    assert no_variance_bound(10) == pytest.approx(0.2589, abs=1e-4)
    assert summarize([0.02] * 12, delta=0.01).verdict == "supported"


def test_a_higher_confidence_level_widens_the_interval():
    d = _sample(0.01, 0.01)
    wide, narrow = summarize(d, 0.01, level=1 - 0.05 / 3), summarize(d, 0.01)
    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high
    assert wide.level == pytest.approx(0.98333, abs=1e-5) and narrow.level == 0.95
    # t = mean / (sd / sqrt(n)) = sqrt(10) on 9 degrees of freedom
    assert narrow.t_p == pytest.approx(0.011508, abs=1e-5)


def test_holm_adjustment():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": None})
    # sorted 0.01, 0.03, 0.04, None(=1): 4*0.01, max(.., 3*0.03), max(.., 2*0.04), 1
    assert adjusted == pytest.approx({"a": 0.04, "c": 0.09, "b": 0.09, "d": 1.0})


def test_decide_boundaries():
    assert decide(0.0, 0.2, 0.1)[0] == "inconclusive"  # touches zero, exceeds delta
    assert decide(-0.1, 0.05, 0.1)[0] == "inconclusive"  # lower bound at -delta
    assert decide(-0.09, 0.09, 0.1)[0] == "equivalent"
    assert decide(1e-9, 0.5, 0.1) == ("supported", "")


def _report(verdict: str, ci: list[float], name: str = "x") -> dict:
    return {"primary": {"name": name, "verdict": verdict, "exact": False, "mean": sum(ci) / 2,
                        "ci": ci, "n": 5, "unit": "nats", "scale": 1.0},
            "mode": "quick", "device": {"type": "cpu", "name": "x86_64"},
            "versions": {"torch": "2.13.0"}, "date": "2026-11-26T00:00:00Z"}


def test_reference_comparison():
    ref = _report("supported", [0.1, 0.3])
    assert compare_reference(_report("supported", [0.2, 0.4]), ref)[0] == "reproduced"
    status, how = compare_reference(_report("inconclusive", [-0.1, 0.4]), ref)
    assert status == "differs" and "verdict inconclusive vs reference supported" in how
    status, how = compare_reference(_report("supported", [0.5, 0.7]), ref)
    assert status == "differs" and "does not overlap" in how
    assert compare_reference(_report("supported", [0.2, 0.4]), None)[0] == "no reference"
    assert effect_text(ref["primary"]) == "+0.200 [+0.100, +0.300] nats"


def test_bca_interval_reported_from_ten_seeds_and_brackets_the_mean():
    rng = __import__("random").Random(3)
    diffs = [0.02 + rng.gauss(0, 0.01) for _ in range(12)]
    summary = summarize(diffs, delta=0.01)
    assert summary.bca_low is not None and summary.bca_high is not None
    assert summary.bca_low < summary.mean < summary.bca_high
    assert summarize(diffs[:5], delta=0.01).bca_low is None  # quick mode: t-interval only
