"""The detail stage: the photo's texture laid over a smooth fill, its low band kept."""

import cv2
import numpy as np
import pytest

from odinpaint import metrics
from odinpaint.inference.detail import DetailConfig, add_detail


def _texture(seed, size=128):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size, 3)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.0) * 70 + cv2.GaussianBlur(noise, (0, 0), 6) * 200 + 128
    return np.clip(tex, 0, 255).astype(np.uint8)


@pytest.fixture
def smooth_fill():
    """A textured photo whose hole holds a blur of the truth: what an accurate, flat fill looks like."""
    truth = _texture(0)
    hole = np.zeros(truth.shape[:2], bool)
    hole[40:88, 36:92] = True
    blurred = cv2.GaussianBlur(truth, (0, 0), 3)
    return truth, hole, np.where(hole[..., None], blurred, truth).astype(np.float32)


def test_detail_is_added_in_the_hole_only(smooth_fill):
    truth, hole, img = smooth_fill
    out = add_detail(img, hole, ~hole)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.array_equal(out[~hole], img[~hole])
    assert not np.allclose(out[hole], img[hole])


def test_texture_arrives_and_the_low_band_stays(smooth_fill):
    truth, hole, img = smooth_fill
    out = np.clip(add_detail(img, hole, ~hole), 0, 255).round().astype(np.uint8)
    flat = img.round().astype(np.uint8)
    assert metrics.hf(flat, truth, hole) < 0.3
    assert 0.6 < metrics.hf(out, truth, hole) < 1.4
    assert metrics.swd(out, truth, hole) < 0.6 * metrics.swd(flat, truth, hole)
    # the fill's low frequencies (the model's colours and shapes) are what they were
    inner = cv2.erode(hole.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    low = lambda x: cv2.GaussianBlur(x.astype(np.float32), (0, 0), 4)  # noqa: E731
    moved = np.abs(low(out) - low(img))[inner].mean()
    assert moved < 0.25 * np.abs(out.astype(np.float32) - img)[inner].mean()


def test_seeded(smooth_fill):
    _, hole, img = smooth_fill
    a, b = add_detail(img, hole, ~hole), add_detail(img, hole, ~hole)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, add_detail(img, hole, ~hole, DetailConfig(seed=1)))


def test_no_source_patch_leaves_the_fill_as_it_is():
    img = np.full((12, 12, 3), 100, np.float32)
    hole = np.zeros((12, 12), bool)
    hole[4:8, 4:8] = True
    assert np.array_equal(add_detail(img, hole, ~hole), img)


def test_sources_never_come_from_unknown_pixels(smooth_fill):
    """Another hole's pixels hold no photo: a bright square there must never be copied."""
    truth, hole, img = smooth_fill
    other = np.zeros_like(hole)
    other[2:30, 2:30] = True
    img = img.copy()
    img[other] = 255.0  # whatever another group's hole holds
    out = add_detail(img, hole, ~hole & ~other)
    ref = add_detail(np.where(other[..., None], 0.0, img).astype(np.float32), hole, ~hole & ~other)
    assert np.allclose(out[hole], ref[hole], atol=1e-3)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="patch"):
        DetailConfig(patch=7)


def test_a_scale_too_large_for_the_photo_falls_back_to_a_finer_band(smooth_fill):
    """No 16 x 8 px known patch fits a 128 px photo: the band is halved until one does."""
    truth, hole, img = smooth_fill
    out = add_detail(img, hole, ~hole, scale=8.0)
    assert np.array_equal(out, add_detail(img, hole, ~hole, scale=2.0))  # 8 -> 4 -> 2: the first that fits
    assert not np.allclose(out[hole], img[hole])
