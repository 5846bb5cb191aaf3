"""Checkpoints: one safetensors file holding every tensor, with JSON in its header.

A checkpoint bundles the networks, the optimizers' state, torch's RNG state, and as JSON the
config, the architectures, step, schedule state and best metric. Loading never unpickles
anything: safetensors holds only tensors, the rest is JSON.

    >>> save_checkpoint("run/checkpoints/last.safetensors", nets, optimizers, meta)
    >>> ckpt = load_checkpoint("run/checkpoints/last.safetensors")
    >>> net = ckpt.build("G")                          # the generator, weights loaded, eval mode

Files are written atomically (a temporary file in the same directory, fsync, rename), so a
crash or a full disk mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from odinpaint import __version__
from odinpaint.models import arch_from_dict, build

FORMAT = "odinpaint-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")


def _optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"optim.{name}.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_state(name: str, tensors: dict, meta: dict) -> dict:
    state: dict = {}
    prefix = f"optim.{name}."
    for key, v in tensors.items():
        if key.startswith(prefix):
            pid, k = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then move the result into ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_checkpoint(path, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], meta: dict) -> None:
    tensors = {}
    for name, net in nets.items():
        for k, v in net.state_dict().items():
            tensors[f"model.{name}.{k}"] = v.detach().cpu().contiguous()
    optim_meta = {}
    for name, opt in optimizers.items():
        t, m = _optimizer_tensors(name, opt)
        tensors.update({k: v.detach().cpu().contiguous() for k, v in t.items()})
        optim_meta[name] = m
    tensors["rng.torch"] = torch.get_rng_state()
    full = {**meta, "archs": {n: _arch_dict(net) for n, net in nets.items()}, "optim": optim_meta,
            "odinpaint_version": __version__}
    header = {"format": FORMAT, "version": str(VERSION), "odinpaint": json.dumps(full)}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=header))


def _arch_dict(net: nn.Module) -> dict:
    from odinpaint.models import arch_to_dict

    return arch_to_dict(net.arch)


@dataclass
class Checkpoint:
    path: Path
    meta: dict
    tensors: dict

    def arch(self, name: str = "G"):
        if name not in self.meta["archs"]:
            raise CheckpointError(self.path, f"has no network {name!r} (has {', '.join(self.meta['archs'])})")
        try:
            return arch_from_dict(self.meta["archs"][name])
        except (TypeError, ValueError) as e:
            raise CheckpointError(self.path, f"architecture of {name!r} not understood: {e}") from None

    def load_into(self, name: str, net: nn.Module) -> None:
        prefix = f"model.{name}."
        sd = {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            first = str(e).strip().split("\n")[:2]
            raise CheckpointError(self.path, f"weights of {name!r} do not fit its architecture ({' '.join(first)})") from None

    def build(self, name: str = "G") -> nn.Module:
        """The network ``name`` rebuilt from its stored architecture, weights loaded, eval mode."""
        net = build(self.arch(name))
        self.load_into(name, net)
        return net.eval()

    def load_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        opt.load_state_dict(_optimizer_state(name, self.tensors, self.meta["optim"][name]))


def load_checkpoint(path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for any malformed file
        raise CheckpointError(path, f"not a readable safetensors checkpoint (corrupt or truncated?): {e}") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(path, "not an odinpaint checkpoint (no odinpaint header)")
    if header.get("version") != str(VERSION):
        raise CheckpointError(path, f"checkpoint format version {header.get('version')}, this odinpaint reads {VERSION}")
    try:
        meta = json.loads(header["odinpaint"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(path, f"corrupt checkpoint header ({e})") from None
    return Checkpoint(path, meta, tensors)
