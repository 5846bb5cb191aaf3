import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from odinpaint import metrics


def to_unit(x):
    return ((x + 1) / 2).permute(0, 2, 3, 1).numpy().astype(np.float64)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    pred = (target + 0.2 * torch.randn(4, 3, 32, 32, generator=g)).clamp(-1, 1)
    return pred, target


def test_psnr_matches_scikit_image(pair):
    pred, target = pair
    ours = metrics.psnr(pred, target)
    ref = [peak_signal_noise_ratio(t, p, data_range=1.0) for p, t in zip(to_unit(pred), to_unit(target))]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-3)


def test_ssim_matches_scikit_image(pair):
    pred, target = pair
    ours = metrics.image_metrics(pred, target, torch.ones(4, 1, 32, 32))["ssim"]
    ref = [structural_similarity(t, p, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False) for p, t in zip(to_unit(pred), to_unit(target))]
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-3)


def test_known_values():
    target = torch.zeros(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:8, 4:8] = 1  # 16 of 256 pixels
    pred = target + 0.2  # 0.1 in [0, 1] units: MSE 0.01 -> 20 dB inside the hole
    m = metrics.image_metrics(pred, target, mask)
    assert m["psnr_hole"].item() == pytest.approx(20.0, abs=1e-4)
    assert m["psnr"].item() == pytest.approx(20.0 + 10 * np.log10(16), abs=1e-4)  # composited: error only in hole
    assert m["bias_hole"].item() == pytest.approx(0.2 * 127.5, abs=1e-3)
    assert m["l1_hole"].item() == pytest.approx(0.2 * 127.5, abs=1e-3)


def test_hole_psnr_equals_direct_masked_mse(pair):
    pred, target = pair
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 5:20, 3:11] = 1
    m = metrics.image_metrics(pred, target, mask)
    mse = (((pred - target) / 2) ** 2 * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) * 3)
    np.testing.assert_allclose(m["psnr_hole"].numpy(), (10 * torch.log10(1 / mse)).numpy(), atol=1e-3)


def test_known_pixels_do_not_count(pair):
    pred, target = pair
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 8:16, 8:16] = 1
    a = metrics.image_metrics(pred, target, mask)
    wild = pred.clone()
    wild[..., :4, :] = 1.0  # garbage outside the hole is replaced by the known pixels
    b = metrics.image_metrics(wild, target, mask)
    for k in metrics.METRICS:
        if k != "psnr_known":  # the one metric about the raw output's known pixels
            torch.testing.assert_close(a[k], b[k])
    assert (b["psnr_known"] < a["psnr_known"]).all()


def test_perfect_prediction_is_capped_not_inf():
    x = torch.zeros(2, 3, 16, 16)
    m = torch.zeros(2, 1, 16, 16)
    m[..., 2:5, 2:5] = 1
    assert (metrics.image_metrics(x, x, m)["psnr_hole"] == metrics.PSNR_CAP).all()


def test_border_band_is_the_inner_edge():
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., 2:10, 2:10] = 1  # 8x8 hole: band = 64 - 4x4 core
    band = metrics.border_band(mask)
    assert band.sum().item() == 64 - 16
    assert band[0, 0, 5, 5] == 0 and band[0, 0, 2, 2] == 1 and band[0, 0, 0, 0] == 0


def test_better_respects_metric_direction():
    assert metrics.better("psnr_hole", 30, 20) and metrics.better("l1_hole", 5, 9)
    assert metrics.better("bias_hole", -1, 3) and not metrics.better("bias_hole", 4, -2)


# ---------------------------------------------------------------- realism (swd, hf)
def _texture(seed, size=96):
    """A stationary texture: seeded noise smoothed at two scales, in 8 bits."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size, 3)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.2) * 60 + cv2.GaussianBlur(noise, (0, 0), 4) * 150 + 128
    return np.clip(tex, 0, 255).astype(np.uint8)


@pytest.fixture
def scene():
    truth = _texture(0)
    hole = np.zeros(truth.shape[:2], bool)
    hole[24:72, 24:72] = True
    return truth, hole


def _filled(truth, hole, content):
    return np.where(hole[..., None], content, truth).astype(np.uint8)


def test_realism_of_the_truth_itself(scene):
    truth, hole = scene
    assert metrics.swd(truth, truth, hole) == pytest.approx(0.0, abs=1e-6)
    assert metrics.hf(truth, truth, hole) == pytest.approx(1.0)


def test_a_blur_is_flat_and_far(scene):
    import cv2

    truth, hole = scene
    blur = _filled(truth, hole, cv2.GaussianBlur(truth, (0, 0), 4))
    shifted = _filled(truth, hole, np.roll(truth, (17, 23), axis=(0, 1)))
    assert metrics.hf(blur, truth, hole) < 0.2
    assert metrics.swd(blur, truth, hole) > 3 * metrics.swd(shifted, truth, hole)


def test_the_same_texture_shifted_is_near(scene):
    truth, hole = scene
    shifted = _filled(truth, hole, np.roll(truth, (17, 23), axis=(0, 1)))
    other = _filled(truth, hole, _texture(1))  # the same process, another draw
    assert 0.8 < metrics.hf(shifted, truth, hole) < 1.25
    assert 0.8 < metrics.hf(other, truth, hole) < 1.25
    assert metrics.swd(shifted, truth, hole) < 0.3
    assert metrics.swd(other, truth, hole) < 0.3


def test_white_noise_has_the_energy_but_not_the_patches(scene):
    import cv2

    truth, hole = scene
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(truth.shape).astype(np.float32)
    lap = lambda x: x - cv2.pyrUp(cv2.pyrDown(x))  # noqa: E731
    scale = np.abs(lap(truth.astype(np.float32))).mean() / np.abs(lap(noise)).mean()
    noisy = _filled(truth, hole, np.clip(cv2.GaussianBlur(truth, (0, 0), 4) + noise * scale, 0, 255))
    shifted = _filled(truth, hole, np.roll(truth, (17, 23), axis=(0, 1)))
    assert 0.8 < metrics.hf(noisy, truth, hole) < 1.25
    assert metrics.swd(noisy, truth, hole) > 3 * metrics.swd(shifted, truth, hole)


def test_swd_pools_a_list_of_photos(scene):
    import cv2

    truth, hole = scene
    blur = _filled(truth, hole, cv2.GaussianBlur(truth, (0, 0), 4))
    one = metrics.swd(blur, truth, hole)
    assert metrics.swd([blur, blur], [truth, truth], [hole, hole]) == pytest.approx(one, rel=1e-4)
    # a hole too thin to keep a patch centre after erosion at any level
    thin = np.zeros_like(hole)
    thin[40, 10:80] = True
    assert np.isnan(metrics.swd(blur, truth, thin)) and np.isnan(metrics.hf(blur, truth, thin))


def test_channel_bias_is_each_channel_s_mean_error_in_the_hole():
    truth = torch.zeros(2, 3, 8, 8)
    pred = truth.clone()
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    pred[0, 0, 2:6, 2:6] = 20 / 127.5  # image 0: red 20 grey levels too bright in the hole
    pred[1, 2, 2:4, 2:6] = -40 / 127.5  # image 1: half the hole 40 levels too dark in blue
    pred[:, :, 0, 0] = 1.0  # outside the hole: not counted
    bias = metrics.channel_bias(pred, truth, mask)
    torch.testing.assert_close(bias, torch.tensor([[20.0, 0.0, 0.0], [0.0, 0.0, -20.0]]), atol=1e-4, rtol=0)
