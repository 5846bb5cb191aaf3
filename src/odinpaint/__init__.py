"""odinpaint: on-demand image inpainting with context encoders and conditional GANs.

    $ odinpaint data prepare photos --out data/photos64 --size 64
    $ odinpaint baseline --data data/photos64
"""

__version__ = "0.1.0"
