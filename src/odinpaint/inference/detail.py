"""The detail stage: structure from the model's smooth fill, texture from the photo itself.

    >>> from odinpaint.inference.detail import DetailConfig, add_detail
    >>> out = add_detail(img, hole, known)             # float32 (H, W, 3); ``img`` holds the smooth fill
    >>> out = add_detail(img, hole, known, scale=3.0)  # a fill predicted in windows 3x the model's size
    >>> out = add_detail(img, hole, known, DetailConfig(seed=1))

A fill trained for accuracy is the mean of every plausible fill: right in its colours and
shapes, flat inside (Blau & Michaeli, "The Perception-Distortion Tradeoff", CVPR 2018). This
stage gives it the photo's texture without moving those colours and shapes:

1. The image (smooth fill in the hole) is split at a Gaussian blur of ``sigma`` x ``scale``
   px into a low band (what the model predicts well) and a high band (what it cannot: grain,
   leaves, stones; in the hole the fill has almost none). ``scale`` is how much coarser than
   the photo the model saw the hole (its window over the model's size): the coarser, the
   more of the band the photo must give.
2. Spots on a grid of half a patch over the hole are filled in layers, from the hole's edge
   inward (onion peeling). A spot's descriptor is the low band around it (a ``grid`` x
   ``grid`` sample over two patches: the model's structure) and the high band already decided
   in its patch (the known photo at the edge, earlier layers further in). Every known spot
   whose patch and blur lie wholly in known pixels is a source, described the same way. Each
   target draws one of its ``candidates`` nearest sources, seeded, so that a flat sky is not
   one stamp repeated; ``coherence`` weighs continuing the texture against following the
   structure.
3. The sources' high bands are laid over the hole in overlapping Hann windows (they sum to 1
   at half a patch's step), times ``gain``, and added to the fill. The low band, the model's,
   stays as it was.

This is texture transfer guided by a prediction, as in image analogies (Hertzmann et al.,
SIGGRAPH 2001) and Image Melding (Darabi et al., SIGGRAPH 2012), with the nearest-neighbour
search done exhaustively, as matrix products over chunks of targets (no PatchMatch
iterations): 0.1-0.5 s for a 200x200 hole in a 1 MP photo. The settings are the ones that
measured best on the validation photos (docs/results/realism.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

MAX_SOURCES = 32768  # sources beyond this are taken on a coarser grid: the search stays under ~0.5 s
TARGET_CHUNK = 256  # targets per distance matrix (256 x 32768 floats = 32 MB each)


@dataclass(frozen=True)
class DetailConfig:
    sigma: float = 2.0    # px at scale 1: the blur that splits the model's band from the photo's
    patch: int = 16       # px at scale 1: side of a pasted detail patch; patches overlap by half
    grid: int = 5         # low-band samples per side of a spot's descriptor (over 2 patches)
    candidates: int = 4   # a target draws its source among this many nearest
    coherence: float = 1.0  # weight of continuing the texture already decided around a spot (0: the low band only)
    gain: float = 1.2     # scale of the added detail: blending overlapping patches averages ~1/6 of it out
    seed: int = 0         # the draw among candidates: the same input gives the same fill

    def __post_init__(self):
        if self.sigma <= 0 or self.patch < 4 or self.patch % 2 or self.grid < 2 or self.candidates < 1 or self.gain < 0 \
                or self.coherence < 0:
            raise ValueError(f"invalid detail config {self}: sigma > 0, an even patch >= 4, grid >= 2, "
                             "candidates >= 1, gain >= 0 and coherence >= 0")


def _hann(n: int) -> np.ndarray:
    """A window whose copies at a step of n/2 sum to 1."""
    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2


def _samples(img: torch.Tensor, ys: np.ndarray, xs: np.ndarray, oy: np.ndarray, ox: np.ndarray) -> torch.Tensor:
    """(N, len(oy) * C) samples of ``img`` (H, W, C) at each (y, x) plus the offsets (oy, ox)."""
    rows = torch.from_numpy((ys[:, None] + oy.ravel()[None]).astype(np.int64))
    cols = torch.from_numpy((xs[:, None] + ox.ravel()[None]).astype(np.int64))
    return img[rows, cols].flatten(1)


def add_detail(img: np.ndarray, hole: np.ndarray, known: np.ndarray, cfg: DetailConfig = DetailConfig(),
               scale: float = 1.0) -> np.ndarray:
    """``img`` (float32, H x W x 3, 0-255; its ``hole`` already smoothly filled) with texture
    from its ``known`` pixels added in ``hole``; a new array. ``scale`` multiplies ``sigma``
    and ``patch``: how much blurrier than the photo the fill is (the model's window over its
    size). When no known patch of that size fits (a small photo around a large hole), the
    scale is halved until one does. Pixels outside ``hole`` are untouched. Returns ``img``
    unchanged when none fits even at scale 1."""
    out = img.copy()
    if not hole.any():
        return out
    sigma = cfg.sigma * scale
    half = max(2, round(cfg.patch * scale / 2))
    sy, sx = _sources(known, sigma, half)
    if len(sy) == 0:  # no known patch this large: the photo's finer band, if one fits
        return add_detail(img, hole, known, cfg, scale / 2) if scale > 1 else out
    # The low band over valid pixels only (normalised convolution): pixels of other holes hold
    # no photo (or the very object being removed) and must not steer the search.
    valid = (known | hole).astype(np.float32)
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    low = blur(img * valid[..., None]) / np.maximum(blur(valid), 1e-6)[..., None]
    detail = _synthesize(low, img - low, hole, known, (sy, sx), _targets(hole, half), half, cfg)
    out[hole] += cfg.gain * detail[hole]
    return out


def _sources(known: np.ndarray, sigma: float, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the patches of side 2 * ``half`` that, with the blur under them, hold known
    pixels only: at most ``MAX_SOURCES``, on a coarser grid when there are more."""
    p = 2 * half
    blur_px = math.ceil(2 * sigma)
    clean = cv2.erode(known.astype(np.uint8), np.ones((2 * blur_px + 1,) * 2, np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0
    # a patch [y - half, y + half) lies in ``clean`` iff every pixel of it does: erode again, anchored
    ok = cv2.erode(clean.astype(np.uint8), np.ones((p, p), np.uint8), anchor=(half, half),
                   borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    sy, sx = np.nonzero(ok)
    if len(sy) > MAX_SOURCES:  # a coarser grid of sources, not a random subset: reproducible and even
        step = math.ceil(math.sqrt(len(sy) / MAX_SOURCES))
        keep = (sy % step == 0) & (sx % step == 0)
        sy, sx = sy[keep], sx[keep]
    return sy, sx


def _targets(hole: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (ty, tx) on a grid at half a patch's step over the hole's box whose patch meets
    the hole, and each one's layer: its depth into the hole in half-patches, so that the
    texture is laid from the hole's edge inward (onion peeling)."""
    h, w = hole.shape
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    gy = np.unique(np.minimum(np.arange(rows[0], rows[-1] + half + 1, half), h - 1))  # centres stay inside
    gx = np.unique(np.minimum(np.arange(cols[0], cols[-1] + half + 1, half), w - 1))
    ty, tx = (a.ravel() for a in np.meshgrid(gy, gx, indexing="ij"))
    integral = cv2.integral(hole.astype(np.uint8))
    y0, y1 = np.clip(ty - half, 0, h), np.clip(ty + half, 0, h)
    x0, x1 = np.clip(tx - half, 0, w), np.clip(tx + half, 0, w)
    meets = (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) > 0
    ty, tx = ty[meets], tx[meets]
    depth = cv2.distanceTransform(np.pad(hole.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return ty, tx, (depth[np.clip(ty, 0, h - 1), np.clip(tx, 0, w - 1)] // half).astype(np.int64)


def _synthesize(low: np.ndarray, high: np.ndarray, hole: np.ndarray, known: np.ndarray, sources, targets,
                half: int, cfg: DetailConfig) -> np.ndarray:
    """The hole's high band (H x W x 3): for each target, layer by layer, one of the
    ``candidates`` sources nearest in the low band and in the high band already decided around
    it, drawn with the seeded generator, laid in a Hann window. Every array is padded by a
    patch on every side, so that descriptors and pasted patches never leave it."""
    (sy, sx), (ty, tx, layer) = sources, targets
    h, w = hole.shape
    p = 2 * half
    pad = lambda x, mode="constant": np.pad(x, ((p, p), (p, p), (0, 0)), mode=mode)  # noqa: E731
    low_t = torch.from_numpy(pad(low, "edge"))
    high_t = torch.from_numpy(pad(np.where(known[..., None], high, 0).astype(np.float32)))
    have = torch.from_numpy(pad(known[..., None].astype(np.float32)))  # pixels whose high band is decided
    # Descriptors: the low band on a grid x grid sample over two patches (the model's structure
    # around the spot), and the patch's own high band on every other pixel (the texture it
    # must continue where it is already decided).
    lo_y, lo_x = np.meshgrid(*[np.linspace(-p, p, cfg.grid).round().astype(np.int64)] * 2, indexing="ij")
    hi_y, hi_x = np.meshgrid(*[np.arange(-half, half, max(2, p // 8))] * 2, indexing="ij")  # 8 x 8 at most
    src_low = _samples(low_t, sy + p, sx + p, lo_y, lo_x)
    src_high = _samples(high_t, sy + p, sx + p, hi_y, hi_x)
    src_high_sq = src_high ** 2

    gen = torch.Generator().manual_seed(cfg.seed)
    k = min(cfg.candidates, len(sy))
    win = torch.from_numpy(np.outer(_hann(p), _hann(p)).astype(np.float32))[..., None]
    acc = torch.zeros_like(high_t)
    wsum = torch.zeros_like(have)
    hole_t = torch.from_numpy(pad(hole[..., None].astype(np.float32))) > 0
    for level in np.unique(layer):
        ly, lx = ty[layer == level] + p, tx[layer == level] + p
        for c in range(0, len(ly), TARGET_CHUNK):
            cy, cx = ly[c : c + TARGET_CHUNK], lx[c : c + TARGET_CHUNK]
            dist = torch.cdist(_samples(low_t, cy, cx, lo_y, lo_x), src_low) ** 2 / src_low.shape[1]
            if cfg.coherence > 0:  # squared distance over the decided pixels only, as a mean
                m = _samples(have.expand(-1, -1, 3), cy, cx, hi_y, hi_x)
                t = _samples(high_t, cy, cx, hi_y, hi_x) * m
                masked = (t ** 2).sum(1, keepdim=True) - 2 * t @ src_high.T + m @ src_high_sq.T
                dist += cfg.coherence * masked / m.sum(1, keepdim=True).clamp(min=1)
            nearest = dist.topk(k, dim=1, largest=False).indices
            pick = nearest[torch.arange(len(nearest)), torch.randint(0, k, (len(nearest),), generator=gen)].numpy()
            for y, x, s in zip(cy, cx, pick):  # lay the sources' high bands in Hann windows
                acc[y - half : y + half, x - half : x + half] += win * high_t[sy[s] + p - half : sy[s] + p + half,
                                                                               sx[s] + p - half : sx[s] + p + half]
                wsum[y - half : y + half, x - half : x + half] += win
        # this layer's texture is decided: the next layers continue it. Only the box this layer
        # pasted into changed, so only it is updated (a 1500 px hole's crop is the whole photo).
        box = (slice(ly.min() - half, ly.max() + half), slice(lx.min() - half, lx.max() + half))
        laid = hole_t[box] & (wsum[box] > 0)
        high_t[box] = torch.where(laid, acc[box] / wsum[box].clamp(min=1e-6), high_t[box])
        have[box] = torch.where(laid, torch.ones_like(have[box]), have[box])
    return (acc / wsum.clamp(min=1e-6))[p : p + h, p : p + w].numpy()
