"""Model registry: architecture dataclasses that rebuild their networks exactly.

    >>> from odinpaint.models import build, arch_to_dict, arch_from_dict
    >>> net = build(ContextEncoderArch(image_size=64))
    >>> same = build(arch_from_dict(arch_to_dict(net.arch)))   # what checkpoints do
"""

from __future__ import annotations

from dataclasses import asdict, fields

from torch import nn

from odinpaint.errors import UserError
from odinpaint.models.context_encoder import ContextEncoder, ContextEncoderArch
from odinpaint.models.pix2pix import PatchGAN, PatchGANArch, UNet, UNetArch

# Explicit registry: architecture class name -> (dataclass, network).
ARCHS = {
    "ContextEncoderArch": (ContextEncoderArch, ContextEncoder),
    "UNetArch": (UNetArch, UNet),
    "PatchGANArch": (PatchGANArch, PatchGAN),
}


def build(arch) -> nn.Module:
    name = type(arch).__name__
    if name not in ARCHS:
        raise UserError(f"unknown architecture {name}; known: {', '.join(ARCHS)}")
    return ARCHS[name][1](arch)


def arch_to_dict(arch) -> dict:
    return {"class": type(arch).__name__, **asdict(arch)}


def arch_from_dict(d: dict):
    d = dict(d)
    name = d.pop("class", None)
    if name not in ARCHS:
        raise UserError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}")
    cls = ARCHS[name][0]
    known = {f.name for f in fields(cls)}
    extra = set(d) - known
    if extra:
        raise UserError(f"{name} has no field(s) {', '.join(sorted(extra))} (from a newer odinpaint?)")
    arch = cls(**d)
    arch.validate()
    return arch


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
