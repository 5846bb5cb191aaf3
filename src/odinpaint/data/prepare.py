"""``odinpaint data prepare``: turn a source of images into a memory-mapped data set directory.

    DIR/manifest.json        sources, splits, sizes, preprocessing, seed, counts, skipped files
    DIR/{train,val,test}.npy uint8 (N, size, size, 3), opened with ``np.load(mmap_mode="r")``

    >>> from odinpaint.data.prepare import PrepareConfig, prepare
    >>> manifest = prepare("photos", "data/photos64", PrepareConfig(size=64))
    >>> manifest["splits"]["test"]["count"]

The directory is built under ``DIR.partial`` and renamed into place only when complete, so
an interrupted job never leaves a data set that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from odinpaint.errors import UserError
from odinpaint.data.sources import SPLITS, Item, Source, load_item, resolve_source
from odinpaint.imageio import ImageError

MANIFEST_FORMAT = 1
CELEBA_CROP = 178  # the aligned faces are 178x218; a centred square keeps the face, unsquashed


@dataclass
class PrepareConfig:
    size: int = 64                       # side of every stored sample, px
    seed: int = 0                        # drives the split of folder sources
    ratios: tuple = (0.8, 0.1, 0.1)      # train/val/test shares for folder sources
    crop: str = "center"                 # folder sources: "center" (one sample per image) or "patches"
    scales: tuple = (4, 8, 16)           # patch mode: photos resized to short side = size * k (never upscaled)
    min_std: float = 15.0                # patch mode: flat patches (pixel std below this) are dropped
    train_crops: int = 0                 # patch mode: > 0 gives the train split this many random crops per photo
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))

    def validate(self) -> None:
        if self.size < 16 or self.size % 16:
            raise UserError(f"size must be a multiple of 16 and at least 16, got {self.size}")
        if self.crop not in ("center", "patches"):
            raise UserError(f"crop must be 'center' or 'patches', got {self.crop!r}")
        if not self.scales or any(k <= 0 for k in self.scales):
            raise UserError(f"scales must be positive multiples of size, got {self.scales}")
        if self.train_crops < 0:
            raise UserError(f"train_crops must be 0 (the tile grid) or a number of crops per photo, "
                            f"got {self.train_crops}")


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    shrink = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def center_sample(img: np.ndarray, size: int, crop_side: int | None = None) -> np.ndarray:
    """The centred square (of ``crop_side``, or the short side) resized to ``size``."""
    h, w = img.shape[:2]
    side = min(h, w) if crop_side is None else min(crop_side, h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return _resize(np.ascontiguousarray(img[y : y + side, x : x + side]), size, size)


def cut_patches(img: np.ndarray, size: int, scales, min_std: float) -> list[np.ndarray]:
    """Non-overlapping ``size`` tiles of the photo resized to each short side ``size * k``.

    A photo is never upscaled: a scale above its short side is replaced by the short side.
    """
    h, w = img.shape[:2]
    short = min(h, w)
    sides = sorted({min(size * k, short) for k in scales})
    out = []
    for s in (s for s in sides if s >= size):
        rw, rh = max(size, round(w * s / short)), max(size, round(h * s / short))
        r = _resize(img, rw, rh) if (rw, rh) != (w, h) else img
        ny, nx = rh // size, rw // size
        oy, ox = (rh - ny * size) // 2, (rw - nx * size) // 2  # centre the grid
        for i in range(ny):
            for j in range(nx):
                p = r[oy + i * size : oy + (i + 1) * size, ox + j * size : ox + (j + 1) * size]
                if p.std() >= min_std:
                    out.append(np.ascontiguousarray(p))
    return out


def random_crops(img: np.ndarray, size: int, n: int, min_std: float, rng: np.random.Generator,
                 max_tries: int = 20) -> list[np.ndarray]:
    """``n`` random-resized crops of the photo: a square whose side is log-uniform between
    ``size`` and the short side (so from pixel-level detail to the whole photo's thumbnail,
    which is the context a large hole's window gives the model), at a uniform position,
    mirrored left-right half of the time, resized to ``size``. A flat crop (pixel std below
    ``min_std``) is drawn again, up to ``max_tries`` times, then kept out."""
    h, w = img.shape[:2]
    short = min(h, w)
    out = []
    for _ in range(n):
        for _ in range(max_tries):
            side = int(round(np.exp(rng.uniform(np.log(min(size, short)), np.log(short)))))
            y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            p = _resize(np.ascontiguousarray(img[y : y + side, x : x + side]), size, size)
            if rng.random() < 0.5:
                p = np.ascontiguousarray(p[:, ::-1])
            if p.std() >= min_std:
                out.append(p)
                break
    return out


def _process(args: tuple[Item, str, PrepareConfig]):
    """Worker: one item to its samples, or the error that names it."""
    item, crop, cfg = args
    try:
        img = load_item(item)
    except ImageError as e:
        return item, None, e.reason
    if crop == "patches" and item.split == "train" and cfg.train_crops:
        # seeded by the file's name: the crops of a photo do not depend on the other photos
        rng = np.random.default_rng([cfg.seed, zlib.crc32(item.name.encode())])
        return item, random_crops(img, cfg.size, cfg.train_crops, cfg.min_std, rng), None
    if crop == "patches":
        return item, cut_patches(img, cfg.size, cfg.scales, cfg.min_std), None
    return item, [center_sample(img, cfg.size, CELEBA_CROP if crop == "celeba" else None)], None


class _SplitWriter:
    """Appends samples to a raw file, then writes the final .npy once the count is known."""

    def __init__(self, tmpdir: Path, split: str, size: int):
        self.path = tmpdir / f"{split}.raw"
        self.fh = open(self.path, "wb")
        self.count = 0
        self.sources = 0
        self.size = size

    def add(self, samples: list[np.ndarray]) -> None:
        for s in samples:
            self.fh.write(s.tobytes())
        self.count += len(samples)
        self.sources += 1

    def finish(self, out: Path, chunk: int = 4096) -> None:
        self.fh.close()
        shape = (self.count, self.size, self.size, 3)
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", shape=shape) if self.count else np.zeros(shape, np.uint8)
        arr = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=shape)
        for i in range(0, self.count, chunk):
            arr[i : i + chunk] = raw[i : i + chunk]
        arr.flush()
        del arr, raw
        self.path.unlink()


def prepare(source: str | Source, out_dir, cfg: PrepareConfig | None = None, force: bool = False,
            photos_root: Path = Path("/"), progress: bool = True) -> dict:
    """Build the data set directory ``out_dir`` from ``source``; returns its manifest."""
    cfg = cfg or PrepareConfig()
    cfg.validate()
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir}: already exists (use --force to replace it)")
    src = source if isinstance(source, Source) else resolve_source(
        source, seed=cfg.seed, ratios=cfg.ratios, crop=cfg.crop, photos_root=photos_root)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    t0 = time.perf_counter()
    try:
        writers = {s: _SplitWriter(partial, s, cfg.size) for s in SPLITS}
        files = {s: [] for s in SPLITS}
        skipped = list(src.skipped)
        jobs = [(it, src.crop, cfg) for it in src.items]
        bar = tqdm(total=len(jobs), desc=f"prepare {src.kind} @{cfg.size}px", unit="img", disable=not progress)
        # Workers decode in parallel; map keeps the source order, so output is deterministic.
        with ProcessPoolExecutor(max_workers=cfg.workers) if cfg.workers > 1 else _Serial() as pool:
            for item, samples, err in pool.map(_process, jobs, chunksize=max(1, min(64, len(jobs) // (8 * cfg.workers) or 1))):
                bar.update(1)
                if err is not None:
                    skipped.append({"file": item.name, "reason": err})
                    continue
                writers[item.split].add(samples)
                files[item.split].append(item.name)
        bar.close()
        for s, w in writers.items():
            w.finish(partial / f"{s}.npy")
        empty = [s for s in SPLITS if writers[s].count == 0]
        if empty:
            raise UserError(f"no usable samples in split(s) {', '.join(empty)} "
                             f"({len(skipped)} files skipped); the source is too small or unreadable")
        seconds = time.perf_counter() - t0
        manifest = {
            "format": MANIFEST_FORMAT,
            "source": {"kind": src.kind, **src.description},
            "size": cfg.size,
            "seed": cfg.seed,
            "preprocessing": {**{k: v for k, v in asdict(cfg).items() if k != "workers"}, "crop": src.crop},
            "splits": {s: {"count": writers[s].count, "images": len(files[s]), "files": files[s]} for s in SPLITS},
            "skipped": skipped,
            "seconds": round(seconds, 2),
            "source_images_per_s": round(len(jobs) / max(seconds, 1e-9), 2),
            "samples_per_s": round(sum(w.count for w in writers.values()) / max(seconds, 1e-9), 1),
        }
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if out_dir.exists():  # --force: swap in the new set, then drop the old one
            old = out_dir.with_name(out_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            partial.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out_dir)
        return manifest
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


class _Serial:
    """A stand-in for the process pool when one worker is asked for (tests, debugging)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, jobs, chunksize=1):
        return map(fn, jobs)


def summary(manifest: dict) -> str:
    """Human-readable lines: counts per split and every skipped file with its reason."""
    lines = [f"data set: {manifest['source']['kind']} at {manifest['size']} px, "
             f"{manifest['seconds']:.1f} s ({manifest['source_images_per_s']:.1f} source images/s, "
             f"{manifest['samples_per_s']:.0f} samples/s)"]
    for s in SPLITS:
        sp = manifest["splits"][s]
        lines.append(f"  {s:5s} {sp['count']:7d} samples from {sp['images']} images")
    if manifest["skipped"]:
        lines.append(f"  skipped {len(manifest['skipped'])} unreadable file(s):")
        lines += [f"    {x['file']}: {x['reason']}" for x in manifest["skipped"]]
    return "\n".join(lines)
