"""The page of `odinpaint serve` in Debian's Chromium, as a person on a laptop (1280x800,
mouse) or a phone (390x844, touch) uses it: painting, zoom and pan, undo and redo, errors,
progress, the upload limit, compare, continue editing, and 12- and 24-megapixel photos end to
end (the page uploads only a crop around the painted area and pastes the answer back).
Also /docs with every request off this machine blocked.

Screenshots go to $ODINPAINT_SHOTS (default: a folder under the system's temp dir)."""

from __future__ import annotations

import base64
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.browser import chromium_or_skip
from helpers.live import serve_in_thread
from helpers.photos import smooth_image
from odinpaint.inference.inpainter import Inpainter
from odinpaint.models import build
from odinpaint.models.context_encoder import ContextEncoderArch
from odinpaint.inference.server import create_app

pytestmark = pytest.mark.browser

LIMIT_MB = 5
LAPTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
VIEWPORTS = {"laptop": LAPTOP, "phone": PHONE}
SHOTS = Path(os.environ.get("ODINPAINT_SHOTS", Path(tempfile.gettempdir()) / "odinpaint-shots"))


class DelayInpainter(Inpainter):
    """The tiny model, optionally slow (for the tests of a request in flight)."""

    delay = 0.0
    styles: list = []  # each request's fill style, in order

    def fill_array(self, rgb, hole, feather=None, style="detailed"):
        if self.delay:
            time.sleep(self.delay)
        self.styles.append(style)
        return super().fill_array(rgb, hole, feather, style)


@pytest.fixture(scope="module")
def server():
    torch.manual_seed(0)
    inp = DelayInpainter(build(ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True)))
    with serve_in_thread(create_app(inp, max_upload_mb=LIMIT_MB)) as url:
        yield url, inp


@pytest.fixture(scope="module")
def server20():
    """The tiny model behind the default upload limit, 20 MB."""
    torch.manual_seed(0)
    inp = Inpainter(build(ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True)))
    with serve_in_thread(create_app(inp, max_upload_mb=20)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    pw, browser = chromium_or_skip()
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Test images: a 400x300 photo, a 160x120 one, one with a red square, a broken file,
    one over the upload limit."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    Image.fromarray(smooth_image(rng, 300, 400)).save(d / "photo.png")
    Image.fromarray(smooth_image(rng, 120, 160)).save(d / "small.png")
    grey = np.full((120, 160, 3), 128, np.uint8)
    grey[40:80, 60:100] = (255, 0, 0)
    Image.fromarray(grey).save(d / "red-square.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" + bytes(200))
    noise = rng.integers(0, 256, (1400, 1400, 3), np.uint8)  # ~5.6 MB as PNG: over the 5 MB limit
    Image.fromarray(noise).save(d / "huge.png", compress_level=0)
    return d


# The parts of every form the page posts, kept in the page (Playwright does not report a
# multipart body made of blobs): window.__sent[i] = {name: Blob}.
RECORD_UPLOADS = """
window.__sent = [];
const realFetch = window.fetch;
window.fetch = function (url, init) {
  if (init && init.body instanceof FormData) {
    const parts = {};
    for (const [name, value] of init.body.entries()) parts[name] = value;
    window.__sent.push(parts);
  }
  return realFetch.apply(this, arguments);
};
"""


class Page:
    """One tab with helpers; collects JavaScript errors and the inpaint requests sent."""

    def __init__(self, browser, base, kind):
        self.kind = kind
        self.context = browser.new_context(**VIEWPORTS[kind])
        self.page = self.context.new_page()
        self.errors, self.requests, self.console = [], [], []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text) if m.type in ("warning", "error") else None)
        self.page.on("request", lambda r: self.requests.append(r) if "/api/v1/inpaint" in r.url else None)
        self.page.add_init_script(RECORD_UPLOADS)
        self.page.goto(base)
        self.page.wait_for_function("window.odinpaint !== undefined")
        self.cdp = None

    def close(self):
        self.context.close()

    def load(self, path: Path, wait=True, answer="replace"):
        """Open a file; when the page asks before replacing unsaved work, answer it."""
        self.page.set_input_files("#file", str(path))
        if not wait:
            return
        self.page.wait_for_function("n => document.getElementById('replace').open || (window.odinpaint.image()"
                                    " && window.odinpaint.image().name === n)", arg=path.name)
        if self.js("document.getElementById('replace').open"):
            self.page.click(f"#replace button[value={answer}]")
        if answer == "replace":
            self.page.wait_for_function("n => window.odinpaint.image() && window.odinpaint.image().name === n",
                                        arg=path.name)

    def js(self, expr, arg=None):
        return self.page.evaluate(expr, arg)

    def status(self) -> str:
        return self.page.inner_text("#status")

    def is_error(self) -> bool:
        return self.js("document.getElementById('status').classList.contains('error')")

    def brush(self, px: int):
        self.js("px => { const s = document.getElementById('size'); s.value = String(px);"
                " s.dispatchEvent(new Event('input')); }", px)

    def image_box(self):
        """Where the image is on screen, from the element's own box (not the page's maths)."""
        return self.page.locator("#paint").bounding_box()

    def screen(self, ix, iy, w, h):
        """Image pixel coordinates (of a w x h image) to page coordinates."""
        b = self.image_box()
        return b["x"] + ix * b["width"] / w, b["y"] + iy * b["height"] / h

    def mask(self, grow: int | None = 0) -> np.ndarray:
        """The mask the Inpaint button would send with the painted area grown by `grow` px
        (None: the page's Grow setting; 0, the default here: as painted), decoded: True = hole."""
        m = self.js("g => g === null ? window.odinpaint.mask() : window.odinpaint.mask(g)", grow)
        png = base64.b64decode(m["png"].split(",", 1)[1])
        a = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        assert a.shape[2] == 4 and (a[..., 3] == 255).all() and set(np.unique(a[..., :3])) <= {0, 255}
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
        hole = a[..., 0] == 255
        assert hole.sum() == m["painted"]
        return hole

    def drag(self, points, steps=6, button="left"):
        """A mouse drag through page points."""
        mouse = self.page.mouse
        mouse.move(*points[0])
        mouse.down(button=button)
        for p in points[1:]:
            mouse.move(*p, steps=steps)
        mouse.up(button=button)

    def touch(self, *tracks, steps=8):
        """Fingers down at their tracks' first points, moved along them, lifted: real touch
        events through Chromium's input pipeline (which scrolls the page unless told not to)."""
        if self.cdp is None:
            self.cdp = self.context.new_cdp_session(self.page)
        send = lambda kind, pts: self.cdp.send("Input.dispatchTouchEvent", {  # noqa: E731
            "type": kind, "touchPoints": [{"x": x, "y": y, "id": i, "radiusX": 4, "radiusY": 4, "force": 1}
                                          for i, (x, y) in pts]})
        send("touchStart", [(i, t[0]) for i, t in enumerate(tracks)])
        for seg in range(len(tracks[0]) - 1):
            for k in range(1, steps + 1):
                f = k / steps
                pts = [(i, (t[seg][0] + f * (t[seg + 1][0] - t[seg][0]), t[seg][1] + f * (t[seg + 1][1] - t[seg][1])))
                       for i, t in enumerate(tracks)]
                send("touchMove", pts)
        send("touchEnd", [])
        self.page.wait_for_timeout(50)

    def inpaint_and_wait(self, timeout=60000) -> bytes:
        """Click Inpaint, wait for the result on the page; the PNG its download link gives."""
        with self.page.expect_response(lambda r: "/api/v1/inpaint" in r.url, timeout=timeout) as resp:
            self.page.click("#inpaint")
        assert resp.value.status == 200, self.status()
        self.page.wait_for_function("() => !window.odinpaint.busy() && document.getElementById('result').complete"
                                    " && document.getElementById('result').naturalWidth > 0", timeout=timeout)
        return self.download()

    def download(self) -> bytes:
        """The bytes behind the download link, read in the page."""
        href = self.page.get_attribute("#download", "href")
        assert href.startswith("blob:")
        url = self.js("""u => fetch(u).then(r => r.blob()).then(b => new Promise(res => {
            const f = new FileReader(); f.onload = () => res(f.result); f.readAsDataURL(b); }))""", href)
        return base64.b64decode(url.split(",", 1)[1])

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.kind}-{name}.png"), full_page=True)


@pytest.fixture(params=["laptop", "phone"])
def tab(request, browser, server):
    t = Page(browser, server[0], request.param)
    yield t
    t.close()
    assert not t.errors, t.errors  # no JavaScript error on the way
    assert not [m for m in t.console if "willReadFrequently" in m], t.console  # canvases read back cheaply


def sent(tab, i) -> dict:
    """The parts of the i-th form the page posted: name -> bytes; "body" -> their total size."""
    parts = tab.js("""async i => {
        const out = {};
        for (const [name, blob] of Object.entries(window.__sent.at(i))) {
            const part = typeof blob === "string" ? new Blob([blob]) : blob;  // a text field (style)
            const url = await new Promise(res => { const f = new FileReader(); f.onload = () => res(f.result);
                                                   f.readAsDataURL(part); });
            out[name] = url.split(",", 2)[1];
        }
        return out; }""", i)
    parts = {k: base64.b64decode(v) for k, v in parts.items()}
    parts["body"] = sum(len(v) for v in parts.values())
    return parts


def paint_box(tab, x0, y0, x1, y1, W, H):
    """Strokes that fill the image rectangle [x0, x1) x [y0, y1) at the current zoom; the
    mask's hole (True = painted) afterwards."""
    v = tab.js("window.odinpaint.view()")
    r = int(tab.js("Number(document.getElementById('size').value)")) / 2 / v["s"]  # brush radius, image px
    for y in np.arange(y0 + r, y1 - r + 1, r):
        tab.drag([tab.screen(x0 + r, y, W, H), tab.screen(x1 - r, y, W, H)], steps=2)
    return r


def crop_bound(box, W, H):
    """The most the page may send for a painted box (x, y, w, h): the box grown by its margin."""
    m = int(np.ceil(0.5 * max(box["w"], box["h"]))) + 64
    return min(W, box["w"] + 2 * m), min(H, box["h"] + 2 * m)


def stroke_hits(hole, points_img, radius=1):
    return all(hole[int(y) - radius:int(y) + radius + 1, int(x) - radius:int(x) + radius + 1].any()
               for x, y in points_img)


# ----------------------------------------------------------------------------- painting
def test_layout_uses_the_width_and_screenshots(tab, files):
    tab.shot("empty")
    tab.load(files / "photo.png")
    vw = tab.js("window.innerWidth")
    vp = tab.page.locator("#viewport").bounding_box()
    assert tab.js("document.documentElement.scrollWidth") <= vw  # nothing sideways off screen
    assert tab.js("getComputedStyle(document.getElementById('paint')).touchAction") == "none"
    assert tab.js("getComputedStyle(document.getElementById('viewport')).touchAction") == "none"
    img = tab.image_box()
    if tab.kind == "phone":
        assert vp["width"] >= 0.9 * vw and img["width"] >= 0.9 * vw  # the full width, at fit zoom
        tab.js("document.getElementById('compare').hidden = false")  # where the result will go
        rp = tab.page.locator("#result-pane").bounding_box()
        assert rp["width"] >= 0.9 * vw and rp["y"] >= vp["y"] + vp["height"]  # stacked below
    else:
        rp = tab.page.locator("#result-pane").bounding_box()
        assert abs(rp["y"] - tab.page.locator("#viewport").locator("..").bounding_box()["y"]) < 5  # side by side
        assert vp["width"] > 500
    # fit zoom: the whole image in view, centred
    assert img["x"] >= vp["x"] - 1 and img["x"] + img["width"] <= vp["x"] + vp["width"] + 1
    assert img["y"] >= vp["y"] - 1 and img["y"] + img["height"] <= vp["y"] + vp["height"] + 1
    tab.shot("loaded")


def test_finger_or_mouse_stroke_paints_without_scrolling(tab, files):
    tab.load(files / "photo.png")
    tab.brush(12)
    track_img = [(60, 250), (200, 150), (340, 60)]  # bottom-left to top-right: an upward swipe
    track = [tab.screen(x, y, 400, 300) for x, y in track_img]
    if tab.kind == "phone":
        tab.js("document.body.style.paddingBottom = '2000px'")  # a page that can scroll
        tab.js("window.scrollTo(0, 0)")
        assert tab.js("document.documentElement.scrollHeight") > 844
        before = tab.js("window.scrollY")
        url = tab.page.url
        tab.touch(track)
        tab.page.wait_for_timeout(150)
        assert tab.page.url == url  # no swipe navigation back ...
        assert tab.js("window.scrollY") == before  # ... and no scrolling: the finger painted
        hole = tab.mask()
        # the same swipe off the canvas does scroll: the gesture is one that scrolls a page
        h = tab.page.locator("#no-result").bounding_box()
        tab.touch([(h["x"] + 20, h["y"] + 10), (h["x"] + 60, h["y"] - 200)])
        tab.page.wait_for_function("window.scrollY > 50")
    else:
        tab.drag(track)
        hole = tab.mask()
    assert hole.shape == (300, 400)
    line = [(x0 + t * (x1 - x0), y0 + t * (y1 - y0)) for (x0, y0), (x1, y1) in zip(track_img, track_img[1:])
            for t in np.linspace(0, 1, 9)]
    assert stroke_hits(hole, line, radius=2)
    # nothing far from the stroke: its width is the brush's 12 screen px in image px, plus rounding
    s = tab.js("window.odinpaint.view().s")
    yy, xx = np.nonzero(hole)
    pts = np.array(line)
    dist = np.min(np.hypot(xx[:, None] - pts[None, :, 0], yy[:, None] - pts[None, :, 1]), axis=1)
    assert dist.max() <= 6 / s + 12, (dist.max(), s)
    assert tab.js("window.odinpaint.history()")["undo"] == 2  # opening the photo, then the stroke


# ----------------------------------------------------------------------------- zoom and pan
def test_wheel_zoom_pan_and_precise_strokes(browser, server, files):
    t = Page(browser, server[0], "laptop")
    try:
        t.load(files / "photo.png")
        fit = t.js("window.odinpaint.view()")
        # the wheel zooms in about the pointer: the image point under it stays put
        px, py = t.screen(100, 200, 400, 300)
        t.page.mouse.move(px, py)
        for _ in range(4):
            t.page.mouse.wheel(0, -240)
        t.page.wait_for_function("s => window.odinpaint.view().s > 3 * s", arg=fit["s"])
        v = t.js("window.odinpaint.view()")
        ix, iy = t.js("([x, y]) => window.odinpaint.toImage(x, y)", [px, py]).values()
        assert abs(ix - 100) < 0.5 and abs(iy - 200) < 0.5
        b = t.image_box()
        assert abs(b["width"] - 400 * v["s"]) < 1  # the element really is drawn at that zoom
        assert t.page.inner_text("#zoom-value") == f"{round(v['s'] * 100)}%"
        # a stroke while zoomed lands on the right image pixels, 20 screen px = 20/s image px wide
        t.brush(20)
        a, c = t.screen(90, 200, 400, 300), t.screen(110, 200, 400, 300)
        t.drag([a, c], steps=10)
        hole = t.mask()
        ys, xs = np.nonzero(hole)
        half = 10 / v["s"]
        assert abs(xs.min() - (90 - half)) <= 1.5 and abs(xs.max() - (110 + half)) <= 1.5, (xs.min(), xs.max(), half)
        assert abs(ys.min() - (200 - half)) <= 1.5 and abs(ys.max() - (200 + half)) <= 1.5, (ys.min(), ys.max())
        assert hole[199:202, 90:111].all()
        # space + drag pans (and paints nothing)
        painted = hole.sum()
        vp = t.page.locator("#viewport").bounding_box()
        mid = (vp["x"] + vp["width"] / 2, vp["y"] + vp["height"] / 2)
        t.page.locator("#viewport").focus()
        t.page.keyboard.down(" ")
        t.drag([mid, (mid[0] + 80, mid[1] + 30)])
        t.page.keyboard.up(" ")
        v2 = t.js("window.odinpaint.view()")
        assert abs(v2["tx"] - v["tx"] - 80) < 1 and abs(v2["ty"] - v["ty"] - 30) < 1 and v2["s"] == v["s"]
        # middle-button drag pans too
        t.drag([mid, (mid[0] - 50, mid[1] - 20)], button="middle")
        v3 = t.js("window.odinpaint.view()")
        assert abs(v3["tx"] - v2["tx"] + 50) < 1 and abs(v3["ty"] - v2["ty"] + 20) < 1
        assert t.mask().sum() == painted
        t.shot("zoomed")
        # Fit puts the whole image back in view
        t.page.click("#fit")
        assert t.js("window.odinpaint.view()") == pytest.approx(fit)
        assert t.js("window.scrollY") == 0  # the wheel zoomed, it did not scroll the page
    finally:
        t.close()
    assert not t.errors, t.errors


def test_pinch_zooms_two_fingers_pan_and_paint_nothing(browser, server, files):
    t = Page(browser, server[0], "phone")
    try:
        t.load(files / "photo.png")
        fit = t.js("window.odinpaint.view()")
        vp = t.page.locator("#viewport").bounding_box()
        cx, cy = vp["x"] + vp["width"] / 2, vp["y"] + vp["height"] / 2
        under = t.js("([x, y]) => window.odinpaint.toImage(x, y)", [cx, cy])
        # fingers 60 px apart spreading to 180 px apart about the centre: 3x
        t.touch([(cx - 30, cy), (cx - 90, cy)], [(cx + 30, cy), (cx + 90, cy)])
        v = t.js("window.odinpaint.view()")
        assert v["s"] == pytest.approx(3 * fit["s"], rel=0.03)
        after = t.js("([x, y]) => window.odinpaint.toImage(x, y)", [cx, cy])
        assert abs(after["x"] - under["x"]) < 1 and abs(after["y"] - under["y"]) < 1  # zoomed about the fingers
        assert t.mask().sum() == 0  # the first finger's touch was not a stroke
        # two fingers moving together pan
        t.touch([(cx - 40, cy), (cx - 40 + 50, cy + 40)], [(cx + 40, cy), (cx + 40 + 50, cy + 40)])
        v2 = t.js("window.odinpaint.view()")
        assert v2["s"] == pytest.approx(v["s"], rel=1e-3)
        assert abs(v2["tx"] - v["tx"] - 50) < 2 and abs(v2["ty"] - v["ty"] - 40) < 2
        assert t.mask().sum() == 0
        # a one-finger stroke at this zoom paints the image pixels under it, finer than at fit
        t.brush(24)
        target = [(under["x"] - 10, under["y"]), (under["x"] + 10, under["y"])]
        t.touch([t.screen(x, y, 400, 300) for x, y in target])
        hole = t.mask()
        ys, xs = np.nonzero(hole)
        half = 12 / v2["s"]
        assert abs(xs.min() - (target[0][0] - half)) <= 1.5 and abs(xs.max() - (target[1][0] + half)) <= 1.5
        assert abs(ys.mean() - under["y"]) <= 1
        t.shot("pinched")
    finally:
        t.close()
    assert not t.errors, t.errors


# ----------------------------------------------------------------------------- history and checks
def test_undo_redo_shortcuts_and_buttons(tab, files):
    tab.load(files / "photo.png")
    tab.brush(10)
    tab.drag([tab.screen(50, 50, 400, 300), tab.screen(150, 50, 400, 300)])
    one = tab.mask()
    tab.drag([tab.screen(50, 200, 400, 300), tab.screen(150, 200, 400, 300)])
    two = tab.mask()
    assert one.any() and (two.sum() > one.sum()) and (two >= one).all()
    keys = tab.page.keyboard
    keys.press("Control+z")
    assert (tab.mask() == one).all()
    keys.press("Control+z")
    assert not tab.mask().any() and tab.page.is_disabled("#clear")
    assert tab.js("window.odinpaint.history()") == {"undo": 1, "redo": 2}  # left to undo: opening the photo
    keys.press("Control+Shift+z")
    assert (tab.mask() == one).all()
    keys.press("Control+y")
    assert (tab.mask() == two).all()
    assert tab.page.is_disabled("#redo")
    keys.press("Meta+z")  # Cmd+Z on a Mac
    assert (tab.mask() == one).all()
    tab.page.click("#redo")
    assert (tab.mask() == two).all()
    tab.page.click("#undo")
    assert (tab.mask() == one).all()
    # a new stroke drops what could be redone
    tab.drag([tab.screen(300, 100, 400, 300), tab.screen(300, 250, 400, 300)])
    assert tab.page.is_disabled("#redo")
    # clear is undoable; the eraser removes paint
    tab.page.click("#clear")
    assert not tab.mask().any()
    keys.press("Control+z")
    three = tab.mask()
    assert three.sum() > one.sum()
    tab.page.click("#eraser")
    assert tab.page.get_attribute("#eraser", "aria-pressed") == "true"
    tab.brush(40)
    tab.drag([tab.screen(30, 50, 400, 300), tab.screen(170, 50, 400, 300)])
    assert not tab.mask()[40:60, 50:150].any() and tab.mask().sum() < three.sum()


def test_brush_cursor_follows_the_pointer(browser, server, files):
    t = Page(browser, server[0], "laptop")
    try:
        t.load(files / "photo.png")
        t.brush(30)
        x, y = t.screen(200, 150, 400, 300)
        t.page.mouse.move(x - 5, y - 5)
        t.page.mouse.move(x, y)
        c = t.page.locator("#cursor")
        assert c.is_visible()
        b = c.bounding_box()
        assert abs(b["width"] - 30) < 1 and abs(b["x"] + b["width"] / 2 - x) < 1 and abs(b["y"] + b["height"] / 2 - y) < 1
        s0 = t.js("window.odinpaint.view().s")
        for _ in range(3):
            t.page.mouse.wheel(0, -240)
        t.page.wait_for_function("s => window.odinpaint.view().s > 2 * s", arg=s0)
        assert abs(c.bounding_box()["width"] - 30) < 1  # screen px: the same circle at any zoom
        t.page.mouse.move(5, 5)  # off the canvas
        assert not c.is_visible()
    finally:
        t.close()
    assert not t.errors, t.errors


def test_nothing_painted_says_so_and_sends_nothing(tab, files):
    tab.load(files / "small.png")
    tab.page.click("#inpaint")
    assert "paint over the part to remove first" in tab.status() and tab.is_error()
    tab.page.wait_for_timeout(200)
    assert tab.requests == []
    assert not tab.page.is_disabled("#inpaint")


def _shown(tab) -> dict:
    """What the page shows: the image's name and size, its pixels' checksum, the painted
    mask, and the result (the PNG behind Download), or None."""
    return {"image": tab.js("window.odinpaint.image()"),
            "pixels": tab.js("""() => { const c = document.getElementById('photo');
                if (!c.width) return null;
                return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)
                            .reduce((a, v, i) => (a + v * (i % 251 + 1)) % 1000000007, 0); }"""),
            "mask": tab.mask() if tab.js("window.odinpaint.image()") else None,
            "result": tab.download() if tab.page.is_visible("#compare") else None}


def _same(a, b) -> bool:
    return (a["image"] == b["image"] and a["pixels"] == b["pixels"] and a["result"] == b["result"]
            and (a["mask"] is None) == (b["mask"] is None) and (a["mask"] is None or (a["mask"] == b["mask"]).all()))


def _in_view(tab, selector) -> bool:
    box, height = tab.page.locator(selector).bounding_box(), tab.js("window.innerHeight")
    return box["y"] >= 0 and box["y"] + box["height"] <= height


def test_a_bad_file_keeps_the_work_and_undo_walks_back_through_fills(tab, files, tmp_path):
    """Load, paint, Inpaint; a bad file and an empty one change nothing; Undo takes the fill
    back and Redo brings it again; Continue editing is undone too."""
    tab.load(files / "small.png")
    tab.brush(20)
    tab.drag([tab.screen(40, 40, 160, 120), tab.screen(80, 60, 160, 120)])
    painted = _shown(tab)
    tab.inpaint_and_wait()
    filled = _shown(tab)
    assert filled["result"] is not None and (filled["mask"] == painted["mask"]).all()
    if tab.kind == "phone":  # stacked: the page scrolled the result and its tools into view
        # as far towards the compare view's top (block "start") as the page's length allows
        y, top, end = tab.js("[window.scrollY, document.getElementById('compare').getBoundingClientRect().top,"
                             " document.documentElement.scrollHeight - window.innerHeight]")
        assert abs(y - min(y + top, end)) <= 1, (y, top, end)  # 0 if it had not scrolled
        assert _in_view(tab, "#compare") and _in_view(tab, "#compare-pos") and _in_view(tab, "#download")
    (tmp_path / "empty.png").write_bytes(b"")
    for bad, why in [("broken.jpg", "not an image"), ("empty.png", "is empty")]:
        tab.load((files if bad == "broken.jpg" else tmp_path) / bad, wait=False)
        tab.page.wait_for_function("document.getElementById('status').classList.contains('error')")
        assert why in tab.status() and "Nothing was changed" in tab.status() and tab.is_error()
        assert _same(_shown(tab), filled)  # the photo, the mask and the result are all still there
        assert tab.page.inner_text("#file-name") == "small.png"
    assert not tab.page.is_disabled("#inpaint")
    tab.shot("bad-file-kept")
    # Undo: the photo before the fill (mask as painted, no result); Redo: the fill
    tab.page.click("#undo")
    assert _same(_shown(tab), painted) and tab.page.is_visible("#no-result")
    tab.page.click("#redo")
    assert _same(_shown(tab), filled)
    # continue editing: the result becomes the image; Undo goes back to the photo and its fill
    tab.page.click("#continue")
    editing = _shown(tab)
    assert editing["image"]["name"] == "small-inpainted.png" and not editing["mask"].any()
    assert tab.page.inner_text("#file-name") == "small-inpainted.png"  # the label follows the image
    tab.page.keyboard.press("Control+z")
    assert _same(_shown(tab), filled) and tab.page.is_visible("#continue")
    tab.page.keyboard.press("Control+z")
    assert _same(_shown(tab), painted)
    tab.page.keyboard.press("Control+Shift+z")
    tab.page.keyboard.press("Control+Shift+z")
    assert _same(_shown(tab), editing) and tab.page.is_disabled("#redo")


def test_replacing_unsaved_work_asks_first_and_can_be_undone(tab, files):
    tab.load(files / "small.png")
    assert tab.page.is_disabled("#clear")  # nothing painted yet
    tab.load(files / "photo.png")  # nothing to lose: no question
    assert tab.js("window.odinpaint.image()")["name"] == "photo.png"
    tab.brush(20)
    tab.drag([tab.screen(100, 100, 400, 300), tab.screen(300, 100, 400, 300)])
    assert not tab.page.is_disabled("#clear")
    before = _shown(tab)
    tab.load(files / "small.png", answer="keep")
    tab.page.wait_for_function("document.getElementById('status').textContent.startsWith('Kept')")
    assert "a painted area" in tab.page.inner_text("#replace-text") and not tab.page.is_visible("#replace")
    assert _same(_shown(tab), before) and tab.status() == "Kept photo.png; small.png was not opened."
    tab.load(files / "small.png", answer="replace")
    assert tab.js("window.odinpaint.image()")["name"] == "small.png" and tab.js("window.odinpaint.painted()") == 0
    assert tab.page.is_disabled("#clear")
    tab.page.click("#undo")  # the photo and its painted area come back
    assert _same(_shown(tab), before)
    # a downloaded result is saved work: replacing it then asks nothing (with nothing painted)
    tab.inpaint_and_wait()
    tab.page.click("#clear")
    with tab.page.expect_download():
        tab.page.click("#download")
    tab.page.set_input_files("#file", str(files / "photo.png"))
    tab.page.wait_for_function("window.odinpaint.image().name === 'photo.png'")  # no question asked
    assert not tab.js("document.getElementById('replace').open")


def test_the_painted_area_grows_by_the_setting_before_it_is_sent(tab, server, files):
    """Grow, 6 px by default and shown on the page, grows the painted area as `fill --dilate`
    does; 0 sends it as painted. The result keeps every pixel outside the grown hole."""
    from odinpaint.imageio import binarize_mask

    tab.load(files / "small.png")
    assert tab.page.input_value("#grow") == "6" and tab.page.is_visible("#grow")
    tab.brush(10)
    tab.drag([tab.screen(50, 60, 160, 120), tab.screen(100, 60, 160, 120)], steps=4)
    painted = tab.mask(grow=0)
    grown = binarize_mask(painted.astype(np.uint8) * 255, dilate=6)
    assert (tab.mask(grow=None) == grown).all() and grown.sum() > painted.sum()
    tab.inpaint_and_wait()
    parts, c = sent(tab, -1), tab.js("window.odinpaint.crop()")["crop"]
    sent_mask = np.asarray(Image.open(io.BytesIO(parts["mask"]))) > 127
    assert (sent_mask == grown[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]]).all()
    out = np.asarray(Image.open(io.BytesIO(tab.download())).convert("RGB"))
    original = np.asarray(Image.open(files / "small.png").convert("RGB"))
    assert (out[~grown] == original[~grown]).all() and (out[grown & ~painted] != original[grown & ~painted]).any()
    tab.page.fill("#grow", "0")
    tab.page.locator("#grow").dispatch_event("change")
    tab.inpaint_and_wait()
    sent_mask = np.asarray(Image.open(io.BytesIO(sent(tab, -1)["mask"]))) > 127
    c = tab.js("window.odinpaint.crop()")["crop"]
    assert (sent_mask == painted[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]]).all()


def test_touch_targets_on_the_phone_are_at_least_44_px(browser, server, files):
    t = Page(browser, server[0], "phone")
    try:
        t.load(files / "small.png")
        t.brush(20)
        t.drag([t.screen(40, 40, 160, 120), t.screen(80, 60, 160, 120)])
        t.inpaint_and_wait()
        controls = t.page.locator("#tools button, #tools select, #tools input:not([type=file]), #tools label.button,"
                                  " #result-tools button, #result-tools a, #result-tools input")
        small = []
        for i in range(controls.count()):
            c = controls.nth(i)
            if c.is_visible():
                b = c.bounding_box()
                if b["height"] < 44 or b["width"] < 44:
                    small.append((c.evaluate("e => e.id || e.textContent.trim()"), b["width"], b["height"]))
        assert controls.count() >= 14 and small == [], small
        t.shot("touch-targets")
    finally:
        t.close()
    assert not t.errors, t.errors


def test_big_files_load_and_a_crop_over_the_upload_limit_is_refused_before_uploading(tab, files):
    size = (files / "huge.png").stat().st_size
    assert size > LIMIT_MB * 2**20
    tab.load(files / "huge.png")  # over the limit as a file: fine, only crops are uploaded
    assert tab.js("window.odinpaint.image()")["w"] == 1400 and not tab.is_error()
    # a stroke corner to corner: its crop is the whole noise image, over the limit as PNG
    tab.brush(30)
    tab.drag([tab.screen(20, 20, 1400, 1400), tab.screen(1380, 1380, 1400, 1400)])
    tab.page.click("#inpaint")
    tab.page.wait_for_function("document.getElementById('status').classList.contains('error')")
    text = tab.status()
    assert "(1400×1400 px)" in text and f"over the server's {LIMIT_MB} MB upload limit" in text, text
    assert tab.requests == [] and not tab.page.is_disabled("#inpaint")
    # a small stroke: a small crop, sent and filled
    tab.page.click("#undo")
    tab.drag([tab.screen(600, 700, 1400, 1400), tab.screen(700, 700, 1400, 1400)])
    c = tab.js("window.odinpaint.crop()")
    tab.inpaint_and_wait()
    assert len(tab.requests) == 1
    parts = sent(tab, 0)
    img = Image.open(io.BytesIO(parts["image"]))
    assert img.size == (c["crop"]["w"], c["crop"]["h"]) and img.size <= crop_bound(c["box"], 1400, 1400)
    assert parts["body"] < LIMIT_MB * 2**20


def test_the_fill_style_is_chosen_on_the_page_and_sent(tab, server, files):
    inp = server[1]
    tab.load(files / "small.png")
    tab.brush(20)
    tab.drag([tab.screen(40, 60, 160, 120), tab.screen(120, 60, 160, 120)], steps=4)
    assert tab.page.input_value("#style") == "detailed"  # the default, as in fill and the API
    tab.page.select_option("#style", "smooth")
    tab.inpaint_and_wait()
    assert inp.styles[-1] == "smooth"


def test_api_errors_show_the_servers_detail(tab, files):
    # the real server: a mask over the whole image is refused with its reason
    tab.load(files / "small.png")
    tab.brush(150)
    for y in (0.5, *range(10, 120, 10), 119.5):
        tab.drag([tab.screen(0.5, y, 160, 120), tab.screen(159.5, y, 160, 120)], steps=2)
    assert tab.mask().all()
    tab.page.click("#inpaint")
    tab.page.wait_for_function("!window.odinpaint.busy()")
    assert tab.status() == ("Inpaint failed (HTTP 422): the mask covers the whole image: "
                            "there is nothing to fill from") and tab.is_error()
    # FastAPI's validation errors: a list of objects, shown as text
    tab.page.route("**/api/v1/inpaint", lambda route: route.fulfill(status=422, content_type="application/json", body=(
        '{"detail": [{"type": "missing", "loc": ["body", "mask"], "msg": "Field required", "input": null},'
        ' {"type": "missing", "loc": ["body", "image"], "msg": "Field required", "input": null}]}')))
    tab.page.click("#undo")
    tab.page.click("#inpaint")
    tab.page.wait_for_function("document.getElementById('status').textContent.includes('Field required')")
    assert tab.status() == "Inpaint failed (HTTP 422): mask: Field required; image: Field required"
    # a bug on the server: its 500 detail as it is
    tab.page.unroute("**/api/v1/inpaint")
    tab.page.route("**/api/v1/inpaint", lambda route: route.fulfill(status=500, content_type="application/json",
                                                                    body='{"detail": "internal error in odinpaint"}'))
    tab.page.click("#inpaint")
    tab.page.wait_for_function("document.getElementById('status').textContent.includes('HTTP 500')")
    assert tab.status() == "Inpaint failed (HTTP 500): internal error in odinpaint"
    assert "[object Object]" not in tab.page.content()
    assert not tab.page.is_disabled("#inpaint")


# ----------------------------------------------------------------------------- a request in flight
def test_inpaint_is_disabled_with_progress_during_a_request(tab, server, files):
    inp = server[1]
    tab.load(files / "small.png")
    tab.brush(20)
    tab.drag([tab.screen(40, 40, 160, 120), tab.screen(100, 70, 160, 120)])
    inp.delay = 1.5
    try:
        tab.page.click("#inpaint")
        tab.page.wait_for_function("document.getElementById('inpaint').disabled")
        assert tab.js("window.odinpaint.busy()")
        assert tab.page.is_visible("#progress progress")
        tab.page.wait_for_function("parseFloat(document.getElementById('elapsed').textContent) >= 0.5")
        assert tab.page.inner_text("#elapsed").endswith(" s")
        tab.shot("inpainting")
        # more clicks, even straight through the DOM, send nothing more
        tab.js("document.getElementById('inpaint').click(); document.getElementById('inpaint').click()")
        tab.page.wait_for_function("() => !window.odinpaint.busy()", timeout=20000)
        assert len(tab.requests) == 1
        assert tab.page.is_visible("#compare") and not tab.page.is_disabled("#inpaint")
        assert not tab.page.is_visible("#progress") and tab.status().startswith("Done in")
        # a new image while a request runs: that answer is never shown for it
        tab.page.click("#inpaint")
        tab.page.wait_for_function("window.odinpaint.busy()")
        tab.load(files / "photo.png")
        assert not tab.js("window.odinpaint.busy()") and not tab.page.is_visible("#progress")
        assert not tab.page.is_visible("#compare")
        time.sleep(inp.delay + 0.5)  # the old answer would be back by now
        assert not tab.page.is_visible("#compare") and tab.js("document.getElementById('result').src") == ""
        assert "photo.png" in tab.status() and not tab.is_error()
    finally:
        inp.delay = 0.0


# ----------------------------------------------------------------------------- the result
def _red(page, ix, iy, w=160, h=120):
    """Whether what the page shows over the result's image pixel (ix, iy) is red: a
    screenshot of the result's place on screen, with whatever is drawn over it."""
    shot = np.asarray(Image.open(io.BytesIO(page.locator("#result").screenshot())).convert("RGB"))
    sy, sx = shot.shape[0] / h, shot.shape[1] / w
    r, g, b = shot[int(iy * sy) - 1:int(iy * sy) + 2, int(ix * sx) - 1:int(ix * sx) + 2].reshape(-1, 3).mean(axis=0)
    return r > 200 and g < 60 and b < 60


def test_compare_continue_editing_and_a_new_upload(tab, files):
    tab.load(files / "red-square.png")
    tab.brush(30)
    for y in range(36, 86, 6):  # paint over the red square (x 60-100, y 40-80)
        tab.drag([tab.screen(56, y, 160, 120), tab.screen(104, y, 160, 120)], steps=3)
    hole = tab.mask()
    assert hole[40:80, 60:100].all()
    png = tab.inpaint_and_wait()
    out = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert not (out[60, 80] == (255, 0, 0)).all()  # the square is gone
    assert not _red(tab.page, 80, 60)  # the result is shown
    # the slider over the result: left of it the original
    tab.page.fill("#compare-pos", "100")
    assert _red(tab.page, 80, 60)
    tab.page.fill("#compare-pos", "40")  # the line at x = 64: the square's left edge is original, its middle is not
    assert _red(tab.page, 62, 60) and not _red(tab.page, 80, 60)
    tab.shot("compare")
    tab.page.fill("#compare-pos", "0")
    # press and hold to see the original
    hold = tab.page.locator("#hold").bounding_box()
    tab.page.mouse.move(hold["x"] + 10, hold["y"] + 10)
    tab.page.mouse.down()
    assert _red(tab.page, 80, 60)
    tab.page.mouse.up()
    assert not _red(tab.page, 80, 60)
    # the download link gives the answer under the photo's name
    assert tab.page.get_attribute("#download", "download") == "red-square-inpainted.png"
    # continue editing from the result: it becomes the image, the mask and history cleared
    tab.page.click("#continue")
    tab.page.wait_for_function("window.odinpaint.image() && window.odinpaint.image().name === 'red-square-inpainted.png'")
    assert tab.js("window.odinpaint.history()")["redo"] == 0 and not tab.mask().any()
    pixel = tab.js("() => Array.from(document.getElementById('photo').getContext('2d').getImageData(80, 60, 1, 1).data)")
    assert pixel[:3] == out[60, 80].tolist()
    assert not tab.page.is_visible("#continue")
    assert not tab.page.is_disabled("#inpaint")
    tab.shot("continued")
    # a new upload clears the result, its download link and the compare view
    tab.load(files / "small.png")
    assert not tab.page.is_visible("#compare") and not tab.page.is_visible("#result-tools")
    assert tab.page.get_attribute("#download", "href") is None
    assert tab.js("document.getElementById('result').src") == ""
    assert tab.page.is_visible("#no-result")


# ----------------------------------------------------------------------------- a 12-megapixel photo
def test_a_4000x3000_photo_with_a_600x400_hole(tab, files, tmp_path):
    W, H = 4000, 3000
    x0, y0, x1, y1 = 1500, 1200, 2100, 1600  # the 600 x 400 hole
    photo = Image.fromarray(smooth_image(np.random.default_rng(12), 300, 400)).resize((W, H), Image.BICUBIC)
    path = tmp_path / "big.jpg"
    photo.save(path, quality=90)
    assert path.stat().st_size < LIMIT_MB * 2**20
    original = np.asarray(Image.open(path).convert("RGB"))  # what the server decodes
    tab.load(path)
    v = tab.js("window.odinpaint.view()")
    assert v["s"] == pytest.approx(v["fit"])  # at fit zoom
    tab.brush(8)
    r = paint_box(tab, x0, y0, x1, y1, W, H)
    hole = tab.mask(grow=None)  # what is sent: the painted area grown by the page's setting
    assert hole.shape == (H, W)
    inner = hole[y0 + int(r):y1 - int(r), x0 + int(r):x1 - int(r)]
    assert inner.all() and hole[y0:y1, x0:x1].mean() > 0.95
    grown = np.zeros_like(hole)
    grown[y0 - 2 * int(r):y1 + 2 * int(r), x0 - 2 * int(r):x1 + 2 * int(r)] = True
    assert not hole[~grown].any()  # painted where the test meant, nowhere else
    c = tab.js("window.odinpaint.crop()")
    ys, xs = np.nonzero(hole)
    assert c["box"] == {"x": xs.min(), "y": ys.min(), "w": xs.max() - xs.min() + 1, "h": ys.max() - ys.min() + 1}
    out = np.asarray(Image.open(io.BytesIO(tab.inpaint_and_wait(timeout=120000))).convert("RGB"))
    # only the crop around the hole went up: the box plus its margins, the image and mask cut alike
    parts = sent(tab, -1)
    img, msk = Image.open(io.BytesIO(parts["image"])), Image.open(io.BytesIO(parts["mask"]))
    assert img.format == "PNG" and img.size == msk.size == (c["crop"]["w"], c["crop"]["h"])
    assert img.size <= crop_bound(c["box"], W, H) and img.size >= (c["box"]["w"], c["box"]["h"])
    cx, cy = c["crop"]["x"], c["crop"]["y"]
    assert (np.asarray(img.convert("RGB")) == original[cy:cy + img.size[1], cx:cx + img.size[0]]).all()  # lossless
    assert (np.asarray(msk) > 127).sum() == hole.sum()
    assert parts["body"] < 2 * 2**20, parts["body"]  # well under any upload limit (the file is ~1 MB as JPEG)
    print(f"12 MP: sent {parts['body']} bytes, a {img.size} crop")
    assert out.shape == (H, W, 3)
    assert (out[~hole] == original[~hole]).all()  # every pixel outside the painted hole is the input's
    assert (out[hole] != original[hole]).any()
    assert tab.js("[document.getElementById('result').naturalWidth, document.getElementById('result').naturalHeight]") == [W, H]
    tab.page.locator("#compare").scroll_into_view_if_needed()
    tab.shot("12mp-result")


def test_continue_editing_a_24mp_photo_under_the_default_upload_limit(browser, server20, tmp_path):
    """A phone's 24 MP photo: two holes, one Inpaint each with Continue editing between; no
    request near the 20 MB limit (its result is ~25 MB and more as PNG), both holes filled,
    every other pixel the original's."""
    W, H = 6000, 4000
    rng = np.random.default_rng(24)
    photo = np.asarray(Image.fromarray(smooth_image(rng, 200, 300)).resize((W, H), Image.BILINEAR))
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo).save(path, quality=85)
    original = np.asarray(Image.open(path).convert("RGB"))
    t = Page(browser, server20, "phone")
    try:
        t.load(path)
        t.brush(12)
        paint_box(t, 1000, 800, 1600, 1200, W, H)
        first = t.mask(grow=None)
        out1 = np.asarray(Image.open(io.BytesIO(t.inpaint_and_wait(timeout=120000))).convert("RGB"))
        assert (out1[~first] == original[~first]).all() and (out1[first] != original[first]).any()
        t.page.click("#continue")
        t.page.wait_for_function("window.odinpaint.image() && window.odinpaint.image().name === 'phone-inpainted.png'")
        assert not t.mask().any()
        paint_box(t, 4200, 2600, 4900, 3300, W, H)
        second = t.mask(grow=None)
        assert not (first & second).any()
        out2 = np.asarray(Image.open(io.BytesIO(t.inpaint_and_wait(timeout=120000))).convert("RGB"))
        t.page.locator("#compare").scroll_into_view_if_needed()
        t.shot("24mp-continued")
        sizes = [sent(t, i) for i in range(len(t.requests))]
        print("24 MP: sent", [(p["body"], Image.open(io.BytesIO(p["image"])).size) for p in sizes])
    finally:
        t.close()
    assert not t.errors, t.errors
    assert len(sizes) == 2 and all(p["body"] < 20 * 2**20 / 4 for p in sizes)  # far under the 20 MB limit
    assert out2.shape == (H, W, 3)
    both = first | second
    assert (out2[~both] == original[~both]).all()  # every other pixel is the original's
    assert (out2[first] == out1[first]).all()  # the first fill kept, the second hole filled
    assert (out2[second] != original[second]).any()


# ----------------------------------------------------------------------------- /docs offline
@pytest.mark.parametrize("path,text", [("/docs", "/api/v1/inpaint"), ("/redoc", "/api/v1/inpaint")])
def test_api_pages_render_with_the_network_off(browser, server, path, text):
    base = server[0]
    context = browser.new_context(**LAPTOP)
    blocked = []

    def only_this_machine(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    try:
        page = context.new_page()
        page.route("**/*", only_this_machine)
        page.goto(base + path)
        page.get_by_text(text).first.wait_for(state="visible", timeout=20000)
        if path == "/docs":
            assert page.locator(".opblock-summary-path", has_text="/api/v1/inpaint").is_visible()
            assert page.locator(".opblock-summary-path", has_text="/api/v1/health").is_visible()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"offline{path.replace('/', '-')}.png"))
    finally:
        context.close()
    assert blocked == []  # nothing was even asked of another host
