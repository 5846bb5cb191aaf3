"""Images as arrays and as tensors: uint8 (N, H, W, 3) on disk and on screen, float
(N, 3, H, W) in [-1, 1] in the batch dict (docs: architecture.md, Conventions).

    >>> from odinpaint.tensors import to_tensor, to_uint8
    >>> x = to_tensor(pics)            # uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]
    >>> pics = to_uint8(x)             # and back, rounded and clamped
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) to float (N, 3, H, W) in [-1, 1], the batch-dict convention."""
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return t.div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] back to uint8 (N, H, W, 3)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round images in [-1, 1] to the 8-bit grid: what a saved output holds. Models are scored
    on this, as the classical methods (which return uint8) are."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().div(127.5).sub(1.0)
