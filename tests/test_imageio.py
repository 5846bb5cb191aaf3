import io

import numpy as np
import pytest
from PIL import Image

from odinpaint import imageio
from odinpaint.imageio import ImageError, load_mask, load_rgb, load_rgba


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


@pytest.fixture
def rgb():
    a = np.zeros((20, 30, 3), np.uint8)
    a[..., 0] = np.arange(30) * 8
    a[..., 1] = np.arange(20)[:, None] * 12
    return a


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "RGBA", "RGB"])
def test_modes_become_rgb(tmp_path, rgb, mode):
    img = Image.fromarray(rgb).convert(mode)
    ext = ".jpg" if mode == "CMYK" else ".png"
    out = load_rgb(save(img, tmp_path / f"x{ext}"))
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8


def test_16bit_png_keeps_the_top_byte(tmp_path):
    a = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    out = load_rgb(save(Image.fromarray(a), tmp_path / "x16.png"))
    assert out.shape == (16, 16, 3)
    np.testing.assert_array_equal(out[..., 0], np.arange(256).reshape(16, 16))


def test_float_tiff_in_unit_range(tmp_path):
    a = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    out = load_rgb(save(Image.fromarray(a, mode="F"), tmp_path / "f.tif"))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


def test_exif_orientation_is_applied(tmp_path, rgb):
    img = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = load_rgb(save(img, tmp_path / "r.jpg", exif=exif, quality=95))
    assert out.shape == (30, 20, 3)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"this is not an image at all", "not an image"),
])
def test_bad_bytes_name_file_and_reason(tmp_path, content, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=reason) as e:
        load_rgb(p)
    assert str(p) in str(e.value)


def test_truncated_jpeg(tmp_path, rgb):
    buf = io.BytesIO()
    Image.fromarray(np.tile(rgb, (10, 10, 1))).save(buf, "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_rgb(p)


def test_decompression_bomb(tmp_path, monkeypatch):
    p = save(Image.new("L", (200, 200)), tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 10_000)
    with pytest.raises(ImageError, match="pixel limit"):
        load_rgb(p)


def test_mask_binarized_inverted_dilated(tmp_path):
    a = np.zeros((10, 10), np.uint8)
    a[4, 4] = 200
    a[0, 0] = 100  # below the threshold: not a hole
    p = save(Image.fromarray(a), tmp_path / "m.png")
    m = load_mask(p)
    assert m.dtype == bool and m.sum() == 1 and m[4, 4]
    assert load_mask(p, invert=True).sum() == 99
    assert load_mask(p, dilate=1).sum() == 9


def test_alpha_channel_is_returned(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[5:8, 5:8, 3] = 0
    image, alpha = load_rgba(save(Image.fromarray(rgba), tmp_path / "a.png"))
    np.testing.assert_array_equal(image, rgb)  # colour under transparent pixels is kept
    assert (alpha == 0).sum() == 9
    assert load_rgba(save(Image.fromarray(rgb), tmp_path / "b.png"))[1] is None
