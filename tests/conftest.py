"""Shared fixtures: small synthetic photos, so the suite runs offline in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
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


@pytest.fixture
def rng():
    return np.random.default_rng(0)


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


@pytest.fixture
def photo_folder(tmp_path):
    return write_photo_folder(tmp_path / "photos")


@pytest.fixture
def tiny_dataset(tmp_path, photo_folder):
    return prepare_tiny_dataset(photo_folder, tmp_path / "ds32")


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """A tiny untrained 32 px context encoder checkpoint (fill and bad-input tests)."""
    import torch

    from odinpaint.models import build
    from odinpaint.models.context_encoder import ContextEncoderArch
    from odinpaint.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = build(ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True))
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_checkpoint(path, {"G": net}, {}, {"step": 0})
    return path


def nan_on_call(real_step, call: int, key: str):
    """A training step (a step kind's ``__call__``) like ``real_step`` whose ``call``-th call reports
    ``key`` as NaN."""
    import torch

    calls = {"n": 0}

    def step(*a, **k):
        calls["n"] += 1
        pred, logs = real_step(*a, **k)
        if calls["n"] == call:
            logs[key] = torch.tensor(float("nan"))
        return pred, logs

    return step
