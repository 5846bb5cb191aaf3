"""``odinpaint fill``: files and folders in, inpainted images out.

    odinpaint fill photo.jpg --mask mask.png -o out.png --model best.safetensors
    odinpaint fill photo.jpg --mask mask.png -o out.png --style smooth    # the model's fill without texture
    odinpaint fill photo.jpg --box 120,80,60,40 --box 300,200,20,20 -o out.png --model model.onnx
    odinpaint fill --input photos/ --mask-dir masks/ -o filled/ --model best.safetensors

Masks: white (> 127) is the hole (``--invert-mask`` for black = hole), optionally dilated by
``--dilate N`` px; without ``--mask`` or ``--box``, an RGBA image's transparent pixels
(alpha < 128) are the hole. Outputs are written atomically and never replace the input
unless ``--overwrite`` is given. In folder mode masks are matched by file stem (or one
``--mask`` serves every image), outputs that exist are skipped, and bad files are reported
at the end without stopping the batch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from odinpaint.atomic import atomic_write
from odinpaint.errors import UserError
from odinpaint.imageio import FAST_PNG, IMAGE_EXTENSIONS, ImageError, binarize_mask, find_images, load_mask, load_photo
from odinpaint.inference.inpainter import DEFAULT_STYLE, Inpainter, boxes_to_mask, check_context

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                ".tiff": "TIFF"}

SAVE_OPTIONS = {"PNG": FAST_PNG, "JPEG": {"quality": 95}}
METADATA_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")  # the ones that hold an ICC profile and EXIF


@dataclass
class MaskSpec:
    mask: str | None = None       # a mask file (white = hole)
    boxes: tuple = ()             # (x, y, w, h) boxes
    invert: bool = False
    dilate: int = 0


def resolve_hole(image_path: str, alpha, shape, spec: MaskSpec, mask_path: str | None = None) -> np.ndarray:
    """The hole of one image from its mask file, boxes, or alpha channel."""
    mask_path = mask_path or spec.mask
    if mask_path:
        hole = load_mask(mask_path, invert=spec.invert, dilate=spec.dilate)
        if hole.shape != tuple(shape):
            raise ImageError(mask_path, f"mask is {hole.shape[1]}x{hole.shape[0]} but {image_path} is "
                                        f"{shape[1]}x{shape[0]}")
        return hole
    if spec.boxes:
        hole = boxes_to_mask(shape, spec.boxes)
        return binarize_mask(hole.astype(np.uint8) * 255, dilate=spec.dilate)
    if alpha is not None:
        return binarize_mask(255 - alpha, invert=spec.invert, dilate=spec.dilate)
    raise ImageError(image_path, "no hole given: pass --mask or --box (or an RGBA image whose transparent pixels are the hole)")


def save_atomic(rgb: np.ndarray, out: Path, icc_profile: bytes | None = None, exif: bytes | None = None) -> None:
    """Write ``rgb`` to ``out`` through a temporary file in the same directory, then rename,
    so a full disk or a crash never leaves a half-written image under the output's name. The
    input's ICC profile and EXIF go with it where the format holds them."""
    fmt = SAVE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UserError(f"{out}: unknown output format (use one of {', '.join(SAVE_FORMATS)})")
    options = dict(SAVE_OPTIONS.get(fmt, {}))
    if fmt in METADATA_FORMATS:
        options.update({k: v for k, v in (("icc_profile", icc_profile), ("exif", exif)) if v})
    try:
        atomic_write(out, lambda tmp: Image.fromarray(rgb).save(tmp, format=fmt, **options))
    except OSError as e:
        raise UserError(f"{out}: cannot write the output ({e.strerror or e}); nothing was written") from None


def fill_file(inp: Inpainter, image_path, out, spec: MaskSpec, overwrite: bool = False,
              mask_path: str | None = None, style: str = DEFAULT_STYLE) -> dict:
    """Fill one image file and write the result; returns a small summary."""
    image_path, out = Path(image_path), Path(out)
    if out.exists() and out.resolve() == image_path.resolve() and not overwrite:
        raise UserError(f"{out}: refusing to overwrite the input image (pass --overwrite to allow it)")
    photo = load_photo(image_path)
    hole = resolve_hole(str(image_path), photo.alpha, photo.rgb.shape[:2], spec, mask_path)
    check_context(hole, functools.partial(ImageError, mask_path or spec.mask or image_path))
    result = inp.fill_array(photo.rgb, hole, style=style)
    save_atomic(result, out, photo.icc_profile, photo.exif)
    return {"image": str(image_path), "out": str(out), "hole_pixels": int(hole.sum())}


def _find_mask(mask_dir: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for cand in (mask_dir / f"{stem}{ext}", mask_dir / f"{stem}{ext.upper()}"):
            if cand.is_file():
                return cand
    return None


def fill_folder(inp: Inpainter, input_dir, out_dir, spec: MaskSpec, mask_dir=None, progress: bool = True,
                style: str = DEFAULT_STYLE) -> dict:
    """Fill every image below ``input_dir`` into ``out_dir`` (PNG, same relative paths)."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: not a folder")
    images = [p for p in find_images(input_dir) if out_dir.resolve() not in p.resolve().parents]
    done, skipped, failed = [], [], []
    for path in tqdm(images, desc="fill", unit="img", disable=not progress):
        rel = path.relative_to(input_dir)
        out = out_dir / rel.with_suffix(".png")
        if out.exists():
            skipped.append(str(rel))
            continue
        mask_path = None
        if mask_dir is not None:
            mask_path = _find_mask(Path(mask_dir), path.stem)
            if mask_path is None:
                failed.append({"file": str(rel), "reason": f"no mask named {path.stem}.* in {mask_dir}"})
                continue
        try:
            fill_file(inp, path, out, spec, mask_path=str(mask_path) if mask_path else None, style=style)
            done.append(str(rel))
        except UserError as e:  # the next file may be fine; a bug stops the batch
            failed.append({"file": str(rel), "reason": str(e)})
    return {"filled": done, "skipped_existing": skipped, "failed": failed}
