"""Reading images and masks the way users' files really come: any mode, any orientation.

    >>> from odinpaint.imageio import load_rgb, load_mask
    >>> rgb = load_rgb("photo.jpg")            # (H, W, 3) uint8, EXIF orientation applied
    >>> hole = load_mask("mask.png")           # (H, W) bool, white (> 127) = hole
    >>> rgb, alpha = load_rgba(upload_bytes, name="image")   # bytes work too
    >>> photo = load_photo("photo.jpg")        # .rgb, .alpha, .icc_profile, .exif (to write back)

Every failure is an ``ImageError`` whose message names the file and the reason, so a
command can print it as one line and move on to the next file. What is refused:
empty files, files that are not JPEG, PNG, WebP, BMP, TIFF or GIF whatever their name
(so no other Pillow plugin, e.g. EPS through Ghostscript, ever runs on user data),
truncated or corrupt data, and images over ``MAX_PIXELS`` (decompression bombs), checked
from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from odinpaint.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# The Pillow formats that may decode user data (JPEG covers camera MPO files too).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
# The decompression-bomb guard, checked from the header before decoding: 80 megapixels is
# above any camera photo we expect and far below what would exhaust memory.
MAX_PIXELS = 80_000_000
# How odinpaint writes PNG (fill's files and the server's answers): zlib level 1. A 12 MP photo
# wrote in 0.7 s against 3.1 s at Pillow's default level 6, for a file 19% larger.
FAST_PNG = {"compress_level": 1}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}


class ImageError(UserError):
    """A file that cannot be used as an image or a mask; ``str()`` names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = " ".join(reason.split())  # one line, whatever the decoder said
        super().__init__(f"{self.path}: {self.reason}")


def _check_pixels(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(name, f"{width}x{height} pixels is over the {MAX_PIXELS:,}-pixel limit "
                               "(a decompression bomb?)")


def _as_file(source, name: str):
    """A binary file object for ``source`` (a path or bytes); missing and empty files refused."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageError(name, "empty file (0 bytes)")
        return io.BytesIO(source)
    if not os.path.isfile(source):
        raise ImageError(name, "no such file")
    if os.path.getsize(source) == 0:
        raise ImageError(name, "empty file (0 bytes)")
    try:
        return open(source, "rb")
    except OSError as e:
        raise ImageError(name, f"cannot read ({e.strerror or e})") from None


def _exif_transpose(img: Image.Image) -> Image.Image:
    """EXIF orientation applied; a corrupt EXIF block is ignored, since the pixels are fine."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # Pillow's EXIF parser raises many types on malformed tags
        return img


def _tiff_with_opencv(data: bytes, name: str) -> Image.Image:
    """TIFF layouts Pillow has no mode for (e.g. 3-channel 32-bit float), through OpenCV.

    The size comes from the TIFF directory first, so the pixel limit holds before decoding."""
    import cv2

    bigtiff = data[:4] in (b"II+\x00", b"MM\x00+")
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=data[:16] if bigtiff else data[:8])
    fp = io.BytesIO(data)
    fp.seek(ifd.next)
    ifd.load(fp)
    if 256 not in ifd or 257 not in ifd:
        raise ImageError(name, "TIFF without an image size")
    _check_pixels(name, int(ifd[256]), int(ifd[257]))
    # errors only: libtiff's warnings about odd tags would print past our one-line message
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    level = log.getLogLevel() if log else None
    if log:
        log.setLogLevel(log.LOG_LEVEL_ERROR)
    try:
        a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        if log:
            log.setLogLevel(level)
    if a is None:
        raise ImageError(name, "TIFF layout that neither Pillow nor OpenCV can decode")
    a = _to_uint8(a)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB if a.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    elif a.ndim == 3:
        a = a[..., 0]
    img = Image.fromarray(np.ascontiguousarray(a))
    method = _ORIENTATION.get(ifd.get(274))
    return img.transpose(method) if method is not None else img


@contextmanager
def _decode_errors(name: str):
    """Any failure while identifying or decoding becomes an ImageError naming ``name``."""
    try:
        with warnings.catch_warnings():
            # Pillow's notes on odd files: the outcome is what counts. (Its bomb warning, at 89
            # megapixels, is superseded by our lower limit, checked right after the header.)
            warnings.simplefilter("ignore")
            yield
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(name, f"over the {MAX_PIXELS:,}-pixel limit, a decompression bomb? ({e})") from None
    except MemoryError:
        raise ImageError(name, "too large to decode in memory") from None
    except (AttributeError, NameError, ImportError):
        raise  # a bug in the code, not bad data: let it show
    except Exception as e:  # Pillow's decoders raise OSError, SyntaxError, struct.error, ... on bad data
        raise ImageError(name, f"corrupt or truncated image ({type(e).__name__}: {e})") from None


def _identify(fp, name: str) -> Image.Image | None:
    """Pillow's lazy image (header read, no pixels), or None for a TIFF that only OpenCV reads."""
    try:
        return Image.open(fp, formats=FORMATS)
    except UnidentifiedImageError:
        fp.seek(0)
        if fp.read(4) in _TIFF_MAGIC:
            return None
        raise ImageError(name, "not an image file (not JPEG, PNG, WebP, BMP, TIFF or GIF)") from None


def _open(source, name: str) -> Image.Image:
    """Open and fully decode ``source`` (a path or bytes), with EXIF orientation applied."""
    with _as_file(source, name) as fp, _decode_errors(name):
        img = _identify(fp, name)
        if img is None:
            fp.seek(0)
            return _tiff_with_opencv(fp.read(), name)
        _check_pixels(name, img.width, img.height)
        img.load()  # decode now, so truncated files fail here and not later
        return _exif_transpose(img)


def check_header(path) -> str | None:
    """Why ``path`` cannot be an image, judged from its header alone (cheap), or None."""
    try:
        with _as_file(path, str(path)) as fp, _decode_errors(str(path)):
            img = _identify(fp, str(path))
            if img is not None:  # (a TIFF only OpenCV reads is judged when it is decoded)
                _check_pixels(str(path), img.width, img.height)
        return None
    except ImageError as e:
        return e.reason


def _to_uint8(a) -> np.ndarray:
    """Pixel data of a high-bit-depth or floating-point image scaled to uint8."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64), posinf=0.0, neginf=0.0)
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0  # float images in [0, 1] or [0, 255]
        return np.clip(a * scale, 0, 255).round().astype(np.uint8)
    # 16-bit (mode I;16 / I): keep the top 8 bits
    a = a.astype(np.int64)
    return np.clip(a >> 8 if a.max(initial=0) > 255 else a, 0, 255).astype(np.uint8)


_HIGH_DEPTH = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image (L, P, CMYK, LA, RGBA, I;16, F, ...) as (H, W, 3) uint8 RGB.

    Transparent pixels keep their colour: alpha is dropped, not composited, because
    inpainting needs the underlying pixels (and alpha may be the mask).
    """
    if img.mode in _HIGH_DEPTH:
        g = _to_uint8(img)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def _convert(name: str, img: Image.Image, fn):
    try:
        return fn(img)
    except (AttributeError, NameError, ImportError):
        raise  # a bug in the code, not bad data: let it show
    except Exception as e:  # modes Pillow opens but cannot convert (e.g. LAB), or odd data in them
        raise ImageError(name, f"cannot convert a {img.mode} image ({type(e).__name__}: {e})") from None


def load_rgb(path, name: str | None = None) -> np.ndarray:
    """Read ``path`` (a file path or raw bytes) as (H, W, 3) uint8 RGB."""
    name = name or str(path)
    return _convert(name, _open(path, name), to_rgb_array)


def _rgba(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    alpha = None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3].copy()
    return to_rgb_array(img), alpha


def load_rgba(path, name: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image as RGB plus its alpha channel (H, W) uint8, or None when it has none."""
    name = name or str(path)
    return _convert(name, _open(path, name), _rgba)


@dataclass
class Photo:
    """A user's photo: its pixels, its alpha channel (or None), and what a photo tool keeps when
    it writes an edited copy: the ICC colour profile and the EXIF block (orientation already
    applied to the pixels and removed from it)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None = None
    exif: bytes | None = None


def load_photo(path, name: str | None = None) -> Photo:
    """Read an image like ``load_rgba``, with its ICC profile and EXIF for writing them back."""
    name = name or str(path)
    img = _open(path, name)
    rgb, alpha = _convert(name, img, _rgba)
    return Photo(rgb, alpha, img.info.get("icc_profile") or None, img.info.get("exif") or None)


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


def _grey(img: Image.Image) -> np.ndarray:
    if img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    return _to_uint8(img) if img.mode in _HIGH_DEPTH else np.asarray(img.convert("L"))


def load_mask(path, name: str | None = None, invert: bool = False, dilate: int = 0) -> np.ndarray:
    """Read a mask file as (H, W) bool, True = hole. Colour masks count as their luminance;
    grey levels (anti-aliased or JPEG masks) are binarized at 127."""
    name = name or str(path)
    return binarize_mask(_convert(name, _open(path, name), _grey), invert=invert, dilate=dilate)


def find_images(root) -> list[Path]:
    """Image files below ``root`` (recursively), sorted so the order never depends on the file system."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
