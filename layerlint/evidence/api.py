"""What an evidence module declares. Torch-free, so reports can be read without torch.

A module ``layerlint.rules.<folder>.evidence`` defines:

- ``CODE``: the rule code.
- ``ARMS``: names of the arms trained for every seed (flagged arm first).
- ``PAIRED_INIT``: True when every arm starts from identical weights (the harness and
  the tests check the ``init_hash`` each arm reports).
- ``SEEDS``: seeds per mode, e.g. ``{"smoke": 2, "quick": 10, "full": 20}``.
- ``COMPARISONS``: ``Comparison`` objects; the first is the primary endpoint unless an
  exact check is marked primary.
- ``run_arm(ctx, seed, arm) -> dict[str, float]``: train/measure one arm for one seed.
- optionally ``exact(ctx) -> list[ExactCheck]``: deterministic checks, no training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Comparison", "ExactCheck"]


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
    """A deterministic measurement that decides a claim without training."""

    name: str
    endpoint: str
    value: float
    verdict: str  # "supported", "equivalent", "contradicted" (always exact)
    detail: dict = field(default_factory=dict)
    primary: bool = False

    def to_dict(self) -> dict:
        return asdict(self)
