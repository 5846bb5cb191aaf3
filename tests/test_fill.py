import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers.photos import smooth_image
from odinpaint.cli import main
from odinpaint.inference.fill import MaskSpec, fill_folder
from odinpaint.inference.inpainter import Inpainter, boxes_to_mask
from odinpaint.inference.plan import FillPolicy, cover, starts


@pytest.fixture(scope="module")
def inp(model_path):
    return Inpainter.from_checkpoint(model_path)


def photo(h, w, seed=0):
    return smooth_image(np.random.default_rng(seed), h, w)


@pytest.mark.parametrize("h,w", [(48, 64), (200, 150), (50, 1), (1, 40), (300, 5000)])
def test_known_pixels_are_byte_identical(inp, h, w):
    img = photo(h, w)
    hole = np.zeros((h, w), bool)
    hole[h // 3 : max(h // 3 + 1, h // 2), w // 3 : max(w // 3 + 1, w // 2)] = True
    out = inp.fill(img, hole)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[~hole] == img[~hole]).all()
    assert (out[hole] != img[hole]).any() or hole.sum() < 4


@pytest.mark.parametrize("colour", [(254, 254, 252), (1, 7, 200)])
def test_feathering_keeps_a_flat_fill_exact(colour):
    # A hole in a flat region, filled with its colour: the seam band's fill must not move it
    # (OpenCV's Telea, the band's fill before, was off by up to 2 grey levels here).
    crop = np.zeros((80, 90, 3), np.uint8)
    crop[:] = colour
    crop[:, :10] = 30  # something else in the crop, away from the hole
    hole = np.zeros((80, 90), bool)
    hole[20:50, 30:70] = True
    out = Inpainter._feathered(crop, hole, hole, crop.copy(), 4)
    assert (out == crop).all()


def _spy(monkeypatch, inp, name):
    """Record the arguments of every call of ``inp.<name>`` (which still runs)."""
    calls = []
    real = getattr(inp, name)
    monkeypatch.setattr(inp, name, lambda *a, **kw: calls.append(a) or real(*a, **kw))
    return calls


def test_large_hole_goes_coarse_to_fine(inp, monkeypatch):
    """A hole too large for one window is filled at half resolution first (recursively until
    it fits), then refined by overlapping tiles that each see context on every side."""
    img = photo(400, 400)
    hole = np.zeros((400, 400), bool)
    side = 2 * inp.planner.core + 40  # needs two halvings to fit one window
    hole[100 : 100 + side, 80 : 80 + side] = True
    levels = _spy(monkeypatch, inp, "_fill_level")
    runs = _spy(monkeypatch, inp, "_run")
    out = inp.fill(img, hole)
    shapes = [lvl[1].shape for lvl in levels]
    assert len(levels) == 3 and all(abs(a[0] - 2 * b[0]) <= 1 for a, b in zip(shapes, shapes[1:]))
    coarsest = levels[-1][2]
    ys, xs = np.nonzero(coarsest)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 <= inp.planner.core  # fits one window
    full_res_jobs = runs[-1][2]  # the last _run is the full-resolution refinement
    assert len(full_res_jobs) >= 4 and all(j.weight is not None for j in full_res_jobs)
    covered = np.zeros(levels[0][1].shape, int)
    for j in full_res_jobs:
        covered[j.y0 : j.y0 + j.paste.shape[0], j.x0 : j.x0 + j.paste.shape[1]] += j.paste
    assert (covered[levels[0][2]] >= 1).all() and (covered >= 2).any()  # every hole pixel, with overlaps
    assert (out[~hole] == img[~hole]).all()


def test_a_thin_stroke_is_tiled_at_its_thickness(inp, monkeypatch):
    """A 6 px stroke across a 400 px photo (coarse passes first: its box is too large for one
    window) is predicted at full resolution in tiles at the model's own size, sized by its
    thickness, not in the largest windows (4x coarser), and every stroke pixel is covered. A
    square of the same span keeps the largest windows."""
    img = photo(400, 400)
    stroke = np.zeros((400, 400), np.uint8)
    cv2.line(stroke, (20, 40), (380, 360), 1, thickness=6)
    runs = _spy(monkeypatch, inp, "_run")
    out = inp.fill(img, stroke > 0)
    full_res = runs[-1][2]
    assert len(full_res) > 4 and {j.side for j in full_res} == {inp.size}
    covered = np.zeros((400, 400), bool)
    for j in full_res:
        covered[j.y0 : j.y0 + j.paste.shape[0], j.x0 : j.x0 + j.paste.shape[1]] |= j.paste
    assert covered[stroke > 0].all() and (out[stroke == 0] == img[stroke == 0]).all()
    square = np.zeros((400, 400), bool)
    square[20:380, 20:380] = True
    runs.clear()
    inp.fill(img, square)
    assert {j.side for j in runs[-1][2]} == {inp.planner.max_window}


def test_stroke_tiles_leave_out_cores_that_only_graze_it():
    """A diagonal stroke touches grid cores at their corners; those whose stroke pixels other
    cores hold too are left out, and the cores kept still hold every stroke pixel."""
    labels = np.zeros((300, 300), np.int32)
    cv2.line(labels, (10, 20), (290, 250), 1, thickness=8)
    ys, xs = np.nonzero(labels)
    box, c = (ys.min(), xs.min(), np.ptp(ys) + 1, np.ptp(xs) + 1), 35
    grid = [(cy, cx) for cy in starts(box[0], box[2], c, 0.25) for cx in starts(box[1], box[3], c, 0.25)
            if (labels[cy : cy + c, cx : cx + c] == 1).any()]
    kept = cover(labels, 1, box, c, 0.25)
    assert len(kept) < len(grid) and {(cy, cx) for cy, cx, _ in kept} < set(grid)
    covered = np.zeros(labels.shape, int)
    for cy, cx, core in kept:
        assert (core == (labels[cy : cy + c, cx : cx + c] == 1)).all()
        covered[cy : cy + c, cx : cx + c] += core
    assert (covered[labels == 1] >= 1).all() and (covered[labels == 0] == 0).all()
    assert (covered >= 2).any()  # neighbouring cores still overlap, for blending


def test_cost_follows_the_hole(inp, monkeypatch):
    """A small hole in a large image is worked on in a crop around it, and the windows of
    separate holes share one network call."""
    img = photo(1500, 2000)
    hole = boxes_to_mask((1500, 2000), [(900, 700, 30, 20), (940, 700, 10, 10), (900, 730, 15, 25)])
    levels = _spy(monkeypatch, inp, "_fill_level")
    calls = _spy(monkeypatch, inp, "predict")
    out = inp.fill(img, hole)
    assert len(levels) == 1 and levels[0][1].size < 0.02 * hole.size
    # one call for the three holes' windows, one for the refinement tiles of the 30 px hole
    assert len(calls) == 2 and len(calls[0][0]) == 3 and len(calls[1][0]) == 4
    assert (out[~hole] == img[~hole]).all()


def test_a_hole_in_one_window_is_refined_in_smaller_tiles(inp, monkeypatch):
    """A compact hole takes one window, then a second pass predicts it again in overlapping
    tiles ``refine`` x smaller, which see the first fill as context (it is no longer unknown)
    and together cover every hole pixel. A policy with refine 0 makes one pass."""
    img = photo(200, 200)
    hole = boxes_to_mask((200, 200), [(80, 60, 40, 40)])
    runs = _spy(monkeypatch, inp, "_run")
    out = inp.fill(img, hole)
    assert len(runs) == 2
    (_, crop_hole, first), (_, unknown, tiles) = runs  # crop_hole: the hole, in the crop around it
    assert len(first) == 1 and first[0].weight is None
    assert len(tiles) == 4 and {j.side for j in tiles} == {int(np.ceil(first[0].side / inp.policy.refine))}
    assert all(j.weight is not None for j in tiles) and not unknown.any()
    covered = np.zeros(crop_hole.shape, int)
    for j in tiles:
        covered[j.y0 : j.y0 + j.paste.shape[0], j.x0 : j.x0 + j.paste.shape[1]] += j.paste
    assert (covered[crop_hole] >= 1).all() and (covered[~crop_hole] == 0).all() and (covered >= 2).any()
    assert (out[~hole] == img[~hole]).all()
    one_pass = Inpainter(inp.net, policy=FillPolicy(refine=0))
    runs = _spy(monkeypatch, one_pass, "_run")
    once = one_pass.fill(img, hole)
    assert len(runs) == 1 and (once[hole] != out[hole]).any() and (once[~hole] == img[~hole]).all()


def test_far_apart_holes_are_separate_crops(inp, monkeypatch):
    img = photo(600, 900)
    hole = boxes_to_mask((600, 900), [(10, 10, 20, 20), (850, 550, 30, 30)])
    levels = _spy(monkeypatch, inp, "_fill_level")
    out = inp.fill(img, hole)
    assert len(levels) == 2 and sum(lvl[1].size for lvl in levels) < 0.05 * hole.size
    assert (out[~hole] == img[~hole]).all()


def _strokes(draw, h, w):
    m = np.zeros((h, w), np.uint8)
    for _ in range(draw(st.integers(1, 4))):
        pts = np.array([[draw(st.integers(-10, w + 10)), draw(st.integers(-10, h + 10))] for _ in range(3)], np.int32)
        cv2.polylines(m, [pts], False, 255, thickness=draw(st.integers(1, max(1, min(h, w) // 2))))
    return m > 0


@st.composite
def image_and_hole(draw):
    """Random sizes (thin strips among them) and holes: boxes, strokes, and all but a few
    known pixels."""
    h, w = draw(st.integers(1, 260)), draw(st.integers(1, 260))
    kind = draw(st.sampled_from(["box", "strokes", "nearly_all", "noise"]))
    if kind == "box":
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        hole = boxes_to_mask((h, w), [(x0, y0, draw(st.integers(1, w)), draw(st.integers(1, h)))])
    elif kind == "strokes":
        hole = _strokes(draw, h, w)
    elif kind == "nearly_all":
        hole = np.ones((h, w), bool)
        for _ in range(draw(st.integers(1, 3))):
            hole[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = False
    else:
        hole = np.random.default_rng(draw(st.integers(0, 99))).random((h, w)) < draw(st.floats(0.05, 0.95))
    seed = draw(st.integers(0, 3))
    return photo(h, w, seed), hole


@pytest.fixture(scope="module")
def inp_shipped_kind():
    """A tiny model of the shipped kind: biharmonic start (which needs a known pixel in every
    window), residual correction, 8-view averaging."""
    import torch

    from odinpaint.models import build
    from odinpaint.models.context_encoder import ContextEncoderArch

    torch.manual_seed(0)
    return Inpainter(build(ContextEncoderArch(image_size=32, width=8, fill="biharmonic", mask_channel=True, skips=True,
                                              residual=True, refine=True, tta=True)))


@pytest.mark.fuzz
@pytest.mark.parametrize("model", ["inp", "inp_shipped_kind"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=image_and_hole())
def test_any_hole_with_a_known_pixel_fills(request, model, case):
    """Any image size and any hole that leaves a known pixel: the known pixels come back
    byte-identical, and the fill depends on the known pixels only (the hole's old content,
    here replaced by its negative, never leaks in)."""
    inp = request.getfixturevalue(model)
    img, hole = case
    if hole.all() or not hole.any():
        return
    out = inp.fill(img, hole)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[~hole] == img[~hole]).all()
    other = img.copy()
    other[hole] = 255 - other[hole]
    assert (inp.fill(other, hole) == out).all()


@pytest.mark.slow
def test_camera_size_photo_with_a_huge_hole():
    """A 24 MP photo with a 2000x1500 hole, with the shipped model."""
    img = cv2.resize(photo(600, 900), (6000, 4000), interpolation=cv2.INTER_CUBIC)
    hole = boxes_to_mask((4000, 6000), [(2000, 1200, 2000, 1500)])
    out = Inpainter.default().fill(img, hole)
    assert (out[~hole] == img[~hole]).all()
    # smooth content: the fill stays near the truth (a failed or leaked fill would be far off)
    assert np.abs(out[hole].astype(int) - img[hole]).mean() < 20


def test_empty_mask_returns_the_input_and_full_mask_is_an_error(inp):
    img = photo(40, 40)
    assert (inp.fill(img, np.zeros((40, 40), bool)) == img).all()
    with pytest.raises(ValueError, match="whole image"):
        inp.fill(img, np.ones((40, 40), bool))


def test_pil_in_pil_out_and_mask_size_checked(inp):
    img = Image.fromarray(photo(40, 50))
    mask = Image.new("L", (50, 40))
    mask.paste(255, (10, 10, 20, 20))
    out = inp.fill(img, mask)
    assert isinstance(out, Image.Image) and out.size == (50, 40)
    with pytest.raises(ValueError, match="must match"):
        inp.fill(img, Image.new("L", (10, 10)))


def test_box_and_mask_are_equivalent(model_path, tmp_path):
    img = photo(120, 160)
    Image.fromarray(img).save(tmp_path / "a.png")
    mask = np.zeros((120, 160), np.uint8)
    mask[30:70, 40:90] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    base = ["fill", str(tmp_path / "a.png"), "--model", str(model_path)]
    assert main(base + ["--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "o1.png")]) == 0
    assert main(base + ["--box", "40,30,50,40", "-o", str(tmp_path / "o2.png")]) == 0
    o1, o2 = np.asarray(Image.open(tmp_path / "o1.png")), np.asarray(Image.open(tmp_path / "o2.png"))
    assert (o1 == o2).all() and (o1[mask == 0] == img[mask == 0]).all()
    inv = 255 - mask
    Image.fromarray(inv).save(tmp_path / "inv.png")
    assert main(base + ["--mask", str(tmp_path / "inv.png"), "--invert-mask", "-o", str(tmp_path / "o3.png")]) == 0
    assert (np.asarray(Image.open(tmp_path / "o3.png")) == o1).all()


@pytest.mark.parametrize("kind", ["grey", "png16", "rgba"])
def test_odd_inputs(model_path, tmp_path, kind):
    img = photo(64, 80)
    path = tmp_path / "in.png"
    args = ["fill", str(path), "--model", str(model_path), "-o", str(tmp_path / "out.png")]
    if kind == "grey":
        Image.fromarray(img[..., 0]).save(path)
        args += ["--box", "10,10,20,20"]
    elif kind == "png16":
        Image.fromarray(img[..., 0].astype(np.uint16) * 257).save(path)
        args += ["--box", "10,10,20,20"]
    else:  # transparent pixels are the hole
        alpha = np.full((64, 80), 255, np.uint8)
        alpha[20:40, 30:50] = 0
        Image.fromarray(np.dstack([img, alpha])).save(path)
    assert main(args) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (64, 80, 3)
    if kind == "rgba":
        assert (out[:20] == img[:20]).all() and (out[20:40, 30:50] != img[20:40, 30:50]).any()


def test_output_never_overwrites_input_unless_asked(model_path, tmp_path, capsys):
    path = tmp_path / "x.png"
    Image.fromarray(photo(40, 40)).save(path)
    before = path.read_bytes()
    args = ["fill", str(path), "--model", str(model_path), "--box", "5,5,10,10", "-o", str(path)]
    assert main(args) == 2 and "overwrite" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0 and path.read_bytes() != before
    assert not list(tmp_path.glob(".*.tmp"))


def test_folder_mode_with_a_corrupt_file_and_rerun(model_path, tmp_path, capsys):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir(), masks.mkdir()
    for i in range(3):
        Image.fromarray(photo(40, 48, seed=i)).save(src / f"p{i}.jpg")
        m = np.zeros((40, 48), np.uint8)
        m[10:20, 10 + i : 25 + i] = 255
        Image.fromarray(m).save(masks / f"p{i}.png")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(masks / "broken.png")
    rc = main(["fill", "--input", str(src), "--mask-dir", str(masks), "-o", str(out), "--model", str(model_path),
               "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 2 and "filled 3, skipped 0 existing, failed 1" in captured.out
    assert "broken.jpg" in captured.err and "not an image" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png"]
    res = fill_folder(Inpainter.from_checkpoint(model_path), src, out, MaskSpec(), mask_dir=masks, progress=False)
    assert len(res["skipped_existing"]) == 3 and not res["filled"]


def test_boxes_outside_the_image_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        boxes_to_mask((10, 10), [(20, 20, 5, 5)])
    with pytest.raises(ValueError, match="positive"):
        boxes_to_mask((10, 10), [(2, 2, 0, 5)])


def test_onnx_backend_fills_like_pytorch(model_path, tmp_path):
    from odinpaint.inference.export import export_onnx

    onnx_path = export_onnx(model_path, tmp_path / "m.onnx")
    img = photo(60, 70)
    hole = boxes_to_mask((60, 70), [(20, 15, 18, 22)])
    a = Inpainter.from_checkpoint(model_path).fill(img, hole)
    b = Inpainter.from_checkpoint(onnx_path).fill(img, hole)
    assert np.abs(a.astype(int) - b).max() <= 1


def test_fill_without_model_uses_the_shipped_one(tmp_path, capsys):
    """A fresh install fills with the model in the package: no training, no download."""
    from odinpaint.inference.inpainter import DEFAULT_MODEL

    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 8e6  # a few MB
    img = photo(120, 160)
    Image.fromarray(img).save(tmp_path / "photo.png")
    assert main(["fill", str(tmp_path / "photo.png"), "--box", "60,40,30,20", "-o", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    hole = boxes_to_mask((120, 160), [(60, 40, 30, 20)])
    assert (out[~hole] == img[~hole]).all() and (out[hole] != img[hole]).any()
    # a smooth photo's hole is filled close to the truth (the grey mean would be far off)
    assert np.abs(out[hole].astype(int) - img[hole]).mean() < 12


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import odinpaint.inference.inpainter as inpainter

    monkeypatch.setattr(inpainter, "DEFAULT_MODEL", tmp_path / "gone.safetensors")
    Image.fromarray(photo(40, 40)).save(tmp_path / "p.png")
    assert main(["fill", str(tmp_path / "p.png"), "--box", "5,5,10,10", "-o", str(tmp_path / "o.png")]) == 2
    assert "gone.safetensors: the default model is not installed" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_output_gets_the_permissions_of_a_plain_write(model_path, tmp_path):
    import os

    Image.fromarray(photo(40, 40)).save(tmp_path / "p.png")
    old = os.umask(0o022)
    try:
        assert main(["fill", str(tmp_path / "p.png"), "--box", "5,5,10,10", "--model", str(model_path),
                     "-o", str(tmp_path / "o.png")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


@pytest.mark.parametrize("out_name", ["out.png", "out.jpg"])
def test_output_keeps_the_colour_profile_and_exif(model_path, tmp_path, out_name):
    """As photo tools do: the ICC profile and EXIF go to the output, with the orientation
    applied to the pixels and dropped from the EXIF (else viewers would rotate it twice)."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "OdinCam"  # Make
    exif[0x0112] = 6          # Orientation: rotate 90 degrees to view
    Image.fromarray(photo(40, 60)).save(tmp_path / "in.jpg", icc_profile=icc, exif=exif.tobytes(), quality=95)
    assert main(["fill", str(tmp_path / "in.jpg"), "--box", "5,5,10,10", "--model", str(model_path),
                 "-o", str(tmp_path / out_name)]) == 0
    out = Image.open(tmp_path / out_name)
    assert out.size == (40, 60)  # upright: the EXIF rotation was applied
    assert out.info.get("icc_profile") == icc
    assert out.getexif().get(0x010F) == "OdinCam" and out.getexif().get(0x0112, 1) == 1
