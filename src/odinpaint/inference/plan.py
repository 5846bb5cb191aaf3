"""Where the model looks: a hole mask turned into window jobs, with no model and no pixels.

    >>> from odinpaint.inference.plan import FillPolicy, Planner
    >>> planner = Planner(size=64, policy=FillPolicy())
    >>> for ys, xs, target in planner.clusters(hole, margin=6):  # groups of holes, each in its crop
    ...     level = planner.level(target[...], final=True)          # the windows of one resolution
    ...     level.coarse, level.jobs, level.refine

The planner is pure: the same mask gives the same jobs. ``odinpaint.inference.inpainter``
runs them (batches through the network, blending, coarse to fine) and ``FillPolicy`` holds
every constant of the window rules, so a study of one of them is a parameter, not an edit:

- a hole (or a tile's core) spans at most ``hole_share`` of its window's side;
- a window is at most ``max_downscale`` x the model's size; a hole too large for that is
  first filled at half the resolution (``LevelPlan.coarse``), recursively;
- a compact hole gets one window; one over ``thin`` x the window its thickness needs is
  tiled with windows sized by that thickness, whose cores overlap by ``tile_overlap``;
- a hole that took one window is predicted again in tiles ``refine`` x smaller (0: off);
- specks (at most a quarter of the model's size) share windows at the model's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FillPolicy:
    """The window rules' constants (see the module docstring). The defaults are the ones
    measured best on the validation photos (docs/results/quality.md)."""

    hole_share: float = 0.55     # a hole (or a tile's core) spans at most this share of its window's side
    max_downscale: float = 4.0   # windows larger than this x the model size lose too much detail
    thin: float = 2.0            # a hole is tiled when one window around it is over thin x its thickness's
    tile_overlap: float = 0.25   # tiles' cores overlap by this share of a core; the overlap is blended
    refine: float = 1.25         # a hole that took one window is predicted again in tiles this x smaller
    batch: int = 16              # windows per network call (times 8 with test-time averaging)

    def feather(self, shape: tuple[int, int]) -> int:
        """The seam band's width for an image of ``shape`` (H, W): 2 px, more past 768 px."""
        return max(2, round(min(shape) / 256))


@dataclass
class Job:
    """One window to predict: its square (y0, x0, side) in the level's image, the pixels it
    writes (``paste``, a bool array of the window clipped to the image) and, for tiles, their
    blending weights (None: the window alone fills ``paste``)."""

    y0: int
    x0: int
    side: int
    paste: np.ndarray
    weight: np.ndarray | None = None


@dataclass
class LevelPlan:
    """The work at one resolution: ``coarse`` marks the holes to fill first at half the
    resolution (None: none), ``jobs`` fill every hole of the level, and ``refine`` predicts
    the holes that took one window again, once ``jobs`` gave them a value."""

    coarse: np.ndarray | None
    jobs: list[Job]
    refine: list[Job]


class Planner:
    """Window jobs for a model of ``size`` px under ``policy``."""

    def __init__(self, size: int, policy: FillPolicy = FillPolicy()):
        self.size, self.policy = size, policy
        self.max_window = int(size * policy.max_downscale)
        self.core = int(policy.hole_share * self.max_window)  # the largest hole side one window takes
        self.tiny = int(policy.hole_share * size) // 2  # holes this small share windows (two fit one)

    def clusters(self, hole: np.ndarray, margin: int):
        """(row slice, column slice, target) for each group of holes whose crops (each hole's
        box plus what its windows need, plus ``margin``) overlap; ``target`` marks the group's
        own hole pixels in the crop (any other hole pixel in it belongs to another group)."""
        h, w = hole.shape
        rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        by, bx = rows[0], cols[0]
        box = hole[by : rows[-1] + 1, bx : cols[-1] + 1].astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(box, connectivity=8)
        # Each hole's crop: its box grown by what one window (or the coarsest pyramid window) needs.
        grown = []
        for x, y, bw, bh, _ in stats[1:]:
            side = max(bw, bh)
            g = math.ceil((max(side / self.policy.hole_share, self.size) - side) / 2) + margin
            grown.append((max(0, by + y - g), min(h, by + y + bh + g), max(0, bx + x - g), min(w, bx + x + bw + g)))
        if n == 2:  # one hole: the common case
            y0, y1, x0, x1 = grown[0]
            yield slice(y0, y1), slice(x0, x1), hole[y0:y1, x0:x1]
            return
        # Overlapping crops join one group: draw them and take connected groups of crops.
        canvas_y0, canvas_x0 = min(g[0] for g in grown), min(g[2] for g in grown)
        canvas = np.zeros((max(g[1] for g in grown) - canvas_y0, max(g[3] for g in grown) - canvas_x0), np.uint8)
        for y0, y1, x0, x1 in grown:
            canvas[y0 - canvas_y0 : y1 - canvas_y0, x0 - canvas_x0 : x1 - canvas_x0] = 1
        m, groups, gstats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        for i in range(1, m):
            x, y, gw, gh, _ = gstats[i]
            ys = slice(canvas_y0 + y, canvas_y0 + y + gh)
            xs = slice(canvas_x0 + x, canvas_x0 + x + gw)
            yield ys, xs, hole[ys, xs] & (groups[y : y + gh, x : x + gw] == i)

    def level(self, target: np.ndarray, final: bool = True) -> LevelPlan:
        """The jobs that fill ``target`` (a bool mask of one level's image). ``final``: the
        image's own resolution; the coarse passes below it only give the tiles context, so
        they take the largest windows (the thickness-sized tiles cost about 3x the time on a
        brush stroke, and run once)."""
        h, w = target.shape
        n, labels, stats, _ = cv2.connectedComponentsWithStats(target.astype(np.uint8), connectivity=8)
        big = [i for i in range(1, n) if max(stats[i, 2], stats[i, 3]) > self.core]
        p = self.policy
        jobs = self._tiny_hole_jobs(labels, stats, h, w)
        refine = []
        inside = None  # each hole pixel's distance to the nearest known one, when a hole needs it
        for i in range(1, n):
            x, y, bw, bh, _ = stats[i]
            if max(bw, bh) <= self.tiny:
                continue  # in a shared window
            side = max(self.size, math.ceil(max(bw, bh) / p.hole_share))  # one window around the whole hole
            # The window its thickness needs. On the validation photos at 256 px, tiles of this
            # size instead of the largest window gave strokes of 20-40% of the area +0.3 dB.
            tile = self.max_window
            if final and side > p.thin * self.size:  # (otherwise one window at most thin x coarser anyway)
                if inside is None:  # the image's edge is no context
                    inside = cv2.distanceTransform(np.pad(target.astype(np.uint8), 1, constant_values=1),
                                                   cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
                box = (slice(y, y + bh), slice(x, x + bw))
                thickness = 2 * float(inside[box][labels[box] == i].max())  # twice the largest inscribed radius
                tile = min(tile, max(self.size, math.ceil(thickness / p.hole_share)))
            if side <= min(p.thin * tile, self.max_window):  # compact enough: one window is not much coarser
                y0, x0 = place(y + bh / 2, x + bw / 2, side, h, w)
                jobs.append(Job(y0, x0, side, labels[y0 : y0 + side, x0 : x0 + side] == i))
                if p.refine and side >= p.refine * self.size:
                    refine += self._tile_jobs(labels, i, (y, x, bh, bw), math.ceil(side / p.refine), h, w)
                continue
            jobs += self._tile_jobs(labels, i, (y, x, bh, bw), tile, h, w)
        return LevelPlan(np.isin(labels, big) if big else None, jobs, refine)

    def _tiny_hole_jobs(self, labels: np.ndarray, stats: np.ndarray, h: int, w: int) -> list[Job]:
        """Windows for holes of at most ``tiny`` px, shared by the holes whose boxes start in the
        same ``tiny`` px cell: they fit one window at the model's own size together, as each
        would alone, so a mask of specks costs windows per area, not per speck."""
        cells: dict[tuple[int, int], list[int]] = {}
        for i in np.flatnonzero(np.maximum(stats[1:, 2], stats[1:, 3]) <= self.tiny) + 1:
            cells.setdefault((stats[i, 1] // self.tiny, stats[i, 0] // self.tiny), []).append(int(i))
        jobs = []
        s = self.size
        for ids in cells.values():
            x0, y0 = stats[ids, 0].min(), stats[ids, 1].min()
            x1, y1 = (stats[ids, 0] + stats[ids, 2]).max(), (stats[ids, 1] + stats[ids, 3]).max()
            wy, wx = place((y0 + y1) / 2, (x0 + x1) / 2, s, h, w)
            window = labels[wy : wy + s, wx : wx + s]
            jobs.append(Job(wy, wx, s, np.isin(window, ids) if len(ids) > 1 else window == ids[0]))
        return jobs

    def _tile_jobs(self, labels: np.ndarray, i: int, box: tuple[int, int, int, int], tile: int,
                   h: int, w: int) -> list[Job]:
        """Windows of side ``tile`` over hole ``i`` of ``labels`` (box (y, x, h, w)) in an h x w
        image: each predicts its core (``hole_share`` of the tile), and the cores' overlaps are
        blended."""
        c = int(self.policy.hole_share * tile)
        jobs = []
        for cy, cx, core in cover(labels, i, box, c, self.policy.tile_overlap):
            y0, x0 = place(cy + c / 2, cx + c / 2, tile, h, w)
            paste = np.zeros((min(tile, h - y0), min(tile, w - x0)), bool)
            weight = np.zeros(paste.shape, np.float32)
            py, px = cy - y0, cx - x0
            paste[py : py + core.shape[0], px : px + core.shape[1]] = core
            weight[py : py + core.shape[0], px : px + core.shape[1]] = tent(core.shape, c * self.policy.tile_overlap)
            jobs.append(Job(y0, x0, tile, paste, weight))
        return jobs


def place(cy: float, cx: float, side: int, h: int, w: int) -> tuple[int, int]:
    """The corner of a ``side`` window centred near (cy, cx), shifted to stay inside an h x w
    image when it fits (else it overhangs at the bottom right and is padded)."""
    y0 = min(max(0, int(round(cy - side / 2))), max(0, h - side))
    x0 = min(max(0, int(round(cx - side / 2))), max(0, w - side))
    return y0, x0


def starts(lo: int, length: int, core: int, overlap: float) -> list[int]:
    """Starts of cores of side ``core`` that cover [lo, lo + length), overlapping by at least
    ``overlap`` of a core, spread evenly."""
    if length <= core:
        return [lo]
    n = math.ceil((length - core) / (core * (1 - overlap))) + 1
    return [int(round(v)) for v in np.linspace(lo, lo + length - core, n)]


def cover(labels: np.ndarray, i: int, box: tuple[int, int, int, int], c: int,
          overlap: float) -> list[tuple[int, int, np.ndarray]]:
    """Cores of side ``c`` (top, left, the pixels of hole ``i`` of ``labels`` in the core) that
    together hold all of hole ``i``, whose box is ``box`` (y, x, h, w): a grid over the box,
    overlapping by ``overlap``, keeping the cores that hold hole pixels, less each core whose
    hole pixels all lie in other cores kept (the emptiest are tried first). A stroke that
    grazes a grid core's corner is left to its neighbours: on a 15 px stroke across a 1 MP
    photo, 147 grid cores touch the stroke and 85 are kept."""
    y, x, bh, bw = box
    cores = [(cy, cx, labels[cy : cy + c, cx : cx + c] == i)
             for cy in starts(y, bh, c, overlap) for cx in starts(x, bw, c, overlap)]
    cores = [t for t in cores if t[2].any()]
    count = np.zeros((bh + c, bw + c), np.int16)  # cores holding each pixel of the box (a core may overhang it)
    for cy, cx, core in cores:
        count[cy - y : cy - y + core.shape[0], cx - x : cx - x + core.shape[1]] += core
    keep = [True] * len(cores)
    for k in sorted(range(len(cores)), key=lambda k: int(cores[k][2].sum())):
        cy, cx, core = cores[k]
        region = count[cy - y : cy - y + core.shape[0], cx - x : cx - x + core.shape[1]]
        if (region[core] > 1).all():
            region[core] -= 1
            keep[k] = False
    return [t for t, kept in zip(cores, keep) if kept]


def tent(shape: tuple[int, int], ramp: float) -> np.ndarray:
    """Blending weights over a tile's core: 1 at its edges, rising over ``ramp`` px inward."""
    def ramp1d(n):
        i = np.arange(n, dtype=np.float32)
        return np.clip(np.minimum(i + 1, n - i), 1, max(1.0, ramp))
    return np.outer(ramp1d(shape[0]), ramp1d(shape[1]))
