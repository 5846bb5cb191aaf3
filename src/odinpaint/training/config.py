"""Training configuration: the networks' architecture dataclasses and four small groups.

    >>> cfg = resolve(make_config("ce", "quick", data="data/photos64", width=16))
    >>> cfg.g.width, cfg.optim.batch, cfg.loss.kind
    (16, 64, 'l2')
    >>> cfg = resolve(make_config("ce", data="data/photos64", recipe="improved-ce"))
    >>> settings(cfg)["fill"]
    'biharmonic'

A ``TrainConfig`` holds the generator's architecture (``g``: ``ContextEncoderArch`` or
``UNetArch``), the discriminator's (``d``: ``PatchGANArch``, GAN only) and the groups
``ondemand``, ``optim``, ``loss`` and ``run``. A preset gives every value; ``make_config``
applies settings by their flat names (the command line's flags: ``width``, ``d_width``,
``loss``, ``hole_weight`` ...) on top. ``resolve`` validates, each architecture its own fields,
and names the bad field in its error. The image size is the data set's: the trainer sets it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields, replace

from odinpaint.errors import UserError
from odinpaint.masks import MASK_KINDS
from odinpaint.models import ContextEncoderArch, PatchGANArch, UNetArch, arch_from_dict, arch_to_dict
from odinpaint.training.schedule import make_schedule
from odinpaint.training.steps import GAN_LOSSES, LOSSES

# Each model kind: its generator's architecture class and its discriminator's (None: no D).
MODELS = {"ce": (ContextEncoderArch, None), "gan": (UNetArch, PatchGANArch)}
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16")
PSNR_SOURCES = ("batch", "val")
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


def _opt(default, help: str, **meta):
    """A field with its command-line help (and ``choices``, ``flag``, ``metavar``, ``aliases``)."""
    return field(default=default, metadata=dict(help=help, **meta))


@dataclass
class OnDemandConfig:
    schedule: str = _opt("on-demand", "on-demand | uniform | fixed:L | random")
    psnr_source: str = _opt("batch", "on-demand PSNR from each training batch (the report) or the val set (the paper)",
                            choices=PSNR_SOURCES)
    psnr_every: int = _opt(1, "steps between allocation updates (batch source)")
    od_power: float = _opt(1.0, "exponent k on 1/PSNR (1 = the paper's formula)")
    mask_kind: str = _opt("square", "square (the report's levels) | freeform", choices=MASK_KINDS)
    channel_shuffle: bool = _opt(False, "each training image's RGB channels in a random order: no colour lean "
                                        "learned from the training photos' palette")


@dataclass
class OptimConfig:
    batch: int = _opt(64, "images per step, split between levels (the global batch under torchrun)")
    epochs: float = _opt(10, "passes over the training split")
    max_images: int = _opt(0, "budget in training images seen; overrides epochs when > 0")
    lr: float = _opt(2e-4, "Adam's rate, as in both papers")
    lr_schedule: str = _opt("constant", "constant (both papers) | cosine (2%% warm-up, then decay to 0)",
                            choices=LR_SCHEDULES)
    beta1: float = _opt(0.5, "Adam's beta1")
    fused_adam: bool = _opt(False, "fused Adam kernel instead of foreach; breaks bit-exact resume on CPU")


@dataclass
class LossConfig:
    """Reconstruction ``image_weight * mean(err) + hole_weight * mean(err in the hole)``, and G's
    adversarial term (GAN only)."""
    kind: str = _opt("l2", "l2 (context encoder) | l1 (pix2pix) | psnr: minus each sample's hole PSNR | level-psnr: "
                           "minus each level's PSNR of its mean hole MSE", flag="loss", choices=LOSSES)
    image_weight: float = _opt(1.0, "weight of the whole-image term (pix2pix's lambda_L1 = 100)")
    hole_weight: float = _opt(0.0, "weight of the hole-only term (--hole-l1: the report's extra GAN term)",
                              aliases=("--hole-l1",))
    composite: bool = _opt(False, "losses and D see the prediction pasted into the known pixels")
    gan_loss: str = _opt("vanilla", "GAN: vanilla (BCE with logits) | lsgan", choices=GAN_LOSSES)


@dataclass
class RunConfig:
    out: str = _opt("runs", "parent directory of numbered run directories")
    name: str = _opt("", "run name (default: model-schedule-preset)")
    seed: int = _opt(0, "drives data order, masks, init, dropout")
    init: str = _opt("", "fine-tune: start the networks from this checkpoint or exported weights (the shipped "
                         "model's too); optimizer, schedule and step count start fresh", metavar="WEIGHTS")
    device: str = _opt("cpu", "cpu | cuda | cuda:N")
    channels_last: bool = _opt(True, "channels_last memory: faster convolutions on CPU (see odinpaint bench)")
    compile: bool = _opt(False, "torch.compile the networks (compile time is paid at the first steps)")
    precision: str = _opt("fp32", "bf16: autocast, CUDA only (CPUs without native bf16 crawl)", choices=PRECISIONS)
    sync_bn: bool | None = _opt(None, "under torchrun: BatchNorm statistics over every process's images "
                                      "(default: on when a process gets fewer than 32 images of the batch)")
    log_every: int = _opt(10, "steps between loss lines in stats.jsonl")
    val_every: int = _opt(0, "steps between validations (0: about 10 per run)")
    ckpt_every: int = _opt(0, "steps between checkpoints (0: at each validation)")
    val_images: int = _opt(96, "validation images (x 5 levels, 1 fixed mask each)")
    progress: bool = _opt(True, "a progress bar")


@dataclass
class TrainConfig:
    model: str = "ce"                    # ce: context encoder | gan: U-Net + PatchGAN
    preset: str = "quick"                # where the values not set came from (PRESETS)
    data: str = _opt("", "prepared data set directory (the image size comes from it)")
    g: ContextEncoderArch | UNetArch = field(default_factory=ContextEncoderArch)  # the generator
    d: PatchGANArch | None = None        # the discriminator (GAN only)
    ondemand: OnDemandConfig = field(default_factory=OnDemandConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def for_size(self, size: int) -> "TrainConfig":
        """This config for images of ``size`` px (the data set's)."""
        return replace(self, g=replace(self.g, image_size=size))


GROUPS = {"ondemand": OnDemandConfig, "optim": OptimConfig, "loss": LossConfig, "run": RunConfig}
TOP_SETTINGS = ("data",)  # settings of TrainConfig itself (model and preset choose the rest)

# The presets: every value a model kind needs. "paper" follows the papers' settings (128 px, GPU);
# "paper-fixes" is the paper's with the report's input and loss failures fixed (mean fill and
# mask channel, composited output, hole loss; a hole-aware D); "quick" is paper-faithful input
# at 64 px with narrow widths, for a 2-core CPU. TrainConfig's own defaults are quick's CE.
_CE_PAPER_LOSS = LossConfig(kind="l2", image_weight=1.0, hole_weight=0.0)
_PIX2PIX_LOSS = LossConfig(kind="l1", image_weight=100.0, hole_weight=0.0)
PRESETS = {
    "paper": {
        "ce": TrainConfig("ce", "paper", g=ContextEncoderArch(width=64), optim=OptimConfig(batch=90, epochs=15),
                          loss=_CE_PAPER_LOSS),
        "gan": TrainConfig("gan", "paper", g=UNetArch(width=64), d=PatchGANArch(width=64),
                           optim=OptimConfig(batch=90, epochs=20), loss=_PIX2PIX_LOSS),
    },
    "paper-fixes": {
        "ce": TrainConfig("ce", "paper-fixes", g=ContextEncoderArch(width=64, fill="mean", mask_channel=True),
                          optim=OptimConfig(batch=90, epochs=15),
                          loss=LossConfig(kind="l2", image_weight=0.0, hole_weight=1.0, composite=True)),
        "gan": TrainConfig("gan", "paper-fixes", g=UNetArch(width=64, fill="mean", mask_channel=True),
                           d=PatchGANArch(width=64, hole_aware=True), optim=OptimConfig(batch=90, epochs=20),
                           loss=replace(_PIX2PIX_LOSS, composite=True)),
    },
    "quick": {
        "ce": TrainConfig("ce", "quick", g=ContextEncoderArch(width=32), optim=OptimConfig(batch=64, epochs=10),
                          loss=_CE_PAPER_LOSS),
        "gan": TrainConfig("gan", "quick", g=UNetArch(width=32), d=PatchGANArch(width=32),
                           optim=OptimConfig(batch=32, epochs=5), loss=_PIX2PIX_LOSS),
    },
}
# Presets renamed since: a run directory's flat config.json may name them so.
_FORMER_PRESET_NAMES = {"improved": "paper-fixes"}

# The recipes the study, the shipped model and the bench train, by name, as settings.
# "improved-ce": the quality levers that paid (docs/results/quality.md): a biharmonic pre-fill the
# network corrects (residual output), encoder-decoder skips, a mask channel, a full-resolution
# head, the level-PSNR loss on the composited output, a cosine schedule, and at inference the
# mean over the 8 flips/transposes with corrections under 2 grey levels dropped.
# "improved-gan": the report's future work, D attends to the hole; mean fill and mask channel.
RECIPES = {
    "seed-faithful-ce": dict(model="ce"),
    "seed-faithful-gan": dict(model="gan"),
    "improved-ce": dict(model="ce", fill="biharmonic", mask_channel=True, skips=True, residual=True, refine=True,
                        composite=True, loss="level-psnr", image_weight=0.0, hole_weight=1.0, lr_schedule="cosine",
                        tta=True, min_correction=2.0),
    "improved-gan": dict(model="gan", fill="mean", mask_channel=True, composite=True, hole_aware=True),
}


def _fail(name: str, msg: str):
    raise UserError(f"config field '{name}': {msg}")


def setting_fields(model: str) -> dict[str, tuple[str | None, dataclasses.Field]]:
    """Every setting of ``model``'s configs by flat name: (TrainConfig's group attribute, the
    field). A field's flat name is its own, or its metadata's ``flag``; the discriminator's are
    ``d_`` + its own (d_width beside the generator's width)."""
    g_cls, d_cls = MODELS[model]
    groups = [("g", g_cls, ""), *([("d", d_cls, "d_")] if d_cls else []), *((k, c, "") for k, c in GROUPS.items())]
    out = {name: (None, f) for f in fields(TrainConfig) if (name := f.name) in TOP_SETTINGS}
    for attr, cls, prefix in groups:
        for f in fields(cls):
            out[f.metadata.get("flag", prefix + f.name)] = (attr, f)
    return out


def make_config(model: str | None = None, preset: str = "quick", recipe: str | None = None, **settings) -> TrainConfig:
    """``preset``'s configuration of ``model`` (default: the recipe's, else ce) with
    ``recipe``'s settings (RECIPES), then ``settings``, applied: flat names, as the command
    line's flags."""
    if recipe is not None:
        if recipe not in RECIPES:
            _fail("recipe", f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
        recipe_settings = dict(RECIPES[recipe])
        if model not in (None, recipe_settings["model"]):
            _fail("model", f"recipe {recipe!r} trains model {recipe_settings['model']!r}, not {model!r}")
        model = recipe_settings.pop("model")
        settings = {**recipe_settings, **settings}
    model = model or "ce"
    if model not in MODELS:
        _fail("model", f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if preset not in PRESETS:
        _fail("preset", f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return with_settings(copy.deepcopy(PRESETS[preset][model]), **settings)  # a config shares nothing with the table


def with_settings(cfg: TrainConfig, **settings) -> TrainConfig:
    """``cfg`` with ``settings`` (flat names) applied; a setting ``cfg.model`` has no field for
    is an error that names it."""
    where = setting_fields(cfg.model)
    changes = {}
    for name, value in settings.items():
        if name not in where:
            known = any(name in setting_fields(m) for m in MODELS)
            _fail(name, f"not an option of model {cfg.model!r}" if known else "no such setting")
        attr, f = where[name]
        changes.setdefault(attr, {})[f.name] = value
    top = changes.pop(None, {})
    return replace(cfg, **top, **{attr: replace(getattr(cfg, attr), **kw) for attr, kw in changes.items()})


def settings(cfg: TrainConfig) -> dict:
    """Every setting of ``cfg`` by flat name, with ``model`` and ``preset``: the inverse of
    ``make_config``."""
    out = {"model": cfg.model, "preset": cfg.preset}
    for name, (attr, f) in setting_fields(cfg.model).items():
        out[name] = getattr(cfg if attr is None else getattr(cfg, attr), f.name)
    return out


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Give the run its default name, then validate everything."""
    if not cfg.run.name:
        cfg = replace(cfg, run=replace(cfg.run, name=f"{cfg.model}-{cfg.ondemand.schedule.replace(':', '')}-{cfg.preset}"))
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    if cfg.model not in MODELS:
        _fail("model", f"unknown model {cfg.model!r}; known: {', '.join(MODELS)}")
    if not cfg.data:
        _fail("data", "a prepared data set directory is required (odinpaint data prepare ...)")
    for name, (attr, cls) in {"g": (cfg.g, MODELS[cfg.model][0]), "d": (cfg.d, MODELS[cfg.model][1])}.items():
        if (attr is None) != (cls is None) or (cls is not None and not isinstance(attr, cls)):
            _fail(name, f"model {cfg.model!r} takes a {cls.__name__ if cls else 'no'} architecture, got {attr!r}")
        if attr is not None:
            attr.validate()
    _validate_numbers(cfg)
    _validate_choices(cfg)


def _validate_choices(cfg: TrainConfig) -> None:
    """Every field whose metadata lists its choices holds one of them; then the rest."""
    for name, (attr, f) in setting_fields(cfg.model).items():
        value = getattr(cfg if attr is None else getattr(cfg, attr), f.name)
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            _fail(name, f"must be one of {', '.join(f.metadata['choices'])}, got {value!r}")
    try:
        make_schedule(cfg.ondemand.schedule, cfg.optim.batch, cfg.ondemand.od_power)
    except ValueError as e:
        _fail("schedule", str(e))
    if cfg.run.precision == "bf16" and not cfg.run.device.startswith("cuda"):
        _fail("precision", "bf16 autocast is for CUDA; on CPU odinpaint trains in fp32")
    if not (cfg.run.device == "cpu" or cfg.run.device.startswith("cuda")):
        _fail("device", f"must be cpu or cuda[:N], got {cfg.run.device!r}")


def _validate_numbers(cfg: TrainConfig) -> None:
    od, opt, loss, run = cfg.ondemand, cfg.optim, cfg.loss, cfg.run
    for name, value in (("psnr_every", od.psnr_every), ("batch", opt.batch), ("log_every", run.log_every),
                        ("val_images", run.val_images)):
        if value < 1:
            _fail(name, f"must be at least 1, got {value}")
    for name, value in (("val_every", run.val_every), ("ckpt_every", run.ckpt_every), ("max_images", opt.max_images)):
        if value < 0:
            _fail(name, f"must be >= 0, got {value}")
    if not (opt.epochs > 0 or opt.max_images > 0) or not math.isfinite(opt.epochs):
        _fail("epochs", f"must be positive (or set max_images), got {opt.epochs}")
    if not (opt.lr > 0 and math.isfinite(opt.lr)):
        _fail("lr", f"must be a positive number, got {opt.lr}")
    if not 0 <= opt.beta1 < 1:
        _fail("beta1", f"must be in [0, 1), got {opt.beta1}")
    if od.od_power <= 0:
        _fail("od_power", f"must be positive, got {od.od_power}")
    if loss.image_weight < 0 or loss.hole_weight < 0 or loss.image_weight + loss.hole_weight <= 0:
        _fail("hole_weight", f"weights must be >= 0 and not both 0 (image {loss.image_weight}, hole {loss.hole_weight})")


def to_dict(cfg: TrainConfig) -> dict:
    """As JSON: each architecture as checkpoints store it (``odinpaint.models.arch_to_dict``)."""
    return {**asdict(cfg), "g": arch_to_dict(cfg.g), "d": arch_to_dict(cfg.d) if cfg.d is not None else None}


def from_dict(d: dict) -> TrainConfig:
    """A config that ``to_dict`` wrote, or the flat dict of odinpaint's single-dataclass config
    (a run directory's config.json from before the groups)."""
    if "g" not in d:
        return _from_flat(d)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(d) - known
    if unknown:
        raise UserError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    kw = {k: v for k, v in d.items() if k in ("model", "preset", "data")}
    for attr in ("g", "d"):
        if d.get(attr) is not None:
            kw[attr] = arch_from_dict(d[attr])
    for attr, cls in GROUPS.items():
        kw[attr] = cls(**d.get(attr, {}))
    return TrainConfig(**kw)


def _from_flat(d: dict) -> TrainConfig:
    """The flat config held every value, resolved; None where a model kind had no such field."""
    d = {k: v for k, v in d.items() if v is not None}
    model, preset = d.pop("model", "ce"), d.pop("preset", "quick")
    preset = _FORMER_PRESET_NAMES.get(preset, preset)
    if model not in MODELS or preset not in PRESETS:
        raise UserError(f"unknown model {model!r} or preset {preset!r} in a stored config")
    unknown = set(d) - set().union(*(setting_fields(m) for m in MODELS))
    if unknown:
        raise UserError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    # the other model kind's fields, still set in old configs (a GAN's residual=False), had no effect
    return make_config(model, preset, **{k: v for k, v in d.items() if k in setting_fields(model)})


def non_defaults(cfg: TrainConfig) -> dict:
    """The settings that differ from the preset's (printed at start, like pix2pix)."""
    base = settings(PRESETS[cfg.preset][cfg.model])
    return {k: v for k, v in settings(cfg).items() if v != base[k]}
