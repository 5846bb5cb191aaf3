"""One optimisation step per model kind: an object that owns its losses, its logs and its
health checks (as LaMa's trainers own ``generator_loss`` and ``discriminator_loss``). Each call
returns ``(pred, logs)`` and the loop logs whatever comes back. Logs are detached tensors,
turned into numbers only when written, so a step never waits on the device.

    >>> step = STEPS["gan"](cfg.loss)
    >>> pred, logs = step(nets, optimizers, batch)
    >>> warning = step.health(step_number, logged_floats, log_every)   # None while all is well

Reconstruction loss, shared by both kinds:
``image_weight * mean(err) + hole_weight * mean over samples of mean(err over its hole)``,
err = L2 or L1. ``loss = psnr`` makes the hole term minus the mean per-sample hole PSNR;
``loss = level-psnr`` makes it minus the mean over difficulty levels of each level's PSNR of
its samples' mean hole MSE: L2 within a level, decibels between levels.
The context encoder's paper loss is (l2, 1, 0); pix2pix's is (l1, 100, 0); the report's
extra GAN term is ``hole_weight`` (``--hole-l1``). Each step takes the loss settings
(``odinpaint.training.config.LossConfig``), not the whole training config.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from odinpaint.metrics import composite, masked_mean
from odinpaint.models.inputs import model_input

LOSSES = ("l2", "l1", "psnr", "level-psnr")  # the reconstruction error and its hole term
GAN_LOSSES = ("vanilla", "lsgan")             # BCE with logits | least squares


def hole_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over each sample's hole, then over samples: every sample weighs the same,
    so a batch's few large holes do not drown out its many small ones (whose pixels would
    otherwise count for little, and whose PSNR the model would then neglect)."""
    return masked_mean(x, mask).mean()


PSNR_LOSS_EPS = 1e-5  # MSE floor of the psnr loss (50 dB): keeps a perfect sample's gradient finite


def _hole_mse(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sample's mean squared error over its hole, on the [0, 1] scale (images are [-1, 1])."""
    return masked_mean(err, mask) / 4


def hole_psnr_loss(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Minus the mean per-sample hole PSNR (dB, images in [-1, 1] scaled to [0, 1]): the metric
    itself as the loss, so a small hole's last dB counts as much as a large hole's."""
    return (10 * torch.log10(_hole_mse(err, mask) + PSNR_LOSS_EPS)).mean()


def level_psnr_loss(err: torch.Tensor, mask: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Minus the mean over the batch's levels of 10 log10(the level's mean hole MSE).

    Plain hole L2 weighs a sample by its error, so small holes (MSE ~1e-4) get a hundredth of
    the gradient of large ones (~1e-2) and their corrections are left as noise; the per-sample
    PSNR loss weighs each sample by 1/its MSE, so the few holes a classical fill gets exactly
    right take the whole gradient and the correction shrinks to nothing. Between the two:
    every level counts the same in dB, and within a level samples weigh by their error."""
    mse = _hole_mse(err, mask)
    levels, inverse = torch.unique(level.to(mse.device), return_inverse=True)
    per_level = torch.zeros(len(levels), dtype=mse.dtype, device=mse.device).index_add(0, inverse, mse)
    per_level = per_level / torch.bincount(inverse, minlength=len(levels)).to(mse.dtype)
    return (10 * torch.log10(per_level + PSNR_LOSS_EPS)).mean()


def reconstruction_loss(out, image, mask, losses, level=None) -> tuple[torch.Tensor, dict]:
    """``losses``: the loss settings (LossConfig)."""
    err = (out - image).abs() if losses.kind == "l1" else (out - image) ** 2
    name = "l1" if losses.kind == "l1" else "l2"
    loss = out.new_zeros(())
    logs = {}
    if losses.image_weight:
        term = err.mean()
        loss = loss + losses.image_weight * term
        logs[f"{name}_image"] = term.detach()
    if losses.hole_weight:
        if losses.kind == "psnr":
            term, key = hole_psnr_loss(err, mask), "neg_psnr_hole"
        elif losses.kind == "level-psnr":
            term, key = level_psnr_loss(err, mask, level), "neg_level_psnr_hole"
        else:
            term, key = hole_mean(err, mask), f"{name}_hole"
        loss = loss + losses.hole_weight * term
        logs[key] = term.detach()
    return loss, logs


def _output(pred, batch, losses):
    """What the losses (and D) see: the raw prediction, or it pasted into the known pixels."""
    return composite(pred, batch["image"], batch["mask"]) if losses.composite else pred


class CEStep:
    """Context encoder: reconstruction loss only."""

    finite = ("loss",)  # logged values that stop the run when they are not finite

    def __init__(self, losses):
        self.losses = losses  # LossConfig

    def __call__(self, nets, opts, batch) -> tuple[torch.Tensor, dict]:
        g, opt = nets["G"], opts["G"]
        pred = g(batch["image"], batch["mask"])
        loss, logs = self.generator_loss(pred, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return pred.detach(), {"loss": loss.detach(), **logs}

    def generator_loss(self, pred, batch) -> tuple[torch.Tensor, dict]:
        return reconstruction_loss(_output(pred, batch, self.losses), batch["image"], batch["mask"], self.losses,
                                   batch["level"])

    def health(self, step: int, logs: dict, log_every: int) -> str | None:
        """A warning about the run so far, from one log interval's values (floats); None when well."""
        return None


def gan_criterion(logits: torch.Tensor, real: bool, weights: torch.Tensor | None, kind: str) -> torch.Tensor:
    """Per-patch GAN loss averaged over the patches that count (``weights``; all when None)."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "lsgan":
        per_patch = (logits - target) ** 2
    else:
        per_patch = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weights is None:
        return per_patch.mean()
    return (per_patch * weights).sum() / weights.sum().clamp(min=1)


def _accuracy(logits, real: bool, weights, kind: str) -> torch.Tensor:
    threshold = 0.5 if kind == "lsgan" else 0.0
    right = (logits > threshold) if real else (logits <= threshold)
    right = right.float()
    return right.mean() if weights is None else (right * weights).sum() / weights.sum().clamp(min=1)


@contextlib.contextmanager
def frozen(net: torch.nn.Module):
    """The plain network (outside any DDP wrapper, whose reducer would wait for gradients)
    with its parameters out of autograd: gradients still flow through it to its input, but
    none are computed for its weights (pix2pix's ``set_requires_grad(netD, False)``)."""
    plain = getattr(net, "module", net)
    params = [p for p in plain.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield plain
    finally:
        for p in params:
            p.requires_grad_(True)


COLLAPSE_LOGS = 20  # consecutive log intervals with D accuracy >= 0.99 that count as collapse


class GANStep:
    """pix2pix: update D on (condition, real) against (condition, fake), D's loss halved;
    then G on GAN + reconstruction loss. A hole-aware D is judged on hole patches only."""

    finite = ("loss", "d_loss")  # logged values that stop the run when they are not finite

    def __init__(self, losses):
        self.losses = losses  # LossConfig
        self.collapse_streak = 0  # log intervals in a row where D told every real and fake apart

    def __call__(self, nets, opts, batch) -> tuple[torch.Tensor, dict]:
        g, d = nets["G"], nets["D"]
        image, mask = batch["image"], batch["mask"]
        pred = g(image, mask)
        fake = _output(pred, batch, self.losses)
        # D's condition is what G was given: the known pixels with G's own hole fill.
        condition = model_input(image, mask, g.arch.fill, mask_channel=False)
        weights = d.patch_weights(mask) if d.arch.hole_aware else None

        opts["D"].zero_grad(set_to_none=True)
        loss_d, d_logs = self.discriminator_loss(d, condition, image, fake.detach(), mask, weights)
        loss_d.backward()
        opts["D"].step()

        opts["G"].zero_grad(set_to_none=True)
        with frozen(d) as plain_d:  # G's update: no weight gradients (nor their all-reduce) for D
            loss_g_gan = gan_criterion(plain_d(condition, fake, mask), True, weights, self.losses.gan_loss)
        loss_rec, logs = reconstruction_loss(fake, image, mask, self.losses, batch["level"])
        loss_g = loss_g_gan + loss_rec
        loss_g.backward()
        opts["G"].step()
        return pred.detach(), {"loss": loss_g.detach(), "d_loss": loss_d.detach(), "g_gan": loss_g_gan.detach(),
                               **logs, **d_logs}

    def discriminator_loss(self, d, condition, real, fake, mask, weights) -> tuple[torch.Tensor, dict]:
        """Real and fake go through D as two calls, as in pix2pix: D has BatchNorm, and one batch
        of both would normalise each with the other's statistics (a different D from the paper's)."""
        kind = self.losses.gan_loss
        logits_real = d(condition, real, mask)
        logits_fake = d(condition, fake, mask)
        loss = 0.5 * (gan_criterion(logits_real, True, weights, kind) + gan_criterion(logits_fake, False, weights, kind))
        return loss, {"d_acc_real": _accuracy(logits_real.detach(), True, weights, kind),
                      "d_acc_fake": _accuracy(logits_fake.detach(), False, weights, kind)}

    def health(self, step: int, logs: dict, log_every: int) -> str | None:
        """Collapse: D right about every real and fake patch for COLLAPSE_LOGS log intervals."""
        collapsed = logs["d_acc_real"] >= 0.99 and logs["d_acc_fake"] >= 0.99
        self.collapse_streak = self.collapse_streak + 1 if collapsed else 0
        if self.collapse_streak != COLLAPSE_LOGS:
            return None
        return (f"discriminator collapse: D accuracy >= 0.99 on real and fake for "
                f"{COLLAPSE_LOGS * log_every} steps (to step {step}); G gets little signal")


# Each model kind's step: made once per run from the loss settings, then called once per batch.
STEPS = {"ce": CEStep, "gan": GANStep}
