"""The one training loop, for the context encoder and the GAN alike.

    >>> from odinpaint.training.config import make_config
    >>> from odinpaint.training.trainer import train
    >>> run_dir = train(make_config("ce", "quick", data="data/photos64", max_images=20000))
    >>> run_dir = train(resume=run_dir)        # continues exactly where it stopped
    >>> run_dir = train(make_config("ce", data="data/mine", recipe="improved-ce", lr=5e-5,
    ...                             init="src/odinpaint/weights/default.safetensors"))   # fine-tuning

Per step: the schedule splits the batch between levels, masks are drawn, the model's step
runs, per-level PSNR of the composited output feeds the schedule. ``train`` is a short loop
over named parts: ``setup`` (a new run and a resumed one alike), ``train_step``, ``allocate``,
``log_progress``, ``validate`` and ``checkpoint``; a ``Run`` holds what does not change, a
``TrainState`` what does (and packs what a checkpoint keeps of it). The model kind's step
(``odinpaint.training.steps.STEPS``) owns its losses, logs and health checks. A run directory holds
``config.json``, ``stats.jsonl`` (everything logged), ``checkpoints/{last,best}.safetensors``
and PNG plots made from ``stats.jsonl``.

Everything random derives from ``cfg.run.seed``: the data order and the masks of step ``s`` are
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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from odinpaint import metrics
from odinpaint.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from odinpaint.data.dataset import DataSet
from odinpaint.errors import UserError
from odinpaint.evaluate import EvalConfig, evaluate, model_fill
from odinpaint.masks import EVAL_SEED, NUM_LEVELS
from odinpaint.models import build, count_parameters
from odinpaint.tensors import to_tensor
from odinpaint.training import config as C
from odinpaint.training import distributed
from odinpaint.training.schedule import Schedule, make_schedule
from odinpaint.training.steps import STEPS

VAL_SEED = EVAL_SEED + 1  # validation masks differ from the test masks


class TrainingError(UserError):
    """Training cannot go on (a NaN loss: lower the rate or check the data); the message names
    the step and the last good checkpoint."""


def build_networks(cfg: C.TrainConfig) -> dict[str, torch.nn.Module]:
    """G, and D for a GAN, from the config's architectures."""
    return {name: build(arch) for name, arch in (("G", cfg.g), ("D", cfg.d)) if arch is not None}


def init_networks(path, nets: dict[str, torch.nn.Module]) -> None:
    """Fine-tuning: each network's weights from ``path``, a checkpoint or exported weights whose
    architectures must match the config's (the error names the fields that differ). A network
    the file lacks, such as the discriminator beside a generator-only export, starts fresh."""
    src = load_checkpoint(path)
    if "G" not in src.meta["archs"]:
        raise CheckpointError(path, "has no generator 'G' to start from")
    for name, net in nets.items():
        if name in src.meta["archs"]:
            src.load_into(name, net)


def make_optimizers(nets: dict, cfg: C.TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """Adam as in both papers, with the multi-tensor (foreach) kernel, or the fused one when
    ``fused_adam``. Fused is not the default: on CPU a resumed run then drifts from an
    uninterrupted one in the last bits (seen in the resume test), and exact resume is promised."""
    kernel = {"fused": True} if cfg.optim.fused_adam else {"foreach": True}
    return {k: torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999), **kernel) for k, net in nets.items()}


def train_setup(cfg: C.TrainConfig, size: int) -> tuple[dict, dict, dict]:
    """``cfg``'s networks (seeded, in training mode), their optimizers and one batch of random
    images at ``size`` px with masks from ``cfg``'s schedule: what a training step needs, for
    measuring one (``measure_train_throughput``, ``odinpaint bench``) without a data set."""
    torch.manual_seed(cfg.run.seed)
    memory_format = torch.channels_last if cfg.run.channels_last else torch.contiguous_format
    nets = {k: n.to(cfg.run.device, memory_format=memory_format).train() for k, n in build_networks(cfg.for_size(size)).items()}
    opts = make_optimizers(nets, cfg)
    schedule = make_schedule(cfg.ondemand.schedule, cfg.optim.batch, cfg.ondemand.od_power)
    masks, levels = schedule.sample(size, np.random.default_rng(0), cfg.ondemand.mask_kind)
    batch = {"image": (torch.rand(cfg.optim.batch, 3, size, size) * 2 - 1).to(cfg.run.device).contiguous(memory_format=memory_format),
             "mask": torch.from_numpy(masks)[:, None].float().to(cfg.run.device).contiguous(memory_format=memory_format),
             "level": torch.from_numpy(levels)}
    return nets, opts, batch


def measure_train_throughput(cfg: C.TrainConfig, size: int, steps: int = 8, warmup: int = 2) -> float:
    """Training images/s of ``cfg``'s model on random data (median of per-step rates)."""
    nets, opts, batch = train_setup(cfg, size)
    rates, step = [], STEPS[cfg.model](cfg.loss)
    for i in range(warmup + steps):
        t = time.perf_counter()
        _, logs = step(nets, opts, batch)
        float(logs["loss"])  # wait for the device
        if i >= warmup:
            rates.append(cfg.optim.batch / (time.perf_counter() - t))
    return float(np.median(rates))


def make_batch(split: np.ndarray, idx: np.ndarray, masks: np.ndarray, levels: np.ndarray, device: str,
               memory_format=torch.contiguous_format, channels: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """A training batch: images ``split[idx]`` in [-1, 1] (each with its RGB channels in the
    order of its row of ``channels``, if given), their hole masks and levels. On CUDA the host
    tensors are pinned so the copies run asynchronously."""
    cuda = str(device).startswith("cuda")
    images = split[idx]
    if channels is not None:
        images = np.take_along_axis(images, channels[:, None, None, :], axis=3)

    def move(t: torch.Tensor) -> torch.Tensor:
        t = t.pin_memory().to(device, non_blocking=True) if cuda else t
        return t.contiguous(memory_format=memory_format)

    return {"image": move(to_tensor(images)), "mask": move(torch.from_numpy(masks)[:, None].float()),
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
    """Image indices, masks, levels and channel orders (None without ``channel_shuffle``) of
    ``step`` for the process holding ``slots`` of the global batch: the batch is drawn from
    (seed, step) exactly as one process draws it (indices sorted for the memory map, masks in
    level order), then cut to the slots."""
    idx = np.sort(batch_indices(n, cfg.optim.batch, step - 1, cfg.run.seed))
    masks, levels = schedule.sample(size, np.random.default_rng([cfg.run.seed, 1, step]), cfg.ondemand.mask_kind)
    channels = None
    if cfg.ondemand.channel_shuffle:
        channels = np.random.default_rng([cfg.run.seed, 3, step]).permuted(np.tile(np.arange(3), (len(idx), 1)), axis=1)[slots]
    return idx[slots], masks[slots], levels[slots], channels


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
    try:
        res = evaluate(model_fill(g, device, channels_last=cfg.run.channels_last, tta=False), val,
                       EvalConfig(max_images=cfg.run.val_images, masks_per_image=1, batch_size=cfg.optim.batch, seed=VAL_SEED),
                       progress=False, device=device)
    finally:
        g.train()
    lv = [str(i) for i in range(1, NUM_LEVELS + 1)]
    hole = [round(res["levels"][k]["psnr_hole"], 4) for k in lv]
    return {"psnr_hole": hole, "psnr": [round(res["levels"][k]["psnr"], 4) for k in lv],
            "mixed_psnr_hole": round(res["levels"]["mixed"]["psnr_hole"], 4), "mean_psnr_hole": round(float(np.mean(hole)), 4)}


def _levels() -> list[np.ndarray]:
    """Per-level PSNR sums and counts, empty."""
    return [np.zeros(NUM_LEVELS), np.zeros(NUM_LEVELS)]


def _level_means(acc: list[np.ndarray]) -> np.ndarray:
    return np.where(acc[1] > 0, acc[0] / np.maximum(acc[1], 1), np.nan)


@dataclass
class TrainState:
    """What changes as a run trains. What a checkpoint carries of it beside the weights and
    optimizers is packed by ``to_meta`` and unpacked by ``from_meta``, here alone."""

    schedule: Schedule                # the level allocation, updated from PSNR
    step: int = 0                     # steps done
    best: float = -math.inf           # best validation mean hole PSNR, the "best" checkpoint's
    psnr_acc: list = field(default_factory=_levels)  # per-level PSNR since the last allocation update
    seconds_before: float = 0.0       # training seconds of the sessions before this one
    last_good: Path | None = None     # the newest "last" checkpoint, named when training stops
    log_acc: list = field(default_factory=_levels)   # per-level PSNR since the last log line
    t_start: float = field(default_factory=time.perf_counter)  # when this session's steps began
    t_log: float = field(default_factory=time.perf_counter)    # when the last log line was written

    def to_meta(self, cfg: C.TrainConfig) -> dict:
        return {"config": C.to_dict(cfg), "step": self.step, "images": self.step * cfg.optim.batch, "best": self.best,
                "schedule": self.schedule.state_dict(), "psnr_acc": [a.tolist() for a in self.psnr_acc],
                "train_seconds": self.seconds_before + time.perf_counter() - self.t_start}

    @classmethod
    def from_meta(cls, meta: dict, schedule: Schedule) -> "TrainState":
        schedule.load_state_dict(meta["schedule"])
        return cls(schedule, meta["step"], meta["best"], [np.asarray(a) for a in meta["psnr_acc"]], meta["train_seconds"])


@dataclass
class Run:
    """What a run trains with, set up once: the wiring, none of it changing as it trains."""

    cfg: C.TrainConfig
    ctx: distributed.Context
    dir: Path                     # the run directory
    train_split: np.ndarray
    val_split: np.ndarray
    device: torch.device
    nets: dict                    # the plain networks (checkpointed)
    models: dict                  # what the step calls: the networks, DDP-wrapped under torchrun
    opts: dict
    step_kind: object             # the model kind's step (odinpaint.training.steps.STEPS)
    log: StatsLog
    bar: tqdm
    total_steps: int
    val_every: int
    ckpt_every: int
    psnr_every: int               # steps between allocation updates from the training batches

    def due(self, step: int, every: int) -> bool:
        return step % every == 0 or step == self.total_steps


def _open(cfg: C.TrainConfig | None, resume) -> tuple[C.TrainConfig, object]:
    """The resolved config, and the checkpoint to continue from (None for a new run)."""
    if resume is None:
        return C.resolve(cfg), None
    cfg_path = Path(resume) / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{resume}: not a run directory (no config.json)")
    stored = C.from_dict(json.loads(cfg_path.read_text()))
    cfg = C.resolve(replace(stored, run=replace(stored.run, progress=cfg.run.progress)) if cfg else stored)
    ckpt_path = Path(resume) / "checkpoints" / "last.safetensors"
    return cfg, load_checkpoint(ckpt_path) if ckpt_path.exists() else None


def setup(cfg: C.TrainConfig | None, resume, run_dir) -> tuple[Run, TrainState]:
    """Resolve, build the networks and optimizers, load the checkpoint when resuming (or the
    ``init`` weights when fine-tuning), then make (or reopen) the run directory: a resumed run
    goes through the same path as a new one."""
    cfg, ckpt = _open(cfg, resume)
    ctx = distributed.setup(cfg.run.device)
    if cfg.optim.batch < ctx.world:
        raise UserError(f"config field 'batch': {cfg.optim.batch} images cannot be split between {ctx.world} processes")
    ds = DataSet(cfg.data)
    cfg = cfg.for_size(ds.size)  # the data set decides the networks' image size
    train_split = ds.split("train")
    total_steps = math.ceil((cfg.optim.max_images or cfg.optim.epochs * len(train_split)) / cfg.optim.batch)
    val_every = cfg.run.val_every or max(1, total_steps // 10)
    memory_format = torch.channels_last if cfg.run.channels_last else torch.contiguous_format
    device = ctx.device(cfg.run.device)
    torch.manual_seed(cfg.run.seed)
    nets = {k: net.to(device=device, memory_format=memory_format).train() for k, net in build_networks(cfg).items()}
    opts = make_optimizers(nets, cfg)
    state = TrainState(make_schedule(cfg.ondemand.schedule, cfg.optim.batch, cfg.ondemand.od_power))
    if ckpt is not None:
        for k, net in nets.items():
            ckpt.load_into(k, net)
        for k, opt in opts.items():
            ckpt.load_optimizer(k, opt)
        torch.set_rng_state(ckpt.tensors["rng.torch"])
        state = TrainState.from_meta(ckpt.meta, state.schedule)
    elif cfg.run.init:
        init_networks(cfg.run.init, nets)
    # The run directory comes last: a bad config, data set or init file leaves none behind.
    if resume is not None:
        run_dir = Path(resume)
    else:
        if ctx.main:
            run_dir = Path(run_dir) if run_dir is not None else next_run_dir(Path(cfg.run.out), cfg.run.name)
            run_dir.mkdir(parents=True)
            (run_dir / "config.json").write_text(json.dumps(C.to_dict(cfg), indent=1))
        run_dir = Path(ctx.share(str(run_dir) if ctx.main else None))
    sync_bn = distributed.use_sync_bn(cfg.run.sync_bn, cfg.optim.batch, ctx.world)
    models = ctx.replicate(nets, cfg.optim.batch, sync_bn)
    if cfg.run.compile:  # in place: parameters and checkpoint keys stay the plain network's
        for net in nets.values():
            net.compile(dynamic=False)
    log = StatsLog(run_dir / "stats.jsonl" if ctx.main else None, keep_until_step=state.step if resume is not None else None)
    bar = tqdm(total=total_steps * cfg.optim.batch, initial=state.step * cfg.optim.batch, unit="img", unit_scale=True,
               desc=f"train {run_dir.name}", disable=not (cfg.run.progress and ctx.main), smoothing=0.1)
    run = Run(cfg, ctx, run_dir, train_split, ds.split("val"), device, nets, models, opts,
              STEPS[cfg.model](cfg.loss), log, bar, total_steps, val_every, cfg.run.ckpt_every or val_every,
              cfg.ondemand.psnr_every if cfg.ondemand.psnr_source == "batch" else val_every)
    _log_start(run, state, ds.size, sync_bn)
    return run, state


def _log_start(run: Run, state: TrainState, size: int, sync_bn: bool) -> None:
    cfg, ctx = run.cfg, run.ctx
    if state.step == 0:
        run.log.write(step=0, event="start", config=C.to_dict(cfg), train_images=len(run.train_split), size=size,
                      params={k: count_parameters(net) for k, net in run.nets.items()})
        run.log.write(step=0, event="allocation", counts=state.schedule.counts, psnr=None)
    if ctx.active:
        run.log.write(step=state.step, event="distributed", world_size=ctx.world, backend=ctx.backend, sync_bn=sync_bn,
                      rank_batch=ctx.batch_sizes(cfg.optim.batch))


def train_step(run: Run, state: TrainState, step: int) -> dict:
    """One optimisation step on this rank's part of the global batch; the global batch's
    per-level PSNR goes into the state, and its mean logged values come back."""
    cfg, ctx = run.cfg, run.ctx
    if ctx.active:  # dropout and noise of each rank: a pure function of (seed, rank, step)
        torch.manual_seed(ctx.step_seed(cfg.run.seed, step))
    memory_format = torch.channels_last if cfg.run.channels_last else torch.contiguous_format
    idx, masks, levels, channels = step_batch(cfg, state.schedule, len(run.train_split), run.train_split.shape[1],
                                              step, ctx.slots(cfg.optim.batch))
    batch = make_batch(run.train_split, idx, masks, levels, run.device, memory_format, channels)
    for opt in run.opts.values():
        for group in opt.param_groups:
            group["lr"] = cfg.optim.lr * C.lr_factor(cfg.optim.lr_schedule, step, run.total_steps)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.run.precision == "bf16"):
        pred, logs = run.step_kind(run.models, run.opts, batch)
    with torch.no_grad():
        psnr = metrics.psnr(metrics.composite(pred.float(), batch["image"], batch["mask"]), batch["image"])
    sums, counts, logs = _global_stats(ctx, ctx.share_of(cfg.optim.batch), psnr, batch["level"], logs)
    for key in run.step_kind.finite:
        if not math.isfinite(logs[key]):
            raise TrainingError(f"step {step}: {key} is {float(logs[key])}; training stopped. "
                                f"Last good checkpoint: {state.last_good or 'none yet'}")
    for acc in (state.psnr_acc, state.log_acc):
        acc[0] += sums
        acc[1] += counts
    state.step = step
    return logs


def allocate(run: Run, state: TrainState, psnr=None) -> None:
    """Update the allocation from the training batches' PSNR since the last update, or from a
    validation's (``psnr``)."""
    if psnr is None:
        means = _level_means(state.psnr_acc)
        state.schedule.update(means)
        psnr, state.psnr_acc = [round(x, 4) for x in means.tolist()], _levels()
    else:
        state.schedule.update(psnr)
    run.log.write(step=state.step, event="allocation", counts=state.schedule.counts, psnr=psnr)


def log_progress(run: Run, state: TrainState, logs: dict) -> None:
    """A loss line in stats.jsonl, and the step kind's warning, if any."""
    cfg, step = run.cfg, state.step
    now = time.perf_counter()
    vals = _to_float(logs)
    steps_done = cfg.run.log_every if step % cfg.run.log_every == 0 else step % cfg.run.log_every
    run.log.write(step=step, images=step * cfg.optim.batch, **vals,
                  train_psnr=[round(x, 4) for x in _level_means(state.log_acc).tolist()],
                  images_per_s=round(steps_done * cfg.optim.batch / max(now - state.t_log, 1e-9), 2))
    state.log_acc, state.t_log = _levels(), now
    run.bar.set_postfix(loss=f"{vals['loss']:.4f}")
    warning = run.step_kind.health(step, vals, cfg.run.log_every)
    if warning:
        run.log.write(step=step, event="warning", message=warning)
        if run.ctx.main:
            tqdm.write(f"warning: {warning}")


def validate(run: Run, state: TrainState) -> None:
    """Score the validation split (rank 0), feed a val-sourced allocation, keep the best."""
    v = run.ctx.share(validate_run(run.nets, run.val_split, run.cfg, run.device) if run.ctx.main else None)
    run.log.write(step=state.step, event="val", **v)
    if state.schedule.adaptive and run.cfg.ondemand.psnr_source == "val":
        allocate(run, state, v["psnr"])
    if v["mean_psnr_hole"] > state.best:
        state.best = v["mean_psnr_hole"]
        checkpoint(run, state, "best")


def checkpoint(run: Run, state: TrainState, name: str) -> Path:
    """``checkpoints/NAME.safetensors`` (written by rank 0). Before "last" under torchrun,
    every rank must hold the same model and allocation."""
    if name == "last" and run.ctx.active:
        replicas = run.ctx.compare_replicas(run.nets, state.schedule.state_dict())
        run.log.write(step=state.step, event="replicas", **replicas)
        if not replicas["identical"]:
            raise RuntimeError(f"step {state.step}: the processes hold different weights or allocations (see "
                               f"{run.dir / 'stats.jsonl'}); training stopped. Last good checkpoint: {state.last_good}")
    path = run.dir / "checkpoints" / f"{name}.safetensors"
    if run.ctx.main:
        save_checkpoint(path, run.nets, run.opts, state.to_meta(run.cfg))
    return path


def train(cfg: C.TrainConfig | None = None, resume: str | Path | None = None, run_dir: str | Path | None = None) -> Path:
    """Train from ``cfg``, or continue the run directory ``resume``; returns the run directory.

    ``run_dir`` names the new run's directory instead of the next numbered one in ``cfg.run.out``.
    Under torchrun every rank calls this with the same arguments; each returns once the run
    is on disk."""
    run, state = setup(cfg, resume, run_dir)
    start, batch_allocation = state.step, state.schedule.adaptive and run.cfg.ondemand.psnr_source == "batch"
    state.t_start = state.t_log = time.perf_counter()
    try:
        for step in range(start + 1, run.total_steps + 1):
            logs = train_step(run, state, step)
            if batch_allocation and step % run.psnr_every == 0:
                allocate(run, state)
            run.bar.update(run.cfg.optim.batch)
            if run.due(step, run.cfg.run.log_every):
                log_progress(run, state, logs)
            if run.due(step, run.val_every):
                validate(run, state)
            if run.due(step, run.ckpt_every):
                state.last_good = checkpoint(run, state, "last")
        if start < run.total_steps:
            run.log.write(step=run.total_steps, event="done", images=run.total_steps * run.cfg.optim.batch,
                          train_seconds=round(state.seconds_before + time.perf_counter() - state.t_start, 2))
    finally:
        run.bar.close()
        run.log.close()
    if run.ctx.main:
        from odinpaint.plots import plot_run

        plot_run(run.dir, run.nets["G"], run.val_split)
    run.ctx.barrier()
    return run.dir
