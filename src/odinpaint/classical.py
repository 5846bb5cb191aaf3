"""Classical inpainting (OpenCV, scikit-image): the numbers every learned model must beat,
and the start a model can take in its hole (``odinpaint.models.inputs``).

    >>> from odinpaint.classical import BASELINES, baseline_fill, classical_fill
    >>> out = BASELINES["telea"](rgb_uint8, hole_bool)      # one image: (H, W, 3) uint8
    >>> filled = classical_fill("ns", image, mask)          # a batch: tensors in [-1, 1]
    >>> fill = baseline_fill("biharmonic")                  # batch-dict callable, like a model

Telea, Navier-Stokes and biharmonic diffuse the border inward (smooth, accurate on average);
PatchMatch copies the photo's own patches (detailed, the realism anchor).

They run through the same evaluation code as the learned models (``odinpaint.evaluate``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

from odinpaint.biharmonic import biharmonic, biharmonic_fill
from odinpaint.errors import UserError
from odinpaint.tensors import to_tensor, to_uint8

INPAINT_RADIUS = 3  # OpenCV's neighbourhood radius; its documented default choice


def telea(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea's fast-marching method (OpenCV)."""
    return cv2.inpaint(image, hole.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Bertalmio et al.'s Navier-Stokes method (OpenCV)."""
    return cv2.inpaint(image, hole.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_NS)


PATCHMATCH_SIZE = 3  # patch radius (7x7 patches): on photos of other sources, lower SWD than 7 or 15 at equal PSNR, 8x faster than 15
PATCHMATCH_SEED = 0


def patchmatch(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Barnes et al.'s PatchMatch (``pypatchmatch``), the exemplar method behind content-aware
    fill: the hole is synthesised from the photo's own patches, coarse to fine. Seeded: the
    same input gives the same fill."""
    from patchmatch import patch_match

    if not patch_match.patchmatch_available:
        raise RuntimeError("pypatchmatch's native library did not load (see the warning above); "
                           "reinstall it: pip install --force-reinstall pypatchmatch")
    patch_match.set_random_seed(PATCHMATCH_SEED)
    return patch_match.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8), patch_size=PATCHMATCH_SIZE)


BASELINES = {"telea": telea, "ns": navier_stokes, "biharmonic": biharmonic, "patchmatch": patchmatch}
BASELINE_NAMES = {"telea": "Telea", "ns": "Navier-Stokes", "biharmonic": "biharmonic", "patchmatch": "PatchMatch"}


def get_baseline(name: str):
    if name not in BASELINES:
        raise UserError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return BASELINES[name]


@functools.lru_cache(maxsize=1)
def _fill_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="odinpaint-fill")


_OPERATORS = contextvars.ContextVar("biharmonic_operators", default=True)


@contextlib.contextmanager
def biharmonic_operators(use: bool):
    """Within it, ``classical_fill``'s biharmonic uses the cached solution operators (True, the
    default everywhere) or scikit-image's solver for every image (False). ``odinpaint bench``
    times a whole training step both ways with it: the step reaches the fill through the
    model's input."""
    token = _OPERATORS.set(use)
    try:
        yield
    finally:
        _OPERATORS.reset(token)


@torch.no_grad()
def classical_fill(kind: str, image: torch.Tensor, mask: torch.Tensor, fast: bool | None = None) -> torch.Tensor:
    """Classical inpainting of each image's hole, as a tensor like ``image``. The images are
    filled on torch's threads: the solvers release the GIL, and a biharmonic batch is
    otherwise the slowest part of a training step (1.5x faster on 2 cores). Biharmonic holes
    that are rectangles (every training mask) take ``odinpaint.biharmonic``'s cached solution
    operators: scikit-image's answer, 15-20x faster; ``fast=False`` keeps scikit-image for
    every image (the evaluation's reference baseline); None: as ``biharmonic_operators`` says
    (the operators, unless inside ``biharmonic_operators(False)``)."""
    fn = BASELINES[kind]
    fast = _OPERATORS.get() if fast is None else fast
    pics = to_uint8(image)
    holes = mask[:, 0].cpu().numpy() > 0.5
    workers = torch.get_num_threads()
    map_fn = _fill_pool(workers).map if workers > 1 and len(pics) > 1 else map
    if kind == "biharmonic" and fast:
        filled = biharmonic_fill(pics, holes, map_fn)
    else:
        filled = np.stack(list(map_fn(fn, pics, holes)))
    return to_tensor(filled).to(device=image.device, dtype=image.dtype)


def baseline_fill(name: str):
    """A fill function ``(known, mask) -> prediction`` for ``evaluate``, like a model's:
    ``known`` (N, 3, H, W) in [-1, 1] with the hole blanked, ``mask`` (N, 1, H, W), 1 = hole."""
    get_baseline(name)
    return functools.partial(classical_fill, name, fast=False)  # the reference: scikit-image itself
