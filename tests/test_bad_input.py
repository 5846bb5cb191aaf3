"""Bad and unusual input through the commands that read images: fill, data prepare, eval.

Every refused file gets one line naming it and the reason, and exit status 2; batches go on
past bad files and name them at the end; nothing is half-written."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from helpers.badfiles import broken_files, encode, exif_rotated_jpeg, odd_files
from helpers.photos import smooth_image
from odinpaint.cli import main
from odinpaint.imageio import load_rgb

H, W = 40, 48
BOX = "10,8,16,12"  # x, y, w, h
RGB = smooth_image(np.random.default_rng(7), H, W)
BROKEN = broken_files(RGB)
ODD = odd_files(RGB)


def fill(model_path, image, out, *extra) -> int:
    return main(["fill", str(image), "--model", str(model_path), "-o", str(out), "--no-progress", *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("odinpaint: error: "), err
    return err


def no_leftovers(folder: Path) -> bool:
    return not list(folder.rglob(".*.tmp"))


@pytest.mark.parametrize("name", list(BROKEN))
def test_fill_refuses_a_broken_image_or_mask(model_path, tmp_path, capsys, name):
    data, reason = BROKEN[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    out = tmp_path / "out.png"
    assert fill(model_path, bad, out, "--box", BOX) == 2
    err = one_line_error(capsys)
    assert str(bad) in err and reason in err
    # the same file given as the mask of a good image
    good = tmp_path / "good.png"
    Image.fromarray(RGB).save(good)
    assert fill(model_path, good, out, "--mask", str(bad)) == 2
    err = one_line_error(capsys)
    assert str(bad) in err and reason in err
    assert not out.exists() and no_leftovers(tmp_path)


@pytest.mark.parametrize("name", list(ODD))
def test_fill_reads_every_mode(model_path, tmp_path, name):
    src = tmp_path / name
    src.write_bytes(ODD[name])
    expected = load_rgb(src)  # (the EXIF one comes back upright: 48 x 40)
    out = tmp_path / "out.png"
    assert fill(model_path, src, out, "--box", BOX) == 0
    result = np.asarray(Image.open(out))
    assert result.shape == expected.shape and result.dtype == np.uint8
    hole = np.zeros(expected.shape[:2], bool)
    hole[8:20, 10:26] = True
    assert (result[~hole] == expected[~hole]).all() and (result[hole] != expected[hole]).any()


def test_every_exif_orientation_is_applied(model_path, tmp_path, capsys):
    for orientation in range(1, 9):
        src = tmp_path / f"o{orientation}.jpg"
        src.write_bytes(exif_rotated_jpeg(RGB, orientation))
        upright = np.asarray(ImageOps.exif_transpose(Image.open(src)).convert("RGB"))
        assert upright.shape[:2] == ((W, H) if orientation >= 5 else (H, W))
        mask = np.zeros(upright.shape[:2], np.uint8)
        mask[5:15, 5:15] = 255
        Image.fromarray(mask).save(tmp_path / "m.png")
        out = tmp_path / f"out{orientation}.png"
        assert fill(model_path, src, out, "--mask", str(tmp_path / "m.png")) == 0
        result = np.asarray(Image.open(out))
        assert (result[mask == 0] == upright[mask == 0]).all()
    # a mask drawn on the stored (sideways) pixels does not fit the upright image
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "sideways.png")
    assert fill(model_path, tmp_path / "o6.jpg", tmp_path / "x.png", "--mask", str(tmp_path / "sideways.png")) == 2
    assert f"mask is {W}x{H} but" in one_line_error(capsys)


def test_masks_wrong_size_empty_full_and_grey(model_path, tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(RGB).save(src)
    out = tmp_path / "out.png"

    def with_mask(a: np.ndarray, fmt="PNG") -> int:
        path = tmp_path / f"mask.{fmt.lower()}"
        path.write_bytes(encode(a, fmt, **({"quality": 75} if fmt == "JPEG" else {})))
        return fill(model_path, src, out, "--mask", str(path))

    assert with_mask(np.zeros((10, 10), np.uint8)) == 2
    assert f"mask is 10x10 but {src} is {W}x{H}" in one_line_error(capsys)
    assert with_mask(np.full((H, W), 255, np.uint8)) == 2
    assert "covers the whole image" in one_line_error(capsys) and not out.exists()
    # an empty mask: the output is the input, pixel for pixel
    assert with_mask(np.zeros((H, W), np.uint8)) == 0
    assert (np.asarray(Image.open(out)) == RGB).all()
    # non-binary: a left-to-right ramp; only the pixels brighter than 127 are the hole
    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    assert with_mask(ramp) == 0
    result = np.asarray(Image.open(out))
    assert (result[ramp <= 127] == RGB[ramp <= 127]).all() and (result[ramp > 127] != RGB[ramp > 127]).any()
    # a lossy JPEG mask: its ringing grey levels binarize back to the box
    box = np.zeros((H, W), np.uint8)
    box[8:20, 10:26] = 255
    assert with_mask(box, "JPEG") == 0
    result = np.asarray(Image.open(out))
    assert (result[box == 0] == RGB[box == 0]).all()


def test_fill_folder_goes_past_bad_files_and_names_them(model_path, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name, (data, _) in BROKEN.items():
        (src / name).write_bytes(data)
    for name, data in ODD.items():
        (src / name).write_bytes(data)
    rc = main(["fill", "--input", str(src), "-o", str(out), "--box", BOX, "--model", str(model_path), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 2 and f"filled {len(ODD)}, skipped 0 existing, failed {len(BROKEN)}" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == len(BROKEN)
    for name, (_, reason) in BROKEN.items():
        assert any(name in ln and reason in ln for ln in lines), name
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).stem + ".png" for n in ODD)
    assert no_leftovers(out)


def test_fill_write_failure_leaves_nothing(model_path, tmp_path, capsys, monkeypatch):
    src = tmp_path / "in.png"
    Image.fromarray(RGB).save(src)

    def disk_full(self, fp, *a, **k):
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    assert fill(model_path, src, tmp_path / "out.png", "--box", BOX) == 2
    assert "No space left on device" in one_line_error(capsys)
    assert not (tmp_path / "out.png").exists() and no_leftovers(tmp_path)


@pytest.mark.multiprocess
def test_exit_status_of_the_process(model_path, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(BROKEN["notes.jpg"][0])
    env_path = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.run([sys.executable, "-m", "odinpaint", "fill", str(bad), "--box", BOX, "--model",
                           str(model_path), "-o", str(tmp_path / "o.png")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": env_path}, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"odinpaint: error: {bad}: not an image file (not JPEG, PNG, WebP, BMP, TIFF or GIF)")


def test_prepare_goes_past_bad_files_and_keeps_odd_ones(tmp_path, photo_folder, capsys):
    big = smooth_image(np.random.default_rng(3), 80, 96)
    for name, (data, _) in broken_files(big).items():
        (photo_folder / name).write_bytes(data)
    for name, data in odd_files(big).items():
        (photo_folder / name).write_bytes(data)
    out = tmp_path / "ds"
    rc = main(["data", "prepare", str(photo_folder), "--out", str(out), "--size", "32", "--workers", "1"])
    captured = capsys.readouterr()
    assert rc == 2 and f"{len(BROKEN)} unreadable file(s) skipped" in captured.err
    m = json.loads((out / "manifest.json").read_text())
    assert {s["file"] for s in m["skipped"]} == set(BROKEN)
    for s in m["skipped"]:
        assert BROKEN[s["file"]][1] in s["reason"] and f"{s['file']}: {s['reason']}" in captured.out
    assert sum(m["splits"][s]["images"] for s in m["splits"]) == 12 + len(ODD)


def test_prepare_interrupted_leaves_no_data_set(tmp_path, photo_folder, monkeypatch):
    from odinpaint.data import prepare as prep

    real, calls = prep.load_item, {"n": 0}

    def dies_on_the_fifth(item):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(item)

    monkeypatch.setattr(prep, "load_item", dies_on_the_fifth)
    assert main(["data", "prepare", str(photo_folder), "--out", str(tmp_path / "ds"), "--size", "32",
                 "--workers", "1"]) == 130
    assert calls["n"] == 5 and not list(tmp_path.glob("ds*"))  # neither the set nor its partial folder


@pytest.mark.parametrize("damage,reason", [
    ("empty", "EOFError"), ("truncated", "mmap length"), ("objects", "Python objects"), ("pickle", "pickled"),
    ("manifest", "corrupt manifest"), ("manifest_keys", "corrupt manifest"),
])
def test_eval_refuses_a_damaged_data_set(model_path, tiny_dataset, capsys, damage, reason):
    test = tiny_dataset / "test.npy"
    if damage == "empty":
        test.write_bytes(b"")
    elif damage == "truncated":
        test.write_bytes(test.read_bytes()[:-100])
    elif damage == "objects":
        np.save(test, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "pickle":
        test.write_bytes(pickle.dumps({"a": 1}))
    elif damage == "manifest":
        (tiny_dataset / "manifest.json").write_text('{"format": 1, "size": ')
    else:
        (tiny_dataset / "manifest.json").write_text('{"format": 1, "size": 32}')
    assert main(["eval", str(model_path), "--data", str(tiny_dataset), "--no-baselines", "--max-images", "4",
                 "--masks-per-image", "1"]) == 2
    err = one_line_error(capsys)
    assert reason in err and str(tiny_dataset) in err
