"""How ``odinpaint bench`` turns its timings into figures (rounds, shares of the peak, medians,
goals), on stand-in timings in seconds; the whole ``bench --quick`` run is behind ``slow``.
Timings are reported, never asserted."""

import json
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from odinpaint.study import bench
from odinpaint.study.bench import GOALS, bench_loader, train_config, train_flops_per_image
from odinpaint.cli import main


@pytest.mark.slow
def test_bench_quick_writes_every_field(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--repeats", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert {"machine", "peak_gflops", "train", "training_fill", "loader", "inference", "fill", "goals"} <= set(r)
    assert r["machine"]["cores"] == os.cpu_count() and r["machine"]["torch"] == torch.__version__
    cases = {(t["model"], t["size"]) for t in r["train"]}
    assert cases == {("ce", 64), ("gan", 64), ("ce", 128), ("gan", 128)}  # every goal has its row, quick too
    # one peak before the rounds, and one after every row of every round
    assert len(r["peaks"]) == 1 + 2 * len(r["train"]) and r["peak_range"] == [min(r["peaks"]), max(r["peaks"])]
    assert min(r["peaks"]) <= r["peak_gflops"] <= max(r["peaks"])
    for t in r["train"]:
        assert t["rounds"] == 2
        for key in ("images_per_s", "gflops", "fraction_of_peak"):
            lo, hi = t[key + "_range"]
            assert lo <= t[key] <= hi
        assert abs(t["gflops"] - t["gflop_per_image"] * t["images_per_s"]) < 1e-6 * t["gflops"]
        # each round's share is over the peaks beside the row, not the run's median peak
        assert t["fraction_of_peak_range"][0] * min(r["peaks"]) <= t["gflops"] * (1 + 1e-9)
    # at 128 px (four times the pixels, the paper's widths) a step costs more and trains fewer images/s
    rate = {(t["model"], t["size"]): t["images_per_s"] for t in r["train"] if t["variant"] == "default"}
    flops = {(t["model"], t["size"]): t["gflop_per_image"] for t in r["train"] if t["variant"] == "default"}
    for model in ("ce", "gan"):
        assert flops[model, 128] > 4 * flops[model, 64] and rate[model, 128] < rate[model, 64]
    loader = r["loader"][0]
    assert loader["trainer_images_per_s"] == rate["ce", 64]
    assert loader["ratio"] == loader["images_per_s"] / rate["ce", 64] > 1  # the loader outruns the fastest trainer
    backends = [i["backend"] for i in r["inference"]]
    assert backends == ["eager", "channels_last", "onnxruntime"]  # quick: no torch.compile
    assert all(32 * 1000 / i["batch32_images_per_s"] > i["batch1_ms"] for i in r["inference"])  # 32 images, 1 image
    fill = {f["case"]: f for f in r["fill"]["rows"]}
    assert fill["12 MP, 120x120 hole"]["image"] == "4000x3000" and fill["1 MP, 120x120 hole"]["image"] == "1152x866"
    assert fill["12 MP, 1500x1000 hole"]["holes"] == [[1200, 1000, 1500, 1000]]
    assert fill["1 MP, 200x200 hole"]["image"] == "1152x866" and fill["1 MP, 200x200 hole"]["holes"] == [[460, 330, 200, 200]]
    # a fill runs at least one window; a 1500x1000 hole takes longer than a 120x120 one in the same photo
    assert all(f["seconds"] * 1000 > r["fill"]["window"]["ms"] for f in r["fill"]["rows"])
    assert fill["12 MP, 1500x1000 hole"]["seconds"] > fill["12 MP, 120x120 hole"]["seconds"]
    tf = r["training_fill"]
    assert tf["batch"] == 64 and tf["first_batch_s"] * 1000 > tf["fill_ms"]["cached"]  # building, then filling
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


def test_loader_reads_a_prepared_split(tiny_dataset, monkeypatch):
    from odinpaint.training import trainer

    gathers = []  # how long each batch's gather took: a part of every timed batch
    real = trainer.make_batch

    def timed(split, idx, *a, **k):
        t = time.perf_counter()
        out = real(split, idx, *a, **k)
        gathers.append((time.perf_counter() - t, len(idx), split.shape[1]))
        return out

    monkeypatch.setattr(trainer, "make_batch", timed)
    t0 = time.perf_counter()
    r = bench_loader(str(tiny_dataset), 64, batch=8, repeats=1)
    wall = time.perf_counter() - t0
    assert r["source"] == str(tiny_dataset) and r["size"] == 32
    assert {(n, size) for _, n, size in gathers} == {(8, 32)}  # batches of 8 from the 32 px split
    # a batch takes no longer than the whole call and no less than its gather
    assert 8 / wall <= r["images_per_s"] <= 8 / min(s for s, _, _ in gathers)


def test_each_rounds_share_is_over_the_two_peaks_beside_its_row(monkeypatch):
    """Two rows, three rounds: the peak is measured once before the rounds and after every row;
    a row's share in a round is its GFLOP/s over the mean of the peaks just before and after it."""
    peaks = iter([100.0, 50.0, 150.0, 100.0, 300.0, 200.0, 100.0])
    monkeypatch.setattr(bench, "matmul_peak", lambda repeats: next(peaks))
    monkeypatch.setattr(bench, "_train_runner", lambda cfg, size, compile: (lambda: None, 1.5 if compile else None))
    monkeypatch.setattr(bench, "ROUND_SECONDS", 0.0)  # one step per row and round
    specs = [{"cfg": SimpleNamespace(optim=SimpleNamespace(batch=4)), "size": 32, "compile": False, "flops": 2e9},
             {"cfg": SimpleNamespace(optim=SimpleNamespace(batch=8)), "size": 32, "compile": True, "flops": 1e9}]
    samples, measured = bench.bench_train_rounds(specs, rounds=3, log=lambda _: None)
    assert measured == [100.0, 50.0, 150.0, 100.0, 300.0, 200.0, 100.0]
    assert [len(m["share"]) for m in samples] == [3, 3]
    assert [m["compile_s"] for m in samples] == [None, 1.5]
    for row, (spec, m) in enumerate(zip(specs, samples)):
        for r in range(3):
            after = 1 + 2 * r + row  # index of the peak measured right after this row in round r
            assert m["gflops"][r] == pytest.approx(spec["flops"] * m["images_per_s"][r] / 1e9)
            assert m["share"][r] == pytest.approx(m["gflops"][r] / ((measured[after - 1] + measured[after]) / 2))


def test_rows_are_medians_with_ranges_over_rounds():
    spec = {"model": "ce", "size": 64, "variant": "default", "cfg": SimpleNamespace(g=SimpleNamespace(width=16), optim=SimpleNamespace(batch=32)), "flops": 3e9}
    samples = [{"images_per_s": [10.0, 30.0, 20.0, 50.0], "gflops": [1.0, 4.0, 2.0, 3.0],
                "share": [0.5, 0.2, 0.4, 0.3], "compile_s": None}]
    (row,) = bench.train_rows([spec], samples)
    assert row["rounds"] == 4 and row["gflop_per_image"] == 3.0 and (row["width"], row["batch"]) == (16, 32)
    assert row["images_per_s"] == 25.0 and row["images_per_s_range"] == [10.0, 50.0]
    assert row["gflops"] == 2.5 and row["gflops_range"] == [1.0, 4.0]
    assert row["fraction_of_peak"] == pytest.approx(0.35) and row["fraction_of_peak_range"] == [0.2, 0.5]


def test_alternating_medians_drop_the_warm_up_and_interleave_the_functions(monkeypatch):
    calls, clock = [], iter(range(100))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))  # each timed call takes 1 tick
    medians = bench._alternating_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                         repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4 and medians == {"a": 1.0, "b": 1.0}


def _bench_result(**changes):
    """A bench result with every figure a goal reads, each on the met side of its target."""
    fill = {"1024x768, 3 holes": 0.2, "1 MP, 200x200 hole": 0.5, "12 MP, 120x120 hole": 0.3,
            "1 MP, 120x120 hole": 0.25, "12 MP, 400x300 hole": 1.0, "12 MP, 1500x1000 hole": 4.0,
            "1 MP, 15 px brush stroke": 1.0}
    result = {"train": [{"model": m, "size": s, "variant": "default", "fraction_of_peak": 0.9}
                        for m in ("ce", "gan") for s in (64, 128)],
              "training_fill": {"fill_speedup": 20.0, "step_speedup": 2.0},
              "loader": [{"ratio": 12.0}], "inference": [{"batch1_ms": 9.0}, {"batch1_ms": 4.0}],
              "fill": {"rows": [{"case": c, "style": style, "seconds": v} for c, v in fill.items()
                                for style in ("smooth", "detailed")], "window": {"ms": 6.0}}}
    result.update(changes)
    return result


def test_goals_compare_each_figure_in_its_direction():
    rows = bench.goals(_bench_result())
    assert len(rows) == len(GOALS) and all(g["met"] for g in rows)
    by_goal = {g["goal"]: g for g in rows}
    assert by_goal["batch-1 generator at 64 px, ms (best backend)"]["measured"] == 4.0  # the best backend
    assert by_goal["fill 12 MP / 1 MP, same 120x120 hole"]["measured"] == pytest.approx(0.3 / 0.25)
    slow_fill = _bench_result(fill={"rows": [{"case": c, "style": style, "seconds": 10.0} for c in (
        "1024x768, 3 holes", "1 MP, 200x200 hole", "12 MP, 120x120 hole", "1 MP, 120x120 hole",
        "12 MP, 400x300 hole", "12 MP, 1500x1000 hole", "1 MP, 15 px brush stroke") for style in ("smooth", "detailed")],
        "window": {"ms": 6.0}})
    missed = {g["goal"] for g in bench.goals(slow_fill) if not g["met"]}
    # lower is better for times: 10 s misses every absolute fill goal; the 12 MP / 1 MP ratio is 1.0 and meets its 1.5
    assert missed == {"fill 1024x768 with 3 holes, s", "fill 1 MP, 200x200 hole, s", "fill 12 MP, 400x300 hole, s",
                      "fill 12 MP, 1500x1000 hole, s", "detailed fill 1 MP, 200x200 hole, s",
                      "detailed fill 12 MP, 400x300 hole, s", "detailed fill 1 MP, 15 px brush stroke, s"}
    # each style's goals read that style's rows: a slow detailed fill misses only the detailed goals
    slow_detail = _bench_result()
    for r in slow_detail["fill"]["rows"]:
        r["seconds"] = 10.0 if r["style"] == "detailed" else r["seconds"]
    assert {g["goal"] for g in bench.goals(slow_detail) if not g["met"]} == {
        "detailed fill 1 MP, 200x200 hole, s", "detailed fill 12 MP, 400x300 hole, s",
        "detailed fill 1 MP, 15 px brush stroke, s"}
    low_share = _bench_result(train=[{"model": "ce", "size": 64, "variant": "default", "fraction_of_peak": 0.5}])
    share_goals = [g for g in bench.goals(low_share) if "share of the peak" in g["goal"]]
    # higher is better for shares; a size without its default row has no goal row
    assert [(g["goal"], g["met"]) for g in share_goals] == [
        ("context encoder training at 64 px (default), median share of the peak", False)]


def test_run_bench_puts_every_part_in_its_place(monkeypatch):
    """The whole run with every measurement stood in for: which rows are benchmarked, the peak's
    median and range, the loader against the fastest trainer, and the Markdown of it all."""
    def rounds(specs, n, log):
        return [{"images_per_s": [100.0 * (i + 1)] * n, "gflops": [1.0] * n, "share": [0.8] * n, "compile_s": None}
                for i in range(len(specs))], [90.0, 110.0, 100.0]

    window = {"size": 64, "views": 8, "ms": 6.0}
    fills = [{"case": c, "style": style, "image": "1x1", "holes": [], "seconds": 0.1} for c in (
        "1024x768, 3 holes", "1 MP, 200x200 hole", "12 MP, 120x120 hole", "1 MP, 120x120 hole", "12 MP, 400x300 hole",
        "12 MP, 1500x1000 hole", "1 MP, 15 px brush stroke") for style in ("smooth", "detailed")]
    monkeypatch.setattr(bench, "train_flops_per_image", lambda cfg, size: 2e9)
    monkeypatch.setattr(bench, "bench_train_rounds", rounds)
    monkeypatch.setattr(bench, "bench_training_fill", lambda repeats: {
        "batch": 64, "first_batch_s": 1.0, "fill_ms": {"cached": 2.0, "scikit-image": 40.0},
        "step_ms": {"cached": 50.0, "scikit-image": 100.0}, "fill_speedup": 20.0, "step_speedup": 2.0})
    monkeypatch.setattr(bench, "bench_loader", lambda data, size, batch, repeats: {
        "source": "synthetic", "size": size, "batch": batch, "images_per_s": 5000.0})
    monkeypatch.setattr(bench, "default_generator", lambda: (None, "stand-in"))
    monkeypatch.setattr(bench, "bench_inference", lambda net, repeats, compile: [
        {"backend": "eager", "size": 64, "setup_s": None, "batch1_ms": 3.0, "batch32_images_per_s": 900.0}])
    monkeypatch.setattr(bench, "bench_fill", lambda net, repeats: {"rows": fills, "window": window})
    r = bench.run_bench(bench.BenchConfig(quick=True, repeats=3), log=lambda _: None)
    assert [(t["model"], t["size"], t["variant"]) for t in r["train"]] == [
        ("ce", 64, "default"), ("ce", 64, "contiguous"), ("ce", 64, "fused adam"), ("gan", 64, "default"),
        ("ce", 128, "default"), ("ce", 128, "contiguous"), ("ce", 128, "fused adam"), ("gan", 128, "default")]
    assert all(t["rounds"] == 3 and t["gflop_per_image"] == 2.0 for t in r["train"])
    assert r["peak_gflops"] == 100.0 and r["peak_range"] == [90.0, 110.0] and r["peaks"] == [90.0, 110.0, 100.0]
    loader = r["loader"][0]
    assert loader["trainer_images_per_s"] == 100.0 and loader["ratio"] == 50.0  # against ce 64 px default
    assert loader["batch"] == train_config("ce", 64).optim.batch
    assert r["fill"]["model"] == "stand-in" and len(r["goals"]) == len(GOALS)
    text = bench.markdown_table(r)
    assert "fp32 matmul peak: **100.0 GFLOP/s** median, 90-110 over 3 measurements" in text
    assert "| ce 64 px | fused adam |" in text and "| speed-up | 20.0x | 2.00x |" in text


def test_fill_cases_include_a_thin_stroke_across_the_1mp_crop():
    import cv2

    cases = {c["case"]: c for c in bench.fill_cases()}
    stroke = cases["1 MP, 15 px brush stroke"]["hole"]
    assert stroke.shape == cases["1 MP, 200x200 hole"]["hole"].shape
    ys, xs = np.nonzero(stroke)
    assert np.ptp(xs) > 0.7 * stroke.shape[1] and np.ptp(ys) > 0.5 * stroke.shape[0]  # across the photo
    radius = cv2.distanceTransform(stroke.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE).max()
    assert 6 <= radius <= 12  # a 15 px brush (a little wider at its bends): thin
