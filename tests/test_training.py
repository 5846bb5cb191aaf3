import copy
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.photos import prepare_tiny_dataset, write_photo_folder
from helpers.training import nan_on_call, skip_run_plots
from odinpaint.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from odinpaint.cli import main
from odinpaint.models import build
from odinpaint.training import steps
from odinpaint.training.config import make_config, resolve
from odinpaint.training.schedule import make_schedule
from odinpaint.training.trainer import TrainingError, batch_indices, make_batch, step_batch, train


@pytest.fixture(autouse=True)
def plots_only_where_checked(request):
    """The runs here end without their plots (no_run_plots), but in the test that checks them."""
    if request.function.__name__ != "test_ce_run_writes_everything":
        request.getfixturevalue("no_run_plots")


def tiny(ds, out, model="ce", **kw):
    """6 steps of 10 images at width 8, each logged and validated (on 3 images: validation is
    most of a tiny run's time)."""
    base = dict(data=str(ds), out=str(out), width=8, batch=10, max_images=60, val_images=3, log_every=1, progress=False)
    return make_config(model, "quick", **{**base, **({"d_width": 8} if model == "gan" else {}), **kw})


def weights(path, name="G"):
    ck = load_checkpoint(path)
    return {k: v for k, v in ck.tensors.items() if k.startswith(f"model.{name}.")}


def test_batch_indices_cover_each_epoch_once():
    n, b = 23, 5
    idx = [batch_indices(n, b, s, seed=3) for s in range(10)]
    flat = torch.tensor([int(i) for x in idx for i in x])
    assert sorted(flat[:23].tolist()) == list(range(23))  # first epoch: a permutation
    assert flat[:23].tolist() != flat[23:46].tolist()      # reshuffled each epoch
    assert (batch_indices(n, b, 7, 3) == idx[7]).all()     # a pure function of the step


def test_channel_shuffle_permutes_each_image_s_channels_and_only_them():
    rng = np.random.default_rng(0)
    split = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    cfg = make_config(batch=12, seed=1, channel_shuffle=True)
    idx, masks, levels, channels = step_batch(cfg, make_schedule("on-demand", 12), 12, 8, step=1)
    assert sorted(map(tuple, channels)) != [(0, 1, 2)] * 12       # not all in RGB order
    assert all(sorted(c) == [0, 1, 2] for c in channels)          # each row a permutation
    image = make_batch(split, idx, masks, levels, "cpu", channels=channels)["image"]
    plain = make_batch(split, idx, masks, levels, "cpu")["image"]
    for k, order in enumerate(channels):
        assert torch.equal(image[k], plain[k][list(order)])
    off = make_config(batch=12, seed=1)
    assert step_batch(off, make_schedule("on-demand", 12), 12, 8, step=1)[3] is None


def test_ce_run_writes_everything(tiny_dataset, tmp_path, monkeypatch, request):
    step_seconds = []  # how long each training step (forward, backward, update) took
    real = steps.STEPS["ce"].__call__

    def timed(*a, **k):
        t = time.perf_counter()
        out = real(*a, **k)
        step_seconds.append(time.perf_counter() - t)
        return out

    monkeypatch.setattr(steps.STEPS["ce"], "__call__", timed)
    t0 = time.perf_counter()
    run = train(tiny(tiny_dataset, tmp_path, schedule="on-demand"))
    wall = time.perf_counter() - t0
    assert run.name == "000-ce-on-demand-quick"
    for f in ("config.json", "stats.jsonl", "loss.png", "val_psnr.png", "allocation.png", "samples.png",
              "checkpoints/last.safetensors", "checkpoints/best.safetensors"):
        assert (run / f).is_file(), f
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    steps_logged = [r for r in stats if "loss" in r and "event" not in r]
    assert len(steps_logged) == 6 and [r["images"] for r in steps_logged] == [10, 20, 30, 40, 50, 60]
    # images/s over each logged interval (one step of 10 images): the interval holds that step, and
    # the intervals lie one after another within the run
    interval = [10 / r["images_per_s"] for r in steps_logged]
    assert len(step_seconds) == 6 and all(i >= 0.99 * s for i, s in zip(interval, step_seconds)), (interval, step_seconds)
    assert sum(interval) <= wall
    alloc = [r for r in stats if r.get("event") == "allocation"]
    assert len(alloc) == 7 and all(sum(r["counts"]) == 10 for r in alloc)  # initial + one per step
    vals = [r for r in stats if r.get("event") == "val"]
    assert vals and len(vals[-1]["psnr_hole"]) == 5
    assert stats[-1]["event"] == "done"
    # a second run gets the next number
    request.getfixturevalue("no_run_plots")
    assert train(tiny(tiny_dataset, tmp_path, max_images=10)).name.startswith("001-")


@pytest.mark.parametrize("model", ["ce", "gan"])
def test_init_starts_every_network_from_the_weights_and_the_rest_fresh(tiny_dataset, tmp_path, model):
    from odinpaint.training.trainer import setup

    first = train(tiny(tiny_dataset, tmp_path / "a", model=model, max_images=20))
    best = first / "checkpoints" / "best.safetensors"
    stored = {name: weights(best, name) for name in ("G", "D") if weights(best, name)}
    g_only = tmp_path / "g.safetensors"  # like an export: no discriminator beside the generator
    save_checkpoint(g_only, {"G": load_checkpoint(best).build("G")}, {}, {"step": 0})
    cases = [(best, {"G": True, "D": True}), ("", {"G": False, "D": False}), (g_only, {"G": True, "D": False})]
    for i, (init, expected) in enumerate(cases):
        run, state = setup(tiny(tiny_dataset, tmp_path / f"b{i}", model=model, seed=1, init=str(init)), None, None)
        run.bar.close()
        run.log.close()
        assert state.step == 0 and all(not opt.state for opt in run.opts.values())  # a fresh optimizer
        assert sorted(run.nets) == sorted(stored)
        for name, net in run.nets.items():
            here = net.state_dict()
            match = all(torch.equal(here[k.split(".", 2)[2]], v) for k, v in stored[name].items())
            assert match == expected[name], (name, init)
    finished = train(tiny(tiny_dataset, tmp_path / "c", model=model, max_images=20, init=str(best)))
    assert json.loads((finished / "config.json").read_text())["run"]["init"] == str(best)


FLAT_CONFIGS = Path(__file__).parent / "data" / "flat_run_configs.json"  # config.json before the groups


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Uninterrupted runs by their settings, each trained once (when a test first asks, so on
    that test's thread count): the resume tests that differ only in the config.json they
    resume from compare with the same one."""
    root = tmp_path_factory.mktemp("uninterrupted")
    data = prepare_tiny_dataset(write_photo_folder(root / "photos"), root / "ds32")  # as tiny_dataset is
    runs = {}

    def run(model: str, **extra) -> Path:
        key = (model, json.dumps(extra, sort_keys=True))
        if key not in runs:
            with pytest.MonkeyPatch.context() as mp:
                skip_run_plots(mp)
                runs[key] = train(tiny(data, root / f"{len(runs)}", model=model, ckpt_every=3, **extra))
        return runs[key]

    return run


@pytest.mark.parametrize("model,extra,flat", [("ce", {}, False), ("ce", {"lr_schedule": "cosine"}, False),
                                              ("gan", {"hole_aware": True, "fill": "noise"}, False),
                                              ("ce", {"lr_schedule": "cosine"}, True),
                                              ("gan", {"hole_aware": True, "fill": "noise"}, True)])
def test_resume_is_exact(tiny_dataset, tmp_path, monkeypatch, uninterrupted, model, extra, flat):
    """Also of a run whose config.json the flat config of commit 6cbc414 wrote (``flat``)."""
    full = uninterrupted(model, **extra)
    real = steps.STEPS[model].__call__
    calls = {"n": 0}

    def dies_at_step_5(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(steps.STEPS[model], "__call__", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tiny_dataset, tmp_path / "b", model=model, ckpt_every=3, **extra))
    run = next((tmp_path / "b").iterdir())
    assert load_checkpoint(run / "checkpoints/last.safetensors").meta["step"] == 3
    if flat:  # its data, out and validation images as this run's (validation draws the GAN's noise fill)
        old = json.loads(FLAT_CONFIGS.read_text())[model]
        here = json.loads((run / "config.json").read_text())["run"]
        (run / "config.json").write_text(json.dumps({**old, "data": str(tiny_dataset), "out": str(tmp_path / "b"),
                                                     "val_images": here["val_images"]}))
    monkeypatch.setattr(steps.STEPS[model], "__call__", real)
    train(make_config(progress=False), resume=run)
    for net in (["G"] if model == "ce" else ["G", "D"]):
        a, b = weights(full / "checkpoints/last.safetensors", net), weights(run / "checkpoints/last.safetensors", net)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    lines = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r and "event" not in r] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_rebuilds_the_model_from_the_file_alone(tiny_dataset, tmp_path, monkeypatch):
    """The generator rebuilt from last.safetensors alone (its architecture and weights from the
    file) computes what the trained network it was saved from computed, and not what a freshly
    built network of the same architecture computes."""
    from odinpaint.training import trainer

    saved = {}  # the networks as the trainer handed them to save_checkpoint, by file name
    real_save = trainer.save_checkpoint

    def keep_a_copy(path, nets, opts, meta):
        saved[Path(path).name] = copy.deepcopy(nets["G"]).eval()
        return real_save(path, nets, opts, meta)

    monkeypatch.setattr(trainer, "save_checkpoint", keep_a_copy)
    run = train(tiny(tiny_dataset, tmp_path, fill="mean", mask_channel=True, skips=True))
    ck = load_checkpoint(run / "checkpoints/last.safetensors")
    net = ck.build("G")
    assert net.arch.mask_channel and net.arch.skips and net.arch.image_size == 32
    assert ck.meta["config"]["g"]["fill"] == "mean" and ck.meta["step"] == 6
    trained = saved["last.safetensors"]
    assert not net.training  # built for inference: dropout off, BatchNorm on its running statistics
    here, there = net.state_dict(), trained.state_dict()
    assert here.keys() == there.keys() and all(torch.equal(here[k], there[k]) for k in here)
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    m = torch.zeros(2, 1, 32, 32)
    m[..., 4:12, 4:12] = 1
    with torch.no_grad():
        rebuilt, expected, fresh = net(x, m), trained(x, m), build(net.arch).eval()(x, m)
    torch.testing.assert_close(rebuilt, expected)
    # a network of the same architecture that did not take the file's weights fills otherwise
    assert (rebuilt - fresh).abs().max() > 100 * (rebuilt - expected).abs().max() + 1e-3


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(steps.GANStep, "__call__", nan_on_call(steps.GANStep.__call__, 5, "d_loss"))
    with pytest.raises(TrainingError, match="step 5: d_loss is nan") as e:
        train(tiny(tiny_dataset, tmp_path, model="gan", ckpt_every=2))
    run = next(tmp_path.iterdir())
    assert "last.safetensors" in str(e.value)
    assert load_checkpoint(run / "checkpoints/last.safetensors").meta["step"] == 4


def test_gan_logs_discriminator_accuracy(tiny_dataset, tmp_path):
    run = train(tiny(tiny_dataset, tmp_path, model="gan", skips=False, hole_weight=5.0))
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    step = next(r for r in rows if "d_loss" in r)
    assert {"d_loss", "g_gan", "l1_image", "l1_hole", "d_acc_real", "d_acc_fake"} <= set(step)
    assert 0 <= step["d_acc_real"] <= 1
    assert load_checkpoint(run / "checkpoints/last.safetensors").build("G").arch.skips is False


@pytest.mark.parametrize("kw,field", [
    ({"lr": -1.0}, "lr"), ({"schedule": "fixed:9"}, "schedule"), ({"batch": 0}, "batch"),
    ({"fill": "purple"}, "fill"), ({"model": "vae"}, "model"), ({"data": ""}, "data"), ({"beta1": 1.5}, "beta1"),
])
def test_bad_config_fails_fast_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        resolve(make_config(**{"data": "somewhere", **kw}))


def test_train_and_eval_commands_end_to_end(tiny_dataset, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["train", "--data", str(tiny_dataset), "--out", str(runs), "--width", "8", "--batch", "10",
            "--max-images", "40", "--val-images", "6", "--no-progress", "--schedule", "fixed:5"]
    assert main(args + ["--dry-run"]) == 0
    assert '"schedule": "fixed:5"' in capsys.readouterr().out and not runs.exists()
    assert main(args) == 0
    run = next(runs.iterdir())
    ckpt = run / "checkpoints" / "best.safetensors"
    assert main(["eval", str(ckpt), "--data", str(tiny_dataset), "--max-images", "6", "--masks-per-image", "1"]) == 0
    out = capsys.readouterr().out
    assert "| Telea |" in out and f"{run.name}/best" in out
    res = json.loads((run / "eval" / "eval-best.json").read_text())
    assert set(res) == {f"{run.name}/best", "Telea", "Navier-Stokes", "biharmonic", "PatchMatch"}
    assert all(10 < r["levels"]["mixed"]["psnr_hole"] < 100 for r in res.values())


def test_cli_errors_exit_2(tiny_dataset, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_dataset), "--lr", "-3"]) == 2
    assert "'lr'" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04garbage pickle")
    assert main(["eval", str(bad), "--data", str(tiny_dataset)]) == 2
    assert "bad.safetensors" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from odinpaint.training.config import lr_factor

    total = 1000
    f = [lr_factor("cosine", s, total) for s in range(1, total + 1)]
    assert f[0] == pytest.approx(1 / 20) and f[19] == pytest.approx(1.0)  # 2% warm-up: 20 steps
    assert all(a >= b for a, b in zip(f[19:], f[20:]))                  # then never rises
    assert f[-1] == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("constant", 7, total) == 1.0



@pytest.mark.multiprocess  # inductor compiles in a pool of worker processes (compile_threads)
def test_compiled_training_matches_eager(tiny_dataset, tmp_path):
    eager = train(tiny(tiny_dataset, tmp_path / "a", max_images=30))
    compiled = train(tiny(tiny_dataset, tmp_path / "b", max_images=30, compile=True))
    a, b = weights(eager / "checkpoints/last.safetensors"), weights(compiled / "checkpoints/last.safetensors")
    assert a.keys() == b.keys()  # in-place compile: the checkpoint keys are the plain network's
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-3)


def test_bf16_is_refused_on_cpu():
    with pytest.raises(ValueError, match="precision"):
        resolve(make_config(data="x", precision="bf16"))


def test_level_psnr_loss_is_the_mean_over_levels_of_each_level_s_pooled_psnr():
    from odinpaint.training.steps import PSNR_LOSS_EPS, level_psnr_loss

    g = torch.Generator().manual_seed(0)
    err = torch.rand(6, 3, 8, 8, generator=g) ** 2
    mask = torch.zeros(6, 1, 8, 8)
    mask[:, :, 2:5, 2:6] = 1
    level = torch.tensor([1, 1, 3, 3, 3, 5])
    mse = (err * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) * 3) / 4
    pooled = [mse[:2].mean(), mse[2:5].mean(), mse[5:].mean()]
    expected = sum(10 * torch.log10(p + PSNR_LOSS_EPS) for p in pooled) / 3
    torch.testing.assert_close(level_psnr_loss(err, mask, level), expected)
    # Errors 100x larger on one level move the loss by 20 dB / 3 levels however small the others
    # are: every level counts the same in dB (plain L2 would let the large errors dominate).
    big = err.clone()
    big[5] *= 100
    shift = level_psnr_loss(big, mask, level) - level_psnr_loss(err, mask, level)
    assert abs(shift.item() - 20 / 3) < 0.05
    # Within a level it is plain L2 (every hole pixel of the level weighs the same, whatever its
    # sample's error); between levels the weight is 1 / (the level's samples x its pooled MSE).
    e = err.clone().requires_grad_(True)
    level_psnr_loss(e, mask, level).backward()
    w = e.grad[:, 0, 3, 3]  # one hole pixel per sample
    torch.testing.assert_close(w[0], w[1])
    torch.testing.assert_close(w[2], w[4])
    torch.testing.assert_close(w[0] / w[5], (pooled[2] + PSNR_LOSS_EPS) / (2 * (pooled[0] + PSNR_LOSS_EPS)))
    assert (e.grad[:, :, 0, 0] == 0).all()  # known pixels play no part


def test_psnr_loss_is_minus_the_metric():
    from odinpaint import metrics
    from odinpaint.training.steps import hole_psnr_loss

    g = torch.Generator().manual_seed(1)
    target = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    pred = (target + 0.2 * torch.randn(4, 3, 16, 16, generator=g)).clamp(-1, 1)
    mask = torch.zeros(4, 1, 16, 16)
    mask[:, :, 4:9, 3:12] = 1
    expected = -metrics.image_metrics(pred, target, mask)["psnr_hole"].mean()
    # equal up to the MSE floor (1e-5 against an MSE near 1e-2: 0.005 dB)
    torch.testing.assert_close(hole_psnr_loss((pred - target) ** 2, mask), expected, atol=0.01, rtol=0)


def test_gan_step_computes_d_weight_gradients_once():
    """pix2pix freezes D for G's update: D's weights get gradients from D's own backward only
    (one pass), G's from G's; and D is left trainable afterwards."""
    from odinpaint.training.trainer import train_setup

    cfg = resolve(make_config("gan", "quick", data="unused", batch=5, width=8, d_width=8).for_size(32))
    nets, opts, batch = train_setup(cfg, 32)
    calls = {"D": 0, "G": 0}
    for name in calls:
        first = next(nets[name].parameters())
        first.register_hook(lambda g, name=name: calls.__setitem__(name, calls[name] + 1))
    before = [p.detach().clone() for p in nets["D"].parameters()]
    steps.GANStep(cfg.loss)(nets, opts, batch)
    assert calls == {"D": 1, "G": 1}
    assert all(p.requires_grad for p in nets["D"].parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, nets["D"].parameters()))  # D did learn


def test_validation_runs_one_view_and_gives_the_views_back(tiny_dataset, tmp_path, monkeypatch):
    """An 8-view model is validated on one view (an eighth of the cost) and leaves validation
    in training mode with its test-time views on."""
    from odinpaint.data.dataset import DataSet
    from odinpaint.training.trainer import build_networks, validate_run

    cfg = resolve(tiny(tiny_dataset, tmp_path, fill="mean", mask_channel=True, residual=True, tta=True, val_images=4))
    nets = build_networks(cfg.for_size(32))
    g = nets["G"].train()
    batches = []
    forward = g._tanh_output
    monkeypatch.setattr(g, "_tanh_output", lambda x: batches.append(len(x)) or forward(x))
    validate_run(nets, DataSet(str(tiny_dataset)).split("val"), cfg, "cpu")
    assert batches and max(batches) <= min(cfg.optim.batch, 4)  # never the 8N batch of views
    assert g.arch.tta and g.training  # back in training mode, with its 8 views for inference
    batches.clear()
    g.eval()(torch.zeros(2, 3, 32, 32), torch.ones(2, 1, 32, 32))
    assert batches == [16]  # outside validation the 8 views are back


def test_gan_step_warns_of_discriminator_collapse_after_a_streak():
    kind = steps.GANStep(make_config("gan").loss)
    sure, unsure = {"d_acc_real": 1.0, "d_acc_fake": 0.995}, {"d_acc_real": 1.0, "d_acc_fake": 0.9}
    assert [kind.health(s, sure, 10) for s in range(1, steps.COLLAPSE_LOGS)] == [None] * (steps.COLLAPSE_LOGS - 1)
    assert kind.health(5, unsure, 10) is None  # the streak starts over
    warnings = [kind.health(s, sure, 10) for s in range(steps.COLLAPSE_LOGS)]
    assert warnings[:-1] == [None] * (steps.COLLAPSE_LOGS - 1)
    assert warnings[-1].startswith(f"discriminator collapse: D accuracy >= 0.99 on real and fake for "
                                   f"{steps.COLLAPSE_LOGS * 10} steps")
    assert steps.CEStep(make_config("ce").loss).health(1, {"loss": 0.1}, 10) is None
