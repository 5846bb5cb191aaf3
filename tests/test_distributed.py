"""Data-parallel training: 2 CPU processes on gloo, launched with torchrun (end to end) or
torch.multiprocessing (collectives). Each process runs one thread."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import odinpaint
from helpers.photos import prepare_tiny_dataset, write_photo_folder
from odinpaint.checkpoint import load_checkpoint
from odinpaint.cli import main
from odinpaint.training.config import make_config
from odinpaint.training.distributed import Context, convert_sync_bn, setup, use_sync_bn, weights_digest
from odinpaint.training.schedule import make_schedule, on_demand_counts
from odinpaint.training.trainer import _global_stats, _level_sums, step_batch

TINY = ["--width", "8", "--batch", "10", "--val-images", "6", "--log-every", "1", "--no-progress"]


def torchrun(args: list[str], nproc: int = 2, wait: bool = True):
    """``torchrun --standalone --nproc_per_node N ARGS`` with this checkout's odinpaint, one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(odinpaint.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def stats(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def model_tensors(path) -> dict:
    return {k: v for k, v in load_checkpoint(path).tensors.items() if k.startswith("model.")}


# ----------------------------------------------------------------------------- one process, pure functions
def test_one_process_is_untouched(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup("cpu")
    assert (ctx.world, ctx.main, ctx.active) == (1, True, False) and not dist.is_initialized()
    nets = {"G": nn.Linear(2, 2)}
    assert ctx.replicate(nets, 10, sync_bn=True) is nets
    x = np.arange(3.0)
    assert ctx.sum(x) is x and ctx.share({"a": 1}) == {"a": 1} and ctx.share_of(10) == 1.0
    assert ctx.slots(10) == slice(0, 10, 1) and ctx.device("cuda") == "cuda"


def test_each_rank_draws_its_own_pure_randomness():
    seeds = [[Context(r, 2).step_seed(7, s) for s in (1, 2)] for r in (0, 1)]
    assert len({x for row in seeds for x in row}) == 4 and seeds[0] == [Context(0, 2).step_seed(7, s) for s in (1, 2)]


def test_sync_bn_is_on_for_small_rank_batches():
    assert use_sync_bn(None, 90, 8)        # 11 images per GPU: the paper's batch on 8 GPUs
    assert not use_sync_bn(None, 64, 2)    # 32 per process
    assert use_sync_bn(None, 62, 2)        # 31
    assert not use_sync_bn(False, 90, 8) and use_sync_bn(True, 512, 2)
    assert not use_sync_bn(True, 90, 1)    # nothing to synchronise in one process


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shards_are_disjoint_cover_each_epoch_and_compose_the_global_batch(world):
    n, batch, size = 30, 10, 32
    cfg = make_config(batch=batch, seed=3, channel_shuffle=True)
    schedule = make_schedule("on-demand", batch)
    schedule.update([40, 30, 25, 21, 18])  # an uneven allocation: [1, 2, 2, 2, 3]
    seen = {epoch: [[] for _ in range(world)] for epoch in (0, 1)}
    for step in range(1, 7):  # two epochs of 3 steps
        one = step_batch(cfg, schedule, n, size, step)
        parts = [step_batch(cfg, schedule, n, size, step, Context(r, world).slots(batch)) for r in range(world)]
        for r, (idx, *_) in enumerate(parts):
            seen[(step - 1) // 3][r].extend(idx.tolist())
        # together the ranks hold exactly the one-process batch: the same (image, mask, level,
        # channel order) tuples
        def tuples(idx, ms, lvs, chs):
            return sorted((int(i), m.tobytes(), int(lv), tuple(c)) for i, m, lv, c in zip(idx, ms, lvs, chs))
        assert sorted(t for p in parts for t in tuples(*p)) == tuples(*one)
        # the global composition is the formula's; each rank holds a near-equal share of every level
        per_rank = np.array([np.bincount(lvs, minlength=6)[1:] for _, _, lvs, _ in parts])
        assert per_rank.sum(0).tolist() == schedule.counts == [1, 2, 2, 2, 3]
        assert (per_rank.max(0) - per_rank.min(0)).max() <= 1
        assert sorted(len(p[0]) for p in parts) == sorted(len(range(r, batch, world)) for r in range(world))
    for epoch, shards in seen.items():
        flat = [i for s in shards for i in s]
        assert sorted(flat) == list(range(n)), epoch  # disjoint, and together the whole split
    assert [set(s) for s in seen[0]] != [set(s) for s in seen[1]]  # reshuffled each epoch


# ----------------------------------------------------------------------------- collectives (2 forked processes)
def _collectives_worker(rank: int, world: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=120))
    try:
        ctx = Context(rank, world, rank, "gloo")
        # SyncBatchNorm on CPU: each rank's half of a batch behaves as the whole batch in one process
        g = torch.Generator().manual_seed(0)
        x, w = torch.randn(8, 3, 5, 5, generator=g) * 3 + 2, torch.randn(8, 3, 5, 5, generator=g)
        full_bn, sync_bn = nn.BatchNorm2d(3), convert_sync_bn(nn.Sequential(nn.BatchNorm2d(3)), "cpu")
        xf = x.clone().requires_grad_()
        yf = full_bn(xf)
        (yf * w).sum().backward()
        mine = ctx.slots(8)
        xr = x[mine].clone().requires_grad_()
        yr = sync_bn(xr)
        (yr * w[mine]).sum().backward()
        torch.testing.assert_close(yr, yf[mine], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(xr.grad, xf.grad[mine], atol=1e-5, rtol=1e-4)
        weight_grad = torch.as_tensor(ctx.sum(sync_bn[0].weight.grad.double().numpy()))
        torch.testing.assert_close(weight_grad.float(), full_bn.weight.grad, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(sync_bn[0].running_mean, full_bn.running_mean)
        torch.testing.assert_close(sync_bn[0].running_var, full_bn.running_var)
        # On-demand: the trainer's per-level PSNR sums and counts, summed over ranks, give every
        # rank the allocation one process computes from all the PSNRs
        r = np.random.default_rng(rank)
        psnr, levels = torch.tensor(r.uniform(15, 40, 9)), torch.tensor(r.integers(1, 6, 9))
        sums, counts, logs = _global_stats(ctx, 0.5, psnr, levels, {"loss": torch.tensor(float(rank))})
        assert logs == {"loss": 0.5}  # the mean over the global batch
        schedule = make_schedule("on-demand", 90)
        schedule.update(sums / counts)
        everyone = ctx.exchange({"psnr": psnr.tolist(), "levels": levels.tolist(), "counts": schedule.counts})
        assert all(e["counts"] == schedule.counts for e in everyone)
        one_sums, one_counts = _level_sums(torch.tensor([p for e in everyone for p in e["psnr"]]),
                                           torch.tensor([lv for e in everyone for lv in e["levels"]]))
        # the 18 draws of both ranks, level by level (every level drawn, so every mean is defined)
        assert np.asarray(counts).tolist() == one_counts.tolist() == [3, 3, 4, 2, 6]
        assert np.allclose(sums, one_sums) and schedule.counts == on_demand_counts(one_sums / one_counts, 90)
        assert ctx.share(f"from {rank}") == "from 0"
        # the check run at every checkpoint notices one differing weight
        torch.manual_seed(0)
        net = nn.Linear(3, 2)
        assert ctx.compare_replicas({"G": net}, {"counts": [1, 2]})["identical"]
        with torch.no_grad():
            net.weight[0, 0] += rank * 1e-6
        report = ctx.compare_replicas({"G": net}, {"counts": [1, 2]})
        assert not report["identical"] and len(set(report["weights_sha256"])) == 2
    finally:
        dist.destroy_process_group()


@pytest.mark.multiprocess
def test_sync_bn_and_allocation_agree_across_two_processes(tmp_path):
    # fork: the two processes start at once with this one's imports (spawn re-imports torch)
    procs = mp.start_processes(_collectives_worker, args=(2, str(tmp_path / "store")), nprocs=2, join=False,
                               start_method="fork")
    deadline = time.monotonic() + 120
    while not procs.join(timeout=1):  # raises with the child's traceback if one failed
        if time.monotonic() > deadline:
            for p in procs.processes:
                p.kill()
            pytest.fail("the two processes did not finish within 120 s")


# ----------------------------------------------------------------------------- torchrun, end to end
TRAIN = ["train", *TINY, "--max-images", "80", "--ckpt-every", "1", "--val-every", "4"]  # 8 steps


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    return prepare_tiny_dataset(write_photo_folder(root / "photos"), root / "ds32")


@pytest.fixture(scope="module")
def two_process_run(dataset, tmp_path_factory):
    """A context encoder trained for 8 steps of 10 images by 2 processes (5 images each)."""
    out = tmp_path_factory.mktemp("two")
    torchrun(["-m", "odinpaint", *TRAIN, "--data", str(dataset), "--out", str(out)])
    (run,) = list(out.iterdir())  # rank 0 alone made a run directory
    return run


@pytest.mark.multiprocess
def test_ranks_hold_identical_weights_and_allocations(two_process_run):
    rows = stats(two_process_run)
    assert [r for r in rows if r.get("event") == "distributed"] == [
        {"step": 0, "event": "distributed", "world_size": 2, "backend": "gloo", "sync_bn": True, "rank_batch": [5, 5]}]
    assert rows[-1]["event"] == "done" and rows[-1]["images"] == 80
    replicas = [r for r in rows if r.get("event") == "replicas"]
    assert [r["step"] for r in replicas] == list(range(1, 9))
    for r in replicas:
        assert r["identical"] and len(set(r["weights_sha256"])) == 1 and r["allocation"][0] == r["allocation"][1]
    last = load_checkpoint(two_process_run / "checkpoints/last.safetensors")
    assert replicas[-1]["weights_sha256"][0] == weights_digest({"G": last.build("G")})  # what was saved
    # every allocation is the formula's, from the PSNR of the whole global batch
    allocs = [r for r in rows if r.get("event") == "allocation" and r["psnr"]]
    assert len(allocs) == 8 and all(r["counts"] == on_demand_counts(r["psnr"], 10) for r in allocs)


@pytest.mark.multiprocess
def test_two_processes_with_sync_bn_train_like_one_process_at_the_global_batch(two_process_run, dataset, tmp_path):
    assert main([*TRAIN, "--data", str(dataset), "--out", str(tmp_path)]) == 0
    (one,) = list(tmp_path.iterdir())
    two_rows, one_rows = stats(two_process_run), stats(one)
    alloc = [[r["counts"] for r in rows if r.get("event") == "allocation"] for rows in (two_rows, one_rows)]
    assert alloc[0] == alloc[1]
    steps_two = [r for r in two_rows if "loss" in r and "event" not in r]
    steps_one = [r for r in one_rows if "loss" in r and "event" not in r]
    assert len(steps_two) == len(steps_one) == 8
    for a, b in zip(steps_two, steps_one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["train_psnr"] == pytest.approx(b["train_psnr"], abs=0.01)
    t2 = model_tensors(two_process_run / "checkpoints/last.safetensors")
    t1 = model_tensors(one / "checkpoints/last.safetensors")
    assert t2.keys() == t1.keys()
    for k in t1:  # weights and BatchNorm running statistics
        torch.testing.assert_close(t2[k], t1[k], atol=1e-4, rtol=1e-3, msg=k)


@pytest.mark.multiprocess
def test_killed_two_process_run_resumes_exactly(two_process_run, dataset, tmp_path):
    proc = torchrun(["-m", "odinpaint", *TRAIN, "--data", str(dataset), "--out", str(tmp_path)], wait=False)
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("*/checkpoints/last.safetensors")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # torchrun stops both processes, as a scheduler's preemption does
    proc.communicate(timeout=120)
    (run,) = list(tmp_path.iterdir())
    killed_at = load_checkpoint(run / "checkpoints/last.safetensors").meta["step"]
    assert stats(run)[-1]["event"] != "done", "the run ended before it could be killed"

    torchrun(["-m", "odinpaint", "train", "--resume", str(run), "--no-progress"])
    rows = stats(run)
    assert [r["step"] for r in rows if "loss" in r and "event" not in r] == list(range(1, 9))
    assert [r["step"] for r in rows if r.get("event") == "distributed"] == [0, killed_at]
    assert all(r["identical"] for r in rows if r.get("event") == "replicas")
    a = model_tensors(two_process_run / "checkpoints/last.safetensors")
    b = model_tensors(run / "checkpoints/last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.multiprocess
def test_experiment_under_torchrun_trains_a_gan_and_rank_0_reports(dataset, tmp_path):
    out = tmp_path / "exp"
    script = tmp_path / "experiment.py"
    # the improved GAN: a replicated hole-aware D, and dropout drawn per process
    script.write_text(
        "from odinpaint.evaluate import EvalConfig\n"
        "from odinpaint.study.experiment import ExperimentConfig, run_experiment\n"
        "from odinpaint.training.distributed import session\n"
        "with session():\n"
        f"    run_experiment(ExperimentConfig(data={str(dataset)!r}, out={str(out)!r}, only=('gan-improved', 'telea'),\n"
        "        budgets={'gan': 40}, progress=False, eval=EvalConfig(max_images=6, masks_per_image=1),\n"
        "        train_overrides={'width': 8, 'd_width': 8, 'batch': 10, 'val_images': 6, 'log_every': 1}))\n")
    torchrun([str(script)])
    res = json.loads((out / "report" / "results.json").read_text())
    assert set(res["results"]) == {"gan-improved", "telea"} and res["environment"]["processes"] == 2
    assert res["arms"][0]["run"]["status"] == "trained" and res["arms"][0]["training"]["images"] == 40
    rows = stats(out / "arms" / "gan-improved")
    assert any(r.get("event") == "distributed" and r["world_size"] == 2 for r in rows)
    assert all(r["identical"] for r in rows if r.get("event") == "replicas")
    assert (out / "report" / "index.html").is_file() and [p.name for p in (out / "arms").iterdir()] == ["gan-improved"]
