"""Broken and unusual image files, as users' folders really hold them, for the bad-input tests.

    broken_files(rgb) -> {name: (bytes, reason)}   files every command must refuse, naming the reason
    odd_files(rgb)    -> {name: bytes}             readable files in unusual modes and layouts
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image


def encode(img, fmt: str, **kw) -> bytes:
    """``img`` (PIL or uint8 array) encoded by Pillow."""
    img = img if isinstance(img, Image.Image) else Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A well-formed PNG header claiming ``width`` x ``height`` grey pixels, with only the first
    rows' data: a few hundred bytes that would decode to 900 MB."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def exif_rotated_jpeg(rgb: np.ndarray, orientation: int = 6) -> bytes:
    """``rgb`` stored as is, with an EXIF orientation tag (6: display rotated 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(rgb, "JPEG", exif=exif, quality=95)


def broken_files(rgb: np.ndarray) -> dict[str, tuple[bytes, str]]:
    """Files that must be refused, each with the words its error message must contain."""
    jpeg = encode(rgb, "JPEG", quality=90)
    png = bytearray(encode(rgb, "PNG"))
    idat = png.index(b"IDAT")
    png[idat + 20] ^= 0xFF  # one flipped byte inside the compressed pixels: the chunk CRC fails
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "corrupt or truncated"),
        "empty.png": (b"", "empty file"),
        "notes.jpg": (b"shopping list: eggs, milk, bread\n" * 4, "not an image file"),
        "bomb.png": (bomb_png(), "pixel limit"),
        "bitflip.png": (bytes(png), "corrupt or truncated"),
        "page.tif": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image file"),
    }


def odd_files(rgb: np.ndarray) -> dict[str, bytes]:
    """Readable images in every mode users' files come in; each decodes to ``rgb``'s size
    (the EXIF one to its transpose)."""
    grey16 = rgb[..., 0].astype(np.uint16) * 257
    _, rgb16_tif = cv2.imencode(".tif", (rgb[..., ::-1].astype(np.uint16) * 257))
    _, rgbf_tif = cv2.imencode(".tif", rgb[..., ::-1].astype(np.float32) / 255)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return {
        "cmyk.jpg": encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95),
        "palette.png": encode(Image.fromarray(rgb).convert("P"), "PNG"),
        "grey_alpha.png": encode(Image.fromarray(np.dstack([rgb[..., 0], rgba[..., 3]]), "LA"), "PNG"),
        "rgba.png": encode(rgba, "PNG"),
        "grey16.png": encode(Image.fromarray(grey16), "PNG"),
        "rgb16.tif": rgb16_tif.tobytes(),
        "float.tif": encode(Image.fromarray(rgb[..., 0].astype(np.float32) / 255, mode="F"), "TIFF"),
        "rgb_float.tif": rgbf_tif.tobytes(),
        "exif6.jpg": exif_rotated_jpeg(rgb, 6),
    }
