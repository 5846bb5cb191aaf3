"""The context encoder (Pathak et al. 2016), the report's CNN.

Encoder: 4x4 stride-2 convs with BatchNorm and LeakyReLU(0.2) down to 4x4 (five at 128 px,
one fewer per halving), channels w, 2w, 4w, 8w, 8w. A channel-wise fully connected layer
(each channel its own dense map over its 16 positions, then a 1x1 conv mixing channels).
Decoder: 4x4 stride-2 transposed convs with BatchNorm and ReLU, tanh output.

    >>> arch = ContextEncoderArch(image_size=64, width=32, fill="mean", mask_channel=True)
    >>> net = ContextEncoder(arch)
    >>> pred = net(image, mask)          # image (N,3,64,64) in [-1,1], mask (N,1,64,64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from odinpaint.models.inputs import model_input, validate_generator_arch

BOTTLENECK = 4  # spatial side of the channel-wise fully connected layer


@dataclass
class ContextEncoderArch:
    image_size: int = 64       # input side, px (a power of two >= 16)
    width: int = 32            # channels of the first conv; then 2x, 4x, 8x, 8x ...
    fill: str = "black"        # what the hole holds on input: black (the report) | mean | noise
    mask_channel: bool = False # give the mask as a fourth input channel
    skips: bool = False        # U-Net-style encoder-to-decoder skips (keeps detail near small holes)
    residual: bool = False     # output = filled input + a learned correction (starts at the fill, e.g. Telea)
    min_correction: float = 0.0  # residual, at inference: corrections under this many grey levels are dropped

    def validate(self) -> None:
        validate_generator_arch(self)

    @property
    def n_layers(self) -> int:
        return int(math.log2(self.image_size // BOTTLENECK))

    @property
    def channels(self) -> list[int]:
        return [self.width * min(2**i, 8) for i in range(self.n_layers)]


class ChannelWiseFC(nn.Module):
    """Each channel gets its own dense map over its S*S positions; a 1x1 conv then mixes
    channels. Far fewer parameters than a full FC layer, yet every output position sees
    the whole image (what lets the decoder fill a hole from distant context)."""

    def __init__(self, channels: int, side: int):
        super().__init__()
        n = side * side
        self.weight = nn.Parameter(torch.randn(channels, n, n) / math.sqrt(n))
        self.bias = nn.Parameter(torch.zeros(channels, n))
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = torch.einsum("ncs,cst->nct", x.reshape(n, c, h * w), self.weight) + self.bias
        return self.mix(y.reshape(n, c, h, w))


class ContextEncoder(nn.Module):
    def __init__(self, arch: ContextEncoderArch):
        super().__init__()
        arch.validate()
        self.arch = arch
        ch = arch.channels
        in_ch = 3 + int(arch.mask_channel)
        self.down = nn.ModuleList()
        for c_in, c_out in zip([in_ch] + ch[:-1], ch):
            self.down.append(nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                                           nn.LeakyReLU(0.2, inplace=True)))
        self.bottleneck = nn.Sequential(ChannelWiseFC(ch[-1], BOTTLENECK), nn.BatchNorm2d(ch[-1]), nn.ReLU(inplace=True))
        # Decoder block i upsamples to the resolution of encoder block (n-1-i)'s input.
        self.up = nn.ModuleList()
        outs = list(reversed(ch[:-1])) + [3]
        c_prev = ch[-1]
        for i, c_out in enumerate(outs):
            c_in = c_prev + (ch[-1 - i] if arch.skips and i > 0 else 0)
            last = i == len(outs) - 1
            layers = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last)]
            layers += [] if last else [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            self.up.append(nn.Sequential(*layers))
            c_prev = c_out
        if arch.residual:
            # A near-zero correction at first: the model starts at its input fill (within a
            # fraction of a grey level). Not exactly zero: zero last-layer weights pass no
            # gradient to the layers below, which then learn only once the last layer has
            # moved, and from a biharmonic fill it hardly moved (60k images, no change).
            nn.init.normal_(self.up[-1][0].weight, std=1e-4)
            nn.init.zeros_(self.up[-1][0].bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.forward_input(model_input(image, mask, self.arch.fill, self.arch.mask_channel))

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a prepared input (fill applied, mask channel appended): what ONNX exports."""
        filled = x[:, :3]
        feats = []
        for block in self.down:
            x = block(x)
            feats.append(x)
        x = self.bottleneck(x)
        for i, block in enumerate(self.up):
            if self.arch.skips and i > 0:
                x = torch.cat([x, feats[-1 - i]], dim=1)
            x = block(x)
        if not self.arch.residual:
            return torch.tanh(x)
        # tanh(correction) spans [-1, 1]: any colour stays reachable from any fill.
        correction = torch.tanh(x)
        if not self.training and self.arch.min_correction > 0:
            # Where the classical fill is already right (a flat hole it fills exactly scores the
            # 100 dB cap), a correction of a grey level or two is noise that costs ~50 dB;
            # dropping small corrections keeps the fill there and changes little elsewhere.
            correction = correction * (correction.abs() * 127.5 >= self.arch.min_correction)
        return (filled + correction).clamp(-1, 1)
