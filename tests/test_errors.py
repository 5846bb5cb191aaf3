"""Errors say whose fault they are: a user's problem is one line and exit status 2; anything
else is reported as a bug (exit status 1) with its traceback kept, never as bad input."""

import tempfile

import numpy as np
import pytest
from PIL import Image

from helpers.photos import smooth_image
from odinpaint.cli import main
from odinpaint.inference.inpainter import Inpainter


@pytest.fixture
def photo_file(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(smooth_image(np.random.default_rng(0), 40, 50)).save(path)
    return path


@pytest.fixture
def logs(tmp_path, monkeypatch):
    """Where bug reports go: a folder of this test's own."""
    folder = tmp_path / "logs"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _raise(exc):
    def boom(*args, **kwargs):
        raise exc
    return boom


def _assert_reported_as_bug(capsys, logs, what: str):
    err = capsys.readouterr().err
    assert "internal error (a bug in odinpaint, not a problem with your input)" in err and what in err
    assert "odinpaint: error:" not in err  # not dressed up as the user's mistake
    (log,) = logs.glob("odinpaint-bug-*.log")
    assert str(log) in err and "Traceback" in log.read_text() and what in log.read_text()


# A ValueError from deep inside (numpy's, say) is a bug, whatever its type.
@pytest.mark.parametrize("exc", [ValueError("zero-size array to reduction operation minimum which has no identity"),
                                 ZeroDivisionError("division by zero")])
def test_internal_failure_in_fill_is_a_bug(model_path, photo_file, tmp_path, logs, monkeypatch, capsys, exc):
    monkeypatch.setattr(Inpainter, "fill_array", _raise(exc))
    out = tmp_path / "o.png"
    assert main(["fill", str(photo_file), "--box", "5,5,10,10", "--model", str(model_path), "-o", str(out)]) == 1
    _assert_reported_as_bug(capsys, logs, str(exc))
    assert not out.exists()


def test_debug_prints_the_traceback(model_path, photo_file, tmp_path, logs, monkeypatch, capsys):
    monkeypatch.setattr(Inpainter, "fill_array", _raise(KeyError("lost")))
    args = ["--debug", "fill", str(photo_file), "--box", "5,5,10,10", "--model", str(model_path),
            "-o", str(tmp_path / "o.png")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback (most recent call last)" in err and "KeyError: 'lost'" in err
    assert not list(logs.iterdir())


def test_user_errors_stay_one_line_and_status_2(model_path, photo_file, tmp_path, capsys):
    assert main(["fill", str(photo_file), "--box", "500,500,10,10", "--model", str(model_path),
                 "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("odinpaint: error: box 500,500,10,10 lies outside") and err.count("\n") == 1


def test_internal_failure_in_train_is_a_bug(tiny_dataset, tmp_path, logs, monkeypatch, capsys):
    import odinpaint.training.trainer as trainer

    monkeypatch.setattr(trainer, "train", _raise(IndexError("list index out of range")))
    args = ["train", "--data", str(tiny_dataset), "--out", str(tmp_path / "runs"), "--max-images", "64", "--no-progress"]
    assert main(args) == 1
    _assert_reported_as_bug(capsys, logs, "IndexError: list index out of range")


def test_internal_failure_in_eval_is_a_bug(model_path, tiny_dataset, tmp_path, logs, monkeypatch, capsys):
    import odinpaint.evaluate as evaluate

    monkeypatch.setattr(evaluate, "evaluate", _raise(TypeError("unsupported operand")))
    assert main(["eval", str(model_path), "--data", str(tiny_dataset), "--out", str(tmp_path / "e")]) == 1
    _assert_reported_as_bug(capsys, logs, "TypeError: unsupported operand")
