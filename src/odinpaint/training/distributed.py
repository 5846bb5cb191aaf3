"""Data-parallel training on several processes: torchrun's environment, PyTorch's
DistributedDataParallel (DDP), and the few collectives the training loop needs.

    torchrun --standalone --nproc_per_node 2 -m odinpaint train --data data/photos64 --preset quick
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        -m odinpaint train --model gan --preset paper --device cuda --data /shared/celeba128

    >>> ctx = setup("cpu")                 # reads RANK / WORLD_SIZE / LOCAL_RANK; one process: world 1
    >>> models = ctx.replicate(nets, batch=90, sync_bn=True)   # DDP-wrapped; nets stay plain
    >>> idx = global_indices[ctx.slots(90)]                    # this rank's share of the step

A run is the same run on any number of processes. ``batch`` is the global batch: each step
draws the global batch's image indices and masks from (seed, step) exactly as one process
does, and rank r takes the slots r, r + W, r + 2W, ... of it (W = world size). So the ranks'
shards of an epoch are disjoint and together cover the training split, each rank reads only
its own images from the memory-mapped split, the global per-level composition is exactly the
on-demand formula's, and every rank holds a near-equal share of every level. Gradients are
summed weighted by each rank's share of the global batch, so an uneven split (90 over 8
ranks) still weighs every sample equally.

Per-level PSNR sums and counts are all-reduced every step, so every rank computes the same
allocation. Each rank's own randomness (dropout, noise fill) is reseeded every step from
(seed, rank, step), so a resumed run continues exactly; one process keeps its single
checkpointed stream, as before. Only rank 0 writes (run directory, stats, checkpoints,
plots, reports); the others read the same run directory on resume, so it must be on a
file system every node sees.

Without a process group (one process, or torchrun with one process) every method here is
the identity and nothing is wrapped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

# SyncBatchNorm is on by default when a rank's share of the batch is below this. BatchNorm
# degrades with few images per device (Wu & He 2018, "Group Normalization": ImageNet error
# 23.6 / 23.7 / 24.8 / 27.3% at 32 / 16 / 8 / 4 per GPU), and our batches mix five hole sizes,
# so 16 images hold about 3 of each level: we synchronise with margin. With synchronised
# statistics a run on N ranks computes what one process does at the global batch.
SYNC_BN_BELOW = 32
# Rank 0 validates, plots and (in an experiment) evaluates alone while the others wait.
TIMEOUT = timedelta(minutes=30)


def env_rank() -> int:
    """This process's rank as torchrun sets it (0 without torchrun); usable before setup()."""
    return int(os.environ.get("RANK", "0"))


def rank_slots(batch: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s slots of a global batch: every ``world``-th one, starting at ``rank``."""
    return slice(rank, batch, world)


def use_sync_bn(requested: bool | None, batch: int, world: int) -> bool:
    """``requested`` when given; else on when the smallest rank batch is below SYNC_BN_BELOW."""
    if world <= 1:
        return False
    return requested if requested is not None else batch // world < SYNC_BN_BELOW


@dataclass(frozen=True)
class Context:
    rank: int = 0        # this process, 0..world-1; rank 0 writes
    world: int = 1       # processes in the job
    local_rank: int = 0  # this process on its node: its GPU
    backend: str = ""    # nccl | gloo; "" for one process

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def device(self, requested: str) -> str:
        """The device of this rank: under torchrun, CUDA rank r uses cuda:LOCAL_RANK."""
        return f"cuda:{self.local_rank}" if self.active and requested.startswith("cuda") else requested

    def slots(self, batch: int) -> slice:
        return rank_slots(batch, self.rank, self.world)

    def batch_sizes(self, batch: int) -> list[int]:
        """Every rank's number of images in a global batch of ``batch``."""
        return [len(range(r, batch, self.world)) for r in range(self.world)]

    def share_of(self, batch: int) -> float:
        """This rank's fraction of the global batch (1 for one process)."""
        return self.batch_sizes(batch)[self.rank] / batch

    def step_seed(self, seed: int, step: int) -> int:
        """torch's seed for this rank at ``step``: a pure function of (seed, rank, step)."""
        return int(np.random.SeedSequence([seed, 3, self.rank, step]).generate_state(1, np.uint64)[0])

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``x`` over ranks (float64); ``x`` itself for one process."""
        if not self.active:
            return x
        t = torch.as_tensor(np.asarray(x, dtype=np.float64), device=self._comm_device())
        dist.all_reduce(t)
        return t.cpu().numpy()

    def exchange(self, obj) -> list:
        """Every rank's JSON-able ``obj``, in rank order (sent as JSON bytes: nothing is pickled)."""
        if not self.active:
            return [obj]
        dev = self._comm_device()
        data = torch.tensor(list(json.dumps(obj).encode()), dtype=torch.uint8, device=dev)
        sizes = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([data.numel()], device=dev))
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros(longest, dtype=torch.uint8, device=dev)
        padded[: data.numel()] = data
        out = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(out, padded)
        return [json.loads(bytes(o[: int(s.item())].cpu().tolist())) for o, s in zip(out, sizes)]

    def share(self, obj):
        """Rank 0's ``obj`` on every rank (what rank 0 decided, measured or created)."""
        return self.exchange(obj if self.main else None)[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def replicate(self, nets: dict[str, nn.Module], batch: int, sync_bn: bool) -> dict[str, nn.Module]:
        """The networks as the training step should call them: DDP replicas whose gradients
        are summed weighted by each rank's share of ``batch``, BatchNorm synchronised when
        ``sync_bn``. ``nets`` keep the plain networks (same parameters), for checkpoints,
        validation and plots. One process: ``nets`` unchanged."""
        if not self.active:
            return nets
        out = {}
        for name, net in nets.items():
            if sync_bn:
                convert_sync_bn(net, "cuda" if self.backend == "nccl" else "cpu")
            device_ids = [self.local_rank] if self.backend == "nccl" else None
            replica = Replica(net, device_ids=device_ids)
            replica.register_comm_hook(self.share_of(batch), weighted_allreduce)
            out[name] = replica
        return out

    def compare_replicas(self, nets: dict[str, nn.Module], schedule_state: dict) -> dict:
        """Every rank's weights digest and schedule state; ``identical`` when all agree."""
        mine = {"weights_sha256": weights_digest(nets), "schedule": schedule_state}
        every = self.exchange(mine)
        return {"identical": all(e == every[0] for e in every),
                "weights_sha256": [e["weights_sha256"] for e in every],
                "allocation": [e["schedule"]["counts"] for e in every]}


def setup(device: str = "cpu") -> Context:
    """Join torchrun's job (nccl for CUDA, gloo for CPU) unless already joined; a single
    process (no WORLD_SIZE, or 1) gets a Context of world 1 and no process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device.startswith("cuda"):
            torch.cuda.set_device(local_rank)
            dist.init_process_group("nccl", timeout=TIMEOUT, device_id=torch.device("cuda", local_rank))
        else:
            dist.init_process_group("gloo", timeout=TIMEOUT)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())


def teardown(wait_for_peers: bool = False) -> None:
    """Leave the process group, if this process joined one; with ``wait_for_peers``, only once
    every process got here (a rank that tears gloo down while a peer still talks to it can
    abort that peer at exit: seen under heavy load)."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def session():
    """``with session():`` leaves the process group on the way out (the CLI commands use it)."""
    ok = False
    try:
        yield
        ok = True
    finally:
        teardown(wait_for_peers=ok)


class Replica(DistributedDataParallel):
    """DDP that also answers the wrapped network's own attributes (``arch``,
    ``patch_weights``), so a training step uses it exactly like the network."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


def weighted_allreduce(weight: float, bucket):
    """DDP comm hook: sum of each rank's gradient times its share of the global batch; with
    per-sample mean losses that is the gradient of the global batch's mean loss, also when
    the batch does not divide evenly between ranks (DDP's own hook averages ranks equally)."""
    buf = bucket.buffer().mul_(weight)
    return dist.all_reduce(buf, async_op=True).get_future().then(lambda fut: fut.value()[0])


def weights_digest(nets: dict[str, nn.Module]) -> str:
    """SHA-256 of every parameter's bytes (network name order, then module order)."""
    h = hashlib.sha256()
    for name in sorted(nets):
        for _, p in nets[name].named_parameters():
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) with its gradient: the gradient of a sum over ranks is the sum of
    every rank's gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for CPU processes on gloo (CPU clusters, the tests): torch's own runs on
    accelerators only. Each rank's (count, mean, sum of squared deviations) is all-reduced and
    combined exactly (Chan et al.); the all-reduce is differentiable, so gradients flow
    through the shared statistics as in torch's kernel. Outside training, or without a
    process group, it is plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c, world, rank = x.shape[1], dist.get_world_size(), dist.get_rank()
        dims = [0] + list(range(2, x.dim()))
        shape = [1, c] + [1] * (x.dim() - 2)
        mean = x.mean(dims)
        m2 = ((x - mean.view(shape)) ** 2).sum(dims)
        row = torch.cat([x.new_full((1,), x.numel() // c), mean, m2])
        table = _SumOverRanks.apply(torch.stack([row if r == rank else torch.zeros_like(row) for r in range(world)]))
        counts, means, m2s = table[:, :1], table[:, 1 : c + 1], table[:, c + 1 :]
        total = counts.sum()
        g_mean = (counts * means).sum(0) / total
        g_var = (m2s.sum(0) + (counts * (means - g_mean) ** 2).sum(0)) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(g_mean, alpha=f)
                self.running_var.mul_(1 - f).add_(g_var * total / (total - 1), alpha=f)
        y = (x - g_mean.view(shape)) * torch.rsqrt(g_var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_sync_bn(module: nn.Module, device_type: str) -> nn.Module:
    """Replace every BatchNorm layer in ``module`` (in place) by a synchronised one sharing
    its parameters and buffers: torch's SyncBatchNorm on accelerators, CPUSyncBatchNorm on
    CPU. Returns ``module`` (or its replacement if it is itself a BatchNorm)."""
    if device_type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        out = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_sync_bn(child, device_type))
    return out
