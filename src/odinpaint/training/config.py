"""Training configuration: one dataclass, presets for the paper's recipe and for a CPU.

    >>> cfg = resolve(TrainConfig(model="ce", preset="quick", data="data/photos64"))
    >>> cfg.width, cfg.batch, cfg.loss
    (32, 64, 'l2')

Fields left ``None`` take the preset's value; anything given explicitly wins. ``resolve``
validates every field and names the bad one in its error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from odinpaint.errors import UserError
from odinpaint.masks import MASK_KINDS
from odinpaint.models.inputs import FILLS
from odinpaint.training.schedule import make_schedule

MODELS = ("ce", "gan")
PRESETS = ("paper", "improved", "quick")
LR_SCHEDULES = ("constant", "cosine")
WARMUP = 0.02  # share of the steps over which "cosine" ramps the rate up from 0


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiplier of ``lr`` at ``step`` (1-based). A pure function of the step, so resuming needs
    no scheduler state. Warm-up keeps the first large Adam steps from knocking a residual model
    off its classical starting point; decay to 0 lets the weights settle instead of jittering
    around the optimum (jitter a small hole's fine correction cannot afford)."""
    if schedule == "constant":
        return 1.0
    warm = max(1, round(WARMUP * total_steps))
    if step <= warm:
        return step / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))


@dataclass
class TrainConfig:
    # what to train
    model: str = "ce"                    # ce: context encoder | gan: U-Net + PatchGAN
    preset: str = "quick"                # paper (128 px, GPU) | improved (ours) | quick (64 px, narrow, CPU)
    data: str = ""                       # prepared data set directory (image size comes from it)
    out: str = "runs"                    # parent of numbered run directories
    name: str = ""                       # run name; default model-schedule-preset
    # on-demand learning
    schedule: str = "on-demand"          # on-demand | uniform | fixed:L | random
    psnr_source: str = "batch"           # batch: each training batch (the report) | val: held-out set (the paper)
    psnr_every: int = 1                  # iterations between allocation updates
    od_power: float = 1.0                # exponent k on 1/P_i; 1 is the paper's formula
    mask_kind: str = "square"            # square (the report's levels) | freeform
    # budget and optimisation
    batch: int | None = None             # images per step (split between levels)
    epochs: float | None = None          # passes over the training split
    max_images: int = 0                  # budget in images seen; overrides epochs when > 0
    lr: float = 2e-4                     # Adam, as in both papers
    lr_schedule: str = "constant"        # constant (both papers) | cosine (short warm-up, then cosine decay to 0)
    beta1: float = 0.5
    seed: int = 0                        # drives data order, masks, init, dropout
    device: str = "cpu"                  # cpu | cuda | cuda:N
    channels_last: bool = True           # faster convolutions on CPU (odinpaint bench)
    compile: bool = False                # torch.compile the networks (compile time is paid at the first steps)
    precision: str = "fp32"              # fp32 | bf16 (autocast, CUDA only: CPUs without native bf16 crawl)
    fused_adam: bool = False             # fused Adam kernel instead of foreach; breaks bit-exact resume on CPU
    # reconstruction loss: image_weight * mean(err) + hole_weight * mean(err in the hole)
    loss: str | None = None              # l2 (context encoder) | l1 (pix2pix) | psnr | level-psnr (hole term in dB)
    image_weight: float | None = None    # whole-image term (pix2pix's lambda_L1 = 100)
    hole_weight: float | None = None     # hole-only term (the report's extra GAN term, --hole-l1)
    composite: bool | None = None        # losses and D see pred pasted into the known pixels
    # adversarial (gan only)
    gan_loss: str = "vanilla"            # vanilla (BCE with logits) | lsgan
    # architecture (None: the preset's)
    width: int | None = None             # generator base channels
    d_width: int | None = None           # discriminator base channels
    fill: str | None = None              # hole fill on input: black | mean | noise
    mask_channel: bool | None = None     # mask as an extra input channel
    skips: bool | None = None            # encoder-decoder skips (U-Net; off for --no-skip)
    residual: bool | None = None         # context encoder: output = input fill + learned correction
    min_correction: float | None = None  # residual, inference: corrections under this many grey levels dropped
    refine: bool | None = None           # context encoder: full-resolution 3x3 head over decoder features + input
    tta: bool | None = None              # context encoder, inference: mean over the 8 flips/transposes
    hole_aware: bool | None = None       # D sees the mask and is judged on hole patches only
    # data-parallel training under torchrun (odinpaint.training.distributed); batch stays the global batch
    sync_bn: bool | None = None          # BatchNorm statistics over every rank's images; None: on when a rank gets < 32
    # bookkeeping
    log_every: int = 10                  # steps between loss lines in stats.jsonl
    val_every: int = 0                   # steps between validations (0: about 10 per run)
    ckpt_every: int = 0                  # steps between checkpoints (0: at each validation)
    val_images: int = 96                 # validation images (x 5 levels, 1 fixed mask each)
    progress: bool = True


LOSSES = ("l2", "l1", "psnr", "level-psnr")

# Preset values per model. "paper" follows DESIGN.md; "improved" fixes the report's failures
# (mean fill + mask channel, composited output, hole-aware D); "quick" is paper-faithful
# input at 64 px with narrow widths, for a 2-core CPU.
PRESET_VALUES = {
    "ce": {
        "paper":    dict(batch=90, epochs=15, width=64, fill="black", mask_channel=False, skips=False, residual=False,
                         min_correction=0.0, refine=False, tta=False, loss="l2", image_weight=1.0, hole_weight=0.0, composite=False),
        "improved": dict(batch=90, epochs=15, width=64, fill="mean", mask_channel=True, skips=False, residual=False,
                         min_correction=0.0, refine=False, tta=False, loss="l2", image_weight=0.0, hole_weight=1.0, composite=True),
        "quick":    dict(batch=64, epochs=10, width=32, fill="black", mask_channel=False, skips=False, residual=False,
                         min_correction=0.0, refine=False, tta=False, loss="l2", image_weight=1.0, hole_weight=0.0, composite=False),
    },
    "gan": {
        "paper":    dict(batch=90, epochs=20, width=64, d_width=64, fill="black", mask_channel=False, skips=True,
                         loss="l1", image_weight=100.0, hole_weight=0.0, composite=False, hole_aware=False),
        "improved": dict(batch=90, epochs=20, width=64, d_width=64, fill="mean", mask_channel=True, skips=True,
                         loss="l1", image_weight=100.0, hole_weight=0.0, composite=True, hole_aware=True),
        "quick":    dict(batch=32, epochs=5, width=32, d_width=32, fill="black", mask_channel=False, skips=True,
                         loss="l1", image_weight=100.0, hole_weight=0.0, composite=False, hole_aware=False),
    },
}


def _fail(field: str, msg: str):
    raise UserError(f"config field '{field}': {msg}")


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Fill unset fields from the preset, then validate everything."""
    if cfg.model not in MODELS:
        _fail("model", f"unknown model {cfg.model!r}; known: {', '.join(MODELS)}")
    if cfg.preset not in PRESETS:
        _fail("preset", f"unknown preset {cfg.preset!r}; known: {', '.join(PRESETS)}")
    values = PRESET_VALUES[cfg.model][cfg.preset]
    cfg = replace(cfg, **{k: v for k, v in values.items() if getattr(cfg, k) is None})
    if cfg.model == "ce":
        cfg = replace(cfg, d_width=None, hole_aware=None)
        if cfg.min_correction and not cfg.residual:
            _fail("min_correction", "applies to a residual correction: needs residual")
    elif cfg.residual or cfg.min_correction or cfg.refine or cfg.tta:
        _fail("model", "residual, min_correction, refine and tta are context-encoder options")
    if not cfg.name:
        cfg = replace(cfg, name=f"{cfg.model}-{cfg.schedule.replace(':', '')}-{cfg.preset}")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    if not cfg.data:
        _fail("data", "a prepared data set directory is required (odinpaint data prepare ...)")
    if cfg.psnr_source not in ("batch", "val"):
        _fail("psnr_source", f"must be 'batch' or 'val', got {cfg.psnr_source!r}")
    for name in ("psnr_every", "batch", "log_every", "val_images"):
        if getattr(cfg, name) < 1:
            _fail(name, f"must be at least 1, got {getattr(cfg, name)}")
    try:
        make_schedule(cfg.schedule, cfg.batch, cfg.od_power)
    except ValueError as e:
        _fail("schedule", str(e))
    for name in ("val_every", "ckpt_every", "max_images"):
        if getattr(cfg, name) < 0:
            _fail(name, f"must be >= 0, got {getattr(cfg, name)}")
    if not (cfg.epochs > 0 or cfg.max_images > 0) or not math.isfinite(cfg.epochs):
        _fail("epochs", f"must be positive (or set max_images), got {cfg.epochs}")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        _fail("lr", f"must be a positive number, got {cfg.lr}")
    if cfg.lr_schedule not in LR_SCHEDULES:
        _fail("lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}")
    if not 0 <= cfg.beta1 < 1:
        _fail("beta1", f"must be in [0, 1), got {cfg.beta1}")
    if cfg.od_power <= 0:
        _fail("od_power", f"must be positive, got {cfg.od_power}")
    if cfg.loss not in LOSSES:
        _fail("loss", f"must be one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    if cfg.image_weight < 0 or cfg.hole_weight < 0 or cfg.image_weight + cfg.hole_weight <= 0:
        _fail("hole_weight", f"weights must be >= 0 and not both 0 (image {cfg.image_weight}, hole {cfg.hole_weight})")
    if cfg.gan_loss not in ("vanilla", "lsgan"):
        _fail("gan_loss", f"must be 'vanilla' or 'lsgan', got {cfg.gan_loss!r}")
    if cfg.fill not in FILLS:
        _fail("fill", f"must be one of {', '.join(FILLS)}, got {cfg.fill!r}")
    if cfg.min_correction is not None and not 0 <= cfg.min_correction < 255:
        _fail("min_correction", f"must be in [0, 255) grey levels, got {cfg.min_correction}")
    if cfg.width < 1 or (cfg.d_width is not None and cfg.d_width < 1):
        _fail("width", "widths must be positive")
    if cfg.mask_kind not in MASK_KINDS:
        _fail("mask_kind", f"must be one of {', '.join(MASK_KINDS)}, got {cfg.mask_kind!r}")
    if cfg.precision not in ("fp32", "bf16"):
        _fail("precision", f"must be 'fp32' or 'bf16', got {cfg.precision!r}")
    if cfg.precision == "bf16" and not cfg.device.startswith("cuda"):
        _fail("precision", "bf16 autocast is for CUDA; on CPU odinpaint trains in fp32")
    if not (cfg.device == "cpu" or cfg.device.startswith("cuda")):
        _fail("device", f"must be cpu or cuda[:N], got {cfg.device!r}")


def to_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def from_dict(d: dict) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(d) - known
    if unknown:
        raise UserError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    return TrainConfig(**d)


def non_defaults(cfg: TrainConfig) -> dict:
    """The options that differ from TrainConfig's defaults (printed at start, like pix2pix)."""
    base = TrainConfig()
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
