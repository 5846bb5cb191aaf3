"""Paired bootstrap intervals: scipy's, and verdicts read from them."""

import numpy as np
import pytest
from scipy.stats import bootstrap

from odinpaint.study.stats import format_interval, paired_interval, seeded_interval, verdict


def test_interval_is_scipys_paired_bootstrap_of_the_mean_difference():
    rng = np.random.default_rng(0)
    b = rng.normal(20, 3, 400)
    a = b + rng.normal(0.3, 1.0, 400)  # a is ahead by 0.3 dB, with per-mask noise
    iv = paired_interval(a, b)
    ref = bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True, vectorized=True,
                    confidence_level=0.95, n_resamples=2000, method="BCa", random_state=np.random.default_rng(0))
    assert iv["low"] == pytest.approx(ref.confidence_interval.low) and iv["high"] == pytest.approx(ref.confidence_interval.high)
    assert iv["diff"] == pytest.approx(np.mean(a - b))
    # the known case: the true difference 0.3 lies inside, and the interval is about 2 x 1.96 x 1/sqrt(400) wide
    assert iv["low"] < 0.3 < iv["high"] and 0.15 < iv["high"] - iv["low"] < 0.25
    # pairing matters: the same scores unpaired would give a far wider interval (b's spread is 3 dB)
    unpaired = bootstrap((a, b), lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                         vectorized=True, n_resamples=2000, random_state=np.random.default_rng(0))
    assert np.diff(unpaired.confidence_interval)[0] > 3 * (iv["high"] - iv["low"])


def test_verdicts():
    rng = np.random.default_rng(1)
    base = rng.normal(20, 2, 300)
    assert verdict(paired_interval(base + 1 + rng.normal(0, 1, 300), base)) == "holds"
    assert verdict(paired_interval(base - 1 + rng.normal(0, 1, 300), base)) == "refuted"
    assert verdict(paired_interval(base + rng.normal(0, 1, 300), base)) == "not resolved at this budget"
    same = paired_interval(base + 0.5, base)  # no spread: the interval is the point
    assert same["low"] == same["high"] == pytest.approx(0.5) and verdict(same) == "holds"
    assert format_interval({"diff": 0.581, "low": 0.4149, "high": 0.75}) == "+0.58 dB [+0.41, +0.75]"


def test_unpaired_shapes_are_refused():
    with pytest.raises(ValueError, match="paired"):
        paired_interval([1.0, 2.0, 3.0], [1.0, 2.0])


def test_seeded_interval_with_one_seed_is_the_paired_interval():
    rng = np.random.default_rng(2)
    b = rng.normal(20, 3, 300)
    a = b + rng.normal(0.2, 1.0, 300)
    one = seeded_interval(a[None], b[None])
    ref = paired_interval(a, b)
    assert (one["diff"], one["low"], one["high"]) == (ref["diff"], ref["low"], ref["high"])


def test_seeded_interval_covers_the_seeds():
    """The known case: every mask gives a the same lead within a seed, and the seeds' leads
    are 0, 0.5 and 1 dB. A bootstrap over masks alone sees no spread at all; over seeds, the
    mean of 3 draws from {0, 0.5, 1} is 0 or 1 with probability 1/27 each (> 2.5%), so the
    95% percentile interval is exactly [0, 1]."""
    rng = np.random.default_rng(3)
    b = rng.normal(20, 3, 200)
    a = b + np.array([0.0, 0.5, 1.0])[:, None]
    assert paired_interval(a.mean(0), b)["high"] == pytest.approx(0.5)  # masks only: the point
    iv = seeded_interval(a, b[None])
    assert iv["diff"] == pytest.approx(0.5) and iv["seeds"] == (3, 1)
    assert iv["low"] == pytest.approx(0.0) and iv["high"] == pytest.approx(1.0)
    assert verdict(iv) == "not resolved at this budget"


def test_seeded_interval_pairs_masks_across_arms_with_different_seed_counts():
    rng = np.random.default_rng(4)
    base = rng.normal(20, 3, 500)  # the masks' difficulty, shared by both arms
    a = base + 0.4 + rng.normal(0, 0.5, (3, 500)) + rng.normal(0, 0.05, (3, 1))
    b = base + rng.normal(0, 0.5, (2, 500))
    iv = seeded_interval(a, b)
    assert iv["seeds"] == (3, 2) and iv["diff"] == pytest.approx(a.mean() - b.mean())
    # masks paired: the 3 dB spread of their difficulty cancels, and 0.4 is found
    assert iv["low"] < 0.4 < iv["high"] and iv["high"] - iv["low"] < 0.4 and verdict(iv) == "holds"
    with pytest.raises(ValueError, match="same >= 2 masks"):
        seeded_interval(a, b[:, :-1])
