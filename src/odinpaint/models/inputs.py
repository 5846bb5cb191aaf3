"""How a model sees a hole: the fill put into it, and optionally the mask as a channel.

    >>> x = model_input(known, mask, fill="mean", mask_channel=True)   # (N, 4, H, W)

- ``black``: the report's code (its "dark fill" bug);
- ``mean``: the original on-demand code's mean pixel (117, 104, 123)/255;
- ``noise``: uniform noise, drawn from torch's global generator (seeded, checkpointed);
- ``telea`` / ``ns`` / ``biharmonic``: classical inpainting (``odinpaint.classical``), so the
  network starts from the classical answer and learns the correction (computed on the CPU,
  outside autograd). Biharmonic is the best of the three on small holes and, in scikit-image,
  the slowest (about 1 ms per 64 px image at level 1, 9 ms at level 5); rectangular holes,
  every training mask, take ``odinpaint.biharmonic``'s cached solution operators instead
  (the same answer within a rounding, 15-20x faster per 64-image batch).
"""

from __future__ import annotations

import torch

from odinpaint.classical import BASELINES, classical_fill
from odinpaint.errors import UserError

FILLS = ("black", "mean", "noise", *BASELINES)
MEAN_PIXEL = (117 / 255, 104 / 255, 123 / 255)


def fail(arch, field: str, msg: str):
    """A bad architecture field, named as a config error is (``config field 'fill': ...``)."""
    raise UserError(f"config field '{field}' ({type(arch).__name__}): {msg}")


def validate_generator_arch(arch) -> None:
    """Checks shared by every generator architecture (image_size, width, fill)."""
    if arch.image_size < 16 or arch.image_size & (arch.image_size - 1):
        fail(arch, "image_size", f"must be a power of two >= 16, got {arch.image_size}")
    if arch.width < 1:
        fail(arch, "width", f"must be positive, got {arch.width}")
    if arch.fill not in FILLS:
        fail(arch, "fill", f"must be one of {', '.join(FILLS)}, got {arch.fill!r}")


def fill_values(kind: str, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The values placed in the hole, shaped like ``image`` (N, 3, H, W), in [-1, 1]."""
    if kind == "black":
        return torch.full_like(image, -1.0)
    if kind == "mean":
        return (torch.tensor(MEAN_PIXEL, dtype=image.dtype, device=image.device) * 2 - 1).view(1, 3, 1, 1).expand_as(image)
    if kind == "noise":
        return torch.rand(image.shape, dtype=image.dtype).to(image.device) * 2 - 1
    if kind in BASELINES:
        return classical_fill(kind, image, mask)
    raise UserError(f"unknown fill {kind!r}; known: {', '.join(FILLS)}")


def model_input(image: torch.Tensor, mask: torch.Tensor, fill: str, mask_channel: bool) -> torch.Tensor:
    """``image`` with its hole replaced by ``fill`` (the truth there is never used), plus the
    mask as a fourth channel when ``mask_channel``."""
    known = image * (1 - mask)
    x = known + fill_values(fill, known, mask) * mask
    return torch.cat([x, mask * 2 - 1], dim=1) if mask_channel else x
