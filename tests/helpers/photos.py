"""Small synthetic photos, so the suite runs offline in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth gradients plus a few blobs and mild noise."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, f = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 60 * np.sin(2 * np.pi * (a * xx + b * yy) * (1 + 2 * abs(f)) + c)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(h / 10, h / 3)
        img[(yy * max(h, w) - cy) ** 2 + (xx * max(h, w) - cx) ** 2 < r * r] += rng.uniform(-50, 50, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_photo_folder(root: Path) -> Path:
    """12 synthetic photos (jpg and png, some in a subfolder) in ``root``."""
    (root / "sub").mkdir(parents=True)
    r = np.random.default_rng(1)
    for i in range(12):
        ext = ".jpg" if i % 2 else ".png"
        where = root / "sub" if i % 3 == 0 else root
        Image.fromarray(smooth_image(r, 80 + 4 * i, 96)).save(where / f"img{i:02d}{ext}")
    return root


def prepare_tiny_dataset(photos: Path, out: Path) -> Path:
    """A prepared 32 px data set built from a synthetic folder."""
    from odinpaint.data.prepare import PrepareConfig, prepare

    prepare(str(photos), out, PrepareConfig(size=32, crop="patches", scales=(2, 3), min_std=1.0, workers=1),
            progress=False)
    return out
