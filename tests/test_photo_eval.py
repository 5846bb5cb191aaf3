"""``odinpaint eval-photos``: whole photos, fixed holes, the model as `fill` runs it beside the classical methods."""

import json

import numpy as np
import pytest

from odinpaint import masks as masklib
from odinpaint.cli import main
from odinpaint.errors import UserError
from odinpaint.study.photo_eval import (HOLES, PhotoEvalConfig, colour_error, evaluate_photos, held_out_photos,
                                  load_photos, markdown, model_vs_best, paired, photo_hole, resize_longer, score)


@pytest.mark.parametrize("shape", [(120, 200), (200, 120), (96, 96)])
def test_holes_have_their_size_on_any_photo_shape(shape):
    for name, kind, param in HOLES:
        hole = photo_hole(shape, kind, param, np.random.default_rng(3))
        assert hole.shape == shape and hole.dtype == bool
        if kind == "square":
            ys, xs = np.nonzero(hole)
            side = round(param * min(shape))
            assert np.ptp(ys) + 1 == np.ptp(xs) + 1 == side and hole.sum() == side * side
        else:
            lo, hi = masklib.FREEFORM_AREA[param - 1]
            assert lo <= hole.mean() <= hi, name
    # seeded: the same generator state gives the same hole
    a = photo_hole(shape, "freeform", 4, np.random.default_rng([1, 2]))
    assert (a == photo_hole(shape, "freeform", 4, np.random.default_rng([1, 2]))).all()


def test_resize_keeps_the_aspect_and_never_enlarges():
    rgb = np.zeros((300, 500, 3), np.uint8)
    assert resize_longer(rgb, 250).shape == (150, 250, 3)
    assert resize_longer(rgb, 800) is rgb


def test_scores_of_a_known_error():
    rng = np.random.default_rng(0)
    truth = rng.integers(40, 200, (128, 160, 3)).astype(np.uint8)
    hole = np.zeros((128, 160), bool)
    hole[30:70, 50:100] = True
    exact = score(truth.copy(), truth, hole)
    assert exact["psnr_hole"] == 100 and exact["ms_ssim"] > 0.999 and exact["l1_hole"] == 0
    shifted = truth.astype(int)
    shifted[..., 0] += 10  # red too bright by 10 grey levels, inside and outside the hole
    shifted[..., 2] -= 4
    s = score(shifted.astype(np.uint8), truth, hole)
    # only the hole counts (composited), and the bias is per channel
    assert s["bias_r"] == pytest.approx(10, abs=1e-3) and s["bias_g"] == pytest.approx(0, abs=1e-3)
    assert s["bias_b"] == pytest.approx(-4, abs=1e-3) and s["l1_hole"] == pytest.approx(14 / 3, abs=1e-3)
    assert s["ms_ssim"] < exact["ms_ssim"]


def test_whole_run_on_a_folder(photo_folder, model_path, tmp_path):
    out = tmp_path / "pe"
    r = evaluate_photos(PhotoEvalConfig(photos=str(photo_folder), model=str(model_path), sizes=(64,),
                                        masks_per_photo=1, max_photos=6, methods=("telea", "biharmonic"), out=str(out),
                                        samples=2, progress=False))
    # six of the folder's twelve, evenly spaced (its subfolder's among them)
    listed = [p.name for p in sorted(photo_folder.rglob("img*"), key=lambda p: p.relative_to(photo_folder).as_posix())]
    assert len(listed) == 12 and r["photos"] == [listed[i] for i in (0, 2, 4, 7, 9, 11)]
    assert r["holes"] == [h for h, _, _ in HOLES]
    for hole in r["holes"]:
        rows = r["sizes"]["64"][hole]
        assert set(rows) == {"detailed", "smooth", "telea", "biharmonic"}
        assert all(row["n"] == 6 and 0 < row["ssim"] <= 1 for row in rows.values())
    assert set(r["ms_per_fill"]) == {"detailed", "smooth", "telea", "biharmonic"}
    on_disk = json.loads((out / "photo_eval.json").read_text())
    assert on_disk["sizes"] == r["sizes"]
    md = (out / "photo_eval.md").read_text()
    assert "detailed minus the best classical method" in md and "square 47%" in md
    # the model's lead, paired hole by hole, with its interval
    rows = r["sizes"]["64"]["square 47%"]
    assert all(len(row["psnr_per_hole"]) == 6 and np.isclose(np.mean(row["psnr_per_hole"]), row["psnr_hole"])
               for row in rows.values())
    lead = model_vs_best(r, "64", "square 47%")
    assert np.isclose(lead["diff"], rows["detailed"]["psnr_hole"] - rows[lead["best"]]["psnr_hole"])
    assert lead["low"] <= lead["diff"] <= lead["high"] and lead["n"] == 6
    assert f"{lead['diff']:+.2f} [{lead['low']:+.2f}, {lead['high']:+.2f}]" in md
    assert sorted(p.name for p in out.glob("*.png")) == ["samples_64_square.png", "samples_64_strokes.png"]
    # the colour error: per hole and channel, its mean the reported one, with an interval in the page
    per = np.asarray(rows["detailed"]["bias_per_hole"])
    assert per.shape == (6, 3) and np.allclose(per.mean(0), [rows["detailed"][c] for c in ("bias_r", "bias_g", "bias_b")])
    blue = colour_error(r, "64", "square 47%")[2]
    assert blue["low"] <= rows["detailed"]["bias_b"] <= blue["high"]
    assert f"{blue['diff']:+.2f} [{blue['low']:+.2f}, {blue['high']:+.2f}] ({lead['best']} " in md


def test_realism_is_scored_against_patchmatch_hole_by_hole(photo_folder, model_path):
    r = evaluate_photos(PhotoEvalConfig(photos=str(photo_folder), model=str(model_path), sizes=(64,),
                                        masks_per_photo=1, max_photos=3, methods=("patchmatch",), progress=False))
    assert len(r["photos"]) == 3  # evenly spaced over the 12
    rows = r["sizes"]["64"]["square 47%"]
    for m in ("detailed", "smooth", "patchmatch"):
        assert len(rows[m]["swd_per_hole"]) == len(rows[m]["detail_per_hole"]) == 3
        assert rows[m]["swd"] == pytest.approx(np.mean(rows[m]["swd_per_hole"]))
    # PatchMatch pastes the photo's own patches: closer to its patch statistics than the smooth fill
    assert all(p < s for p, s in zip(rows["patchmatch"]["swd_per_hole"], rows["smooth"]["swd_per_hole"]))
    # texture from the photo: the detailed fill has more of the photo's detail than the smooth one
    assert rows["detailed"]["hf"] > rows["smooth"]["hf"]
    swd = paired(r, "64", "square 47%", "detailed", "patchmatch", "swd")
    assert np.isclose(swd["diff"], rows["detailed"]["swd"] - rows["patchmatch"]["swd"])
    assert swd["low"] <= swd["diff"] <= swd["high"]
    assert "against PatchMatch, the realism anchor" in markdown(r)


def test_photos_come_from_the_data_sets_test_split(tiny_dataset, photo_folder):
    from odinpaint.data.dataset import DataSet

    paths = held_out_photos(str(tiny_dataset))
    listed = DataSet(str(tiny_dataset)).manifest["splits"]["test"]["files"]
    assert [p.relative_to(photo_folder).as_posix() for p in paths] == listed and all(p.is_file() for p in paths)


def test_val_split_photos_for_choosing_models(tiny_dataset, photo_folder):
    from odinpaint.data.dataset import DataSet

    splits = DataSet(str(tiny_dataset)).manifest["splits"]
    val = held_out_photos(str(tiny_dataset), "val")
    assert [p.relative_to(photo_folder).as_posix() for p in val] == splits["val"]["files"]
    assert not set(splits["val"]["files"]) & set(splits["test"]["files"])
    with pytest.raises(UserError, match="split"):
        evaluate_photos(PhotoEvalConfig(data=str(tiny_dataset), split="train"))


def test_named_sources_give_every_photo_whatever_its_split():
    from odinpaint.data.sources import load_item, resolve_source

    photos = load_photos(PhotoEvalConfig(photos="samples"))
    items = resolve_source("samples").items
    assert [n for n, _ in photos] == [i.name for i in items] and {i.split for i in items} == {"train", "val", "test"}
    assert all(np.array_equal(rgb, load_item(i)) for (_, rgb), i in zip(photos, items))


def test_bad_requests_are_user_errors(tiny_dataset, photo_folder, capsys):
    with pytest.raises(UserError, match="exactly one"):
        evaluate_photos(PhotoEvalConfig(data=str(tiny_dataset), photos=str(photo_folder)))
    assert main(["eval-photos", "--photos", str(photo_folder), "--sizes", "big"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_colour_error_interval_is_over_the_holes():
    per = [[4.0, 0.0, -2.0], [6.0, 0.0, -2.0], [5.0, 0.0, -2.0]]
    r = {"sizes": {"256": {"square 47%": {"detailed": {"bias_per_hole": per}}}}}
    red, green, blue = colour_error(r, "256", "square 47%")
    assert red["diff"] == pytest.approx(5.0) and red["low"] < 5.0 < red["high"]
    assert green["diff"] == green["low"] == green["high"] == 0.0  # no spread: the point
    assert blue["low"] == blue["high"] == pytest.approx(-2.0)


def test_model_lead_is_paired_hole_by_hole_and_one_hole_has_no_interval():
    def result(model, telea, ns):
        rows = {m: {"psnr_hole": float(np.mean(v)), "psnr_per_hole": v} for m, v in
                (("detailed", model), ("telea", telea), ("ns", ns))}
        return {"holes": ["square 47%"], "sizes": {"256": {"square 47%": rows}}}

    # ns is the best by mean; the model leads it by exactly 1 dB on every hole
    lead = model_vs_best(result([21.0, 11.0, 31.0], [10.0, 10.0, 10.0], [20.0, 10.0, 30.0]), "256", "square 47%")
    assert lead["best"] == "ns" and lead["diff"] == pytest.approx(1.0)
    assert lead["low"] == lead["high"] == pytest.approx(1.0)
    one = model_vs_best(result([21.0], [10.0], [20.0]), "256", "square 47%")
    assert one["diff"] == pytest.approx(1.0) and np.isnan(one["low"]) and one["n"] == 1
