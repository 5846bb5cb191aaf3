"""Paired confidence intervals for the study's comparisons, and verdicts read from them.

    >>> from odinpaint.stats import paired_interval, verdict
    >>> iv = paired_interval(scores_a, scores_b)        # the same test masks, in the same order
    >>> iv["diff"], iv["low"], iv["high"]               # mean of a - b, and its 95% interval
    >>> verdict(iv)                                     # "holds" | "refuted" | "not resolved at this budget"

Every method is scored on the same fixed test masks, so two methods' scores pair mask by
mask. The interval is scipy's bootstrap of the mean paired difference (``paired=True``:
masks are resampled, each keeping both methods' scores), BCa, with a fixed seed so a
report is reproducible. It covers the test set's variation only: with one training seed
per arm, a second seed can move an arm by more than the interval's width.
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


def verdict(interval: dict) -> str:
    """What the interval of "a beats b" (a - b, higher is better) says."""
    if interval["low"] > 0:
        return "holds"
    if interval["high"] < 0:
        return "refuted"
    return "not resolved at this budget"


def format_interval(interval: dict, unit: str = " dB") -> str:
    """``+0.58 dB [+0.41, +0.75]``."""
    return f"{interval['diff']:+.2f}{unit} [{interval['low']:+.2f}, {interval['high']:+.2f}]"
