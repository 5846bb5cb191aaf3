"""Paired confidence intervals for the study's comparisons, and verdicts read from them.

    >>> from odinpaint.study.stats import paired_interval, verdict
    >>> iv = paired_interval(scores_a, scores_b)        # the same test masks, in the same order
    >>> iv["diff"], iv["low"], iv["high"]               # mean of a - b, and its 95% interval
    >>> verdict(iv)                                     # "holds" | "refuted" | "not resolved at this budget"
    >>> seeded_interval(per_seed_a, per_seed_b)         # arrays (seeds, masks): seeds and masks resampled

Every method is scored on the same fixed test masks, so two methods' scores pair mask by
mask. ``paired_interval`` is scipy's bootstrap of the mean paired difference
(``paired=True``: masks are resampled, each keeping both methods' scores), BCa, with a fixed
seed so a report is reproducible. It covers the test set's variation only: a second
training seed can move an arm by more than its width.

``seeded_interval`` adds the seeds. Its data are each arm's scores per (training seed, test
mask). scipy's bootstrap is given, as separate unpaired samples, the seed indices of each
arm that has more than one seed and the mask indices: every resample draws seeds and masks
independently (a crossed two-way bootstrap), and the statistic is arm a's mean over the
drawn seeds and masks minus arm b's over its drawn seeds and the same masks, so masks stay
paired across arms. Percentile intervals, because with 3 seeds a seed resample takes only
10 distinct values and BCa's jackknife is unreliable there. Two caveats, both in the
report: a crossed bootstrap counts the seed-by-mask interaction twice (wider), and a
bootstrap over n seeds sees (n-1)/n of their variance (narrower: 2/3 with 3 seeds).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0


def paired_interval(a, b, confidence: float = CONFIDENCE, n_resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """Mean of ``a - b`` over paired samples and its bootstrap ``confidence`` interval."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired scores must be two 1-D arrays of one length >= 2, got {a.shape} and {b.shape}")
    diff = float(np.mean(a - b))
    if np.all(a - b == a[0] - b[0]):  # no spread to resample (BCa is undefined): the interval is the point
        return {"diff": diff, "low": diff, "high": diff, "n": len(a), "confidence": confidence}
    res = bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True, vectorized=True,
                    confidence_level=confidence, n_resamples=n_resamples, method="BCa",
                    random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return {"diff": diff, "low": float(low), "high": float(high), "n": len(a), "confidence": confidence}


def seeded_interval(a, b, confidence: float = CONFIDENCE, n_resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """Mean of ``a - b`` and its ``confidence`` interval over training seeds and test masks.

    ``a`` and ``b`` are arrays (seeds, masks) on the same masks; their seed counts may differ
    (a classical method has one row). With one seed each this is ``paired_interval``."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.shape[1] < 2:
        raise ValueError(f"seeded scores must be two (seeds, masks) arrays on the same >= 2 masks, "
                         f"got {a.shape} and {b.shape}")
    if len(a) == len(b) == 1:
        return {**paired_interval(a[0], b[0], confidence, n_resamples, seed), "seeds": (1, 1)}
    diff = float(a.mean() - b.mean())
    # the samples scipy resamples: indices into each many-seed arm's rows, then into the masks
    many = [x for x in (a, b) if len(x) > 1]
    samples = [np.arange(len(x)) for x in many] + [np.arange(a.shape[1])]

    def statistic(*idx, axis=-1):
        masks = idx[-1][..., None, :]  # (..., 1, masks drawn)
        rows = iter(idx[:-1])
        means = [x[next(rows)[..., :, None], masks].mean(axis=(-2, -1)) if len(x) > 1 else x[0][idx[-1]].mean(axis=-1)
                 for x in (a, b)]
        return means[0] - means[1]

    res = bootstrap(samples, statistic, paired=False, vectorized=True, confidence_level=confidence,
                    n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return {"diff": diff, "low": float(low), "high": float(high), "n": a.shape[1], "seeds": (len(a), len(b)),
            "confidence": confidence}


def verdict(interval: dict) -> str:
    """What the interval of "a beats b" (a - b, higher is better) says."""
    if interval["low"] > 0:
        return "holds"
    if interval["high"] < 0:
        return "refuted"
    return "not resolved at this budget"


def format_interval(interval: dict, unit: str = " dB", digits: int = 2) -> str:
    """``+0.58 dB [+0.41, +0.75]``."""
    d = digits
    return f"{interval['diff']:+.{d}f}{unit} [{interval['low']:+.{d}f}, {interval['high']:+.{d}f}]"
