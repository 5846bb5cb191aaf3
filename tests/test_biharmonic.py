"""The cached biharmonic solver gives scikit-image's answer, hole for hole."""

import numpy as np
import pytest

from helpers.photos import smooth_image
from odinpaint import biharmonic as bh
from odinpaint.biharmonic import biharmonic
from odinpaint.masks import freeform_masks, square_masks


def _photos(n, h=40, w=40):
    return np.stack([smooth_image(np.random.default_rng(i), h, w) for i in range(n)])


def test_rectangles_anywhere_match_scikit_image():
    """Every distance to the edges (0, 1, 2 and more px) on every side, squares and not."""
    imgs = _photos(1, 24, 30)
    cases = []
    for hh, hw in ((1, 1), (3, 3), (7, 4), (24, 5), (6, 30)):
        for y0 in sorted({0, 1, 2, 5, 24 - hh - 1, 24 - hh}):
            for x0 in sorted({0, 1, 2, 30 - hw - 1, 30 - hw}):
                if 0 <= y0 <= 24 - hh and 0 <= x0 <= 30 - hw and hh * hw < 24 * 30:
                    hole = np.zeros((24, 30), bool)
                    hole[y0 : y0 + hh, x0 : x0 + hw] = True
                    cases.append(hole)
    holes = np.stack(cases)
    out = bh.biharmonic_fill(np.repeat(imgs, len(holes), 0), holes)
    for o, hole in zip(out, holes):
        ref = biharmonic(imgs[0], hole)
        assert np.abs(o.astype(int) - ref).max() <= 1  # float32 against float64: a rounding at most
        assert (o[~hole] == imgs[0][~hole]).all()


@pytest.mark.parametrize("level", [1, 3, 5])
def test_training_masks_score_like_scikit_image(level):
    """On a batch of the training masks, the hole PSNR is scikit-image's (well within 0.1 dB)."""
    rng = np.random.default_rng(level)
    imgs = _photos(16, 64, 64)
    holes = square_masks(64, level, 16, rng).astype(bool)
    out = bh.biharmonic_fill(imgs, holes)
    ref = np.stack([biharmonic(i, m) for i, m in zip(imgs, holes)])

    def psnr(a):
        return 10 * np.log10(255**2 / ((a.astype(float) - imgs)[holes] ** 2).mean())

    assert abs(psnr(out) - psnr(ref)) < 0.01


def test_other_shapes_go_to_scikit_image():
    imgs = _photos(3, 48, 48)
    holes = freeform_masks(48, 3, 3, np.random.default_rng(0)).astype(bool)
    holes[2] = False
    holes[2, 5:9, 5:9] = holes[2, 20:30, 30:33] = True  # two rectangles: not one
    used = []
    out = bh.biharmonic_fill(imgs, holes, map_fn=lambda f, *a: used.append(len(a[0])) or map(f, *a))
    assert used == [3]
    for o, i, m in zip(out, imgs, holes):
        assert (o == biharmonic(i, m)).all()


def test_the_cache_stays_within_its_bound(monkeypatch):
    monkeypatch.setattr(bh, "_cache", bh.OrderedDict())
    monkeypatch.setattr(bh, "CACHE_BYTES", 300_000)
    imgs = _photos(6, 40, 40)
    holes = np.zeros((6, 40, 40), bool)
    for k, s in enumerate((5, 8, 11, 14, 17, 20)):
        holes[k, 10 : 10 + s, 10 : 10 + s] = True
    out = bh.biharmonic_fill(imgs, holes)
    assert sum(m.numel() * 4 for m, _ in bh._cache.values()) <= 300_000 and len(bh._cache) < 6
    assert next(reversed(bh._cache))[:2] == (20, 20)  # the most recent shape is kept
    assert np.abs(out[5].astype(int) - biharmonic(imgs[5], holes[5])).max() <= 1
