"""Checkpoints: one safetensors file holding every tensor, with JSON in its header.

A checkpoint bundles the networks, the optimizers' state, torch's RNG state, and as JSON the
config, the architectures, step, schedule state and best metric. Loading never unpickles
anything: safetensors holds only tensors, the rest is JSON.

    >>> from odinpaint.checkpoint import load_checkpoint, save_checkpoint
    >>> save_checkpoint("run/checkpoints/last.safetensors", nets, optimizers, meta)
    >>> ckpt = load_checkpoint("run/checkpoints/last.safetensors")
    >>> net = ckpt.build("G")                          # the generator, weights loaded, eval mode

Files are written atomically (``odinpaint.atomic``), so a crash or a full disk mid-write
leaves the previous checkpoint intact; a failed write is a ``CheckpointError`` that says so.
The header holds a SHA-256 of every tensor, so a file damaged after it was written is refused
by name instead of loading wrong weights. A pickle (a PyTorch ``.pt``/``.pth``) is refused
without being unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from odinpaint import __version__
from odinpaint.atomic import atomic_write
from odinpaint.errors import UserError
from odinpaint.models import arch_from_dict, arch_to_dict, build

FORMAT = "odinpaint-checkpoint"
VERSION = 1


class CheckpointError(UserError):
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


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


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
    full = {**meta, "archs": {n: arch_to_dict(net.arch) for n, net in nets.items()}, "optim": optim_meta,
            "odinpaint_version": __version__}
    header = {"format": FORMAT, "version": str(VERSION), "odinpaint": json.dumps(full), "sha256": tensor_digest(tensors)}
    try:
        atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=header))
    except (OSError, SafetensorError) as e:  # a full disk, a read-only or vanished folder
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise CheckpointError(path, f"cannot write the checkpoint ({reason}); the previous one is unchanged") from None


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
        stored, wanted = self.arch(name), getattr(net, "arch", None)
        if wanted is not None and stored != wanted:  # say what differs, not which tensor shape broke
            a, b = arch_to_dict(stored), arch_to_dict(wanted)
            diff = ", ".join(f"{k} {a.get(k)!r} (needed {b.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            raise CheckpointError(self.path, f"network {name!r} is of another architecture: {diff}")
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
        try:
            opt.load_state_dict(_optimizer_state(name, self.tensors, self.meta["optim"][name]))
        except (KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(self.path, f"optimizer state of {name!r} missing or does not fit ({e})") from None


def _pickle_kind(path: Path) -> str | None:
    """What kind of pickle ``path`` is, from its first bytes, or None. (A safetensors file
    starts with its header's length, 8 bytes, and then the header's opening brace.)"""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":
        return None
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a PyTorch .pt/.pth file holds a pickle)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    return None


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; any other file is a CheckpointError
    naming it. Nothing in the file is ever executed: it is tensors plus JSON."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    kind = _pickle_kind(path)
    if kind is not None:
        raise CheckpointError(path, f"{kind}, not a safetensors checkpoint; odinpaint never unpickles files, "
                                    "since unpickling can run code")
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
    if not isinstance(meta, dict) or not isinstance(meta.get("archs"), dict):
        raise CheckpointError(path, "corrupt checkpoint header (no architectures)")
    # Checkpoints from before the digest have none; any that has one must match it.
    if "sha256" in header and tensor_digest(tensors) != header["sha256"]:
        raise CheckpointError(path, "corrupt checkpoint: its tensors do not match the checksum written with them")
    return Checkpoint(path, meta, tensors)
