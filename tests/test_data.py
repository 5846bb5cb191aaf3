import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.photos import smooth_image
from odinpaint.cli import main
from odinpaint.data.dataset import DataSet, DataSetError
from odinpaint.data.prepare import PrepareConfig, cut_patches, prepare, random_crops
from odinpaint.data.sources import LOMIRI_PHOTOS, OPENCV_DATA, PLASMA_PHOTOS, resolve_source, split_by_ratio


def digest(root):
    return {s: hashlib.sha256(np.load(root / f"{s}.npy").tobytes()).hexdigest() for s in ("train", "val", "test")}


def test_folder_prepare_writes_memmapped_splits(tmp_path, photo_folder):
    m = prepare(str(photo_folder), tmp_path / "ds", PrepareConfig(size=32, workers=1), progress=False)
    ds = DataSet(tmp_path / "ds")
    counts = {s: len(ds.split(s)) for s in ("train", "val", "test")}
    assert counts == {s: m["splits"][s]["count"] for s in counts}
    assert counts == {"train": 10, "val": 1, "test": 1}  # 12 photos: 10% each floored to 1, train the rest
    assert isinstance(ds.split("train"), np.memmap)
    assert ds.split("test").shape[1:] == (32, 32, 3)
    files = [set(m["splits"][s]["files"]) for s in ("train", "val", "test")]
    assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])
    assert m["seed"] == 0 and m["preprocessing"]["crop"] == "center" and m["size"] == 32


def test_same_seed_same_output_other_seed_other_split(tmp_path, photo_folder):
    cfg = PrepareConfig(size=32, workers=2)
    prepare(str(photo_folder), tmp_path / "a", cfg, progress=False)
    prepare(str(photo_folder), tmp_path / "b", cfg, progress=False)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    m = prepare(str(photo_folder), tmp_path / "c", PrepareConfig(size=32, seed=5, workers=1), progress=False)
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert a["splits"]["test"]["files"] != m["splits"]["test"]["files"]


def test_corrupt_file_is_skipped_counted_and_named(tmp_path, photo_folder, capsys):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photo_folder / "empty.png").write_bytes(b"")
    rc = main(["data", "prepare", str(photo_folder), "--out", str(tmp_path / "ds"), "--size", "32", "--workers", "1"])
    assert rc == 2  # the data set is written, and the status says some files were not usable
    out = capsys.readouterr().out
    assert "skipped 2 unreadable file(s)" in out and "broken.jpg" in out and "empty.png: empty file" in out
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert {s["file"] for s in m["skipped"]} == {"broken.jpg", "empty.png"}
    assert sum(m["splits"][s]["count"] for s in m["splits"]) == 12


def test_too_few_images_is_a_clear_error(tmp_path, capsys):
    d = tmp_path / "two"
    d.mkdir()
    for i in range(2):
        Image.new("RGB", (40, 40)).save(d / f"{i}.png")
    assert main(["data", "prepare", str(d), "--out", str(tmp_path / "o")]) == 2
    assert "at least 3 images" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_existing_output_is_not_overwritten(tmp_path, photo_folder, capsys):
    args = ["data", "prepare", str(photo_folder), "--out", str(tmp_path / "ds"), "--size", "32", "--workers", "1"]
    assert main(args) == 0
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert not list(tmp_path.glob("ds.partial*")) and not list(tmp_path.glob("ds.old"))


def test_split_by_ratio_gives_every_split_an_image():
    for n in (3, 4, 7, 50):
        labels = split_by_ratio(n, (0.8, 0.1, 0.1), seed=0)
        assert {"train", "val", "test"} == set(labels) and len(labels) == n
    with pytest.raises(ValueError, match="at least 3"):
        split_by_ratio(2, (0.8, 0.1, 0.1), 0)


def test_cut_patches_drops_flat_and_never_upscales(rng):
    img = smooth_image(rng, 100, 150)
    img[:, :50] = 128  # a flat region
    patches = cut_patches(img, 32, scales=(2, 8), min_std=5.0)  # 8*32 > 100: capped at the short side
    assert patches and all(p.shape == (32, 32, 3) and p.std() >= 5.0 for p in patches)
    full = cut_patches(img, 32, scales=(2, 8), min_std=0.0)
    assert len(full) == 2 * 3 + 3 * 4 and len(patches) < len(full)


def test_random_crops_span_every_scale_and_mirror(monkeypatch):
    import odinpaint.data.prepare as prep

    # red grows left to right: a crop shows whether it was mirrored
    img = np.zeros((120, 200, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, 200, dtype=np.uint8)[None]
    img[..., 1] = np.linspace(0, 255, 120, dtype=np.uint8)[:, None]
    sides = []
    real_resize = prep._resize
    monkeypatch.setattr(prep, "_resize", lambda a, w, h: sides.append(a.shape[0]) or real_resize(a, w, h))
    crops = random_crops(img, 16, 400, 0.0, np.random.default_rng(0))
    assert len(crops) == 400 and all(c.shape == (16, 16, 3) for c in crops)
    # from pixel detail to the whole short side, log-uniform (median near the geometric mean)
    assert min(sides) < 20 and max(sides) > 110 and 35 < np.median(sides) < 55
    mirrored = [int(c[8, -1, 0]) < int(c[8, 0, 0]) for c in crops]
    assert 150 < sum(mirrored) < 250
    again = random_crops(img, 16, 400, 0.0, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(crops, again))  # seeded
    flat = np.full((120, 200, 3), 128, np.uint8)
    assert random_crops(flat, 16, 5, 5.0, np.random.default_rng(0)) == []  # flat crops are kept out


def test_train_crops_replace_the_train_grid_only(tmp_path, rng):
    root = tmp_path / "root"
    (root / "usr/share/backgrounds/mate/nature").mkdir(parents=True)
    Image.fromarray(smooth_image(rng, 300, 400)).save(root / "usr/share/backgrounds" / LOMIRI_PHOTOS[0])
    Image.fromarray(smooth_image(rng, 300, 400)).save(root / "usr/share/backgrounds/mate/nature/Aqua.jpg")
    (root / OPENCV_DATA).mkdir(parents=True)
    for name in ("baboon.jpg", "fruits.jpg", "apple.jpg", "orange.jpg"):
        Image.fromarray(smooth_image(rng, 200, 220)).save(root / OPENCV_DATA / name)
    grid = prepare("photos", tmp_path / "grid", PrepareConfig(size=32, workers=1, min_std=0.0), photos_root=root,
                   progress=False)
    crops = prepare("photos", tmp_path / "crops", PrepareConfig(size=32, workers=1, min_std=0.0, train_crops=7),
                    photos_root=root, progress=False)
    assert crops["splits"]["train"]["count"] == 2 * 7 != grid["splits"]["train"]["count"]
    assert crops["preprocessing"]["train_crops"] == 7
    for split in ("val", "test"):  # the held-out photos are cut exactly as before
        assert (np.load(tmp_path / "grid" / f"{split}.npy") == np.load(tmp_path / "crops" / f"{split}.npy")).all()
    # Each photo's crops depend on its name and the seed, not on the other photos.
    train = np.load(tmp_path / "crops" / "train.npy")
    (root / "usr/share/backgrounds/mate/nature/Aqua.jpg").unlink()
    alone = prepare("photos", tmp_path / "alone", PrepareConfig(size=32, workers=1, min_std=0.0, train_crops=7),
                    photos_root=root, progress=False)
    assert alone["splits"]["train"]["count"] == 7
    assert (np.load(tmp_path / "alone" / "train.npy") == train[:7]).all()


def _celeba_images(folder, n, rng):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(smooth_image(rng, 218, 178)).save(folder / f"{i + 1:06d}.jpg")


def test_celeba_folder_with_official_partition(tmp_path, rng):
    root = tmp_path / "celeba"
    _celeba_images(root / "img_align_celeba", 6, rng)
    (root / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate([0, 0, 0, 1, 2, 2])))
    m = prepare(str(root / "img_align_celeba"), tmp_path / "ds", PrepareConfig(size=32, workers=1), progress=False)
    assert m["source"]["kind"] == "celeba" and m["source"]["partition"] == "official"
    assert [m["splits"][s]["count"] for s in ("train", "val", "test")] == [3, 1, 2]
    assert m["splits"]["val"]["files"] == ["000004.jpg"]
    assert m["preprocessing"]["crop"] == "celeba"


def test_celeba_zip_without_partition_uses_seeded_split(tmp_path, rng):
    _celeba_images(tmp_path / "img_align_celeba", 5, rng)
    zpath = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted((tmp_path / "img_align_celeba").iterdir()):
            z.write(f, f"img_align_celeba/{f.name}")
    m = prepare(str(zpath), tmp_path / "ds", PrepareConfig(size=32, workers=1), progress=False)
    assert m["source"]["partition"] == "seeded 98/1/1"
    assert [m["splits"][s]["count"] for s in ("train", "val", "test")] == [3, 1, 1]  # 1% of 5 is at least one


def test_photos_source_keeps_test_photos_out_of_training(tmp_path, rng):
    root = tmp_path / "root"
    (root / "usr/share/backgrounds/mate/nature").mkdir(parents=True)
    Image.fromarray(smooth_image(rng, 300, 400)).save(root / "usr/share/backgrounds" / LOMIRI_PHOTOS[0])
    # a render another package puts beside them, named like them: not a training photo
    Image.fromarray(smooth_image(rng, 300, 400)).save(root / "usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg")
    Image.fromarray(smooth_image(rng, 300, 400)).save(root / "usr/share/backgrounds/mate/nature/Aqua.jpg")
    plasma = root / "usr/share/wallpapers" / PLASMA_PHOTOS[0] / "contents/images"
    plasma.mkdir(parents=True)
    Image.fromarray(smooth_image(rng, 120, 160)).save(plasma / "640x480.jpg")
    Image.fromarray(smooth_image(rng, 300, 400)).save(plasma / "1920x1080.jpg")
    (root / OPENCV_DATA).mkdir(parents=True)
    for name in ("baboon.jpg", "fruits.jpg", "apple.jpg", "orange.jpg"):
        Image.fromarray(smooth_image(rng, 200, 220)).save(root / OPENCV_DATA / name)
    Image.fromarray(smooth_image(rng, 200, 220)).save(root / OPENCV_DATA / "LinuxLogo.jpg")  # not a photo
    src = resolve_source("photos", photos_root=root)
    train = {i.name for i in src.items if i.split == "train"}
    held = {i.name for i in src.items if i.split != "train"}
    assert len(train) == 3 and any("1920x1080" in n for n in train) and not any("640x480" in n for n in train)
    assert len(held) == 4 and not any("LinuxLogo" in n for n in held)
    assert {i.split for i in src.items} == {"train", "val", "test"}
    m = prepare(src, tmp_path / "ds", PrepareConfig(size=32, workers=1), progress=False)
    # each split holds its own photos' patches, and only theirs
    assert {s: {Path(f).name for f in m["splits"][s]["files"]} for s in m["splits"]} == \
        {s: {Path(i.name).name for i in src.items if i.split == s} for s in ("train", "val", "test")}
    pre = m["preprocessing"]
    for s in ("train", "val", "test"):
        patches = [cut_patches(np.asarray(Image.open(root / f).convert("RGB")), 32, pre["scales"], pre["min_std"])
                   for f in m["splits"][s]["files"]]
        assert m["splits"][s]["count"] == sum(map(len, patches)) == len(DataSet(tmp_path / "ds").split(s)), s


def test_missing_photo_packages_say_how_to_install(tmp_path):
    with pytest.raises(ValueError, match="apt-get install"):
        resolve_source("photos", photos_root=tmp_path)


def test_samples_source_prepares():
    src = resolve_source("samples")
    assert len(src.items) >= 3 and src.crop == "patches"


def test_dataset_rejects_missing_and_mismatched(tmp_path, tiny_dataset):
    with pytest.raises(DataSetError, match="no manifest.json"):
        DataSet(tmp_path)
    np.save(tiny_dataset / "val.npy", np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(DataSetError, match="manifest says"):
        DataSet(tiny_dataset).split("val")

