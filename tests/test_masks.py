import numpy as np
import pytest

from odinpaint import masks


def hole_side(m: np.ndarray) -> int:
    ys, xs = np.nonzero(m)
    assert ys.max() - ys.min() == xs.max() - xs.min(), "hole is not square"
    return int(ys.max() - ys.min() + 1)


def test_level_ranges_match_design_and_are_contiguous():
    assert [masks.level_range(level, 128) for level in range(1, 6)] == list(masks.LEVELS_128)
    assert [masks.level_range(level, 64) for level in range(1, 6)] == [(1, 9), (10, 18), (19, 27), (28, 36), (37, 45)]
    for size in (32, 48, 64, 96, 128, 256):
        ranges = [masks.level_range(level, size) for level in range(1, 6)]
        assert ranges[0][0] == 1
        for (lo, hi), (nlo, _) in zip(ranges, ranges[1:]):
            assert lo <= hi and nlo == hi + 1


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_square_masks_stay_in_level_range_and_inside(size, level):
    lo, hi = masks.level_range(level, size)
    m = masks.square_masks(size, level, 50, np.random.default_rng(level))
    assert m.shape == (50, size, size) and m.dtype == np.uint8
    sides = [hole_side(x) for x in m]
    assert min(sides) >= lo and max(sides) <= hi
    assert all(x.sum() == s * s for x, s in zip(m, sides))  # fully inside: no clipping


def test_masks_are_deterministic_byte_for_byte():
    a = masks.eval_masks(64, 20, seed=7)
    b = masks.eval_masks(64, 20, seed=7)
    c = masks.eval_masks(64, 20, seed=8)
    assert set(a) == {1, 2, 3, 4, 5, "mixed"}
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert any(a[k].tobytes() != c[k].tobytes() for k in a)


def test_eval_levels_do_not_shift_when_n_changes():
    a, b = masks.eval_masks(64, 10), masks.eval_masks(64, 20)
    # each level has its own stream: the first 10 masks agree
    assert all((a[k] == b[k][:10]).all() for k in a)


def test_mixed_masks_cover_the_whole_range():
    sides = [hole_side(x) for x in masks.mixed_masks(64, 400, np.random.default_rng(0))]
    assert min(sides) >= 1 and max(sides) <= 45
    assert min(sides) <= 5 and max(sides) >= 40


@pytest.mark.parametrize("level", [1, 3, 5])
def test_freeform_masks_hit_their_area_band(level):
    lo, hi = masks.FREEFORM_AREA[level - 1]
    m = masks.freeform_masks(64, level, 10, np.random.default_rng(level))
    frac = m.reshape(10, -1).mean(1)
    assert (frac >= lo).all() and (frac <= hi).all()


def test_bad_level_and_kind_are_rejected():
    with pytest.raises(ValueError, match="level"):
        masks.level_range(6, 64)
    with pytest.raises(ValueError, match="known: square, freeform"):
        masks.level_masks("circle", 64, 1, 1, np.random.default_rng(0))


@pytest.mark.parametrize("kind", list(masks.MASK_KINDS))
def test_every_mask_kind_draws_holes_of_its_level(kind):
    m = masks.level_masks(kind, 64, 2, 3, np.random.default_rng(0))
    assert m.shape == (3, 64, 64) and m.dtype == np.uint8 and m.any(axis=(1, 2)).all()
    assert (m == masks.MASK_KINDS[kind](64, 2, 3, np.random.default_rng(0))).all()
