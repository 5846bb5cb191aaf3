import pytest
import torch

from odinpaint.checkpoint import load_checkpoint, save_checkpoint
from odinpaint.cli import main
from odinpaint.inference.export import OnnxGenerator, export_onnx
from odinpaint.models import build
from odinpaint.models.context_encoder import ContextEncoderArch
from odinpaint.models.pix2pix import UNetArch


def checkpoint_of(arch, path):
    torch.manual_seed(0)
    net = build(arch)
    if getattr(arch, "residual", False):  # a residual net starts at a zero correction: make it non-zero
        torch.nn.init.normal_(net.up[-1][0].weight, std=0.05)
    for m in net.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    save_checkpoint(path, {"G": net}, {}, {"step": 0})
    return path


@pytest.mark.parametrize("arch", [
    ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True),
    ContextEncoderArch(image_size=32, width=8, fill="ns", mask_channel=True, skips=True, residual=True,
                       min_correction=2.0),
    ContextEncoderArch(image_size=32, width=8, fill="biharmonic", mask_channel=True, skips=True, residual=True,
                       refine=True, tta=True, min_correction=2.0),
    UNetArch(image_size=32, width=8),
])
def test_onnx_matches_pytorch(arch, tmp_path):
    ckpt = checkpoint_of(arch, tmp_path / "m.safetensors")
    out = export_onnx(ckpt, tmp_path / "m.onnx")
    torch_net = load_checkpoint(ckpt).build("G")
    onnx_net = OnnxGenerator(out)
    assert onnx_net.arch == arch
    g = torch.Generator().manual_seed(1)
    image = torch.rand(5, 3, 32, 32, generator=g) * 2 - 1
    mask = torch.zeros(5, 1, 32, 32)
    mask[:, :, 6:20, 9:25] = 1
    with torch.no_grad():
        diff = (torch_net(image, mask) - onnx_net(image, mask)).abs().max().item()
    assert diff < 1e-4


def test_export_command(tmp_path, capsys):
    ckpt = checkpoint_of(ContextEncoderArch(image_size=32, width=8), tmp_path / "m.safetensors")
    assert main(["export", str(ckpt), "--onnx", str(tmp_path / "x.onnx")]) == 0
    assert (tmp_path / "x.onnx").stat().st_size > 10_000 and "x.onnx" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "y.onnx")]) == 2
    assert not (tmp_path / "y.onnx").exists()


def test_weights_export_is_small_and_fills_the_same(tmp_path, capsys):
    arch = ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True)
    torch.manual_seed(0)
    net = build(arch)
    opt = torch.optim.Adam(net.parameters())
    net(torch.zeros(2, 3, 32, 32), torch.ones(2, 1, 32, 32)).mean().backward()
    opt.step()  # Adam state: two more tensors per parameter in a training checkpoint
    save_checkpoint(tmp_path / "full.safetensors", {"G": net}, {"G": opt}, {"step": 7, "images": 70})
    assert main(["export", str(tmp_path / "full.safetensors"), "--weights", str(tmp_path / "w.safetensors")]) == 0
    small = load_checkpoint(tmp_path / "w.safetensors")
    assert not any(k.startswith("optim.") for k in small.tensors) and small.meta["step"] == 7
    assert (tmp_path / "w.safetensors").stat().st_size < 0.5 * (tmp_path / "full.safetensors").stat().st_size
    image, mask = torch.rand(2, 3, 32, 32) * 2 - 1, torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:20, 8:20] = 1
    with torch.no_grad():
        assert torch.equal(small.build("G")(image, mask), net.eval()(image, mask))
    assert main(["export", str(tmp_path / "full.safetensors")]) == 2  # neither --onnx nor --weights
