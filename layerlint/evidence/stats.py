"""Paired statistics and the verdict logic of EVIDENCE.md §3.1.

Every comparison is a vector of per-seed differences d_s = metric(A_s) - metric(B_s),
oriented so that a positive value means the flagged arm A is worse. Pure numpy/scipy:
no torch, so the logic is testable (and importable) without the verify extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Summary", "decide", "holm", "no_variance_bound", "required_seeds", "summarize"]

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORTED, CONTRADICTED, EQUIVALENT, INCONCLUSIVE)
BCA_MIN_SEEDS = 10
# A zero-width interval (every seed gave the same difference) says nothing about the
# spread, so it decides only from this many seeds on; then, by the rule of three, a seed
# that would differ occurs with a rate of at most 1 - 0.05 ** (1 / n) (26% at n = 10).
NO_VARIANCE_MIN_SEEDS = 10


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    mean: float
    ci_low: float
    ci_high: float
    sd: float
    d_z: float | None  # Cohen's d_z; None when every difference is identical
    wilcoxon_p: float | None  # None when it is undefined (all differences zero, n < 2)
    worse_in: int  # seeds where A was worse (d > 0)
    delta: float
    verdict: str
    note: str  # "smaller than delta", or the seeds full mode would need
    needed_n: int | None
    # BCa bootstrap 95% interval of the mean, reported beside the t-interval for n >= 10
    # (EVIDENCE §3.1); the verdict stays on the t-interval.
    bca_low: float | None = None
    bca_high: float | None = None
    level: float = 0.95  # confidence level of [ci_low, ci_high] (lower for corrected rows)
    t_p: float | None = None  # two-sided paired t-test p; None when undefined
    zero_variance: bool = False  # every difference identical: a point, not an interval

    def to_dict(self) -> dict:
        return asdict(self)


def decide(ci_low: float, ci_high: float, delta: float) -> tuple[str, str]:
    """Verdict from the 95% CI of the mean difference and the smallest effect of interest.

    Order matters: a CI above zero is "supported" even when it is also inside (-delta,
    delta); then the note says the effect is smaller than delta.
    """
    if ci_low > 0:
        return SUPPORTED, ("smaller than delta" if ci_high < delta else "")
    if ci_high < 0:
        return CONTRADICTED, ("smaller than delta" if ci_low > -delta else "")
    if -delta < ci_low and ci_high < delta:
        return EQUIVALENT, ""
    return INCONCLUSIVE, ""


def required_seeds(sd: float, delta: float) -> int | None:
    """Seeds to detect an effect of size delta with 80% power (two-sided 5%), normal approx."""
    if not (sd > 0 and delta > 0) or not math.isfinite(sd):
        return None
    return max(3, math.ceil(((1.959964 + 0.841621) * sd / delta) ** 2) + 1)


def no_variance_bound(n: int) -> float:
    """95% upper bound on the rate of a differing seed when none of n seeds differed."""
    return 1 - 0.05 ** (1 / n)


def holm(pvalues: dict[str, float | None]) -> dict[str, float]:
    """Holm step-down adjusted p-values; an undefined p counts as 1 (conservative)."""
    ordered = sorted(pvalues.items(), key=lambda kv: 1.0 if kv[1] is None else kv[1])
    adjusted, running = {}, 0.0
    for rank, (name, p) in enumerate(ordered):
        value = 1.0 if p is None else p
        running = max(running, min(1.0, (len(ordered) - rank) * value))
        adjusted[name] = running
    return adjusted


def summarize(diffs: Sequence[float], delta: float, level: float = 0.95) -> Summary:
    """Mean paired difference with its t-interval at ``level``, d_z, Wilcoxon and t-test p
    and the verdict. Identical differences give a zero-width interval, which decides
    only from ``NO_VARIANCE_MIN_SEEDS`` seeds on and is always marked as such."""
    import numpy as np
    from scipy import stats

    d = np.asarray([float(x) for x in diffs], dtype=np.float64)
    n = int(d.size)
    if n == 0:
        raise ValueError("no paired differences to summarize")
    identical = n > 1 and bool(np.all(d == d[0]))  # exactly: float sums may leave a tiny sd
    mean = float(d[0]) if identical else float(d.mean())
    sd = 0.0 if identical else float(d.std(ddof=1)) if n > 1 else math.nan
    if n > 1 and sd > 0:
        half = float(stats.t.ppf(1 - (1 - level) / 2, n - 1)) * sd / math.sqrt(n)
        d_z: float | None = mean / sd
    elif n > 1:  # identical differences: the interval collapses to the point
        half, d_z = 0.0, None
    else:
        half, d_z = math.inf, None
    low, high = mean - half, mean + half
    wilcoxon_p: float | None = None
    if n > 1 and np.any(d != 0):
        try:
            wilcoxon_p = float(stats.wilcoxon(d).pvalue)
        except ValueError:
            wilcoxon_p = None
    bca_low = bca_high = None
    t_p = (float(stats.ttest_1samp(d, 0.0).pvalue) if n > 1 and sd > 0 else None)
    if n >= BCA_MIN_SEEDS and sd > 0:
        interval = stats.bootstrap((d,), np.mean, confidence_level=level, method="BCa",
                                   n_resamples=9999, random_state=0).confidence_interval
        if math.isfinite(interval.low) and math.isfinite(interval.high):
            bca_low, bca_high = float(interval.low), float(interval.high)
    zero_variance = n > 1 and sd == 0
    verdict, note = decide(low, high, delta)
    needed = required_seeds(sd, delta) if verdict == INCONCLUSIVE else None
    if needed is not None:
        note = f"about {needed} seeds would resolve delta={delta:g}"
    if zero_variance and n < NO_VARIANCE_MIN_SEEDS:
        verdict, needed = INCONCLUSIVE, NO_VARIANCE_MIN_SEEDS
        note = (f"no variance observed in {n} seeds: a zero-width interval is not a "
                f"verdict below {NO_VARIANCE_MIN_SEEDS} seeds")
    elif zero_variance:
        note = "; ".join(filter(None, [note, (
            f"no variance observed: all {n} seeds gave the same difference (a differing "
            f"seed has a rate of at most {no_variance_bound(n):.0%}, 95%)")]))
    return Summary(n=n, mean=mean, ci_low=low, ci_high=high, sd=sd, d_z=d_z,
                   wilcoxon_p=wilcoxon_p, worse_in=int((d > 0).sum()), delta=delta,
                   verdict=verdict, note=note, needed_n=needed,
                   bca_low=bca_low, bca_high=bca_high, level=level, t_p=t_p,
                   zero_variance=zero_variance)
