"""Hole masks: the five on-demand difficulty levels, the report's mixed test set, free-form strokes.

Every mask is a uint8 array (H, W) with 1 = hole. Every generator takes an explicit
``numpy.random.Generator``, so the same seed gives the same masks byte for byte.

    >>> import numpy as np
    >>> from odinpaint import masks
    >>> masks.level_range(3, 64)           # side lengths of level-3 squares at 64 px
    (19, 27)
    >>> rng = np.random.default_rng(0)
    >>> m = masks.square_masks(64, level=5, n=8, rng=rng)   # (8, 64, 64) uint8
    >>> ev = masks.eval_masks(64, n=100, seed=1234)         # {1: ..., 5: ..., "mixed": ...}
"""

from __future__ import annotations

import numpy as np
import cv2

from odinpaint.errors import UserError

NUM_LEVELS = 5
# Side-length ranges of the square holes at 128 px (Gao & Grauman; the report).
LEVELS_128 = ((1, 18), (19, 36), (37, 54), (55, 72), (73, 90))
# Free-form levels are hole-area fractions, for masks that are not squares.
FREEFORM_AREA = ((0.01, 0.10), (0.10, 0.20), (0.20, 0.30), (0.30, 0.40), (0.40, 0.50))
EVAL_SEED = 20170101  # fixed seed of the evaluation masks: every arm sees the same holes


def _check_level(level: int) -> None:
    if not 1 <= level <= NUM_LEVELS:
        raise UserError(f"level must be 1..{NUM_LEVELS}, got {level}")


def level_range(level: int, size: int) -> tuple[int, int]:
    """Inclusive side-length range of level ``level`` squares on ``size`` px images.

    The 128 px ranges are scaled by size/128 so that consecutive levels stay contiguous:
    64 px gives 1-9, 10-18, 19-27, 28-36, 37-45.
    """
    _check_level(level)
    lo128, hi128 = LEVELS_128[level - 1]
    scale = size / 128
    lo = int(np.floor((lo128 - 1) * scale)) + 1
    hi = max(lo, int(np.floor(hi128 * scale)))
    return lo, min(hi, size)


def max_side(size: int) -> int:
    """Largest hole side of the hardest level (90 px at 128 px)."""
    return level_range(NUM_LEVELS, size)[1]


def _squares(size: int, lo: int, hi: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` square holes, side uniform in [lo, hi], placed uniformly fully inside the image.

    Side and position are drawn mask by mask, so the first k masks of a longer set equal
    a set of k: changing how many masks are drawn never shifts the others."""
    out = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        s = int(rng.integers(lo, hi + 1))
        y, x = rng.integers(0, size - s + 1, size=2)
        out[i, y : y + s, x : x + s] = 1
    return out


def square_masks(size: int, level: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` square holes of difficulty ``level`` (1..5): (n, size, size) uint8."""
    return _squares(size, *level_range(level, size), n, rng)


def mixed_masks(size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """The report's test distribution: square side uniform over the whole 1..max range."""
    return _squares(size, 1, max_side(size), n, rng)


def freeform_mask(size: int, level: int, rng: np.random.Generator, max_tries: int = 200) -> np.ndarray:
    """One free-form mask (thick random strokes plus boxes, LaMa style) whose hole area
    fraction lies in the level's range (FREEFORM_AREA)."""
    _check_level(level)
    lo, hi = FREEFORM_AREA[level - 1]
    for _ in range(max_tries):
        m = np.zeros((size, size), dtype=np.uint8)
        while m.mean() < lo:
            if rng.random() < 0.75:  # a stroke: a few connected thick segments
                x, y = rng.integers(0, size, size=2)
                width = int(rng.integers(max(1, size // 32), max(2, size // 8) + 1))
                for _ in range(int(rng.integers(1, 5))):
                    angle = rng.uniform(0, 2 * np.pi)
                    length = rng.uniform(size / 8, size / 2)
                    nx = int(np.clip(x + length * np.cos(angle), 0, size - 1))
                    ny = int(np.clip(y + length * np.sin(angle), 0, size - 1))
                    cv2.line(m, (int(x), int(y)), (nx, ny), 1, width)
                    x, y = nx, ny
            else:  # a box
                w, h = rng.integers(max(1, size // 16), size // 3 + 1, size=2)
                x0, y0 = rng.integers(0, size - w + 1), rng.integers(0, size - h + 1)
                m[y0 : y0 + h, x0 : x0 + w] = 1
        if m.mean() <= hi:
            return m
    raise RuntimeError(f"could not draw a free-form mask of level {level} at {size} px")


def freeform_masks(size: int, level: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([freeform_mask(size, level, rng) for _ in range(n)]) if n else np.zeros((0, size, size), np.uint8)


# The kinds of hole a training run or an evaluation can draw: the config's and the CLI's choices.
MASK_KINDS = {"square": square_masks, "freeform": freeform_masks}


def level_masks(kind: str, size: int, level: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` masks of ``kind`` (one of MASK_KINDS) at difficulty ``level``."""
    if kind not in MASK_KINDS:
        raise UserError(f"unknown mask kind {kind!r}; known: {', '.join(MASK_KINDS)}")
    return MASK_KINDS[kind](size, level, n, rng)


def eval_masks(size: int, n: int, seed: int = EVAL_SEED, kind: str = "square") -> dict:
    """The fixed evaluation set: ``n`` masks for each level 1..5 and for "mixed".

    Each level draws from its own generator derived from ``seed``, so adding a level or
    changing ``n`` for one never shifts the masks of another.
    """
    out: dict = {}
    for level in range(1, NUM_LEVELS + 1):
        out[level] = level_masks(kind, size, level, n, np.random.default_rng([seed, level]))
    out["mixed"] = mixed_masks(size, n, np.random.default_rng([seed, 0]))
    return out
