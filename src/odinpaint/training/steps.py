"""One optimisation step per model kind, each returning ``(pred, logs)``; the loop logs whatever
comes back. Logs are detached tensors, turned into numbers only when written, so a step
never waits on the device.

Reconstruction loss, shared by both kinds:
``image_weight * mean(err) + hole_weight * mean over samples of mean(err over its hole)``,
err = L2 or L1. ``loss = psnr`` makes the hole term minus the mean per-sample hole PSNR;
``loss = level-psnr`` makes it minus the mean over difficulty levels of each level's PSNR of
its samples' mean hole MSE: L2 within a level, decibels between levels.
The context encoder's paper loss is (l2, 1, 0); pix2pix's is (l1, 100, 0); the report's
extra GAN term is ``hole_weight`` (``--hole-l1``).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from odinpaint.metrics import composite
from odinpaint.models.inputs import model_input


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over each sample's hole, then over samples: every sample weighs the same,
    so a batch's few large holes do not drown out its many small ones (whose pixels would
    otherwise count for little, and whose PSNR the model would then neglect)."""
    m = mask.expand_as(x)
    return ((x * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)).mean()


PSNR_LOSS_EPS = 1e-5  # MSE floor of the psnr loss (50 dB): keeps a perfect sample's gradient finite


def _hole_mse(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sample's mean squared error over its hole, on the [0, 1] scale (images are [-1, 1])."""
    m = mask.expand_as(err)
    return (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1) / 4


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


def reconstruction_loss(out, image, mask, cfg, level=None) -> tuple[torch.Tensor, dict]:
    err = (out - image).abs() if cfg.loss == "l1" else (out - image) ** 2
    name = "l1" if cfg.loss == "l1" else "l2"
    loss = out.new_zeros(())
    logs = {}
    if cfg.image_weight:
        term = err.mean()
        loss = loss + cfg.image_weight * term
        logs[f"{name}_image"] = term.detach()
    if cfg.hole_weight:
        if cfg.loss == "psnr":
            term, key = hole_psnr_loss(err, mask), "neg_psnr_hole"
        elif cfg.loss == "level-psnr":
            term, key = level_psnr_loss(err, mask, level), "neg_level_psnr_hole"
        else:
            term, key = masked_mean(err, mask), f"{name}_hole"
        loss = loss + cfg.hole_weight * term
        logs[key] = term.detach()
    return loss, logs


def _output(pred, batch, cfg):
    """What the losses (and D) see: the raw prediction, or it pasted into the known pixels."""
    return composite(pred, batch["image"], batch["mask"]) if cfg.composite else pred


def ce_step(nets, opts, batch, cfg) -> tuple[torch.Tensor, dict]:
    """Context encoder: reconstruction loss only."""
    g, opt = nets["G"], opts["G"]
    pred = g(batch["image"], batch["mask"])
    loss, logs = reconstruction_loss(_output(pred, batch, cfg), batch["image"], batch["mask"], cfg, batch["level"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return pred.detach(), {"loss": loss.detach(), **logs}


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


def gan_step(nets, opts, batch, cfg) -> tuple[torch.Tensor, dict]:
    """pix2pix: update D on (condition, real) against (condition, fake), D's loss halved;
    then G on GAN + reconstruction loss. A hole-aware D is judged on hole patches only."""
    g, d = nets["G"], nets["D"]
    image, mask = batch["image"], batch["mask"]
    pred = g(image, mask)
    fake = _output(pred, batch, cfg)
    # D's condition is what G was given: the known pixels with G's own hole fill.
    condition = model_input(image, mask, g.arch.fill, mask_channel=False)
    weights = d.patch_weights(mask) if d.arch.hole_aware else None

    # Real and fake go through D as two calls, as in pix2pix: D has BatchNorm, and one batch of
    # both would normalise each with the other's statistics (a different D from the paper's).
    opts["D"].zero_grad(set_to_none=True)
    logits_real = d(condition, image, mask)
    logits_fake = d(condition, fake.detach(), mask)
    loss_d = 0.5 * (gan_criterion(logits_real, True, weights, cfg.gan_loss)
                    + gan_criterion(logits_fake, False, weights, cfg.gan_loss))
    loss_d.backward()
    opts["D"].step()

    opts["G"].zero_grad(set_to_none=True)
    with frozen(d) as plain_d:  # G's update: no weight gradients (nor their all-reduce) for D
        loss_g_gan = gan_criterion(plain_d(condition, fake, mask), True, weights, cfg.gan_loss)
    loss_rec, logs = reconstruction_loss(fake, image, mask, cfg, batch["level"])
    loss_g = loss_g_gan + loss_rec
    loss_g.backward()
    opts["G"].step()
    return pred.detach(), {
        "loss": loss_g.detach(), "d_loss": loss_d.detach(), "g_gan": loss_g_gan.detach(), **logs,
        "d_acc_real": _accuracy(logits_real.detach(), True, weights, cfg.gan_loss),
        "d_acc_fake": _accuracy(logits_fake.detach(), False, weights, cfg.gan_loss),
    }


STEPS = {"ce": ce_step, "gan": gan_step}
