"""Shared fixtures and hooks; the shared helpers are in tests/helpers/.

Markers (``slow`` is registered in pyproject.toml and deselected by default):

    browser       drives Debian's Chromium with Playwright (the page, the report, 12-24 MP photos)
    multiprocess  launches processes: torchrun, torch.multiprocessing, `odinpaint` subprocesses
    fuzz          hypothesis and schemathesis fuzzing

`make test` runs everything but ``slow``; `make test-fast` leaves out these three as well.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # `from helpers.photos import ...` whatever pytest's import mode
    sys.path.insert(0, HERE)

from helpers.photos import prepare_tiny_dataset, write_photo_folder  # noqa: E402
from helpers.training import skip_run_plots  # noqa: E402

MARKERS = {
    "browser": "drives Debian's Chromium with Playwright (deselect with -m 'not browser')",
    "multiprocess": "launches processes: torchrun, torch.multiprocessing or odinpaint subprocesses",
    "fuzz": "hypothesis or schemathesis fuzzing",
}


def pytest_configure(config):
    for name, what in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")


@pytest.fixture(autouse=True)
def one_torch_thread(request):
    """Torch on one thread: the tests' models are tiny (32 px, width 8) and gain nothing from
    two, and two threads that wait on each other make each step slower, many times so on a
    shared machine. The browser tests (12 and 24 MP photos) and the slow ones (full size, the
    bench) keep torch's default."""
    if request.node.get_closest_marker("browser") or request.node.get_closest_marker("slow"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def _photos_once(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos-once") / "photos")


@pytest.fixture
def photo_folder(tmp_path, _photos_once):
    """The 12 synthetic photos of helpers.photos.write_photo_folder, this test's own copy."""
    return Path(shutil.copytree(_photos_once, tmp_path / "photos"))


@pytest.fixture
def tiny_dataset(tmp_path, photo_folder):
    return prepare_tiny_dataset(photo_folder, tmp_path / "ds32")


@pytest.fixture
def no_run_plots(monkeypatch):
    """Training runs end without their PNG plots, for tests that never look at them (see
    helpers.training.skip_run_plots); test_training's test_ce_run_writes_everything checks them."""
    return skip_run_plots(monkeypatch)


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
