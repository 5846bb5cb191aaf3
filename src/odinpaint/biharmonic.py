"""Biharmonic inpainting: scikit-image's for one image, and a batch's, exact and fast for
rectangular holes (the training masks).

    >>> from odinpaint.biharmonic import biharmonic, biharmonic_fill
    >>> out = biharmonic(image, hole)             # uint8 (H, W, 3), bool (H, W): scikit-image
    >>> filled = biharmonic_fill(images, holes)   # uint8 (N, H, W, 3), bool (N, H, W)

scikit-image's ``inpaint_biharmonic`` solves, for every hole pixel p, ``(L L u)(p) = 0`` with
the known pixels fixed, L being the image grid's 5-point graph Laplacian (its border stencils,
``laplace(laplace(delta))`` in reflect mode, are the rows of that matrix). It builds and
factorises that sparse system for every image: about 1 ms for a 9 px square hole in a 64 px
image, 7 ms for a 45 px one.

That system only couples a hole pixel to pixels at most 2 px away, so for a rectangular hole
its matrix depends on nothing but the rectangle's size and how close (0, 1, or 2 and more px)
it lies to each image edge. For each such shape the solution operator, hole values =
``M @ ring values`` (the ring being the known pixels within 2 px of the hole), is computed
once with a sparse LU solve and cached; every image with that shape is then filled by one
matrix product per batch, and clipped, as scikit-image does, to its known pixels' range. The
answer is scikit-image's, up to float rounding. Holes of any other shape (free-form strokes,
several holes) go to scikit-image.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu
from skimage.restoration import inpaint_biharmonic

RING = 2  # the biharmonic stencil's reach: pixels farther from the hole do not enter its system


def biharmonic(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Biharmonic-equation inpainting of one image (scikit-image): the reference answer."""
    if not hole.any():
        return image.copy()
    out = inpaint_biharmonic(image, hole.astype(bool), channel_axis=-1)
    return np.clip(out * 255.0, 0, 255).round().astype(np.uint8)


def _graph_laplacian(h: int, w: int) -> sparse.csc_array:
    """5-point graph Laplacian of an h x w grid (minus the degree on the diagonal: mirrored edges)."""
    idx = np.arange(h * w).reshape(h, w)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    adj = sparse.coo_array((np.ones(2 * len(a)), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(h * w,) * 2)
    return (adj - sparse.diags_array(adj.sum(axis=1))).tocsc()


CACHE_BYTES = 1 << 30  # solution operators kept (all the shapes of 64 px training take about 0.8 GB)
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _cached_operator(key: tuple) -> tuple[torch.Tensor, np.ndarray]:
    """``_operator(*key)``, least recently used shapes dropped beyond ``CACHE_BYTES``. Locked:
    the server fills on several threads."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        _cache[key] = value = _operator(*key)
        while sum(m.numel() * 4 for m, _ in _cache.values()) > CACHE_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
        return value


def _operator(hh: int, hw: int, top: int, bottom: int, left: int, right: int) -> tuple[torch.Tensor, np.ndarray]:
    """For an hh x hw hole with ``top`` ... ``right`` px (at most RING) of image around it:
    M transposed (ring pixels x hole pixels, float32) and the ring's flat indices in that small
    grid.
    (A 45 px square, the largest hole of a 64 px training image, takes about 50 ms, once.)"""
    gh, gw = hh + top + bottom, hw + left + right
    hole = np.zeros((gh, gw), bool)
    hole[top : top + hh, left : left + hw] = True
    lap = _graph_laplacian(gh, gw)
    bih = (lap @ lap).tocsc()
    inside, outside = np.flatnonzero(hole), np.flatnonzero(~hole)
    a = bih[inside][:, inside].tocsc()
    b = bih[inside][:, outside].toarray()
    m = -splu(a).solve(b)
    return torch.from_numpy(m.T.astype(np.float32)), outside


def _rectangles(holes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each hole's bounding box (y0, y1, x0, x1) as an (N, 4) array, and whether the hole is
    exactly that box (one filled axis-aligned rectangle)."""
    rows, cols = holes.any(2), holes.any(1)
    h, w = holes.shape[1:]
    y0, x0 = rows.argmax(1), cols.argmax(1)
    y1, x1 = h - rows[:, ::-1].argmax(1), w - cols[:, ::-1].argmax(1)
    boxes = np.stack([y0, y1, x0, x1], axis=1)
    return boxes, rows.any(1) & (holes.sum(axis=(1, 2)) == (y1 - y0) * (x1 - x0))


def biharmonic_fill(images: np.ndarray, holes: np.ndarray, map_fn=map) -> np.ndarray:
    """``images`` (N, H, W, 3) uint8 with each ``holes`` (N, H, W) bool filled biharmonically,
    as scikit-image does, rounded to uint8. Holes that are not one rectangle are filled by
    scikit-image through ``map_fn`` (a thread pool's ``map`` runs them in parallel)."""
    out = images.copy()
    groups: dict[tuple, list] = {}
    boxes, is_rectangle = _rectangles(holes)
    others = [i for i in np.flatnonzero(~is_rectangle) if holes[i].any()]
    h, w = holes.shape[1:]
    for i in np.flatnonzero(is_rectangle):
        y0, y1, x0, x1 = (int(v) for v in boxes[i])
        top, bottom, left, right = min(y0, RING), min(h - y1, RING), min(x0, RING), min(w - x1, RING)
        key = (y1 - y0, x1 - x0, top, bottom, left, right)
        groups.setdefault(key, []).append((i, y0 - top, x0 - left))
    # As scikit-image does, each channel is clipped to the range of the image's known pixels
    # (the biharmonic solution overshoots near strong edges). In torch: numpy's uint8 minimum
    # over the middle axes of a batch takes 10 ms, longer than the rest of the fill.
    pics, hidden = torch.from_numpy(out), torch.from_numpy(holes.copy())[..., None]
    lows = pics.masked_fill(hidden, 255).amin((1, 2)).numpy()
    highs = pics.masked_fill(hidden, 0).amax((1, 2)).numpy()
    for i, filled in zip(others, map_fn(biharmonic, images[others], holes[others])):
        out[i] = filled
    for key, members in groups.items():
        m, ring = _cached_operator(key)
        hh, hw, top, bottom, left, right = key
        gh, gw = hh + top + bottom, hw + left + right
        crops = np.stack([images[i, y : y + gh, x : x + gw] for i, y, x in members]).reshape(len(members), gh * gw, 3)
        # one matrix product for the whole group: (images x channels, ring) @ (ring, hole).
        # Transposed because with so few rows per group torch's (hole, ring) @ (ring, few)
        # is 3x slower: its skinny path does not stream the operator at memory speed.
        known = torch.from_numpy(np.ascontiguousarray(crops[:, ring].transpose(0, 2, 1)).reshape(-1, len(ring))
                                 .astype(np.float32))
        filled = (known @ m).round_().numpy().reshape(len(members), 3, hh, hw)
        for k, (i, y, x) in enumerate(members):
            values = np.clip(filled[k].transpose(1, 2, 0), lows[i], highs[i])
            out[i, y + top : y + top + hh, x + left : x + left + hw] = values.astype(np.uint8)
    return out
