"""The one training loop, for the context encoder and the GAN alike.

    >>> from odinpaint.training.config import TrainConfig
    >>> from odinpaint.training.trainer import train
    >>> run_dir = train(TrainConfig(model="ce", preset="quick", data="data/photos64", max_images=20000))
    >>> run_dir = train(resume=run_dir)        # continues exactly where it stopped

Per step: the schedule splits the batch between levels, masks are drawn, the model's step
runs, per-level PSNR of the composited output feeds the schedule. A run directory holds
``config.json``, ``stats.jsonl`` (everything logged), ``checkpoints/{last,best}.safetensors``
and PNG plots made from ``stats.jsonl``.

Everything random derives from ``cfg.seed``: the data order and the masks of step ``s`` are
pure functions of (seed, s), and torch's RNG state is checkpointed, so a resumed run on CPU
gives the same weights as one that never stopped.

Under ``torchrun`` the same loop trains data-parallel (``odinpaint.training.distributed``):
``batch`` stays the global batch, each rank takes its slots of it, per-level PSNR and the
logged losses are summed over ranks, and rank 0 alone writes.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from odinpaint.errors import UserError
from odinpaint import metrics
from odinpaint.checkpoint import load_checkpoint, save_checkpoint
from odinpaint.data.dataset import DataSet
from odinpaint.evaluate import EvalConfig, evaluate, model_fill
from odinpaint.masks import EVAL_SEED, NUM_LEVELS
from odinpaint.models import ContextEncoder, ContextEncoderArch, PatchGAN, PatchGANArch, UNet, UNetArch
from odinpaint.training import config as C
from odinpaint.training import distributed
from odinpaint.training.schedule import make_schedule
from odinpaint.tensors import to_tensor
from odinpaint.training.steps import STEPS

VAL_SEED = EVAL_SEED + 1  # validation masks differ from the test masks
COLLAPSE_LOGS = 20        # consecutive log intervals with D accuracy >= 0.99 that count as collapse


class TrainingError(UserError):
    """Training cannot go on (a NaN loss: lower the rate or check the data); the message names
    the step and the last good checkpoint."""


def build_networks(cfg: C.TrainConfig, size: int) -> dict[str, torch.nn.Module]:
    if cfg.model == "ce":
        return {"G": ContextEncoder(ContextEncoderArch(size, cfg.width, cfg.fill, cfg.mask_channel, cfg.skips,
                                                       cfg.residual, cfg.min_correction, cfg.refine, cfg.tta))}
    return {"G": UNet(UNetArch(size, cfg.width, cfg.fill, cfg.mask_channel, cfg.skips)),
            "D": PatchGAN(PatchGANArch(cfg.d_width, 3, cfg.hole_aware))}


def make_optimizers(nets: dict, cfg: C.TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """Adam as in both papers, with the multi-tensor (foreach) kernel, or the fused one when
    ``fused_adam``. Fused is not the default: on CPU a resumed run then drifts from an
    uninterrupted one in the last bits (seen in the resume test), and exact resume is promised."""
    kernel = {"fused": True} if cfg.fused_adam else {"foreach": True}
    return {k: torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999), **kernel) for k, net in nets.items()}


def measure_train_throughput(cfg: C.TrainConfig, size: int, steps: int = 8, warmup: int = 2) -> float:
    """Training images/s of ``cfg``'s model on random data (median of per-step rates)."""
    torch.manual_seed(cfg.seed)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    nets = {k: n.to(cfg.device, memory_format=memory_format).train() for k, n in build_networks(cfg, size).items()}
    opts = make_optimizers(nets, cfg)
    schedule = make_schedule(cfg.schedule, cfg.batch, cfg.od_power)
    masks, levels = schedule.sample(size, np.random.default_rng(0), cfg.mask_kind)
    batch = {"image": (torch.rand(cfg.batch, 3, size, size) * 2 - 1).to(cfg.device).contiguous(memory_format=memory_format),
             "mask": torch.from_numpy(masks)[:, None].float().to(cfg.device).contiguous(memory_format=memory_format),
             "level": torch.from_numpy(levels)}
    rates = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        _, logs = STEPS[cfg.model](nets, opts, batch, cfg)
        float(logs["loss"])  # wait for the device
        if i >= warmup:
            rates.append(cfg.batch / (time.perf_counter() - t))
    return float(np.median(rates))


def make_batch(split: np.ndarray, idx: np.ndarray, masks: np.ndarray, levels: np.ndarray, device: str,
               memory_format=torch.contiguous_format) -> dict[str, torch.Tensor]:
    """A training batch: images ``split[idx]`` in [-1, 1], their hole masks and levels. On CUDA
    the host tensors are pinned so the copies run asynchronously."""
    cuda = str(device).startswith("cuda")

    def move(t: torch.Tensor) -> torch.Tensor:
        t = t.pin_memory().to(device, non_blocking=True) if cuda else t
        return t.contiguous(memory_format=memory_format)

    return {"image": move(to_tensor(split[idx])), "mask": move(torch.from_numpy(masks)[:, None].float()),
            "level": torch.from_numpy(levels)}


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, 2, epoch]).permutation(n)


def batch_indices(n: int, batch: int, step: int, seed: int) -> np.ndarray:
    """Training indices of ``step``: a seeded reshuffle each epoch, batches run across epoch ends."""
    out, pos = [], step * batch
    while len(out) < batch:
        epoch, off = divmod(pos, n)
        take = min(batch - len(out), n - off)
        out.extend(_epoch_order(n, seed, epoch)[off : off + take])
        pos += take
    return np.asarray(out)


def step_batch(cfg: C.TrainConfig, schedule, n: int, size: int, step: int, slots: slice = slice(None)):
    """Image indices, masks and levels of ``step`` for the process holding ``slots`` of the
    global batch: the batch is drawn from (seed, step) exactly as one process draws it
    (indices sorted for the memory map, masks in level order), then cut to the slots."""
    idx = np.sort(batch_indices(n, cfg.batch, step - 1, cfg.seed))
    masks, levels = schedule.sample(size, np.random.default_rng([cfg.seed, 1, step]), cfg.mask_kind)
    return idx[slots], masks[slots], levels[slots]


def next_run_dir(out: Path, name: str) -> Path:
    """``out/NNN-name``, NNN one more than the highest number there."""
    out.mkdir(parents=True, exist_ok=True)
    nums = [int(p.name.split("-", 1)[0]) for p in out.iterdir() if p.is_dir() and p.name.split("-", 1)[0].isdigit()]
    return out / f"{max(nums, default=-1) + 1:03d}-{name}"


def _logged_step(line: str) -> float:
    """The step of a stats line; infinite for a blank line or one torn by a kill mid-write."""
    try:
        return json.loads(line).get("step", 0)
    except (ValueError, AttributeError):
        return math.inf


class StatsLog:
    """Append-only ``stats.jsonl``; on resume, lines past the checkpoint's step are dropped.
    With ``path`` None (ranks other than 0) it writes nothing."""

    def __init__(self, path: Path | None, keep_until_step: int | None = None):
        self.path = path
        self.fh = None
        if path is None:
            return
        if keep_until_step is not None and path.exists():
            kept = [ln for ln in path.read_text().splitlines() if _logged_step(ln) <= keep_until_step]
            path.write_text("".join(ln + "\n" for ln in kept))
        self.fh = open(path, "a")

    def write(self, **record) -> None:
        if self.fh is None:
            return
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _to_float(logs: dict) -> dict:
    return {k: round(float(v), 6) for k, v in logs.items()}


def _level_sums(psnr: torch.Tensor, levels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    sums = torch.zeros(NUM_LEVELS, dtype=torch.float64).index_add_(0, levels - 1, psnr.double().cpu())
    counts = torch.bincount(levels - 1, minlength=NUM_LEVELS)
    return sums.numpy(), counts.numpy()


def _global_stats(ctx: distributed.Context, share: float, psnr, levels, logs: dict):
    """The global batch's per-level PSNR sums and counts and its mean logged values: this
    rank's, summed over ranks (values weighted by the rank's share of the batch)."""
    keys = list(logs)
    total = ctx.sum(np.concatenate([*_level_sums(psnr, levels), [share * float(logs[k]) for k in keys]]))
    return total[:NUM_LEVELS], total[NUM_LEVELS:2 * NUM_LEVELS], dict(zip(keys, total[2 * NUM_LEVELS:]))


def validate_run(nets, val: np.ndarray, cfg: C.TrainConfig, device: str) -> dict:
    """Per-level validation on fixed masks (one per image per level). A context encoder with
    test-time views is validated on one view: that ranks checkpoints as well at an eighth of
    the cost (8 views made validation a third of an improved arm's training time); the test
    evaluation and every fill use all eight."""
    g = nets["G"]
    tta = getattr(g, "tta", False)
    if tta:
        g.tta = False
    try:
        res = evaluate(model_fill(g, device, channels_last=cfg.channels_last), val,
                       EvalConfig(max_images=cfg.val_images, masks_per_image=1, batch_size=cfg.batch, seed=VAL_SEED),
                       progress=False, device=device)
    finally:
        g.train()
        if tta:
            g.tta = True
    lv = [str(i) for i in range(1, NUM_LEVELS + 1)]
    hole = [round(res["levels"][k]["psnr_hole"], 4) for k in lv]
    return {"psnr_hole": hole, "psnr": [round(res["levels"][k]["psnr"], 4) for k in lv],
            "mixed_psnr_hole": round(res["levels"]["mixed"]["psnr_hole"], 4), "mean_psnr_hole": round(float(np.mean(hole)), 4)}


def train(cfg: C.TrainConfig | None = None, resume: str | Path | None = None, run_dir: str | Path | None = None) -> Path:
    """Train from ``cfg``, or continue the run directory ``resume``; returns the run directory.

    ``run_dir`` names the new run's directory instead of the next numbered one in ``cfg.out``.
    Under torchrun every rank calls this with the same arguments; each returns once the run
    is on disk."""
    if resume is not None:
        run_dir = Path(resume)
        cfg_path = run_dir / "config.json"
        if not cfg_path.is_file():
            raise UserError(f"{run_dir}: not a run directory (no config.json)")
        stored = C.from_dict(json.loads(cfg_path.read_text()))
        cfg = C.resolve(replace(stored, progress=cfg.progress) if cfg else stored)
        ckpt_path = run_dir / "checkpoints" / "last.safetensors"
        ckpt = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    else:
        cfg = C.resolve(cfg)
        ckpt = None
    ctx = distributed.setup(cfg.device)
    if cfg.batch < ctx.world:
        raise UserError(f"config field 'batch': {cfg.batch} images cannot be split between {ctx.world} processes")
    if resume is None:
        if ctx.main:
            run_dir = Path(run_dir) if run_dir is not None else next_run_dir(Path(cfg.out), cfg.name)
            run_dir.mkdir(parents=True)
            (run_dir / "config.json").write_text(json.dumps(C.to_dict(cfg), indent=1))
        run_dir = Path(ctx.share(str(run_dir) if ctx.main else None))

    ds = DataSet(cfg.data)
    train_split, val_split = ds.split("train"), ds.split("val")
    n, size, device = len(train_split), ds.size, ctx.device(cfg.device)
    total_steps = math.ceil((cfg.max_images or cfg.epochs * n) / cfg.batch)
    val_every = cfg.val_every or max(1, total_steps // 10)
    ckpt_every = cfg.ckpt_every or val_every
    psnr_every = cfg.psnr_every if cfg.psnr_source == "batch" else val_every
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    torch.manual_seed(cfg.seed)
    nets = build_networks(cfg, size)
    for net in nets.values():
        net.to(device=device, memory_format=memory_format).train()
    opts = make_optimizers(nets, cfg)
    schedule = make_schedule(cfg.schedule, cfg.batch, cfg.od_power)
    step_fn = STEPS[cfg.model]

    start, best, acc, seconds_before = 0, -math.inf, [np.zeros(NUM_LEVELS), np.zeros(NUM_LEVELS)], 0.0
    if ckpt is not None:
        for k, net in nets.items():
            ckpt.load_into(k, net)
        for k, opt in opts.items():
            ckpt.load_optimizer(k, opt)
        schedule.load_state_dict(ckpt.meta["schedule"])
        torch.set_rng_state(ckpt.tensors["rng.torch"])
        start, best, seconds_before = ckpt.meta["step"], ckpt.meta["best"], ckpt.meta["train_seconds"]
        acc = [np.asarray(a) for a in ckpt.meta["psnr_acc"]]
    sync_bn = distributed.use_sync_bn(cfg.sync_bn, cfg.batch, ctx.world)
    models = ctx.replicate(nets, cfg.batch, sync_bn)  # what the step calls; nets: the plain networks
    if cfg.compile:  # in place: parameters and checkpoint keys stay the plain network's
        for net in nets.values():
            net.compile(dynamic=False)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    log = StatsLog(run_dir / "stats.jsonl" if ctx.main else None, keep_until_step=start if resume is not None else None)
    if start == 0:
        log.write(step=0, event="start", config=C.to_dict(cfg), train_images=n, size=size,
                  params={k: sum(p.numel() for p in net.parameters()) for k, net in nets.items()})
        log.write(step=0, event="allocation", counts=schedule.counts, psnr=None)
    if ctx.active:
        log.write(step=start, event="distributed", world_size=ctx.world, backend=ctx.backend, sync_bn=sync_bn,
                  rank_batch=ctx.batch_sizes(cfg.batch))

    def checkpoint(name: str, step: int) -> Path:
        path = run_dir / "checkpoints" / f"{name}.safetensors"
        if ctx.main:
            save_checkpoint(path, nets, opts, {"config": C.to_dict(cfg), "step": step, "images": step * cfg.batch,
                                               "best": best, "schedule": schedule.state_dict(),
                                               "psnr_acc": [a.tolist() for a in acc],
                                               "train_seconds": seconds_before + time.perf_counter() - t_start})
        return path

    bar = tqdm(total=total_steps * cfg.batch, initial=start * cfg.batch, unit="img", unit_scale=True,
               desc=f"train {run_dir.name}", disable=not (cfg.progress and ctx.main), smoothing=0.1)
    mine, share = ctx.slots(cfg.batch), ctx.share_of(cfg.batch)  # this rank's part of every global batch
    log_acc = [np.zeros(NUM_LEVELS), np.zeros(NUM_LEVELS)]
    t_start = t_log = time.perf_counter()
    collapse_streak, last_good = 0, None
    try:
        for step in range(start + 1, total_steps + 1):
            if ctx.active:  # dropout and noise of each rank: a pure function of (seed, rank, step)
                torch.manual_seed(ctx.step_seed(cfg.seed, step))
            idx, masks_np, levels_np = step_batch(cfg, schedule, n, size, step, mine)
            batch = make_batch(train_split, idx, masks_np, levels_np, device, memory_format)
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * C.lr_factor(cfg.lr_schedule, step, total_steps)
            with autocast:
                pred, logs = step_fn(models, opts, batch, cfg)
            with torch.no_grad():
                psnr = metrics.psnr(metrics.composite(pred.float(), batch["image"], batch["mask"]), batch["image"])
            sums, counts, logs = _global_stats(ctx, share, psnr, batch["level"], logs)
            for key in ("loss", "d_loss"):
                if key in logs and not math.isfinite(logs[key]):
                    raise TrainingError(f"step {step}: {key} is {float(logs[key])}; training stopped. "
                                        f"Last good checkpoint: {last_good or 'none yet'}")
            for a in (acc, log_acc):
                a[0] += sums
                a[1] += counts
            if schedule.adaptive and cfg.psnr_source == "batch" and step % psnr_every == 0:
                means = np.where(acc[1] > 0, acc[0] / np.maximum(acc[1], 1), np.nan)
                schedule.update(means)
                log.write(step=step, event="allocation", counts=schedule.counts, psnr=[round(x, 4) for x in means.tolist()])
                acc = [np.zeros(NUM_LEVELS), np.zeros(NUM_LEVELS)]
            bar.update(cfg.batch)
            if step % cfg.log_every == 0 or step == total_steps:
                now = time.perf_counter()
                vals = _to_float(logs)
                level_psnr = np.where(log_acc[1] > 0, log_acc[0] / np.maximum(log_acc[1], 1), np.nan)
                steps_done = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
                log.write(step=step, images=step * cfg.batch, **vals, train_psnr=[round(x, 4) for x in level_psnr.tolist()],
                          images_per_s=round(steps_done * cfg.batch / max(now - t_log, 1e-9), 2))
                log_acc, t_log = [np.zeros(NUM_LEVELS), np.zeros(NUM_LEVELS)], now
                bar.set_postfix(loss=f"{vals['loss']:.4f}")
                if "d_acc_real" in vals:
                    collapsed = vals["d_acc_real"] >= 0.99 and vals["d_acc_fake"] >= 0.99
                    collapse_streak = collapse_streak + 1 if collapsed else 0
                    if collapse_streak == COLLAPSE_LOGS:
                        msg = (f"discriminator collapse: D accuracy >= 0.99 on real and fake for "
                               f"{COLLAPSE_LOGS * cfg.log_every} steps (to step {step}); G gets little signal")
                        log.write(step=step, event="warning", message=msg)
                        if ctx.main:
                            tqdm.write(f"warning: {msg}")
            if step % val_every == 0 or step == total_steps:
                v = ctx.share(validate_run(nets, val_split, cfg, device) if ctx.main else None)
                log.write(step=step, event="val", **v)
                if schedule.adaptive and cfg.psnr_source == "val":
                    schedule.update(v["psnr"])
                    log.write(step=step, event="allocation", counts=schedule.counts, psnr=v["psnr"])
                if v["mean_psnr_hole"] > best:
                    best = v["mean_psnr_hole"]
                    checkpoint("best", step)
            if step % ckpt_every == 0 or step == total_steps:
                if ctx.active:  # every rank must hold the same model and allocation
                    replicas = ctx.compare_replicas(nets, schedule.state_dict())
                    log.write(step=step, event="replicas", **replicas)
                    if not replicas["identical"]:
                        raise RuntimeError(f"step {step}: the processes hold different weights or allocations "
                                            f"(see {run_dir / 'stats.jsonl'}); training stopped. Last good checkpoint: {last_good}")
                last_good = checkpoint("last", step)
        if start < total_steps:
            log.write(step=total_steps, event="done", images=total_steps * cfg.batch,
                      train_seconds=round(seconds_before + time.perf_counter() - t_start, 2))
    finally:
        bar.close()
        log.close()
    if ctx.main:
        from odinpaint.plots import plot_run

        plot_run(run_dir, nets["G"], val_split)
    ctx.barrier()
    return run_dir
