import numpy as np
import pytest

from odinpaint import masks
from odinpaint.training.schedule import largest_remainder, make_schedule, on_demand_counts


def test_design_example():
    # exact shares 11.17, 14.89, 17.87, 21.26, 24.81: floors sum to 87, the three largest
    # remainders (levels 2, 3, 5) get the leftover units
    assert on_demand_counts([40, 30, 25, 21, 18], 90) == [11, 15, 18, 21, 25]
    assert make_schedule("on-demand", 90).counts == [18] * 5


@pytest.mark.parametrize("batch", [5, 7, 32, 64, 90, 101])
def test_counts_always_sum_to_batch_with_one_per_level(batch):
    rng = np.random.default_rng(batch)
    for _ in range(200):
        psnr = rng.uniform(0, 60, 5)
        c = on_demand_counts(psnr, batch, power=rng.uniform(0.5, 4))
        assert sum(c) == batch and min(c) >= 1


def test_lower_psnr_gets_more_samples():
    c = on_demand_counts([50, 40, 30, 20, 10], 90)
    assert c == sorted(c) and c[4] > c[0]
    sharper = on_demand_counts([50, 40, 30, 20, 10], 90, power=3)
    assert sharper[4] > c[4] and sharper[0] <= c[0]


def test_ties_and_zero_psnr_protection():
    assert on_demand_counts([20] * 5, 92) == [19, 19, 18, 18, 18]  # leftover units go to the lower levels
    c = on_demand_counts([0, 30, 30, 30, float("nan")], 90)
    assert sum(c) == 90 and c[1:4] == [1, 1, 1] and min(c[0], c[4]) >= 43  # 0 and NaN count as hardest


def test_minimum_takes_from_the_largest():
    assert largest_remainder(np.array([1000, 1, 1, 1, 1.0]), 10, minimum=1) == [6, 1, 1, 1, 1]
    with pytest.raises(ValueError):
        largest_remainder(np.ones(5), 4, minimum=1)


def test_on_demand_update_keeps_unmeasured_levels():
    s = make_schedule("on-demand", 90)
    s.update([40, np.nan, 25, 21, 18])  # level 2 never measured yet: no change
    assert s.counts == [18] * 5
    s.update([np.nan, 30, np.nan, np.nan, np.nan])
    assert s.counts == [11, 15, 18, 21, 25]
    state = s.state_dict()
    t = make_schedule("on-demand", 90)
    t.load_state_dict(state)
    assert t.counts == s.counts and t.psnr == s.psnr


def test_schedules_sample_masks_of_their_levels():
    rng = np.random.default_rng(0)
    m, lv = make_schedule("fixed:5", 12).sample(64, rng)
    assert (lv == 5).all() and m.shape == (12, 64, 64)
    sides = np.sqrt(m.reshape(12, -1).sum(1))
    assert sides.min() >= 37 and sides.max() <= 45
    m, lv = make_schedule("uniform", 10).sample(64, rng)
    assert np.bincount(lv, minlength=6)[1:].tolist() == [2] * 5
    m, lv = make_schedule("random", 200).sample(64, rng)
    sides = np.sqrt(m.reshape(200, -1).sum(1)).round()
    for level in range(1, 6):
        lo, hi = masks.level_range(level, 64)
        assert ((sides[lv == level] >= lo) & (sides[lv == level] <= hi)).all()


@pytest.mark.parametrize("spec", ["fixed:0", "fixed:x", "sometimes", "fixed:6"])
def test_bad_specs(spec):
    with pytest.raises(ValueError):
        make_schedule(spec, 10)
