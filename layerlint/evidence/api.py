"""What an evidence module declares. Torch-free, so reports can be read without torch.

A module ``layerlint.rules.<folder>.evidence`` defines:

- ``CODE``: the rule code.
- ``ARMS``: names of the arms trained for every seed (flagged arm first).
- ``PAIRED_INIT``: True when every arm starts from identical weights (the harness and
  the tests check the ``init_hash`` each arm reports).
- ``SEEDS``: seeds per mode, e.g. ``{"smoke": 2, "quick": 10, "full": 20}``.
- ``COMPARISONS``: ``Comparison`` objects (paired, per-seed endpoints).
- ``PRIMARY``: the name of the pre-registered primary endpoint (EVIDENCE.md §3.2), a
  ``Comparison`` name or, where the protocol makes a deterministic measurement primary,
  an ``ExactCheck`` name. Only a primary *comparison* gives the rule a verdict; every
  other comparison is secondary (exploratory, multiplicity-corrected) and every exact
  check is a mechanism row, which cannot fail and so never sets the verdict.
  Modules written before ``PRIMARY`` existed get the first comparison.
- ``run_arm(ctx, seed, arm) -> dict[str, float]``: train/measure one arm for one seed.
- optionally ``exact(ctx) -> list[ExactCheck]``: deterministic checks, no training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["CONFIRMED", "Comparison", "ExactCheck", "REFUTED", "expectation"]

# Verdicts of a mechanism row: the deterministic expectation held, or it did not.
CONFIRMED = "confirmed"
REFUTED = "refuted"
# Values older modules used for exact checks ("supported" meant "the claim holds").
_LEGACY = {"supported": CONFIRMED, "equivalent": CONFIRMED, "contradicted": REFUTED}


def expectation(holds: bool) -> str:
    """The verdict of a mechanism row: did the measurement come out as expected?"""
    return CONFIRMED if holds else REFUTED


@dataclass(frozen=True, slots=True)
class Comparison:
    """d_s = metric(a) - metric(b) for each seed, sign-flipped when lower values are worse."""

    name: str
    endpoint: str  # human description of the metric
    a: tuple[str, str]  # (arm, metric key) of the flagged arm
    b: tuple[str, str]  # (arm, metric key) of the fixed arm
    delta: float  # smallest effect of interest, in the metric's unit
    worse: str = "higher"  # "higher": a larger value is worse (loss); "lower": accuracy
    unit: str = ""
    scale: float = 1.0  # display factor (100 for percentage points)

    def difference(self, value_a: float, value_b: float) -> float:
        diff = value_a - value_b
        return diff if self.worse == "higher" else -diff

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ExactCheck:
    """A deterministic measurement of the mechanism (no training, no seeds).

    ``verdict`` says whether the expectation held: ``expectation(holds)``. An identity
    cannot come out otherwise, so these rows show the mechanism and never a verdict on
    harm. (``primary`` is kept so older modules still load; ``PRIMARY`` replaces it.)
    """

    name: str
    endpoint: str
    value: float
    verdict: str  # CONFIRMED or REFUTED (legacy "supported"/"equivalent"/"contradicted")
    detail: dict = field(default_factory=dict)
    primary: bool = False

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = _LEGACY.get(self.verdict, self.verdict)
        return data
