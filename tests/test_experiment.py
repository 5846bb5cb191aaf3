import html
import inspect
import json
import time

import pytest
from PIL import Image

from helpers.browser import chromium_or_skip
from odinpaint.cli import main
from odinpaint.study.analysis import check_claims
from odinpaint.evaluate import LEVEL_KEYS, EvalConfig, best_per_level
from odinpaint.study.experiment import ExperimentConfig, run_experiment
from odinpaint.study.report import TABLE_METRICS
from odinpaint.study.stats import format_interval, paired_interval, seeded_interval, verdict

pytestmark = pytest.mark.usefixtures("no_run_plots")  # the report draws its own figures, not the runs' plots

ARMS3 = ("ce-on-demand", "ce-fixed5", "telea")


def placeholder_figures(monkeypatch):
    """The report's figures as 1-pixel placeholders (drawing them is most of a report's time),
    for runs that check what is trained, scored and reused; the first run of
    test_tiny_experiment_end_to_end_and_reuse draws and checks them."""
    from odinpaint.study import report

    for name in ("fig_samples", "fig_family_curves", "fig_hole_psnr", "fig_specialists", "plot_allocation"):
        def placeholder(*a, _signature=inspect.signature(getattr(report, name)), **k):
            Image.new("RGB", (1, 1)).save(_signature.bind(*a, **k).arguments["path"])

        monkeypatch.setattr(report, name, placeholder)


@pytest.fixture
def tiny_experiment(tiny_dataset, tmp_path):
    return ExperimentConfig(data=str(tiny_dataset), out=str(tmp_path / "exp"), only=ARMS3,
                            budgets={"ce": 40, "gan": 20}, progress=False,
                            eval=EvalConfig(max_images=6, masks_per_image=1),
                            train_overrides={"width": 8, "d_width": 8, "batch": 10, "val_images": 3, "log_every": 1})


def test_tiny_experiment_end_to_end_and_reuse(tiny_experiment, capsys, monkeypatch):
    t0 = time.perf_counter()
    report = run_experiment(tiny_experiment)
    wall = time.perf_counter() - t0
    printed = capsys.readouterr().out
    # which arm of how many; the time left once an arm of the same kind has been timed
    assert "[arm 1/2] ce-on-demand\n" in printed
    assert "[arm 2/2] ce-fixed5, about 0 min of training left\n" in printed
    res = json.loads((report / "results.json").read_text())
    assert set(res["results"]) == set(ARMS3)
    for arm in ARMS3:
        for level in ("1", "3", "5", "mixed"):
            v = res["results"][arm]["levels"][level]["psnr_hole"]
            assert isinstance(v, float) and 5 < v < 100
    assert {a["run"]["status"] for a in res["arms"] if a["run"]} == {"trained"}
    training = res["arms"][0]["training"]
    # the arm's training time lies within this session; its speed is its images over that time
    assert training["images"] == 40 and 0 < training["train_seconds"] < wall
    assert training["images_per_s"] == pytest.approx(40 / training["train_seconds"], abs=0.05)
    claims = {c["claim"][:20]: c["verdict"] for c in res["claims"]}
    per_mask = {a: res["results"][a]["psnr_hole_per_mask"] for a in ARMS3}
    assert all(len(per_mask[a][k]) == 6 for a in ARMS3 for k in per_mask[a])  # one score per test mask
    # the verdict is read from the paired interval of these very scores
    iv = paired_interval(per_mask["ce-on-demand"]["mixed"], per_mask["ce-fixed5"]["mixed"])
    assert claims["On-demand CNN beats "] == verdict(iv)
    assert format_interval(iv) in next(c["evidence"] for c in res["claims"] if c["claim"].startswith("On-demand CNN"))
    assert any(v == "not tested" for v in claims.values())  # GAN arms were not selected
    assert res["learned_vs_classical"]["mixed"]["classical"] == "telea"
    md = (report / "report.md").read_text()
    assert "| CE on-demand |" in md and "nan" not in md.lower().replace("nano", "")
    # both formats carry the same sections, tables, figures and claims
    assert [ln[3:] for ln in md.splitlines() if ln.startswith("## ")] == [
        "Per-level results", "The report's claims, checked", "One model or one per level", "Training curves", "Samples",
        "Arms and environment"]  # ce-fixed5 is the specialist of level 5
    page = (report / "index.html").read_text()
    # 9 metrics (7 of accuracy, 2 of realism), learned vs classical, the specialist, the arms, the environment
    assert page.count("<table>") == md.count("\n|---") == 13
    assert all(f"]({f})" in md for f in res["figures"])
    assert page.count("<img src='data:image/png;base64,") == len(res["figures"])
    for c in res["claims"]:
        assert f"- **{c['claim']}** — *{c['verdict']}*. {c['evidence']}" in md
        assert html.escape(c["evidence"], quote=False) in page
    for fig in res["figures"]:
        assert (report / fig).stat().st_size > 5000, fig
    assert "allocation_ce-on-demand.png" in res["figures"] and "curves_ce.png" in res["figures"]
    assert "samples_L5.png" in res["figures"] and "samples_mixed.png" in res["figures"]
    # a second run reuses the complete arms instead of retraining them
    stamp = (report.parent / "arms/ce-on-demand/stats.jsonl").stat().st_mtime_ns
    placeholder_figures(monkeypatch)
    report = run_experiment(tiny_experiment)
    res2 = json.loads((report / "results.json").read_text())
    assert {a["run"]["status"] for a in res2["arms"] if a["run"]} == {"reused"}
    assert (report.parent / "arms/ce-on-demand/stats.jsonl").stat().st_mtime_ns == stamp
    assert res2["results"]["ce-on-demand"] == res["results"]["ce-on-demand"]


@pytest.mark.browser
def test_report_opens_in_chromium_with_every_image_loaded(tiny_experiment, tmp_path):
    report = run_experiment(tiny_experiment)
    pw, browser = chromium_or_skip()
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((report / "index.html").as_uri())
        # every figure of results.json decoded, at the size of its PNG beside the report
        res = json.loads((report / "results.json").read_text())
        shown = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(shown) == page.locator("img").count() == len(res["figures"]) >= 8
        assert all(complete for complete, _, _ in shown)
        assert sorted((w, h) for _, w, h in shown) == sorted(Image.open(report / f).size for f in res["figures"])
        # bold: in each metric's table (the report's first), one cell per level, in its best arm's row
        bold = page.evaluate("""Array.from(document.querySelectorAll('td.best')).map(td => [
            Array.from(document.querySelectorAll('table')).indexOf(td.closest('table')),
            td.cellIndex, td.parentElement.rowIndex])""")
        arms = list(res["results"])
        assert len(bold) == len(TABLE_METRICS) * len(LEVEL_KEYS)
        assert sorted({t for t, _, _ in bold}) == list(range(len(TABLE_METRICS)))
        for t, (metric, _, _) in enumerate(TABLE_METRICS):
            best = best_per_level(res["results"], metric)
            assert sorted((c, arms[r - 1]) for u, c, r in bold if u == t) == \
                [(j + 1, best[k]) for j, k in enumerate(LEVEL_KEYS)], metric
        assert "On-demand inpainting" in page.title() + page.inner_text("h1")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    finally:
        browser.close()
        pw.stop()


def test_dry_run_lists_arms_and_budgets(tiny_dataset, capsys):
    assert main(["experiment", "--data", str(tiny_dataset), "--dry-run", "--only", "ce-fixed5,gan-no-skip"]) == 0
    out = capsys.readouterr().out
    assert "ce-fixed5" in out and "gan-no-skip" in out and "40,000 images" in out and "12,000 images" in out and "skips=False" in out
    assert "ce-on-demand" not in out


def test_unknown_arm_is_rejected(tiny_dataset, capsys):
    assert main(["experiment", "--data", str(tiny_dataset), "--only", "ce-magic", "--dry-run"]) == 2
    assert "unknown arm" in capsys.readouterr().err


def test_time_left_counts_each_kind_of_arm_at_its_own_speed(tmp_path):
    from odinpaint.study.experiment import ARMS, _speed_kind, _time_left

    cfg = ExperimentConfig(data="unused", out=str(tmp_path / "exp")).resolved()
    arms = {a.name: a for a in ARMS}
    plain, improved = arms["ce-on-demand"], arms["ce-improved"]
    assert _speed_kind(cfg, plain) != _speed_kind(cfg, improved)  # the improved arm starts from biharmonic
    budgets = {"ce": 60_000}
    assert _time_left(cfg, [(plain, 0), (improved, 0)], budgets, {}) == ""
    timed = {_speed_kind(cfg, plain): 0.003}  # 3 ms per image: 3 minutes per arm
    assert _time_left(cfg, [(plain, 0), (improved, 0)], budgets, timed) == \
        ", at least 3 min of training left (1 arm(s) of a kind not timed yet)"
    timed[_speed_kind(cfg, improved)] = 0.01
    assert _time_left(cfg, [(plain, 0), (improved, 0)], budgets, timed) == ", about 13 min of training left"


def test_seeds_differ_in_weights_share_masks_and_are_reused(tiny_dataset, tmp_path, capsys, monkeypatch):
    """Two seeds of the arms fixed:1 (a specialist) and on-demand; then the same experiment
    again: every (arm, seed) is reused."""
    from odinpaint.checkpoint import load_checkpoint

    cfg = ExperimentConfig(data=str(tiny_dataset), out=str(tmp_path / "exp"), preset="study",
                           only=("ce-on-demand", "ce-fixed1"), seeds=2, seed=5, budgets={"ce": 20}, progress=False,
                           eval=EvalConfig(max_images=6, masks_per_image=1),
                           train_overrides={"width": 8, "batch": 10, "val_images": 3, "log_every": 1})
    placeholder_figures(monkeypatch)
    report = run_experiment(cfg)
    printed = capsys.readouterr().out
    assert "[arm 1/4] ce-on-demand seed 5" in printed and "[arm 4/4] ce-fixed1 seed 6" in printed
    arms = tmp_path / "exp" / "arms"
    assert sorted(p.name for p in arms.iterdir()) == ["ce-fixed1", "ce-fixed1-seed6", "ce-on-demand", "ce-on-demand-seed6"]
    first, second = (load_checkpoint(arms / d / "checkpoints/best.safetensors") for d in ("ce-on-demand", "ce-on-demand-seed6"))
    assert first.meta["config"]["run"]["seed"] == 5 and second.meta["config"]["run"]["seed"] == 6
    key = next(k for k in first.tensors if k.startswith("model.G.") and k.endswith("weight"))
    assert not (first.tensors[key] == second.tensors[key]).all()  # different weights
    evals = [json.loads((arms / d / "test_eval.json").read_text()) for d in ("ce-on-demand", "ce-on-demand-seed6")]
    assert evals[0]["config"] == evals[1]["config"]  # the same fixed test masks
    res = json.loads((report / "results.json").read_text())
    od = res["results"]["ce-on-demand"]
    assert od["seeds"] == 2 and od["levels"]["3"]["psnr_hole_per_seed"] == [e["levels"]["3"]["psnr_hole"] for e in evals]
    assert od["levels"]["3"]["psnr_hole"] == pytest.approx(sum(od["levels"]["3"]["psnr_hole_per_seed"]) / 2)
    assert od["psnr_hole_per_seed_mask"]["3"] == [e["psnr_hole_per_mask"]["3"] for e in evals]
    spec = res["specialists"]
    # the verdict is read from the interval over both arms' seeds and the test masks, at the specialist's level
    iv = seeded_interval(od["psnr_hole_per_seed_mask"]["1"], res["results"]["ce-fixed1"]["psnr_hole_per_seed_mask"]["1"])
    assert [r["level"] for r in spec] == ["1"] and spec[0]["ce-on-demand"]["verdict"] == verdict(iv)
    assert (spec[0]["ce-on-demand"]["low"], spec[0]["ce-on-demand"]["high"]) == (iv["low"], iv["high"])
    assert spec[0]["ce-on-demand"]["seeds"] == [2, 2]  # the interval resampled both arms' seeds
    assert spec[0]["ce-on-demand"]["diff"] == pytest.approx(od["levels"]["1"]["psnr_hole"] - spec[0]["specialist_psnr"], abs=1e-3)
    assert "specialists.png" in res["figures"] and "## Seeds" in (report / "report.md").read_text()
    stamps = {p.name: (p / "stats.jsonl").stat().st_mtime_ns for p in arms.iterdir()}
    run_experiment(cfg)
    assert "[arm 2/4] ce-on-demand seed 6" in capsys.readouterr().out
    assert {p.name: (p / "stats.jsonl").stat().st_mtime_ns for p in arms.iterdir()} == stamps  # every pair reused


def test_study_preset_dry_run(tiny_dataset, capsys):
    assert main(["experiment", "--preset", "study", "--data", str(tiny_dataset), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "seeds per learned arm: 3 (0, 1, 2)" in out
    for arm in ("ce-on-demand", "ce-uniform", "ce-random", "ce-fixed1", "ce-fixed5"):
        assert f"  {arm} " in out
    assert "40,000 images x 3 seed(s)" in out and "gan-" not in out and "ce-improved" not in out


def _results(per_mask: dict[str, float], **metrics) -> dict:
    """Evaluation results of arms whose hole PSNR on 6 test masks is their value plus a small
    spread shared by every arm (so differences are exact), at every level; ``metrics`` gives
    an arm's other mixed-level scores."""
    spread = [0.0, 0.5, -0.5, 0.25, -0.25, 0.1]
    results = {}
    for arm, value in per_mask.items():
        scores = [value + s for s in spread]
        results[arm] = {"levels": {k: {"psnr_hole": sum(scores) / 6, **metrics.get(arm, {})} for k in LEVEL_KEYS},
                        "psnr_hole_per_mask": {k: scores for k in LEVEL_KEYS}}
    return results


def test_every_claim_and_specialist_names_a_declared_arm():
    """A renamed or removed arm must not silently drop a claim: the study refers to ARMS' own names."""
    from odinpaint.study.experiment import ARM_NAMES, STUDY

    named = [a for c in STUDY.claims for a in c.arms] + list(STUDY.specialists.values()) + list(STUDY.generalists)
    assert named and set(named) <= set(ARM_NAMES)
    assert list(STUDY.specialists) == LEVEL_KEYS[:5]


def test_claims_judged_from_the_intervals_and_untested_without_their_arms():
    from odinpaint.study.experiment import STUDY

    ahead = check_claims(STUDY.claims, _results({"ce-on-demand": 20.0, "ce-fixed5": 19.0, "ce-uniform": 21.0}), {})
    by_text = {c["claim"]: c for c in ahead}
    first = by_text["On-demand CNN beats a CNN trained only on 90 px holes when holes of every size are tested."]
    assert first["verdict"] == "holds"
    assert "difference +1.00 dB [+1.00, +1.00]" in first["evidence"] and "at 5 of 5 levels (L1, L2, L3, L4, L5)" in first["evidence"]
    uniform = by_text["On-demand allocation beats a uniform split at equal images seen (ce-on-demand vs ce-uniform)."]
    assert uniform["verdict"] == "refuted"
    # the improved pair was not run: its uniform claim is left out; the GAN claims say what they need
    assert not any("ce-improved" in c["claim"] for c in ahead)
    assert by_text["Removing the U-Net skips makes results worse."] == {
        "claim": "Removing the U-Net skips makes results worse.", "verdict": "not tested",
        "evidence": "needs arms gan-no-skip and gan-on-demand"}
    assert [c["verdict"] for c in ahead].count("not tested") == 4  # GAN trade-off, GAN sharpness, skips, hole-L1


def test_gan_sharpness_is_judged_by_the_detail_share_with_an_interval():
    from odinpaint.study.experiment import STUDY

    results = _results({"gan-on-demand": 18.0, "ce-on-demand": 20.0},
                       **{arm: {"hf": hf, "swd": swd, "psnr_known": 25.0, "bias_hole": 0.0, "border_err": 8.0}
                          for arm, hf, swd in (("gan-on-demand", 0.6, 0.4), ("ce-on-demand", 0.2, 0.7))})
    spread = [0.0, 0.5, -0.5, 0.25, -0.25, float("nan")]  # the last hole too thin to score
    for arm, detail, k_spread in (("gan-on-demand", 6.0, 2.0), ("ce-on-demand", 2.0, 1.0)):
        results[arm]["detail_per_mask"] = {k: [detail + k_spread * s for s in spread] for k in LEVEL_KEYS}
        results[arm]["truth_detail"] = {k: 10.0 for k in LEVEL_KEYS}
    [claim] = [c for c in check_claims(STUDY.claims, results, {}) if c["claim"].startswith("Sharper fills")]
    # the masks' details differ by 4 grey levels on average, over the truth's 10: +0.40
    assert claim["verdict"] == "holds" and "difference +0.40 [+0.3" in claim["evidence"]
    assert "GAN 0.60 vs CE 0.20" in claim["evidence"] and "GAN 0.400 vs CE 0.700" in claim["evidence"]
    flipped = {"gan-on-demand": results["ce-on-demand"], "ce-on-demand": results["gan-on-demand"]}
    [claim] = [c for c in check_claims(STUDY.claims, flipped, {}) if c["claim"].startswith("Sharper fills")]
    assert claim["verdict"] == "refuted"


def test_gan_claim_holds_part_by_part():
    from odinpaint.study.experiment import STUDY

    gan = {"psnr_known": 30.0, "bias_hole": -5.0, "border_err": 12.0}
    ce = {"psnr_known": 25.0, "bias_hole": 0.5, "border_err": 8.0}
    claims = {c["claim"][:7]: c for c in check_claims(
        STUDY.claims, _results({"gan-on-demand": 18.0, "ce-on-demand": 20.0}, **{"gan-on-demand": gan, "ce-on-demand": ce}), {})}
    assert claims["The GAN"]["verdict"] == "held"
    assert "Parts that held: sharper outside, worse hole, dark fill, visible border." in claims["The GAN"]["evidence"]
    brighter = {**gan, "bias_hole": -0.5}  # not dark: three parts of four
    claims = {c["claim"][:7]: c for c in check_claims(
        STUDY.claims, _results({"gan-on-demand": 18.0, "ce-on-demand": 20.0}, **{"gan-on-demand": brighter, "ce-on-demand": ce}), {})}
    assert claims["The GAN"]["verdict"] == "partly held"


def test_arm_complete_reads_the_done_record(tmp_path):
    from odinpaint.study.experiment import arm_complete

    run = tmp_path / "arm"
    (run / "checkpoints").mkdir(parents=True)
    stats = run / "stats.jsonl"
    stats.write_text(json.dumps({"step": 1, "event": "done", "images": 10}) + "\n")
    assert not arm_complete(run)  # no best checkpoint yet
    (run / "checkpoints" / "best.safetensors").write_bytes(b"")
    assert arm_complete(run)
    # a record whose text merely contains the words is not a done record; a torn last line is skipped
    stats.write_text(json.dumps({"step": 1, "note": '"event": "done"'}) + "\n" + '{"step": 2, "ev')
    assert not arm_complete(run)
    stats.write_text(json.dumps({"step": 2, "event": "done"}) + "\n" + '{"step": 3, "lo')
    assert arm_complete(run)
