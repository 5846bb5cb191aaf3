"""Where images come from: a folder, CelebA, the Debian photo packages, or package samples.

A source is a list of ``Item``s: one source image each, already assigned to a split, with
how to cut it (one centre crop, or patches at several scales).

    >>> from odinpaint.data.sources import resolve_source
    >>> src = resolve_source("photos")                 # Debian wallpapers + opencv-doc photos
    >>> src = resolve_source("gcompris")               # gcompris's photos: animals, monuments, people
    >>> src = resolve_source("/data/img_align_celeba")  # CelebA, detected by its layout
    >>> src = resolve_source("~/pictures", seed=0)     # any folder, seeded 80/10/10 split
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from odinpaint.data.rcc import iter_rcc, read_rcc
from odinpaint.errors import UserError
from odinpaint.imageio import IMAGE_EXTENSIONS, ImageError, check_header, find_images, load_rgb

SPLITS = ("train", "val", "test")

# Debian packages with real photos (docs/guides/data.md): wallpapers train, opencv-doc photos test.
PHOTO_PACKAGES = ("lomiri-wallpapers-16.04", "mate-backgrounds", "plasma-workspace-wallpapers", "opencv-doc")
# Each file named, not globbed: other packages (lomiri-wallpapers-20.04, ukui-wallpapers,
# gnome-backgrounds) put renders into the same folders, and installing them must not change
# the data set silently.
LOMIRI_PHOTOS = ("Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
                 "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
                 "analogpattern_by_Peter_Nerlich.jpg", "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
                 "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg",
                 "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
                 "sunset_by_Aitzol_Berasategi.jpg", "umang_by_Abhishek_Mudgal.jpg")
MATE_PHOTOS = ("Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg", "LadyBird.jpg",
               "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg")
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
# gcompris-qt-data's photographs (animals, monuments, musicians, the sea floor: scenes with
# objects, unlike the wallpapers), inside Qt resource bundles: the ``gcompris`` source, a
# second source of photos the shipped model never saw. The bundles also hold sprites and
# icons, all under GCOMPRIS_MIN_SIDE px.
GCOMPRIS_PACKAGE = "gcompris-qt-data"
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
GCOMPRIS_BUNDLES = ("clickgame", "erase", "explore_farm_animals", "explore_monuments", "explore_world_animals",
                    "explore_world_music")
GCOMPRIS_MIN_SIDE = 600
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
# The opencv-doc files that are colour photographs (the rest are drawings, logos, charts,
# grey calibration shots or renders). leuvenB/aloeR/graf3 are near-copies of a listed one.
OPENCV_PHOTOS = ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
                 "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "HappyFish.jpg", "home.jpg",
                 "left.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png",
                 "smarties.png", "squirrel_cls.jpg", "stuff.jpg")


@dataclass(frozen=True)
class Item:
    """One source image: ``name`` for reports, ``ref`` for loading, the split it belongs to."""

    name: str
    ref: tuple  # ("file", path), ("zip", zip_path, member) or ("rcc", rcc_path, member)
    split: str


@dataclass
class Source:
    kind: str  # folder | celeba | photos | gcompris | samples
    items: list[Item]
    crop: str  # "center": one centre-cropped sample per image; "patches": tiles at several scales
    description: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)  # [{"file", "reason"}] found unreadable before splitting


def load_item(item: Item) -> np.ndarray:
    """Decode one item as (H, W, 3) uint8. Raises ImageError naming the item."""
    if item.ref[0] == "zip":
        _, zpath, member = item.ref
        try:
            with zipfile.ZipFile(zpath) as z:
                data = z.read(member)
        except Exception as e:  # a damaged archive: bad CRC, bad deflate stream, cut short
            raise ImageError(item.name, f"cannot read it from {zpath} ({type(e).__name__}: {e})") from None
        return load_rgb(data, name=item.name)
    if item.ref[0] == "rcc":
        _, rpath, member = item.ref
        try:
            data = read_rcc(rpath, member)
        except (OSError, UserError) as e:
            raise ImageError(item.name, f"cannot read it from {rpath} ({e})") from None
        return load_rgb(data, name=item.name)
    return load_rgb(item.ref[1], name=item.name)


def split_by_ratio(n: int, ratios: tuple[float, float, float], seed: int) -> list[str]:
    """Seeded assignment of ``n`` images to train/val/test; every split non-empty when n >= 3."""
    if n < 3:
        raise UserError(f"need at least 3 images to make train/val/test splits, found {n}")
    r = np.asarray(ratios, dtype=float)
    if r.shape != (3,) or (r < 0).any() or r.sum() <= 0:
        raise UserError(f"split ratios must be three non-negative numbers, got {ratios}")
    counts = np.maximum(1, np.floor(r / r.sum() * n).astype(int))
    counts[0] = n - counts[1:].sum()  # train takes the remainder
    if counts[0] < 1:
        raise UserError(f"split ratios {ratios} leave no training images out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=object)
    labels[order] = np.repeat(SPLITS, counts)
    return list(labels)


def folder_source(root: Path, ratios, seed: int, crop: str) -> Source:
    """Any folder of images. Files whose header is unreadable are set aside before the
    split, so a broken file never leaves a split empty; later decode errors are skipped then."""
    files, skipped = [], []
    for f in find_images(root):
        err = check_header(f)
        if err:
            skipped.append({"file": str(f.relative_to(root)), "reason": err})
        else:
            files.append(f)
    if not files:
        raise UserError(f"{root}: no readable images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    labels = split_by_ratio(len(files), ratios, seed)
    items = [Item(str(f.relative_to(root)), ("file", str(f)), s) for f, s in zip(files, labels)]
    return Source("folder", items, crop, {"root": str(root), "ratios": list(ratios)}, skipped)


def _celeba_partition(root: Path) -> dict[str, str] | None:
    """CelebA's official split (0 train, 1 val, 2 test), when list_eval_partition.txt is near."""
    for cand in (root / "list_eval_partition.txt", root.parent / "list_eval_partition.txt",
                 root.parent / "Eval" / "list_eval_partition.txt"):
        if cand.is_file():
            out = {}
            for line in cand.read_text().split("\n"):
                parts = line.split()
                if len(parts) == 2 and parts[1] in "012":
                    out[parts[0]] = SPLITS[int(parts[1])]
            return out
    return None


def is_celeba(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return "img_align_celeba" in path.stem or (path.is_file() and any(
            n.startswith("img_align_celeba/") for n in zipfile.ZipFile(path).namelist()[:10]))
    return path.name == "img_align_celeba" or (path / "img_align_celeba").is_dir()


def celeba_source(path: Path, seed: int) -> Source:
    """CelebA's ``img_align_celeba`` folder or zip; official partition when present, else 98/1/1."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            members = sorted(n for n in z.namelist() if Path(n).suffix.lower() in IMAGE_EXTENSIONS)
        refs = [(Path(m).name, ("zip", str(path), m)) for m in members]
    else:
        folder = path if path.name == "img_align_celeba" else path / "img_align_celeba"
        refs = [(f.name, ("file", str(f))) for f in find_images(folder)]
    if not refs:
        raise UserError(f"{path}: no CelebA images found")
    partition = _celeba_partition(path if path.is_dir() else path.parent)
    if partition is not None:
        missing = [n for n, _ in refs if n not in partition]
        if missing:
            raise UserError(f"{path}: {len(missing)} images are not in list_eval_partition.txt (e.g. {missing[0]})")
        labels = [partition[n] for n, _ in refs]
    else:
        labels = split_by_ratio(len(refs), (0.98, 0.01, 0.01), seed)
    items = [Item(n, r, s) for (n, r), s in zip(refs, labels)]
    return Source("celeba", items, "celeba", {"path": str(path), "partition": "official" if partition else "seeded 98/1/1"})


def photo_files(root: Path = Path("/")) -> tuple[list[Path], list[Path]]:
    """The training wallpapers and the opencv-doc test photos found below ``root``."""
    train = [p for n in LOMIRI_PHOTOS if (p := root / "usr/share/backgrounds" / n).is_file()]
    train += [p for n in MATE_PHOTOS if (p := root / "usr/share/backgrounds/mate/nature" / n).is_file()]
    for name in PLASMA_PHOTOS:
        images = [p for p in (root / "usr/share/wallpapers" / name / "contents/images").glob("*") if p.is_file()]
        if images:
            train.append(max(images, key=lambda p: p.stat().st_size))  # the largest rendition
    test = [root / OPENCV_DATA / n for n in OPENCV_PHOTOS if (root / OPENCV_DATA / n).is_file()]
    return train, test


def gcompris_photos(root: Path = Path("/")) -> list[Item]:
    """gcompris's photographs, as items named ``<bundle path>:<path inside>`` (split unset)."""
    from PIL import Image

    items = []
    for bundle in GCOMPRIS_BUNDLES:
        path = root / GCOMPRIS_RCC / f"{bundle}.rcc"
        if not path.is_file():
            continue
        for member, read in iter_rcc(path, IMAGE_EXTENSIONS):
            try:
                size = Image.open(io.BytesIO(read())).size  # the header only
            except (OSError, UserError):
                continue  # not an image Pillow reads: nothing to train on
            if min(size) >= GCOMPRIS_MIN_SIDE:
                items.append(Item(f"{path.relative_to(root)}:{member}", ("rcc", str(path), member), ""))
    return items


def photos_source(seed: int, root: Path = Path("/")) -> Source:
    """Wallpapers for training; opencv-doc photos split between val and test by photo,
    so no patch in val or test shares a source photo with training or with each other."""
    train, held_out = photo_files(root)
    if len(train) == 0 or len(held_out) < 2:
        raise UserError("the photo packages are not installed (found "
                         f"{len(train)} wallpapers, {len(held_out)} opencv-doc photos); install them with: "
                         f"sudo apt-get install {' '.join(PHOTO_PACKAGES)}   (or: make photos)")
    order = np.random.default_rng(seed).permutation(len(held_out))
    half = len(held_out) // 2
    items = [Item(str(p.relative_to(root)), ("file", str(p)), "train") for p in train]
    items += [Item(str(held_out[i].relative_to(root)), ("file", str(held_out[i])), "val" if k < half else "test")
              for k, i in enumerate(order)]
    return Source("photos", items, "patches", {"packages": list(PHOTO_PACKAGES)})


def gcompris_source(seed: int, ratios=(0.8, 0.1, 0.1), crop: str = "center", root: Path = Path("/")) -> Source:
    """gcompris's photos, split by a seeded ratio like a folder. The shipped model never
    trains on them: ``eval-photos --photos gcompris`` scores it on all of them."""
    found = gcompris_photos(root)
    if not found:
        raise UserError(f"found no gcompris photos in {root / GCOMPRIS_RCC}; install them with: "
                        f"sudo apt-get install {GCOMPRIS_PACKAGE}")
    labels = split_by_ratio(len(found), ratios, seed)
    items = [Item(it.name, it.ref, s) for it, s in zip(found, labels)]
    return Source("gcompris", items, crop, {"packages": [GCOMPRIS_PACKAGE], "ratios": list(ratios)})


def samples_source(seed: int) -> Source:
    """The photos shipped inside pip packages (scikit-image, matplotlib): a quick look anywhere."""
    import matplotlib
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    files = [data_dir / n for n in ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg") if (data_dir / n).is_file()]
    mpl = Path(matplotlib.get_data_path()) / "sample_data"
    files += [p for p in (mpl / "grace_hopper.jpg",) if p.is_file()]
    if len(files) < 3:
        raise UserError(f"found only {len(files)} sample photos in the installed packages; need 3")
    labels = split_by_ratio(len(files), (0.6, 0.2, 0.2), seed)
    items = [Item(f.name, ("file", str(f)), s) for f, s in zip(files, labels)]
    return Source("samples", items, "patches", {"files": [str(f) for f in files]})


def resolve_source(source: str, seed: int = 0, ratios=(0.8, 0.1, 0.1), crop: str = "center",
                   photos_root: Path = Path("/")) -> Source:
    """``photos``, ``gcompris``, ``samples``, a CelebA folder or zip, or any folder of images."""
    if source == "photos":
        return photos_source(seed, photos_root)
    if source == "gcompris":
        return gcompris_source(seed, ratios, crop, photos_root)
    if source == "samples":
        return samples_source(seed)
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"{source}: no such folder (sources are a folder, a CelebA folder or zip, 'photos', 'gcompris' or 'samples')")
    if is_celeba(path):
        return celeba_source(path, seed)
    if not path.is_dir():
        raise UserError(f"{source}: not a folder of images")
    return folder_source(path, ratios, seed, crop)
