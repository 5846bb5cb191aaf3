import io
import re
import logging

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from helpers.browser import chromium_or_skip
from helpers.live import serve_in_thread
from helpers.photos import smooth_image
from odinpaint.errors import UserError
from odinpaint.inference.inpainter import Inpainter
from odinpaint.models import build
from odinpaint.models.context_encoder import ContextEncoderArch
from odinpaint.inference.server import create_app, is_loopback


@pytest.fixture(scope="module")
def inpainter():
    torch.manual_seed(0)
    return Inpainter(build(ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True)))


@pytest.fixture(scope="module")
def client(inpainter):
    return TestClient(create_app(inpainter, max_upload_mb=1))


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def photo(h=48, w=64):
    return smooth_image(np.random.default_rng(3), h, w)


def test_health_and_page_and_openapi(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["model"]["class"] == "ContextEncoderArch"
    assert "Inpaint" in client.get("/").text
    assert "/api/v1/inpaint" in client.get("/openapi.json").json()["paths"]


def test_every_file_of_the_page_is_served(client):
    """The page's script modules import one another by name: each file in web/ is served,
    with its type, and nothing else is."""
    from importlib.resources import files

    names = sorted(f.name for f in (files("odinpaint") / "inference" / "web").iterdir() if f.is_file())
    assert {"app.js", "history.js", "mask.js", "png.js", "view.js", "api.js"} <= set(names)
    for name in names:
        r = client.get(f"/{name}")
        kind = {"js": "text/javascript", "css": "text/css", "html": "text/html"}[name.rsplit(".", 1)[1]]
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
    imports = re.findall(r'from "\./([a-z]+\.js)"', client.get("/app.js").text)
    assert sorted(imports) == ["api.js", "history.js", "mask.js", "png.js", "view.js"]
    assert client.get("/server.py").status_code == 404


def test_openapi_says_the_answer_is_a_png(client):
    """The schema matches what the server sends: image/png only, with an example."""
    ok = client.get("/openapi.json").json()["paths"]["/api/v1/inpaint"]["post"]["responses"]["200"]
    assert list(ok["content"]) == ["image/png"]
    png = ok["content"]["image/png"]
    assert png["schema"]["format"] == "binary" and "curl" in png["example"] and "-o filled.png" in png["example"]


def test_redoc_keeps_every_request_on_this_server(client):
    r = client.get("/redoc")
    assert r.status_code == 200 and "/static-offline-docs/redoc.standalone.js" in r.text
    policy = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["img-src"] == "'self' data:"  # no CDN logo
    assert "http" not in r.headers["content-security-policy"]


def test_inpaint_returns_png_changed_only_in_the_hole(client):
    img = photo()
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    r = client.post("/api/v1/inpaint", files={"image": ("a.png", png(img), "image/png"),
                                              "mask": ("m.png", png(mask), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(r.content)))
    assert (out[mask == 0] == img[mask == 0]).all() and (out[mask > 0] != img[mask > 0]).any()


def test_style_field_picks_the_fill_and_is_documented(client):
    img = smooth_image(np.random.default_rng(5), 96, 96)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:70, 30:70] = 255
    files = {"image": ("a.png", png(img), "image/png"), "mask": ("m.png", png(mask), "image/png")}
    outs = {}
    for style in ("detailed", "smooth", None):
        r = client.post("/api/v1/inpaint", files=files, data={"style": style} if style else {})
        assert r.status_code == 200
        outs[style] = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.array_equal(outs[None], outs["detailed"])  # the default
    assert not np.array_equal(outs["detailed"], outs["smooth"])
    assert all((o[mask == 0] == img[mask == 0]).all() for o in outs.values())
    r = client.post("/api/v1/inpaint", files=files, data={"style": "sharp"})
    assert r.status_code == 422 and "style" in r.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    form = next(v for k, v in schema.items() if "inpaint" in k.lower())
    assert form["properties"]["style"]["enum"] == ["detailed", "smooth"]
    assert "texture" in form["properties"]["style"]["description"]
    assert form["properties"]["style"]["default"] == "detailed"


@pytest.mark.parametrize("image,mask,code,text", [
    (b"not an image", None, 415, "not an image"),
    (None, b"", 422, "empty"),
    (None, "small", 422, "mask is"),
    (None, "full", 422, "whole image"),
    (b"\x00" * (2 * 2**20), None, 413, "upload limit"),
])
def test_bad_requests(client, image, mask, code, text):
    img = photo()
    if mask == "small":
        mask = png(np.zeros((10, 10), np.uint8))
    elif mask == "full":
        mask = png(np.full((48, 64), 255, np.uint8))
    files = {"image": ("a.png", image if image is not None else png(img), "image/png"),
             "mask": ("m.png", mask if mask is not None else png(np.zeros((48, 64), np.uint8)), "image/png")}
    r = client.post("/api/v1/inpaint", files=files)
    assert r.status_code == code and text in r.json()["detail"]


def _valid_request():
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    return {"image": ("a.png", png(photo()), "image/png"), "mask": ("m.png", png(mask), "image/png")}


def test_a_bug_is_500_with_a_detail_that_says_so_and_a_logged_traceback(inpainter, monkeypatch, caplog):
    def broken(rgb, hole, feather=None, style="detailed"):
        return 1 / 0

    monkeypatch.setattr(inpainter, "fill_array", broken)
    with caplog.at_level(logging.ERROR, logger="odinpaint.inference.server"):
        r = TestClient(create_app(inpainter, max_upload_mb=1)).post("/api/v1/inpaint", files=_valid_request())
    assert r.status_code == 500
    detail = r.json()["detail"]
    assert detail == ("internal error in odinpaint (ZeroDivisionError): a bug in odinpaint, not a problem with the "
                      "upload; the server's log has the traceback")
    assert "\n" not in detail
    [rec] = [rec for rec in caplog.records if rec.name == "odinpaint.inference.server"]
    assert rec.levelno == logging.ERROR and "POST /api/v1/inpaint" in rec.getMessage()
    assert rec.exc_info[0] is ZeroDivisionError
    assert "Traceback" in caplog.text and "in broken" in caplog.text and "1 / 0" in caplog.text


def test_a_user_error_from_the_inpainter_is_422_with_its_message(inpainter, monkeypatch, caplog):
    def refuses(rgb, hole, feather=None, style="detailed"):
        raise UserError("the mask covers the whole image: there is no context to fill from")

    monkeypatch.setattr(inpainter, "fill_array", refuses)
    with caplog.at_level(logging.ERROR, logger="odinpaint.inference.server"):
        r = TestClient(create_app(inpainter, max_upload_mb=1)).post("/api/v1/inpaint", files=_valid_request())
    assert r.status_code == 422
    assert r.json() == {"detail": "the mask covers the whole image: there is no context to fill from"}
    assert not [rec for rec in caplog.records if rec.name == "odinpaint.inference.server"]  # the user's fault: no traceback


def test_answers_are_written_at_a_fast_png_level(client, monkeypatch):
    levels = []
    real_save = Image.Image.save

    def save(self, fp, format=None, **params):
        levels.append((format, params.get("compress_level")))
        return real_save(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", save)
    r = client.post("/api/v1/inpaint", files=_valid_request())
    assert r.status_code == 200 and ("PNG", 1) in levels


def test_the_413_messages_state_the_per_file_limit(inpainter):
    c = TestClient(create_app(inpainter, max_upload_mb=20))
    big = b"\0" * (41 * 2**20 + 10)  # over the body limit: two 20 MB files plus 1 MB of form
    r = c.post("/api/v1/inpaint", content=big, headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and r.json()["detail"] == "upload is larger than the 20 MB upload limit (per file)"
    c = TestClient(create_app(inpainter, max_upload_mb=0.5))
    files = _valid_request()
    files["image"] = ("a.png", b"\0" * (2**19 + 1), "image/png")
    r = c.post("/api/v1/inpaint", files=files)
    assert r.status_code == 413 and r.json()["detail"] == "image is larger than the 0.5 MB upload limit"
    assert c.get("/api/v1/health").json()["max_upload_mb"] == 0.5


def test_missing_field_is_422(client):
    assert client.post("/api/v1/inpaint", files={"image": ("a.png", png(photo()), "image/png")}).status_code == 422


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


@pytest.fixture
def live_server(inpainter):
    with serve_in_thread(create_app(inpainter)) as url:
        yield url


@pytest.mark.browser
def test_browser_paint_and_inpaint(live_server, tmp_path):
    img = photo(120, 160)
    Image.fromarray(img).save(tmp_path / "photo.png")
    pw, browser = chromium_or_skip()
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        page.goto(live_server)
        page.set_input_files("#file", str(tmp_path / "photo.png"))
        page.wait_for_function("document.getElementById('photo').width === 160")
        box = page.locator("#paint").bounding_box()
        sx, sy = box["width"] / 160, box["height"] / 120  # image px -> screen px
        page.fill("#size", "10")
        page.dispatch_event("#size", "input")
        strokes = [((30, 40), (90, 40)), ((120, 80), (120, 105))]
        for (x0, y0), (x1, y1) in strokes:
            page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
            page.mouse.down()
            for t in np.linspace(0, 1, 8):
                page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * sx, box["y"] + (y0 + t * (y1 - y0)) * sy)
            page.mouse.up()
        page.screenshot(path=str(tmp_path / "before.png"))
        page.click("#inpaint")
        page.wait_for_function("document.getElementById('result').naturalWidth === 160", timeout=20000)
        page.screenshot(path=str(tmp_path / "after.png"))
        pixels = page.evaluate("""() => {
            const img = document.getElementById('result'), c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
            return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
        }""")
        out = np.array(pixels, np.uint8).reshape(120, 160, 4)[..., :3]
        assert "Done in" in page.inner_text("#status")
        assert not page.locator("#download").is_hidden()
    finally:
        browser.close()
        pw.stop()
    changed = (out.astype(int) - img).any(axis=2)
    # on the strokes the image changed; far from them it is untouched
    for (x0, y0), (x1, y1) in strokes:
        for t in np.linspace(0, 1, 5):
            x, y = int(x0 + t * (x1 - x0)), int(y0 + t * (y1 - y0))
            assert changed[y - 1 : y + 2, x - 1 : x + 2].any(), (x, y)
    far = np.ones((120, 160), bool)
    far[25:55, 15:105] = False
    far[65:120, 105:135] = False
    assert not changed[far].any()
    assert changed.sum() > 300
