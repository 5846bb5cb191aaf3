"""Classical inpainting: the numbers every learned model must beat.

    >>> from odinpaint.baselines import BASELINES, baseline_fill
    >>> out = BASELINES["telea"](rgb_uint8, hole_bool)      # (H, W, 3) uint8
    >>> fill = baseline_fill("biharmonic")                  # batch-dict callable, like a model

They run through the same evaluation code as the learned models (``odinpaint.evaluate``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from odinpaint.errors import UserError

INPAINT_RADIUS = 3  # OpenCV's neighbourhood radius; its documented default choice


def telea(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea's fast-marching method (OpenCV)."""
    return cv2.inpaint(image, hole.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Bertalmio et al.'s Navier-Stokes method (OpenCV)."""
    return cv2.inpaint(image, hole.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_NS)


def biharmonic(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Biharmonic-equation inpainting (scikit-image)."""
    if not hole.any():
        return image.copy()
    out = inpaint_biharmonic(image, hole.astype(bool), channel_axis=-1)
    return np.clip(out * 255.0, 0, 255).round().astype(np.uint8)


BASELINES = {"telea": telea, "ns": navier_stokes, "biharmonic": biharmonic}
BASELINE_NAMES = {"telea": "Telea", "ns": "Navier-Stokes", "biharmonic": "biharmonic"}


def get_baseline(name: str):
    if name not in BASELINES:
        raise UserError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return BASELINES[name]


def baseline_fill(name: str):
    """A fill function ``(known, mask) -> prediction`` for ``evaluate``, like a model's:
    ``known`` (N, 3, H, W) in [-1, 1] with the hole blanked, ``mask`` (N, 1, H, W), 1 = hole."""
    from odinpaint.models.inputs import classical_fill

    get_baseline(name)
    return functools.partial(classical_fill, name, fast=False)  # the reference: scikit-image itself
