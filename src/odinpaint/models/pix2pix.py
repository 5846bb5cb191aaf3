"""The conditional GAN of pix2pix (Isola et al. 2017): a U-Net generator and a PatchGAN
discriminator, with the report's trials and its proposed hole-aware discriminator.

    >>> g = UNet(UNetArch(image_size=64, width=32))              # 6 downsamplings at 64 px
    >>> d = PatchGAN(PatchGANArch(width=32, hole_aware=True))
    >>> pred = g(image, mask)
    >>> logits = d(g_input_rgb, pred, mask)                       # (N, 1, h, w) patch logits
    >>> weights = d.patch_weights(mask)                           # 1 where a patch sees the hole
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from odinpaint.models.inputs import FILLS, fail, model_input, validate_generator_arch


@dataclass
class UNetArch:
    image_size: int = field(default=64, metadata=dict(
        cli=False, help="input side, px; log2(size) downsamplings to 1x1 (7 at 128, 6 at 64)"))
    width: int = field(default=64, metadata=dict(help="channels of the first conv; then 2x, 4x, 8x, 8x ..."))
    fill: str = field(default="black", metadata=dict(choices=FILLS, help="what the hole holds on input (black: the report)"))
    mask_channel: bool = field(default=False, metadata=dict(help="the mask as a fourth input channel"))
    skips: bool = field(default=True, metadata=dict(
        help="the U-Net skips; --no-skip is the report's 'remove U-Net' trial", aliases=("--no-skip",)))
    dropout: float = field(default=0.5, metadata=dict(
        help="GAN: dropout in the three innermost decoder blocks, pix2pix's noise source"))

    def validate(self) -> None:
        validate_generator_arch(self)

    @property
    def channels(self) -> list[int]:
        return [self.width * min(2**i, 8) for i in range(int(math.log2(self.image_size)))]


class UNet(nn.Module):
    def __init__(self, arch: UNetArch):
        super().__init__()
        arch.validate()
        self.arch = arch
        ch = arch.channels
        n = len(ch)
        in_ch = 3 + int(arch.mask_channel)
        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip([in_ch] + ch[:-1], ch)):
            layers = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i in (0, n - 1)))
            if 0 < i < n - 1:  # no norm on the outermost or innermost down layer
                layers.append(nn.BatchNorm2d(c_out))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for j in range(n):  # j = 0 is the innermost decoder block
            c_in = ch[n - 1 - j] * (2 if arch.skips and j > 0 else 1)
            last = j == n - 1
            c_out = 3 if last else ch[n - 2 - j]
            layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last)]
            if last:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(c_out))
                if j < 3 and arch.dropout > 0:
                    layers.append(nn.Dropout(arch.dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.forward_input(model_input(image, mask, self.arch.fill, self.arch.mask_channel))

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a prepared input (fill applied, mask channel appended): what ONNX exports."""
        feats = []
        for block in self.down:
            x = block(x)
            feats.append(x)
        n = len(feats)
        for j, block in enumerate(self.up):
            if self.arch.skips and j > 0:
                x = torch.cat([x, feats[n - 1 - j]], dim=1)
            x = block(x)
        return x


@dataclass
class PatchGANArch:
    # Its settings are named d_width and d_n_layers beside the generator's (odinpaint.training.config).
    width: int = field(default=64, metadata=dict(help="GAN: discriminator base channels"))
    n_layers: int = field(default=3, metadata=dict(help="GAN: D's strided layers; 3 gives pix2pix's 70x70 receptive field"))
    hole_aware: bool = field(default=False, metadata=dict(
        flag="hole_aware", help="GAN: D sees the mask, and its loss counts only patches that overlap the hole"))

    def validate(self) -> None:
        for name in ("width", "n_layers"):
            if getattr(self, name) < 1:
                fail(self, name, f"must be positive, got {getattr(self, name)}")


class PatchGAN(nn.Module):
    """Conditional: it judges (condition, image) pairs, the condition being the generator's
    RGB input with the hole filled; hole-aware, it also sees the mask."""

    def __init__(self, arch: PatchGANArch):
        super().__init__()
        arch.validate()
        self.arch = arch
        w, in_ch = arch.width, 6 + int(arch.hole_aware)
        layers = [nn.Conv2d(in_ch, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.geometry = [(4, 2, 1)]  # (kernel, stride, padding) of every conv, for patch_weights
        c = w
        for i in range(1, arch.n_layers + 1):
            stride = 2 if i < arch.n_layers else 1
            c_out = w * min(2**i, 8)
            layers += [nn.Conv2d(c, c_out, 4, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
            self.geometry.append((4, stride, 1))
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.geometry.append((4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, condition: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = [condition, image] + ([mask * 2 - 1] if self.arch.hole_aware else [])
        return self.net(torch.cat(x, dim=1))

    @torch.no_grad()
    def patch_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """1 for each output patch whose receptive field overlaps the hole, else 0: max-pools
        with the convs' own geometry cover exactly each patch's receptive field."""
        m = mask
        for k, s, p in self.geometry:
            m = F.max_pool2d(F.pad(m, (p, p, p, p)), k, s)
        return m
