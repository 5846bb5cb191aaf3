import json

import numpy as np
import pytest
import torch

from helpers.photos import smooth_image
from odinpaint.classical import BASELINES, baseline_fill, classical_fill
from odinpaint.cli import main
from odinpaint.evaluate import LEVEL_KEYS, EvalConfig, evaluate


@pytest.mark.parametrize("name", list(BASELINES))
def test_baseline_fills_hole_and_keeps_known_pixels(name, rng):
    img = smooth_image(rng, 32, 32)
    hole = np.zeros((32, 32), bool)
    hole[10:18, 12:20] = True
    blanked = img.copy()
    blanked[hole] = 0
    out = BASELINES[name](blanked, hole)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    err_fill = np.abs(out[hole].astype(int) - img[hole]).mean()
    err_blank = np.abs(blanked[hole].astype(int) - img[hole]).mean()
    assert err_fill < err_blank / 3  # far better than leaving the hole black


def test_evaluate_is_deterministic_and_never_sees_the_hole(tiny_dataset):
    from odinpaint.data.dataset import DataSet

    test = DataSet(tiny_dataset).split("test")
    seen = []

    def spy(known, mask):
        seen.append(float((known * mask).abs().max()))
        return known

    cfg = EvalConfig(max_images=5, masks_per_image=2)
    r = evaluate(spy, test, cfg, progress=False)
    assert max(seen) == 0.0  # hole pixels are blanked before any method sees them
    assert list(r["levels"]) == LEVEL_KEYS
    # harder levels have bigger holes: a do-nothing fill gets worse whole-image PSNR
    psnr = [r["levels"][k]["psnr"] for k in LEVEL_KEYS[:5]]
    assert psnr == sorted(psnr, reverse=True)
    r2 = evaluate(baseline_fill("telea"), test, cfg, progress=False)
    r3 = evaluate(baseline_fill("telea"), test, cfg, progress=False)
    assert r2["levels"]["3"]["psnr_hole"] == r3["levels"]["3"]["psnr_hole"]
    assert r2["levels"]["3"]["psnr_hole"] > r["levels"]["3"]["psnr_hole"]


def test_baseline_command_end_to_end(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "bl"
    rc = main(["baseline", "--data", str(tiny_dataset), "--method", "all", "--max-images", "6",
               "--masks-per-image", "2", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| Telea |" in text and "| biharmonic |" in text and "**" in text
    res = json.loads((out / "report.json").read_text())
    assert set(res) == {"Telea", "Navier-Stokes", "biharmonic", "PatchMatch"}
    for r in res.values():
        for k in LEVEL_KEYS:
            assert 5 < r["levels"][k]["psnr_hole"] < 100 and 0 < r["levels"][k]["ssim"] <= 1
    assert (out / "report.md").read_text().startswith("Classical baselines")
    # the results are cached beside the data set, keyed by the evaluation settings
    cache = json.loads((tiny_dataset / "baselines" / "baselines.json").read_text())["results"]
    assert cache["Telea"]["levels"]["3"] == res["Telea"]["levels"]["3"]


def test_baseline_command_on_missing_data_exits_2(tmp_path, capsys):
    assert main(["baseline", "--data", str(tmp_path / "nope")]) == 2
    assert "not a data set" in capsys.readouterr().err


def test_classical_fill_on_several_threads_equals_one_at_a_time():
    import torch

    g = torch.Generator().manual_seed(0)
    image = torch.rand(6, 3, 32, 32, generator=g) * 2 - 1
    mask = torch.zeros(6, 1, 32, 32)
    for i in range(6):
        mask[i, :, 3 + i : 10 + 2 * i, 5 : 9 + i] = 1
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = classical_fill("biharmonic", image, mask)
        torch.set_num_threads(2)
        two = classical_fill("biharmonic", image, mask)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_patchmatch_is_seeded_leaves_the_known_pixels_and_copies_texture():
    import cv2

    from odinpaint import metrics
    from odinpaint.classical import patchmatch, telea

    rng = np.random.default_rng(0)
    noise = rng.standard_normal((96, 96, 3)).astype(np.float32)
    truth = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0) * 70 + 128, 0, 255).astype(np.uint8)
    hole = np.zeros((96, 96), bool)
    hole[30:66, 30:66] = True
    known = np.where(hole[..., None], 0, truth).astype(np.uint8)
    out = patchmatch(known, hole)
    assert np.array_equal(out, patchmatch(known, hole))  # seeded
    assert np.array_equal(out[~hole], truth[~hole])
    # exemplar-based: the hole holds the photo's grain, where diffusion leaves it flat
    assert metrics.hf(out, truth, hole) > 0.7 > 0.3 > metrics.hf(telea(known, hole), truth, hole)


def test_baseline_command_takes_every_baseline_by_name():
    from odinpaint.cli import build_parser

    for name in BASELINES:
        assert build_parser().parse_args(["baseline", "--data", "d", "--method", name]).method == name


def test_biharmonic_operators_can_be_switched_off_for_a_block(rng):
    """classical_fill's default follows biharmonic_operators: the cached operators (equal to
    scikit-image's answer within a rounding), or scikit-image itself inside the block."""
    import odinpaint.classical as classical

    img = torch.from_numpy(smooth_image(rng, 32, 32)).permute(2, 0, 1)[None].float() / 127.5 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 10:24] = 1
    calls = []
    real = classical.biharmonic_fill
    try:
        classical.biharmonic_fill = lambda *a, **k: calls.append(1) or real(*a, **k)
        cached = classical_fill("biharmonic", img, mask)
        with classical.biharmonic_operators(False):
            reference = classical_fill("biharmonic", img, mask)
        again = classical_fill("biharmonic", img, mask)
    finally:
        classical.biharmonic_fill = real
    assert calls == [1, 1]  # the operators before and after the block, not inside it
    assert torch.equal(reference, classical_fill("biharmonic", img, mask, fast=False)) and torch.equal(cached, again)
    assert (reference - cached).abs().max() <= 2 / 127.5  # the same answer within a rounding
