import pytest
import torch

from odinpaint.cli import main
from odinpaint.export import OnnxGenerator, export_onnx
from odinpaint.models import build
from odinpaint.models.context_encoder import ContextEncoderArch
from odinpaint.models.pix2pix import UNetArch
from odinpaint.training.checkpoint import load_checkpoint, save_checkpoint


def checkpoint_of(arch, path):
    torch.manual_seed(0)
    net = build(arch)
    for m in net.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    save_checkpoint(path, {"G": net}, {}, {"step": 0})
    return path


@pytest.mark.parametrize("arch", [
    ContextEncoderArch(image_size=32, width=8, fill="mean", mask_channel=True, skips=True),
    ContextEncoderArch(image_size=32, width=8, fill="ns", mask_channel=True, skips=True, residual=True),
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
