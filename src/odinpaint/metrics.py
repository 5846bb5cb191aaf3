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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

PSNR_CAP = 100.0  # a perfect reconstruction would be +inf dB; cap it so means stay finite
BORDER_PX = 2
METRICS = ("psnr_hole", "psnr", "ssim", "l1_hole", "bias_hole", "border_err", "psnr_known")
HIGHER_IS_BETTER = {"psnr_hole": True, "psnr": True, "ssim": True, "l1_hole": False,
                    "bias_hole": None, "border_err": False, "psnr_known": True}  # bias: closest to 0 is best


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
    return a > b if hib else a < b
