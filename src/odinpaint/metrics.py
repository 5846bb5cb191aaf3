"""Inpainting metrics: pure functions over tensors, one value per image.

Images are float (N, 3, H, W) in [-1, 1] (the batch-dict convention); masks (N, 1, H, W),
1 = hole. PSNR and SSIM come from torchmetrics (tests check them against scikit-image).

    >>> from odinpaint import metrics
    >>> per_image = metrics.image_metrics(inpainted, image, mask)   # dict of (N,) tensors
    >>> metrics.summarize(per_image)                                 # dict of floats

- ``psnr``: whole image, dB (the report's figure);
- ``psnr_hole``: the hole alone, dB;
- ``ssim``: whole image;
- ``l1_hole``: mean absolute error in the hole, 8-bit grey levels;
- ``bias_hole``: mean (prediction - truth) in the hole, grey levels: the "dark fill" failure;
- ``border_err``: mean absolute error on the 2-px band just inside the hole edge, grey
  levels: the "visible border" failure;
- ``psnr_known``: the *raw* prediction over the known pixels, dB: how faithfully a model
  reproduces the context it was given (the report's "sharper outside the hole"). Users never
  see these pixels; a method that returns them untouched scores the cap.

Realism, on uint8 photos (PSNR alone rewards a blur):

    >>> metrics.swd(filled, truth, hole)   # 0 = the truth's patch statistics; lower is more photo-like
    >>> metrics.hf(filled, truth, hole)    # detail in the hole as a share of the truth's: 1 = as detailed
    >>> metrics.hf([f1, f2], [t1, t2], [h1, h2])   # pooled: the ratio of the mean details

- ``swd``: ProGAN's multi-scale sliced Wasserstein distance between 7x7 patches of the fill
  and of the truth in the hole, on Laplacian-pyramid levels; lists of photos pool patches;
- ``hf``: the finest Laplacian band's energy in the hole, the fill's over the truth's.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

PSNR_CAP = 100.0  # a perfect reconstruction would be +inf dB; cap it so means stay finite
BORDER_PX = 2
METRICS = ("psnr_hole", "psnr", "ssim", "l1_hole", "bias_hole", "border_err", "psnr_known")
HIGHER_IS_BETTER = {"psnr_hole": True, "psnr": True, "ssim": True, "l1_hole": False,
                    "bias_hole": None, "border_err": False, "psnr_known": True,  # bias: closest to 0 is best
                    "hf": 1.0, "swd": False}  # hf: closest to 1 (the photo's own detail) is best


def composite(pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What users see: the prediction in the hole, the known pixels everywhere else."""
    return pred * mask + image * (1 - mask)


def _cap(p: torch.Tensor) -> torch.Tensor:
    return p.nan_to_num(PSNR_CAP, posinf=PSNR_CAP).clamp(max=PSNR_CAP)


def _psnr_uncapped(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return peak_signal_noise_ratio((pred.float() + 1) / 2, (target.float() + 1) / 2, data_range=1.0,
                                   reduction="none", dim=(1, 2, 3))


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Whole-image PSNR per image, dB, for images in [-1, 1]."""
    return _cap(_psnr_uncapped(pred, target))


def hole_fraction(mask: torch.Tensor) -> torch.Tensor:
    return mask.flatten(1).mean(1)


def psnr_hole(inpainted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR over the hole alone. ``inpainted`` must be composited: then all its error lies in
    the hole, so MSE_hole = MSE_image / hole_fraction and the library's whole-image PSNR
    converts exactly."""
    frac = hole_fraction(mask).clamp(min=1e-12)
    return _cap(_psnr_uncapped(inpainted, target) + 10 * torch.log10(frac))


def border_band(mask: torch.Tensor, width: int = BORDER_PX) -> torch.Tensor:
    """The ``width``-px band just inside the hole edge (mask minus its erosion)."""
    eroded = -F.max_pool2d(-mask, kernel_size=2 * width + 1, stride=1, padding=width)
    return mask - eroded


def masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Each sample's mean of ``x`` where ``m`` is set, shape (N,); 0 for an empty mask. The
    metrics here and the training losses (odinpaint.training.steps) both average through it."""
    m = m.expand_as(x)
    return (x * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)


def channel_bias(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sample's mean (prediction - truth) in the hole per channel, grey levels, shape
    (N, C): which way a fill's colour leans (a reddish fill has a positive R bias)."""
    diff = (pred.float() - target.float()) * 127.5
    m = mask.float()
    return (diff * m).flatten(2).sum(2) / m.flatten(2).sum(2).clamp(min=1)


def image_metrics(pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric, per image, for a prediction (composited here) against the truth."""
    pred, image, mask = pred.float(), image.float(), mask.float()
    out = composite(pred.clamp(-1, 1), image, mask)
    diff = (out - image) * 127.5  # grey levels
    ssim = structural_similarity_index_measure((out + 1) / 2, (image + 1) / 2, data_range=1.0, reduction="none")
    return {
        "psnr_hole": psnr_hole(out, image, mask),
        "psnr": psnr(out, image),
        "ssim": ssim,
        "l1_hole": masked_mean(diff.abs(), mask),
        "bias_hole": masked_mean(diff, mask),
        "border_err": masked_mean(diff.abs(), border_band(mask)),
        "psnr_known": psnr_hole(composite(image, pred.clamp(-1, 1), mask), image, 1 - mask),
    }


def summarize(per_image: dict[str, torch.Tensor]) -> dict[str, float]:
    """Means over images."""
    return {k: float(v.double().mean()) for k, v in per_image.items()}


def better(metric: str, a: float, b: float) -> bool:
    """Is ``a`` a better value of ``metric`` than ``b``?"""
    hib = HIGHER_IS_BETTER[metric]
    if hib is None:
        return abs(a) < abs(b)
    if not isinstance(hib, bool):  # a target value: the closer the better
        return abs(a - hib) < abs(b - hib)
    return a > b if hib else a < b


# ---------------------------------------------------------------- realism
# PSNR rewards the mean of all plausible fills, which is a blur (Blau & Michaeli, CVPR 2018).
# These two measure how photo-like a fill is, with no downloaded weights. Both take uint8
# (H, W, 3) photos, already composited, and a bool hole; ``swd`` also takes lists of them, and
# pools their patches (at 64 px one hole holds too few patches, as ProGAN pools a data set).
SWD_LEVELS = 3         # the finest Laplacian-pyramid levels compared
SWD_PATCH = 7          # patch side, px (ProGAN's descriptors)
SWD_ERODE = 2          # px the hole is eroded by at each level: patch centres lie well inside it
SWD_PROJECTIONS = 256  # random unit directions of the sliced distance
SWD_MAX_PATCHES = 8192  # per level: a seeded subset beyond this (a 512 px photo's 47% square holds 57k)


def _laplacian(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finest Laplacian band, the next level's image) of a float32 (H, W, 3) image."""
    down = cv2.pyrDown(img)
    return img - cv2.pyrUp(down, dstsize=(img.shape[1], img.shape[0])), down


def _shrink(hole: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The hole at a coarser level: a pixel is a hole if any pixel under it is."""
    return cv2.resize(hole.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0


def _erode(hole: np.ndarray, px: int) -> np.ndarray:
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.erode(hole.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def _patches(band: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The (N, SWD_PATCH * SWD_PATCH * 3) patches of ``band`` centred on ``centres`` (bool)."""
    r = SWD_PATCH // 2
    padded = np.pad(band, ((r, r), (r, r), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (SWD_PATCH, SWD_PATCH), axis=(0, 1))
    return windows[centres].transpose(0, 2, 3, 1).reshape(-1, SWD_PATCH * SWD_PATCH * 3)  # (N, 7, 7, 3) flat


def realism_patches(fill: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per Laplacian level (finest first): the fill's and the truth's patches centred in the
    eroded hole, as two (N, 147) arrays with the same centres."""
    a, b = fill.astype(np.float32), truth.astype(np.float32)
    out = []
    for _ in range(SWD_LEVELS):
        (la, a), (lb, b) = _laplacian(a), _laplacian(b)
        centres = _erode(_shrink(hole, la.shape[:2]), SWD_ERODE)
        out.append((_patches(la, centres), _patches(lb, centres)))
    return out


def _items(fill, truth, hole) -> list[tuple]:
    """(fill, truth, hole) triples from one photo's arrays or from lists of them."""
    return list(zip(fill, truth, hole)) if isinstance(fill, (list, tuple)) else [(fill, truth, hole)]


def nanmean(values) -> float:
    """The mean of the values that are not NaN (a hole too thin for a realism measure); NaN if none is."""
    v = np.asarray(values, np.float64)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = SWD_PROJECTIONS, seed: int = 0) -> float:
    """The sliced Wasserstein distance between two equal-sized sets of vectors (N, D): their
    1-D distributions along random unit directions, compared quantile by quantile."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((a.shape[1], projections)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def swd(fill, truth, hole, seed: int = 0) -> float:
    """ProGAN's multi-scale sliced Wasserstein distance (Karras et al., ICLR 2018) between the
    7x7 patches of the fill and of the truth in the hole, on the three finest Laplacian levels,
    each level's two sets scaled by their joint per-channel mean and standard deviation,
    averaged over the levels that hold patches. 0 for the truth itself; larger is less like
    it. Lists of photos pool their patches per level. NaN when no level holds a patch."""
    per_level = [realism_patches(*item) for item in _items(fill, truth, hole)]
    rng = np.random.default_rng(seed)
    dists = []
    for level in range(SWD_LEVELS):
        a = np.concatenate([p[level][0] for p in per_level])
        b = np.concatenate([p[level][1] for p in per_level])
        if len(a) == 0:
            continue
        if len(a) > SWD_MAX_PATCHES:
            keep = rng.choice(len(a), SWD_MAX_PATCHES, replace=False)
            a, b = a[keep], b[keep]
        both = np.concatenate([a, b]).reshape(-1, SWD_PATCH * SWD_PATCH, 3)
        mean, std = both.mean(axis=(0, 1)), both.std(axis=(0, 1)) + 1e-6  # per colour channel
        a = ((a.reshape(-1, SWD_PATCH * SWD_PATCH, 3) - mean) / std).reshape(len(a), -1)
        b = ((b.reshape(-1, SWD_PATCH * SWD_PATCH, 3) - mean) / std).reshape(len(b), -1)
        dists.append(sliced_wasserstein(a, b, seed=seed + level))
    return float(np.mean(dists)) if dists else float("nan")


def detail(img: np.ndarray, hole: np.ndarray) -> float:
    """The mean absolute finest Laplacian band of ``img`` in the eroded ``hole``: how much fine
    detail it holds there, in grey levels. NaN for a hole too thin to hold a centre."""
    centres = _erode(hole, SWD_ERODE)
    return float(np.abs(_laplacian(img.astype(np.float32))[0][centres]).mean()) if centres.any() else float("nan")


def hf(fill, truth, hole) -> float:
    """The fill's detail as a share of the truth's (``detail`` of each, in the hole). 1 is as
    detailed as the photo, 0 is flat; above 1 is noisier than the photo. Lists of photos pool
    as the ratio of the mean details, so a hole over a flat sky (truth's detail near 0) does
    not blow the ratio up. NaN when no hole holds a centre, or the truth is flat."""
    items = _items(fill, truth, hole)
    return detail_share([detail(f, h) for f, _, h in items], [detail(t, h) for _, t, h in items])


def detail_share(fill_details, truth_details) -> float:
    """``hf`` from the ``detail`` of each hole's fill and truth: the ratio of their means over
    the holes that hold a centre (NaN when none does, or the truth is flat)."""
    f, t = np.asarray(fill_details, np.float64), np.asarray(truth_details, np.float64)
    ok = ~(np.isnan(f) | np.isnan(t))
    f, t = nanmean(f[ok]), nanmean(t[ok])
    return f / t if t > 0 else float("nan")
