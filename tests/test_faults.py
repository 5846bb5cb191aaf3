"""Faults in training and in what is loaded: a SIGKILL, a full disk, damaged or foreign
checkpoints, NaN losses, and planted pickles that must never run."""

import errno
import json
import os
import pickle
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError

from helpers.training import nan_on_call, skip_run_plots
from odinpaint import checkpoint as ckpt_mod
from odinpaint.checkpoint import load_checkpoint, save_checkpoint
from odinpaint.cli import main
from odinpaint.training import steps
from odinpaint.training.config import make_config
from odinpaint.training.trainer import train

SRC = str(Path(__file__).resolve().parents[1] / "src")
pytestmark = pytest.mark.usefixtures("no_run_plots")  # no test here looks at a run's plots


def train_args(ds, out, *extra) -> list[str]:
    return ["train", "--data", str(ds), "--out", str(out), "--name", "t", "--width", "8", "--batch", "10",
            "--val-images", "6", "--log-every", "1", "--no-progress", "--seed", "0", *extra]


def stats_steps(run: Path) -> list[int]:
    """Steps of the per-step loss lines in stats.jsonl (a torn last line is ignored)."""
    out = []
    for line in (run / "stats.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "loss" in rec and "event" not in rec:
            out.append(rec["step"])
    return out


def same_tensors(a: Path, b: Path) -> list[str]:
    """Names of the tensors (weights, optimizer moments, RNG) that differ between two checkpoints."""
    ta, tb = load_checkpoint(a).tensors, load_checkpoint(b).tensors
    assert ta.keys() == tb.keys()
    return [k for k in ta if not torch.equal(ta[k], tb[k])]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("odinpaint: error: "), err
    return err


# ----------------------------------------------------------------------------- SIGKILL
@pytest.mark.multiprocess
def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(tiny_dataset, tmp_path):
    every, budget = 4, ["--max-images", "600", "--ckpt-every", "4", "--val-every", "30"]  # 60 steps
    seed = int.from_bytes(os.urandom(4), "little")
    kill_at = random.Random(seed).randint(3, 56)
    # the same thread count as this process, which runs the resume and the reference: exact sums
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-m", "odinpaint", *train_args(tiny_dataset, tmp_path / "killed", *budget)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = tmp_path / "killed" / "000-t"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "stats.jsonl").exists() and (stats_steps(run) or [0])[-1] >= kill_at:
            break
        time.sleep(0.002)
    assert proc.poll() is None, f"training ended before the kill: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done = stats_steps(run)[-1]
    last = run / "checkpoints" / "last.safetensors"
    saved = load_checkpoint(last).meta["step"] if last.exists() else 0
    lost = done - saved
    print(f"\nkill seed {seed}: killed after step {done} (target {kill_at}), last checkpoint at step {saved}, "
          f"{lost} steps lost; temp files left: {[p.name for p in run.rglob('*.tmp')]}")
    assert 0 <= lost <= every

    train(make_config(progress=False), resume=run)
    assert main(train_args(tiny_dataset, tmp_path / "whole", *budget)) == 0
    whole = tmp_path / "whole" / "000-t"
    assert same_tensors(whole / "checkpoints/last.safetensors", last) == []
    assert stats_steps(run) == list(range(1, 61))
    assert not list(run.rglob(".last.safetensors.*.tmp"))  # a write cut short by the kill is cleared by the next


def test_a_torn_stats_line_does_not_stop_resume(tmp_path):
    from odinpaint.training.trainer import StatsLog

    path = tmp_path / "stats.jsonl"
    path.write_text('{"step": 1, "loss": 0.3}\n{"step": 2, "loss": 0.2}\n{"step": 3, "loss": 0.1}\n{"step": 4, "lo')
    StatsLog(path, keep_until_step=2).close()  # what resume from the step-2 checkpoint does
    assert path.read_text() == '{"step": 1, "loss": 0.3}\n{"step": 2, "loss": 0.2}\n'


# ----------------------------------------------------------------------------- write failures
def _fail_second_write(monkeypatch, fault: str) -> None:
    """Make the second checkpoint write fail the way ``fault`` does on a real machine."""
    real_save, real_replace = ckpt_mod.save_file, os.replace
    calls = {"n": 0}

    def save(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] != 2:
            return real_save(tensors, filename, metadata=metadata)
        if fault == "file-size-limit":  # the kernel refuses bytes past 4 KB: a genuine failed write
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
            try:
                return real_save(tensors, filename, metadata=metadata)
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        if fault == "disk-full":  # what safetensors raises on ENOSPC, after part of the file is out
            Path(filename).write_bytes(b"\x00" * 1000)
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        real_save(tensors, filename, metadata=metadata)  # read-only: the write works, the rename does not
        calls["replace"] = True

    def replace(src, dst):
        if calls.pop("replace", False):
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod, "save_file", save)
    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("fault,reason", [("file-size-limit", "File too large"), ("disk-full", "No space left"),
                                          ("read-only", "Read-only file system")])
def test_failed_checkpoint_write_is_clear_and_keeps_the_previous(tiny_dataset, tmp_path, monkeypatch, capsys,
                                                                 fault, reason):
    _fail_second_write(monkeypatch, fault)
    args = train_args(tiny_dataset, tmp_path, "--max-images", "60", "--ckpt-every", "2", "--val-every", "100")
    assert main(args) == 2
    err = one_line_error(capsys)
    last = tmp_path / "000-t" / "checkpoints" / "last.safetensors"
    assert f"{last}: cannot write the checkpoint" in err and reason in err and "previous one is unchanged" in err
    assert load_checkpoint(last).meta["step"] == 2  # the one before the failed write, whole
    assert not list(last.parent.glob(".*")) and not list(last.parent.glob("*.tmp"))
    if fault == "disk-full":  # and once there is room again, the run goes on from there
        monkeypatch.undo()
        train(make_config(progress=False), resume=last.parent.parent)
        assert load_checkpoint(last).meta["step"] == 6


# ----------------------------------------------------------------------------- damaged and foreign checkpoints
@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory):
    from odinpaint.models import build
    from odinpaint.models.context_encoder import ContextEncoderArch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "good.safetensors"
    save_checkpoint(path, {"G": build(ContextEncoderArch(image_size=32, width=8))}, {}, {"step": 0})
    return path


def _header_edit(data: bytes, edit) -> bytes:
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + data[8 + n :]


def _damage(data: bytes, kind: str) -> bytes:
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "empty":
        return b""
    if kind == "garbage":
        return bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    if kind == "flipped-weight":  # one bit in the tensor data: only the checksum can tell
        out = bytearray(data)
        out[-3000] ^= 0x10
        return bytes(out)
    if kind == "flipped-header":
        return data[:8] + data[8:40].replace(b'"', b"'", 1) + data[40:]
    if kind == "future-version":
        return _header_edit(data, lambda h: h["__metadata__"].update(version="2"))
    if kind == "not-odinpaint":
        return _header_edit(data, lambda h: h["__metadata__"].pop("format"))
    if kind == "unknown-arch":
        def edit(h):
            meta = json.loads(h["__metadata__"]["odinpaint"])
            meta["archs"]["G"]["class"] = "DiffusionArch"
            h["__metadata__"]["odinpaint"] = json.dumps(meta)
        return _header_edit(data, edit)
    if kind == "newer-arch-field":
        def edit(h):
            meta = json.loads(h["__metadata__"]["odinpaint"])
            meta["archs"]["G"]["attention"] = True
            h["__metadata__"]["odinpaint"] = json.dumps(meta)
        return _header_edit(data, edit)
    raise ValueError(kind)


DAMAGE = {"truncated": "corrupt or truncated", "empty": "corrupt or truncated", "garbage": "corrupt or truncated",
          "flipped-weight": "do not match the checksum", "flipped-header": "corrupt or truncated",
          "future-version": "format version 2", "not-odinpaint": "not an odinpaint checkpoint",
          "unknown-arch": "unknown architecture 'DiffusionArch'", "newer-arch-field": "newer odinpaint"}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_or_foreign_checkpoint_is_named_with_the_reason(good_ckpt, tmp_path, tiny_dataset, capsys, kind):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(_damage(good_ckpt.read_bytes(), kind))
    img = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (40, 40), (90, 120, 150)).save(img)
    for cmd in (["fill", str(img), "--box", "5,5,9,9", "-o", str(tmp_path / "o.png"), "--model", str(bad)],
                ["eval", str(bad), "--data", str(tiny_dataset), "--no-baselines"],
                ["export", str(bad), "--onnx", str(tmp_path / "m.onnx")]):
        assert main(cmd) == 2, cmd
        err = one_line_error(capsys)
        assert f"{bad}: " in err and DAMAGE[kind] in err, (cmd[0], err)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A finished two-step run; tests work on copies of it."""
    from odinpaint.data.prepare import PrepareConfig, prepare
    from helpers.photos import smooth_image
    from PIL import Image

    root = tmp_path_factory.mktemp("short")
    (root / "photos").mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        Image.fromarray(smooth_image(rng, 64, 64)).save(root / "photos" / f"{i}.png")
    prepare(str(root / "photos"), root / "ds", PrepareConfig(size=32, workers=1), progress=False)
    with pytest.MonkeyPatch.context() as mp:
        skip_run_plots(mp)
        assert main(train_args(root / "ds", root / "runs", "--max-images", "20")) == 0
    return root / "runs" / "000-t"


def copy_run(run: Path, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dest / run.name))


def test_resume_with_a_checkpoint_of_another_architecture(short_run, tmp_path, capsys):
    from odinpaint.models import build
    from odinpaint.models.context_encoder import ContextEncoderArch

    run = copy_run(short_run, tmp_path)
    last = run / "checkpoints" / "last.safetensors"
    arch = load_checkpoint(last).arch("G")
    save_checkpoint(last, {"G": build(ContextEncoderArch(**{**arch.__dict__, "width": 16}))}, {}, {"step": 2})
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert f"{last}: network 'G' is of another architecture: width 16 (needed 8)" in err


def test_init_of_another_architecture_names_the_file_and_the_field_and_makes_no_run(short_run, tmp_path, capsys):
    from odinpaint.models import build
    from odinpaint.models.context_encoder import ContextEncoderArch

    arch = load_checkpoint(short_run / "checkpoints" / "best.safetensors").arch("G")
    wide = tmp_path / "wide.safetensors"
    save_checkpoint(wide, {"G": build(ContextEncoderArch(**{**arch.__dict__, "width": 16}))}, {}, {"step": 0})
    ds = json.loads((short_run / "config.json").read_text())["data"]
    out = tmp_path / "runs"
    assert main(train_args(ds, out, "--max-images", "20", "--init", str(wide))) == 2
    assert f"{wide}: network 'G' is of another architecture: width 16 (needed 8)" in one_line_error(capsys)
    assert main(train_args(ds, out, "--max-images", "20", "--init", str(tmp_path / "none.safetensors"))) == 2
    assert "none.safetensors: no such checkpoint file" in one_line_error(capsys)
    assert not out.exists()  # nothing half-made: no run directory, no config.json


def test_nan_loss_stops_training_with_a_clear_error(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(steps.CEStep, "__call__", nan_on_call(steps.CEStep.__call__, 3, "loss"))
    assert main(train_args(tiny_dataset, tmp_path, "--max-images", "60", "--ckpt-every", "2")) == 2
    err = one_line_error(capsys)
    last = tmp_path / "000-t/checkpoints/last.safetensors"
    assert "step 3: loss is nan; training stopped" in err and str(last) in err
    assert load_checkpoint(last).meta["step"] == 2


# ----------------------------------------------------------------------------- planted pickles
class Planted:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path: Path, marker: Path, how: str = "torch") -> None:
    if how == "torch":  # a PyTorch checkpoint: a zip with a pickle inside
        torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": Planted(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Planted(marker), protocol=2))


def test_the_planted_pickle_really_runs_code_when_unpickled(tmp_path):
    """The control: the same files do run code when loaded the unsafe way."""
    for how in ("torch", "pickle"):
        marker = tmp_path / f"ran-{how}"
        _plant(tmp_path / f"evil-{how}", marker, how)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(tmp_path / f"evil-{how}", weights_only=True)
        assert not marker.exists()
        if how == "torch":
            torch.load(tmp_path / f"evil-{how}", weights_only=False)
        else:
            pickle.loads((tmp_path / f"evil-{how}").read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("where", ["fill", "fill-pt", "serve", "eval", "export", "resume", "onnx", "data-split",
                                   "data-split-npz"])
def test_a_planted_pickle_never_runs(tiny_dataset, good_ckpt, short_run, tmp_path, capsys, where):
    marker = tmp_path / "code-ran"
    img = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (40, 40), (90, 120, 150)).save(img)
    evil = tmp_path / ("model.pt" if where == "fill-pt" else "model.onnx" if where == "onnx" else "model.safetensors")
    fill = ["fill", str(img), "--box", "5,5,9,9", "-o", str(tmp_path / "o.png"), "--model", str(evil)]
    if where.startswith("data-split"):
        _plant(tiny_dataset / "test.npy", marker, "pickle" if where == "data-split" else "torch")
        evil = tiny_dataset / "test.npy"
        cmd = ["eval", str(good_ckpt), "--data", str(tiny_dataset), "--no-baselines"]
    elif where == "resume":
        evil = copy_run(short_run, tmp_path) / "checkpoints" / "last.safetensors"
        _plant(evil, marker)
        cmd = ["train", "--resume", str(evil.parent.parent), "--no-progress"]
    else:
        _plant(evil, marker, "pickle" if where == "onnx" else "torch")
        cmd = {"serve": ["serve", "--model", str(evil), "--port", "9"],
               "eval": ["eval", str(evil), "--data", str(tiny_dataset)],
               "export": ["export", str(evil), "--onnx", str(tmp_path / "m.onnx")]}.get(where, fill)
    capsys.readouterr()
    assert main(cmd) == 2
    err = one_line_error(capsys)
    assert str(evil) in err
    assert not marker.exists()


def test_no_unpickling_call_in_the_source():
    """The only loaders are safetensors, JSON, onnxruntime and np.load without allow_pickle."""
    import re

    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle=True|weights_only=False|joblib\.load|"
                        r"(?<![\w.])(?<!def )(eval|exec)\(")
    for path in (Path(SRC) / "odinpaint").rglob("*.py"):
        found = unsafe.search(path.read_text())
        assert found is None, f"{path.name}: {found.group(0)}"
    assert unsafe.search("x = torch.load(f)") and unsafe.search("eval(s)")
    assert not unsafe.search("net.eval()") and not unsafe.search("def eval(self):")
