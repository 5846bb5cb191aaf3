"""Fault injection for training runs."""

from __future__ import annotations


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
