"""How each batch is split between the five difficulty levels.

On-demand learning (Gao & Grauman 2017): level i gets
``B_i = B * (1/P_i)^k / sum_j (1/P_j)^k`` of a batch of B, where P_i is level i's mean PSNR
(k = 1 is the paper's formula; k > 1 is a sharper variant). Counts are rounded by largest
remainder so they sum to B, and every level keeps at least one sample so it stays measured.

    >>> s = make_schedule("on-demand", batch=90)
    >>> s.counts
    [18, 18, 18, 18, 18]
    >>> s.update([40, 30, 25, 21, 18]); s.counts
    [11, 15, 18, 21, 25]
    >>> masks, levels = s.sample(64, rng)        # (90, 64, 64) uint8, (90,) levels 1..5

Other schedules share the interface: ``uniform`` (equal split), ``fixed:L`` (level L only;
``fixed:5`` is the report's 90 px model) and ``random`` (side uniform over the full range).
"""

from __future__ import annotations

import numpy as np

from odinpaint import masks as masklib
from odinpaint.errors import UserError

N = masklib.NUM_LEVELS
MIN_PSNR = 1e-3  # zero-PSNR protection: 1/P stays finite


def largest_remainder(shares: np.ndarray, total: int, minimum: int = 0) -> list[int]:
    """Integer counts proportional to ``shares`` summing to ``total``, each >= ``minimum``.

    The floor of each exact share, then the leftover units to the largest fractional parts
    (ties to the lower level); then levels under the minimum take units from the largest."""
    shares = np.asarray(shares, dtype=float)
    if total < minimum * len(shares):
        raise UserError(f"batch {total} cannot give {minimum} sample(s) to each of {len(shares)} levels")
    exact = shares / shares.sum() * total
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    for i in range(len(counts)):
        while counts[i] < minimum:
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[i] += 1
    return [int(c) for c in counts]


def on_demand_counts(psnr, batch: int, power: float = 1.0, minimum: int = 1) -> list[int]:
    """The on-demand allocation for per-level mean PSNRs ``psnr`` (dB)."""
    p = np.maximum(np.nan_to_num(np.asarray(psnr, dtype=float), nan=MIN_PSNR), MIN_PSNR)
    return largest_remainder((1.0 / p) ** power, batch, minimum)


class Schedule:
    """Per-level batch composition. ``counts`` is None for schedules that draw sizes freely."""

    name = "base"
    adaptive = False  # does it use PSNR feedback (update)?

    def __init__(self, batch: int):
        if batch < 1:
            raise UserError(f"batch must be positive, got {batch}")
        self.batch = batch
        self.counts: list[int] | None = None

    def sample(self, size: int, rng: np.random.Generator, kind: str = "square"):
        """Masks (B, size, size) uint8 and their levels (B,) for one batch, in level order."""
        levels = np.repeat(np.arange(1, N + 1), self.counts)
        m = np.concatenate([masklib.level_masks(kind, size, lv, c, rng) for lv, c in zip(range(1, N + 1), self.counts)])
        return m, levels

    def update(self, psnr) -> None:
        """Feedback: mean PSNR per level (a length-5 sequence; NaN where unmeasured)."""

    def state_dict(self) -> dict:
        return {"name": self.name, "counts": self.counts}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise UserError(f"schedule state is for {state.get('name')!r}, not {self.name!r}")
        self.counts = state["counts"]


class Uniform(Schedule):
    name = "uniform"

    def __init__(self, batch: int):
        super().__init__(batch)
        self.counts = largest_remainder(np.ones(N), batch)


class Fixed(Schedule):
    def __init__(self, batch: int, level: int):
        super().__init__(batch)
        if not 1 <= level <= N:
            raise UserError(f"schedule fixed:L needs a level 1..{N}, got {level}")
        self.name = f"fixed:{level}"
        self.counts = [batch if i == level else 0 for i in range(1, N + 1)]


class RandomSize(Schedule):
    """Square side uniform over the whole range (the report's test distribution); each
    sample's level is the level its side falls in, for per-level logging."""

    name = "random"

    def sample(self, size: int, rng: np.random.Generator, kind: str = "square"):
        if kind != "square":
            raise UserError("schedule 'random' draws square sides; use another schedule for free-form masks")
        m = masklib.mixed_masks(size, self.batch, rng)
        sides = np.sqrt(m.reshape(len(m), -1).sum(1)).round().astype(int)
        his = [masklib.level_range(lv, size)[1] for lv in range(1, N + 1)]
        return m, np.searchsorted(his, sides) + 1


class OnDemand(Schedule):
    name = "on-demand"
    adaptive = True

    def __init__(self, batch: int, power: float = 1.0):
        super().__init__(batch)
        if batch < N:
            raise UserError(f"on-demand needs a batch of at least {N} (one sample per level), got {batch}")
        self.power = power
        self.counts = largest_remainder(np.ones(N), batch)
        self.psnr = [float("nan")] * N  # last measured per-level PSNR

    def update(self, psnr) -> None:
        # A level not measured this time keeps its last value.
        self.psnr = [old if np.isnan(new) else float(new) for old, new in zip(self.psnr, psnr)]
        if not any(np.isnan(self.psnr)):
            self.counts = on_demand_counts(self.psnr, self.batch, self.power)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "psnr": self.psnr, "power": self.power}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.psnr, self.power = state["psnr"], state["power"]


SCHEDULES = ("on-demand", "uniform", "fixed:L", "random")


def make_schedule(spec: str, batch: int, power: float = 1.0) -> Schedule:
    """``on-demand`` | ``uniform`` | ``fixed:L`` | ``random``."""
    if spec == "on-demand":
        return OnDemand(batch, power)
    if spec == "uniform":
        return Uniform(batch)
    if spec == "random":
        return RandomSize(batch)
    if spec.startswith("fixed:"):
        try:
            level = int(spec.split(":", 1)[1])
        except ValueError:
            raise UserError(f"schedule {spec!r}: fixed:L needs an integer level") from None
        return Fixed(batch, level)
    raise UserError(f"unknown schedule {spec!r}; known: {', '.join(SCHEDULES)}")
