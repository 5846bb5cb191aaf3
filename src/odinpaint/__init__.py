"""odinpaint: on-demand image inpainting with context encoders and conditional GANs.

    $ odinpaint data prepare photos --out data/photos64 --size 64
    $ odinpaint baseline --data data/photos64
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``odinpaint.Inpainter``, loaded on first use: ``import odinpaint`` stays light (no torch)."""
    if name == "Inpainter":
        from odinpaint.inference.inpainter import Inpainter

        return Inpainter
    raise AttributeError(f"module 'odinpaint' has no attribute {name!r}")
