"""The context encoder (Pathak et al. 2016), the report's CNN.

Encoder: 4x4 stride-2 convs with BatchNorm and LeakyReLU(0.2) down to 4x4 (five at 128 px,
one fewer per halving), channels w, 2w, 4w, 8w, 8w. A channel-wise fully connected layer
(each channel its own dense map over its 16 positions, then a 1x1 conv mixing channels).
Decoder: 4x4 stride-2 transposed convs with BatchNorm and ReLU, tanh output. With ``refine``
the last transposed conv gives features instead of colours, and two 3x3 convs at full
resolution turn them, beside the input itself, into the output: the decoder alone works from
half-resolution features and cannot place a one-pixel correction.

    >>> arch = ContextEncoderArch(image_size=64, width=32, fill="mean", mask_channel=True)
    >>> net = ContextEncoder(arch)
    >>> pred = net(image, mask)          # image (N,3,64,64) in [-1,1], mask (N,1,64,64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from odinpaint.models.inputs import FILLS, fail, model_input, validate_generator_arch

BOTTLENECK = 4  # spatial side of the channel-wise fully connected layer


@dataclass
class ContextEncoderArch:
    image_size: int = field(default=64, metadata=dict(cli=False, help="input side, px (a power of two >= 16)"))
    width: int = field(default=32, metadata=dict(help="channels of the first conv; then 2x, 4x, 8x, 8x ..."))
    fill: str = field(default="black", metadata=dict(choices=FILLS, help="what the hole holds on input (black: the report)"))
    mask_channel: bool = field(default=False, metadata=dict(help="the mask as a fourth input channel"))
    skips: bool = field(default=False, metadata=dict(
        help="encoder-decoder skips (U-Net style: keeps detail near small holes)", aliases=("--no-skip",)))
    residual: bool = field(default=False, metadata=dict(
        help="CE: output = input fill + a learned correction (starts at the fill, e.g. biharmonic)"))
    min_correction: float = field(default=0.0, metadata=dict(
        metavar="GREY", help="CE residual: at inference, corrections under GREY levels are dropped"))
    refine: bool = field(default=False, metadata=dict(
        help="CE: full-resolution head (two 3x3 convs over decoder features and the input)"))
    tta: bool = field(default=False, metadata=dict(help="CE: at inference, average over the 8 flips and transposes"))

    def validate(self) -> None:
        validate_generator_arch(self)
        if not 0 <= self.min_correction < 255:
            fail(self, "min_correction", f"must be in [0, 255) grey levels, got {self.min_correction}")
        if self.min_correction and not self.residual:
            fail(self, "min_correction", "applies to a residual correction: needs residual")

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
        # contiguous first: from a channels_last input the batched product runs one slow
        # strided copy per channel (3x the time of the whole layer; the copy of a 4x4 map is free)
        y = torch.einsum("ncs,cst->nct", x.contiguous().view(n, c, h * w), self.weight) + self.bias
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
        head = max(16, arch.width // 2)  # full-resolution feature channels of the refine head
        outs = list(reversed(ch[:-1])) + [head if arch.refine else 3]
        c_prev = ch[-1]
        for i, c_out in enumerate(outs):
            c_in = c_prev + (ch[-1 - i] if arch.skips and i > 0 else 0)
            last = i == len(outs) - 1 and not arch.refine
            layers = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last)]
            layers += [] if last else [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            self.up.append(nn.Sequential(*layers))
            c_prev = c_out
        self.refine = None
        if arch.refine:
            self.refine = nn.Sequential(nn.Conv2d(head + in_ch, head, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.Conv2d(head, 3, 3, padding=1))
        out_layer = self.refine[-1] if arch.refine else self.up[-1][0]
        if arch.residual:
            # A near-zero correction at first: the model starts at its input fill (within a
            # fraction of a grey level). Not exactly zero: zero last-layer weights pass no
            # gradient to the layers below, which then learn only once the last layer has
            # moved, and from a biharmonic fill it hardly moved (60k images, no change).
            nn.init.normal_(out_layer.weight, std=1e-4)
            nn.init.zeros_(out_layer.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, tta: bool | None = None) -> torch.Tensor:
        """The prediction. ``tta``: average the 8 test-time views at inference (default:
        ``arch.tta``); training's validations pass False, since one view ranks checkpoints as
        well at an eighth of the cost."""
        return self.forward_input(model_input(image, mask, self.arch.fill, self.arch.mask_channel), tta)

    def forward_input(self, x: torch.Tensor, tta: bool | None = None) -> torch.Tensor:
        """The network on a prepared input (fill applied, mask channel appended): what ONNX exports."""
        if self.training or not (self.arch.tta if tta is None else tta):
            out = self._tanh_output(x)
        else:
            # Test-time augmentation over the square's symmetries: a hole's fill should not
            # depend on the image's orientation, and the mean of eight estimates has less
            # noise (val, 60k-image model: level 5 +0.45 -> +0.70 dB over its fill, level 1
            # -1.32 -> -0.59 before min_correction).
            # The eight views run as one batch of 8N (one pass through each layer, not eight).
            views = self._tanh_output(torch.cat([_apply(x, t) for t in _DIHEDRAL])).unflatten(0, (len(_DIHEDRAL), -1))
            out = torch.stack([_undo(views[i], t) for i, t in enumerate(_DIHEDRAL)]).mean(0)
        if not self.arch.residual:
            return out
        # tanh(correction) spans [-1, 1]: any colour stays reachable from any fill.
        correction = out
        if not self.training and self.arch.min_correction > 0:
            # Where the classical fill is already right (a flat hole it fills exactly scores the
            # 100 dB cap), a correction of a grey level or two is noise that costs ~50 dB;
            # dropping small corrections keeps the fill there and changes little elsewhere.
            correction = correction * (correction.abs() * 127.5 >= self.arch.min_correction)
        return (x[:, :3] + correction).clamp(-1, 1)

    def _tanh_output(self, x: torch.Tensor) -> torch.Tensor:
        """tanh of the last layer: the image, or for a residual model the correction."""
        inp = x
        feats = []
        for block in self.down:
            x = block(x)
            feats.append(x)
        x = self.bottleneck(x)
        for i, block in enumerate(self.up):
            if self.arch.skips and i > 0:
                x = torch.cat([x, feats[-1 - i]], dim=1)
            x = block(x)
        if self.refine is not None:
            # in the features' memory layout: a channels_last network given NCHW input would
            # otherwise copy the whole full-resolution concatenation to convert it
            fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            x = self.refine(torch.cat([x, inp.contiguous(memory_format=fmt)], dim=1))
        return torch.tanh(x)


# The eight symmetries of a square image as (transpose first?, flipped dims).
_DIHEDRAL = [(tr, dims) for tr in (False, True) for dims in ((), (3,), (2,), (2, 3))]


def _apply(x: torch.Tensor, t) -> torch.Tensor:
    tr, dims = t
    x = x.transpose(2, 3) if tr else x
    return x.flip(dims) if dims else x


def _undo(x: torch.Tensor, t) -> torch.Tensor:
    tr, dims = t
    x = x.flip(dims) if dims else x
    return x.transpose(2, 3) if tr else x
