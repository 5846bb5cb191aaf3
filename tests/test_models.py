from dataclasses import replace

import pytest
import torch

from odinpaint.models import (ContextEncoder, ContextEncoderArch, PatchGAN, PatchGANArch, UNet, UNetArch,
                              arch_from_dict, arch_to_dict, build, count_parameters)
from odinpaint.training.steps import gan_criterion


def batch(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, size // 4 : size // 2, size // 4 : size // 2] = 1
    return image, mask


@pytest.mark.parametrize("size,layers", [(32, 3), (64, 4), (128, 5)])
def test_context_encoder_depth_and_shape(size, layers):
    net = ContextEncoder(ContextEncoderArch(image_size=size, width=8))
    assert len(net.down) == layers == len(net.up)
    image, mask = batch(2, size)
    out = net(image, mask)
    assert out.shape == image.shape and out.abs().max() <= 1


def test_paper_widths_at_128():
    assert ContextEncoderArch(image_size=128, width=64).channels == [64, 128, 256, 512, 512]
    assert UNetArch(image_size=128, width=64).channels == [64, 128, 256, 512, 512, 512, 512]
    assert len(UNetArch(image_size=64).channels) == 6


def gradient_and_slope(net, loss, names=None, eps=1e-6) -> tuple[dict, float, float]:
    """Backpropagate ``loss()`` through ``net`` in float64; give each parameter's gradient norm
    (0 for none), and along the gradient of the parameters ``names`` (default: all) the norm of
    that gradient and the loss's slope measured by central differences: equal when the
    gradients are the loss's derivatives. ``loss`` reseeds torch, so dropout and noise draw the
    same on every call."""
    net.double()
    net.zero_grad()
    loss().backward()
    params = dict(net.named_parameters())
    norms = {n: 0.0 if p.grad is None else p.grad.norm().item() for n, p in params.items()}
    chosen = [params[n] for n in (names or params) if norms[n] > 0]
    if not chosen:
        return norms, 0.0, 0.0
    total = sum(p.grad.square().sum() for p in chosen).sqrt().item()
    steps = [eps * p.grad / total for p in chosen]
    with torch.no_grad():
        for p, d in zip(chosen, steps):
            p += d
        up = loss().item()
        for p, d in zip(chosen, steps):
            p -= 2 * d
        down = loss().item()
        for p, d in zip(chosen, steps):
            p += d
    return norms, total, (up - down) / (2 * eps)


@pytest.mark.parametrize("arch", [
    ContextEncoderArch(image_size=32, width=8),
    ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True),
    ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True, refine=True),
    UNetArch(image_size=32, width=8),
    UNetArch(image_size=32, width=8, skips=False, fill="noise", mask_channel=True),
])
def test_every_generator_parameter_gets_a_gradient(arch):
    torch.manual_seed(0)
    net = build(arch)
    image, mask = batch()

    def loss():
        torch.manual_seed(1)
        return net(image.double(), mask.double()).square().mean()

    norms, along, slope = gradient_and_slope(net, loss)
    assert [n for n, g in norms.items() if g == 0] == []
    assert slope == pytest.approx(along, rel=1e-5)


@pytest.mark.parametrize("hole_aware", [False, True])
def test_every_discriminator_parameter_gets_a_gradient(hole_aware):
    d = PatchGAN(PatchGANArch(width=8, hole_aware=hole_aware))
    image, mask = batch()
    logits = d(image, image.flip(0), mask)
    assert logits.shape[:2] == (4, 1) and logits.shape[-1] == 2  # 32 px -> 2x2 patches
    norms, along, slope = gradient_and_slope(d, lambda: d(image.double(), image.flip(0).double(), mask.double()).mean())
    assert [n for n, g in norms.items() if g == 0] == []
    assert slope == pytest.approx(along, rel=1e-5)


def test_the_input_never_contains_the_truth_in_the_hole():
    net = ContextEncoder(ContextEncoderArch(image_size=32, width=8)).eval()
    image, mask = batch()
    other = image.clone()
    other[mask.expand_as(image) > 0] = 0.123  # change only the hidden pixels
    torch.testing.assert_close(net(image, mask), net(other, mask))


def test_no_skip_removes_the_skips():
    with_skips, without = UNet(UNetArch(image_size=32, width=8)), UNet(UNetArch(image_size=32, width=8, skips=False))
    assert count_parameters(without) < count_parameters(with_skips)
    # without skips the output cannot depend on the input except through the 1x1 bottleneck:
    # the first decoder conv sees only its predecessor's channels
    assert without.up[-1][1].in_channels * 2 == with_skips.up[-1][1].in_channels
    traced = torch.fx.symbolic_trace(without)
    assert not any(n.target is torch.cat for n in traced.graph.nodes)
    assert sum(n.target is torch.cat for n in torch.fx.symbolic_trace(with_skips).graph.nodes) == len(with_skips.up) - 1


def test_dropout_only_in_three_innermost_decoder_blocks():
    net = UNet(UNetArch(image_size=64, width=8))
    has = [any(isinstance(m, torch.nn.Dropout) for m in blk) for blk in net.up]
    assert has == [True, True, True, False, False, False]


def test_hole_aware_patch_weights_cover_exactly_the_receptive_fields():
    d = PatchGAN(PatchGANArch(width=4, hole_aware=True)).eval()
    size = 128
    mask = torch.zeros(1, 1, size, size)
    mask[..., 100:110, 100:110] = 1
    w = d.patch_weights(mask)
    assert 0 < w.sum() < w.numel() and w[0, 0, 0, 0] == 0
    # changing pixels anywhere outside the hole patches' receptive fields leaves their logits alone
    image = torch.rand(1, 3, size, size) * 2 - 1
    far = image.clone()
    far[..., :16, :16] = -1
    la, lb = d(image, image, mask), d(image, far, mask)
    assert torch.allclose(la[w > 0], lb[w > 0]) and not torch.allclose(la, lb)


def test_hole_aware_loss_ignores_patches_away_from_the_hole():
    logits = torch.zeros(1, 1, 4, 4)
    weights = torch.zeros_like(logits)
    weights[..., 0, 0] = 1
    base = gan_criterion(logits, True, weights, "vanilla")
    logits[..., 3, 3] = 50.0  # a confident patch that does not overlap the hole
    assert gan_criterion(logits, True, weights, "vanilla") == base
    assert gan_criterion(logits, True, None, "vanilla") != base


def test_arch_round_trip_and_errors():
    a = UNetArch(image_size=32, width=8, skips=False)
    assert arch_from_dict(arch_to_dict(a)) == a
    with pytest.raises(ValueError, match="unknown architecture"):
        arch_from_dict({"class": "Transformer"})
    with pytest.raises(ValueError, match="no field"):
        arch_from_dict({**arch_to_dict(a), "heads": 4})
    with pytest.raises(ValueError, match="power of two"):
        ContextEncoder(ContextEncoderArch(image_size=48))


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    net = ContextEncoder(ContextEncoderArch(image_size=32, width=8))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.5, 0.999))
    image, mask = batch(8)
    image = image * 0.3 + torch.linspace(-0.5, 0.5, 32).view(1, 1, 1, 32)  # some learnable structure
    losses = []
    for _ in range(30):
        loss = (net(image, mask) - image).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_patch_weights_match_autograd_receptive_fields():
    torch.manual_seed(0)
    d = PatchGAN(PatchGANArch(width=4, hole_aware=True)).eval()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 40:47, 5:12] = 1
    image = torch.rand(1, 3, 64, 64, requires_grad=True)
    logits = d(image.detach(), image, mask)
    w = d.patch_weights(mask)
    for i in range(logits.shape[2]):
        for j in range(logits.shape[3]):
            (g,) = torch.autograd.grad(logits[0, 0, i, j], image, retain_graph=True)
            sees_hole = bool(((g.abs().sum(1, keepdim=True) > 0) & (mask > 0)).any())
            assert sees_hole == bool(w[0, 0, i, j]), (i, j)


def test_classical_fill_starts_from_telea_and_never_sees_the_hole():
    from odinpaint.classical import telea
    from odinpaint.tensors import to_tensor, to_uint8
    from odinpaint.models.inputs import model_input

    image, mask = batch(2)
    image = to_tensor(to_uint8(image))  # exact 8-bit values
    x = model_input(image, mask, "telea", mask_channel=True)
    assert x.shape == (2, 4, 32, 32)
    expected = telea(to_uint8(image * (1 - mask))[0], mask[0, 0].numpy() > 0)
    assert (to_uint8(x[:1, :3])[0] == expected).all()
    other = image.clone()
    other[mask.expand_as(image) > 0] = 0.9
    torch.testing.assert_close(model_input(other, mask, "telea", True), x)


@pytest.mark.parametrize("refine", [False, True])
def test_residual_model_starts_at_its_fill(refine):
    from odinpaint.models.inputs import model_input

    net = ContextEncoder(ContextEncoderArch(image_size=32, width=8, fill="ns", mask_channel=True, skips=True,
                                            residual=True, refine=refine)).eval()
    image, mask = batch(2)
    start = (net(image, mask) - model_input(image, mask, "ns", False).clamp(-1, 1)).abs() * 127.5
    assert 0 < start.max() < 0.5  # within half a grey level, yet not exactly zero (gradients flow)
    image.requires_grad_(False)
    net.train()

    def loss():
        torch.manual_seed(0)
        return net(image.double(), mask.double()).mean()

    # from the first step the whole network learns: the last layer and the first get the loss's
    # true, nonzero derivatives
    names = {n for n, p in net.named_parameters()
             if p is (net.refine[-1] if refine else net.up[-1][0]).weight or p is net.down[0][0].weight}
    for name in sorted(names):
        norms, along, slope = gradient_and_slope(net, loss, [name])
        assert norms[name] > 0 and slope == pytest.approx(along, rel=1e-4), name


def test_refine_head_sees_the_input_at_full_resolution():
    from odinpaint.models.inputs import model_input

    net = ContextEncoder(ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, refine=True))
    seen = []
    net.refine.register_forward_hook(lambda mod, args, out: seen.append((args[0], out)))
    image, mask = batch(2)
    net.eval()(image, mask)
    head_in, head_out = seen[0]
    assert head_in.shape[-2:] == head_out.shape[-2:] == (32, 32)
    torch.testing.assert_close(head_in[:, -4:], model_input(image, mask, "mean", True))  # the input itself


def test_tta_averages_over_the_square_s_symmetries_at_inference_only():
    torch.manual_seed(0)
    arch = ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True, residual=True,
                              refine=True, tta=True)
    net = ContextEncoder(arch)
    torch.nn.init.normal_(net.refine[-1].weight, std=0.05)  # a trained-looking correction
    image, mask = batch(2)
    mask[1, :, 3:9, 20:30] = 1  # not symmetric on its own
    views = [(lambda t: t), (lambda t: t.flip(3)), (lambda t: t.flip(2)), (lambda t: t.transpose(2, 3))]
    plain = ContextEncoder(replace(arch, tta=False))
    plain.load_state_dict(net.state_dict())
    with torch.no_grad():
        seen = []
        net.down[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
        out = net.eval()(image, mask)
        assert seen == [8 * 2]  # the eight views of both images in one batch
        for v in views[1:]:  # each view's undo equals the view itself (flips and the transpose)
            torch.testing.assert_close(v(net(v(image), v(mask))), out, atol=1e-6, rtol=0)
        plain.eval()
        assert (v(plain(v(image), v(mask))) - plain(image, mask)).abs().max() > 1e-3  # without TTA it is not
        torch.manual_seed(1)
        train_out = net.train()(image, mask)
        torch.manual_seed(1)
        torch.testing.assert_close(train_out, plain.train()(image, mask))  # training sees one view
        net.eval(), plain.eval()
        torch.testing.assert_close(net(image, mask, tta=False), plain(image, mask))  # one view on request
        torch.testing.assert_close(plain(image, mask, tta=True), net(image, mask))  # eight views on request
        assert net.arch.tta and not hasattr(net, "tta")  # the architecture says it; no switch to flip


def test_min_correction_drops_small_corrections_at_inference_only():
    from odinpaint.models.inputs import model_input

    arch = ContextEncoderArch(image_size=32, width=8, fill="ns", mask_channel=True, skips=True, residual=True,
                              min_correction=4.0)
    torch.manual_seed(0)
    net = ContextEncoder(arch)
    torch.nn.init.normal_(net.up[-1][0].weight, std=0.02)  # a trained-looking correction
    image, mask = batch(2)
    fill = model_input(image, mask, "ns", False).clamp(-1, 1)
    with torch.no_grad():
        raw = ContextEncoder(replace(arch, min_correction=0.0))
        raw.load_state_dict(net.state_dict())
        corr_raw = (raw.eval()(image, mask) - fill) * 127.5
        corr = (net.eval()(image, mask) - fill) * 127.5
        corr_train = (net.train()(image, mask) - fill) * 127.5
    clear = (fill.abs() < 0.9) & ((corr_raw.abs() - 4.0).abs() > 0.01)  # away from the clamp and the threshold
    small, large = clear & (corr_raw.abs() < 4.0), clear & (corr_raw.abs() > 4.0)
    assert small.any() and large.any()
    assert (corr[small] == 0).all()                                   # dropped
    torch.testing.assert_close(corr[large], corr_raw[large])           # kept as they were
    assert (corr_train[small] != 0).any()                              # training sees every correction


def test_biharmonic_fill_is_scikit_image_s():
    from odinpaint.biharmonic import biharmonic
    from odinpaint.tensors import to_tensor, to_uint8
    from odinpaint.models.inputs import model_input

    image, mask = batch(2)
    image = to_tensor(to_uint8(image))
    x = model_input(image, mask, "biharmonic", mask_channel=False)
    expected = biharmonic(to_uint8(image * (1 - mask))[1], mask[1, 0].numpy() > 0)
    assert (to_uint8(x[1:])[0] == expected).all()
