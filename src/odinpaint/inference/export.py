"""``odinpaint export CKPT --onnx OUT.onnx``: the generator as an ONNX graph for onnxruntime;
``--weights OUT.safetensors``: the generator's weights alone, for shipping.

The graph is the network on its prepared input (hole fill applied, mask channel appended):
fills such as Telea run in OpenCV before the graph, as they do before the PyTorch model.

    >>> from odinpaint.inference.export import export_onnx, OnnxGenerator
    >>> export_onnx("runs/003/checkpoints/best.safetensors", "model.onnx")
    >>> gen = OnnxGenerator("model.onnx")          # a drop-in for the PyTorch generator
    >>> pred = gen(image, mask)                     # torch tensors in, torch tensor out

The ONNX file's metadata carries the architecture as JSON, so it is usable on its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from odinpaint.atomic import atomic_write
from odinpaint.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from odinpaint.models import arch_from_dict, arch_to_dict
from odinpaint.models.inputs import model_input

OPSET = 18  # what torch.onnx implements natively; onnxruntime runs it since 1.14


class _Prepared(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_input(x)


def export_onnx(checkpoint, out, batch_dynamic: bool = True) -> Path:
    """Write the checkpoint's generator to ``out`` (atomically); returns the path."""
    return export_net_onnx(load_checkpoint(checkpoint).build("G"), out, batch_dynamic)


def export_net_onnx(net, out, batch_dynamic: bool = True) -> Path:
    """Write generator ``net`` to ``out`` (atomically); returns the path."""
    import onnx

    net = net.float().eval()
    arch = net.arch
    # batch 2 in the example: torch.export would specialise a batch of 1 into the graph
    x = torch.zeros(2, 3 + int(arch.mask_channel), arch.image_size, arch.image_size)
    out = Path(out)

    def write(tmp):
        dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=4096)}} if batch_dynamic else None
        torch.onnx.export(_Prepared(net).eval(), (x,), tmp, input_names=["input"], output_names=["pred"], opset_version=OPSET,
                          dynamic_shapes=dynamic, dynamo=True)
        model = onnx.load(tmp)
        entry = model.metadata_props.add()
        entry.key, entry.value = "odinpaint_arch", json.dumps(arch_to_dict(arch))
        onnx.checker.check_model(model)
        onnx.save(model, tmp)

    atomic_write(out, write)
    return out


def export_weights(checkpoint, out) -> Path:
    """Write the checkpoint's generator alone (no optimizer state) to ``out``: a small
    safetensors file that ``Inpainter.from_checkpoint`` loads, as the shipped model is made."""
    ckpt = load_checkpoint(checkpoint)
    keep = {k: ckpt.meta[k] for k in ("config", "step", "images", "best", "train_seconds") if k in ckpt.meta}
    save_checkpoint(out, {"G": ckpt.build("G")}, {}, {**keep, "source": Path(checkpoint).name})
    return Path(out)


class OnnxGenerator:
    """Runs an exported generator with onnxruntime behind the PyTorch generator's interface:
    ``gen(image, mask)`` on tensors, ``gen.arch`` for its architecture."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime as ort

        if not Path(path).is_file():
            raise CheckpointError(path, "no such ONNX file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        try:  # onnxruntime parses a protobuf graph: a bad file is an error, never code that runs
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise CheckpointError(path, f"not a readable ONNX model ({type(e).__name__}: {e})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "odinpaint_arch" not in meta:
            raise CheckpointError(path, "not an odinpaint ONNX export (no architecture in its metadata)")
        try:
            self.arch = arch_from_dict(json.loads(meta["odinpaint_arch"]))
        except (TypeError, ValueError) as e:
            raise CheckpointError(path, f"architecture in its metadata not understood ({e})") from None

    def eval(self):
        return self

    def to(self, *args, **kwargs):
        return self

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = model_input(image.float(), mask.float(), self.arch.fill, self.arch.mask_channel)
        (pred,) = self.session.run(None, {"input": x.cpu().numpy()})
        return torch.from_numpy(pred)
