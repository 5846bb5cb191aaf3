"""Filling images with a trained model: what a user of odinpaint runs.

- ``inpainter``: ``Inpainter``, any image and hole size (crops, windows, coarse to fine);
- ``detail``: the detailed style's texture from the photo's own patches; ``styles``: the names;
- ``fill``: the ``fill`` command over files and folders; ``export``: safetensors and ONNX;
- ``server`` and ``web/``: ``odinpaint serve``, the REST API and the page with a brush.

Nothing here imports ``odinpaint.training`` or ``odinpaint.study``. This ``__init__`` imports
nothing, so the command line reads ``styles`` without loading torch.
"""
