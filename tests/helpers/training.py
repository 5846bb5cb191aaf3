"""Training runs in tests: fault injection, and runs that end without their plots."""

from __future__ import annotations

from pathlib import Path


def skip_run_plots(monkeypatch) -> list[Path]:
    """Training runs end without their PNG plots (matplotlib: a second or two per run); the run
    directories ``plot_run`` was called with are recorded in the list returned."""
    import odinpaint.plots

    calls: list[Path] = []
    monkeypatch.setattr(odinpaint.plots, "plot_run", lambda run_dir, *a, **k: calls.append(Path(run_dir)) or [])
    return calls


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
