"""``odinpaint bench --quick`` runs and writes every field; its timings are reported, never asserted."""

import json

import numpy as np
import torch

from odinpaint.bench import GOALS, bench_loader, train_config, train_flops_per_image
from odinpaint.cli import main


def test_bench_quick_writes_every_field(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--repeats", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert {"machine", "peak_gflops", "train", "training_fill", "loader", "inference", "fill", "goals"} <= set(r)
    assert r["machine"]["cores"] >= 1 and r["machine"]["torch"] == torch.__version__
    cases = {(t["model"], t["size"]) for t in r["train"]}
    assert cases == {("ce", 64), ("gan", 64), ("ce", 128), ("gan", 128)}  # every goal has its row, quick too
    # one peak before the rounds, and one after every row of every round
    assert len(r["peaks"]) == 1 + 2 * len(r["train"]) and r["peak_range"] == [min(r["peaks"]), max(r["peaks"])]
    assert min(r["peaks"]) <= r["peak_gflops"] <= max(r["peaks"])
    for t in r["train"]:
        assert t["rounds"] == 2 and t["images_per_s"] > 0 and t["gflops"] > 0
        for key in ("images_per_s", "gflops", "fraction_of_peak"):
            lo, hi = t[key + "_range"]
            assert lo <= t[key] <= hi
        assert abs(t["gflops"] - t["gflop_per_image"] * t["images_per_s"]) < 1e-6 * t["gflops"]
        # each round's share is over the peaks beside the row, not the run's median peak
        assert t["fraction_of_peak_range"][0] * min(r["peaks"]) <= t["gflops"] * (1 + 1e-9)
    assert r["loader"][0]["images_per_s"] > 0 and r["loader"][0]["ratio"] > 0
    backends = [i["backend"] for i in r["inference"]]
    assert backends == ["eager", "channels_last", "onnxruntime"]  # quick: no torch.compile
    assert all(i["batch1_ms"] > 0 and i["batch32_images_per_s"] > 0 for i in r["inference"])
    fill = {f["case"]: f for f in r["fill"]["rows"]}
    assert fill["12 MP, 120x120 hole"]["image"] == "4000x3000" and fill["1 MP, 120x120 hole"]["image"] == "1152x866"
    assert fill["12 MP, 1500x1000 hole"]["holes"] == [[1200, 1000, 1500, 1000]]
    assert fill["1 MP, 200x200 hole"]["image"] == "1152x866" and fill["1 MP, 200x200 hole"]["holes"] == [[460, 330, 200, 200]]
    assert all(f["seconds"] > 0 for f in fill.values()) and r["fill"]["window"]["ms"] > 0
    tf = r["training_fill"]
    assert tf["batch"] == 64 and tf["first_batch_s"] > 0
    assert tf["fill_speedup"] == tf["fill_ms"]["scikit-image"] / tf["fill_ms"]["cached"]
    assert tf["step_speedup"] == tf["step_ms"]["scikit-image"] / tf["step_ms"]["cached"]
    # the step includes its fill: it takes longer than the fill alone, with either fill
    assert all(tf["step_ms"][k] > tf["fill_ms"][k] for k in ("cached", "scikit-image"))
    assert len(r["goals"]) == len(GOALS)
    speedup = next(g for g in r["goals"] if g["goal"].startswith("biharmonic fill"))
    assert speedup["measured"] == tf["fill_speedup"] and speedup["target"] == GOALS["biharmonic_speedup"]
    ratio = next(g for g in r["goals"] if g["goal"].startswith("fill 12 MP / 1 MP"))
    assert ratio["measured"] == fill["12 MP, 120x120 hole"]["seconds"] / fill["1 MP, 120x120 hole"]["seconds"]
    printed = capsys.readouterr().out
    assert "of peak" in printed and "12 MP, 1500x1000 hole" in printed


def test_flop_count_scales_with_image_area():
    # Twice the side: 4x the pixels per layer, plus one more (deepest) layer down to the 4x4 bottleneck.
    small = train_flops_per_image(train_config("ce", 64, batch=8), 64)
    large = train_flops_per_image(train_config("ce", 64, batch=8), 128)
    assert 4.0 < large / small < 5.0


def test_loader_reads_a_prepared_split(tiny_dataset):
    r = bench_loader(str(tiny_dataset), 64, batch=8, repeats=1)
    assert r["source"] == str(tiny_dataset) and r["size"] == 32 and r["images_per_s"] > 0
    assert np.isfinite(r["images_per_s"])
