"""How a model sees a hole: the fill put into it, and optionally the mask as a channel.

    >>> x = model_input(known, mask, fill="mean", mask_channel=True)   # (N, 4, H, W)

- ``black``: the report's code (its "dark fill" bug);
- ``mean``: the original on-demand code's mean pixel (117, 104, 123)/255;
- ``noise``: uniform noise, drawn from torch's global generator (seeded, checkpointed).
"""

from __future__ import annotations

import torch

FILLS = ("black", "mean", "noise")
MEAN_PIXEL = (117 / 255, 104 / 255, 123 / 255)


def fill_values(kind: str, like: torch.Tensor) -> torch.Tensor:
    """The values placed in the hole, broadcastable to ``like`` (N, 3, H, W), in [-1, 1]."""
    if kind == "black":
        return torch.full_like(like, -1.0)
    if kind == "mean":
        return (torch.tensor(MEAN_PIXEL, dtype=like.dtype, device=like.device) * 2 - 1).view(1, 3, 1, 1).expand_as(like)
    if kind == "noise":
        return torch.rand(like.shape, dtype=like.dtype).to(like.device) * 2 - 1
    raise ValueError(f"unknown fill {kind!r}; known: {', '.join(FILLS)}")


def model_input(image: torch.Tensor, mask: torch.Tensor, fill: str, mask_channel: bool) -> torch.Tensor:
    """``image`` with its hole replaced by ``fill`` (the truth there is never used), plus the
    mask as a fourth channel when ``mask_channel``."""
    x = image * (1 - mask) + fill_values(fill, image) * mask
    return torch.cat([x, mask * 2 - 1], dim=1) if mask_channel else x
