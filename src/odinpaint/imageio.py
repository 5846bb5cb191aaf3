"""Reading images and masks the way users' files really come: any mode, any orientation.

    >>> from odinpaint.imageio import load_rgb, load_mask
    >>> rgb = load_rgb("photo.jpg")            # (H, W, 3) uint8, EXIF orientation applied
    >>> hole = load_mask("mask.png")           # (H, W) bool, white (> 127) = hole

Every failure is an ``ImageError`` whose message names the file and the reason, so a
command can print it as one line and move on to the next file.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Pillow's decompression-bomb guard, made an error instead of a warning: 80 megapixels is
# above any camera photo we expect and far below what would exhaust memory.
MAX_PIXELS = 80_000_000


class ImageError(ValueError):
    """A file that cannot be used as an image or a mask; ``str()`` names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _open(source, name: str) -> Image.Image:
    """Open and fully decode ``source`` (a path or bytes), with EXIF orientation applied."""
    if isinstance(source, (bytes, bytearray)):
        fp = io.BytesIO(source)
        if not source:
            raise ImageError(name, "empty file (0 bytes)")
    else:
        if not os.path.isfile(source):
            raise ImageError(name, "no such file")
        if os.path.getsize(source) == 0:
            raise ImageError(name, "empty file (0 bytes)")
        fp = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(name, f"{img.width}x{img.height} pixels is over the {MAX_PIXELS:,}-pixel limit")
            img.load()  # decode now, so truncated files fail here and not later
            return ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, "not an image file (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(name, f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise ImageError(name, f"corrupt or truncated image ({e})") from None


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Pixel data of a single-band high-bit-depth image scaled to uint8."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64))
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0  # float images in [0, 1] or [0, 255]
        return np.clip(a * scale, 0, 255).round().astype(np.uint8)
    # 16-bit (mode I;16 / I): keep the top 8 bits
    return np.clip(a.astype(np.int64) >> 8 if a.max(initial=0) > 255 else a, 0, 255).astype(np.uint8)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image (L, P, CMYK, LA, RGBA, I;16, F, ...) as (H, W, 3) uint8 RGB.

    Transparent pixels keep their colour: alpha is dropped, not composited, because
    inpainting needs the underlying pixels (and alpha may be the mask).
    """
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        g = _to_uint8(img)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def load_rgb(path, name: str | None = None) -> np.ndarray:
    """Read ``path`` (a file path or raw bytes) as (H, W, 3) uint8 RGB."""
    name = name or str(path)
    img = _open(path, name)
    try:
        return to_rgb_array(img)
    except (OSError, ValueError) as e:
        raise ImageError(name, f"cannot convert {img.mode} image to RGB ({e})") from None


def load_rgba(path, name: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image as RGB plus its alpha channel (H, W) uint8, or None when it has none."""
    name = name or str(path)
    img = _open(path, name)
    alpha = None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3].copy()
    return to_rgb_array(img), alpha


def binarize_mask(values: np.ndarray, invert: bool = False, dilate: int = 0) -> np.ndarray:
    """Grey levels to a bool hole mask: > 127 is a hole (white = hole), optionally dilated."""
    hole = values > 127
    if invert:
        hole = ~hole
    if dilate > 0:
        import cv2

        k = 2 * dilate + 1
        hole = cv2.dilate(hole.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    return hole


def load_mask(path, name: str | None = None, invert: bool = False, dilate: int = 0) -> np.ndarray:
    """Read a mask file as (H, W) bool, True = hole. Colour masks count as their luminance."""
    name = name or str(path)
    img = _open(path, name)
    if img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    grey = _to_uint8(img) if img.mode in ("I", "I;16", "I;16B", "I;16L", "F") else np.asarray(img.convert("L"))
    return binarize_mask(grey, invert=invert, dilate=dilate)


def find_images(root) -> list[Path]:
    """Image files below ``root`` (recursively), sorted so the order never depends on the file system."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
