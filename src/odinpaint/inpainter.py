"""Inpainting users' images of any size with a trained model.

    >>> from odinpaint.inpainter import Inpainter
    >>> inp = Inpainter.from_checkpoint("runs/003-ce/checkpoints/best.safetensors")   # or an .onnx export
    >>> out = inp.fill(image, mask)        # PIL images or numpy arrays; white / True = hole
    >>> out = inp.fill(image, boxes_to_mask(image.size[::-1], [(10, 20, 30, 15)]))

How a hole is filled: each connected hole region gets a square context window around it,
sized so the hole covers at most ``HOLE_SHARE`` of the window, resized to the model's input
size, predicted, resized back, and pasted into the hole pixels only. The paste is feathered:
within ``feather`` px of the hole's edge the prediction is blended with OpenCV's Telea fill,
which meets the surrounding pixels exactly, so no seam shows. Holes too large for one
window at ``MAX_DOWNSCALE`` are filled in passes from the outside in: each pass fills a
band of the remaining hole next to known pixels, with windows placed along the band, and
the next pass treats it as known. Pixels outside the hole are never changed.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from odinpaint.errors import UserError
from odinpaint.data.dataset import to_tensor, to_uint8
from odinpaint.masks import max_side

# The shipped model (see weights/MODEL_CARD.md): the improved context encoder at 64 px.
DEFAULT_MODEL = Path(__file__).parent / "weights" / "default.safetensors"

HOLE_SHARE = 0.55     # a hole spans at most this share of its window's side
MAX_DOWNSCALE = 4.0   # windows larger than 4x the model size lose too much detail: use passes


def boxes_to_mask(shape, boxes) -> np.ndarray:
    """A bool hole mask of ``shape`` (H, W) from boxes (x, y, w, h) in pixels."""
    hole = np.zeros(shape, dtype=bool)
    for x, y, w, h in boxes:
        if w <= 0 or h <= 0:
            raise UserError(f"box {x},{y},{w},{h}: width and height must be positive")
        if x >= shape[1] or y >= shape[0] or x + w <= 0 or y + h <= 0:
            raise UserError(f"box {x},{y},{w},{h} lies outside the {shape[1]}x{shape[0]} image")
        hole[max(0, y) : y + h, max(0, x) : x + w] = True
    return hole


def _as_rgb(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        from odinpaint.imageio import to_rgb_array

        return to_rgb_array(image)
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise UserError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if a.dtype != np.uint8:
        raise UserError(f"image must be uint8, got {a.dtype}")
    return np.ascontiguousarray(a[..., :3])


def _as_hole(mask, shape) -> np.ndarray:
    if isinstance(mask, Image.Image):
        from odinpaint.imageio import binarize_mask

        mask = binarize_mask(np.asarray(mask.convert("L")))
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    hole = m > 127 if m.dtype == np.uint8 else m.astype(bool)
    if hole.shape != tuple(shape):
        raise UserError(f"mask is {hole.shape[1]}x{hole.shape[0]}, image is {shape[1]}x{shape[0]}: they must match")
    return hole


class Inpainter:
    """A trained generator wrapped for images of any size. ``predict`` is the model call on
    a batch at the model's size; it can be PyTorch (default) or onnxruntime."""

    def __init__(self, net, device: str = "cpu"):
        self.net = net.to(device).eval()
        self.device = device
        self.size = net.arch.image_size
        self.max_hole = max_side(self.size)  # the largest hole side the model was trained on

    @classmethod
    def from_checkpoint(cls, path, device: str = "cpu") -> "Inpainter":
        """From a training checkpoint (``.safetensors``, PyTorch) or an export (``.onnx``, onnxruntime)."""
        if str(path).endswith(".onnx"):
            from odinpaint.export import OnnxGenerator

            return cls(OnnxGenerator(path), "cpu")
        from odinpaint.training.checkpoint import load_checkpoint

        return cls(load_checkpoint(path).build("G"), device)

    @classmethod
    def default(cls, device: str = "cpu") -> "Inpainter":
        """The model shipped with odinpaint (``weights/default.safetensors``; see its model card).

        >>> inp = Inpainter.default()
        >>> out = inp.fill(Image.open("photo.jpg"), boxes_to_mask((768, 1024), [(600, 300, 60, 60)]))
        """
        if not DEFAULT_MODEL.is_file():
            raise FileNotFoundError(f"{DEFAULT_MODEL}: the default model is not installed; pass a checkpoint instead")
        return cls.from_checkpoint(DEFAULT_MODEL, device)

    @torch.no_grad()
    def predict(self, windows: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Model at its own size: uint8 (N, s, s, 3) + bool (N, s, s) -> uint8 (N, s, s, 3)."""
        image = to_tensor(windows).to(self.device)
        mask = torch.from_numpy(holes.astype(np.float32))[:, None].to(self.device)
        return to_uint8(self.net(image * (1 - mask), mask))

    # ------------------------------------------------------------------ whole images
    def fill(self, image, mask, feather: int | None = None):
        """Fill the hole(s) of ``image``; returns the same type as ``image`` (PIL or numpy)."""
        rgb = _as_rgb(image)
        hole = _as_hole(mask, rgb.shape[:2])
        out = self.fill_array(rgb, hole, feather)
        return Image.fromarray(out) if isinstance(image, Image.Image) else out

    def fill_array(self, rgb: np.ndarray, hole: np.ndarray, feather: int | None = None) -> np.ndarray:
        out = rgb.copy()
        if not hole.any():
            return out
        if hole.all():
            raise UserError("the mask covers the whole image: there is no context to fill from")
        pred = out.copy()
        todo = hole.copy()
        max_window = int(self.size * MAX_DOWNSCALE)
        while todo.any():
            band = self._next_band(todo, max_window)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(band.astype(np.uint8), connectivity=8)
            for i in range(1, n):
                region = labels == i
                for y0, x0, side in self._windows(region, stats[i], max_window, rgb.shape[:2]):
                    self._fill_window(pred, todo, region, y0, x0, side)
            todo &= ~band
        # Feathered paste: blend toward Telea's fill near the hole edge, hole pixels only.
        f = feather if feather is not None else max(2, round(min(rgb.shape[:2]) / 256))
        if f > 0:
            dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
            alpha = np.clip(dist / (f + 1), 0, 1)[..., None]
            smooth = cv2.inpaint(rgb, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
            pred = (alpha * pred + (1 - alpha) * smooth).round().astype(np.uint8)
        out[hole] = pred[hole]
        return out

    def _next_band(self, todo: np.ndarray, max_window: int) -> np.ndarray:
        """The part of the remaining hole to fill this pass: all of it when every connected
        region fits one window, else a band next to the known pixels (outside in)."""
        _, _, stats, _ = cv2.connectedComponentsWithStats(todo.astype(np.uint8), connectivity=8)
        biggest = max(max(s[2], s[3]) for s in stats[1:])
        if biggest <= HOLE_SHARE * max_window:
            return todo.copy()
        depth = HOLE_SHARE * max_window / 2 * 0.9  # each window holds the band and known pixels
        dist = cv2.distanceTransform(todo.astype(np.uint8), cv2.DIST_L2, 3)
        return todo & (dist <= depth)

    def _windows(self, region, stat, max_window, shape):
        """Square windows (y0, x0, side) that together cover one connected ``region``."""
        h, w = shape
        x, y, bw, bh = stat[:4]
        side = max(self.size, math.ceil(max(bw, bh) / HOLE_SHARE))
        if side <= max_window:
            return [self._place(y + bh / 2, x + bw / 2, side, h, w)]
        # A band of a large hole: the largest windows on a grid over its box, kept where
        # they contain some of the band.
        side, step = max_window, max(1, int(max_window * HOLE_SHARE / 2))
        out = []
        for cy in np.arange(y + step / 2, y + bh + step / 2, step):
            for cx in np.arange(x + step / 2, x + bw + step / 2, step):
                y0, x0, s = self._place(cy, cx, side, h, w)
                if region[y0 : y0 + s, x0 : x0 + s].any():
                    out.append((y0, x0, s))
        return out

    @staticmethod
    def _place(cy, cx, side, h, w):
        """A window of ``side`` centred near (cy, cx), shifted to stay inside the image when
        it fits (else it overhangs and is padded)."""
        y0 = int(round(cy - side / 2))
        x0 = int(round(cx - side / 2))
        y0 = min(max(0, y0), max(0, h - side))
        x0 = min(max(0, x0), max(0, w - side))
        return y0, x0, side

    def _fill_window(self, pred, todo, region, y0, x0, side):
        """Predict one window (every unfilled pixel in it counts as hole) and paste the
        prediction into ``region``'s pixels inside it."""
        h, w = todo.shape
        ys, xs = slice(y0, min(h, y0 + side)), slice(x0, min(w, x0 + side))
        crop, crop_hole = pred[ys, xs], todo[ys, xs]
        ph, pw = side - crop.shape[0], side - crop.shape[1]
        if ph or pw:  # the image is smaller than the window: pad by replication (padding is never pasted)
            crop = cv2.copyMakeBorder(crop, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            crop_hole = cv2.copyMakeBorder(crop_hole.astype(np.uint8), 0, ph, 0, pw, cv2.BORDER_REPLICATE) > 0
        s = self.size
        small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA) if side != s else crop
        # A pixel of the small window is a hole if any of its source pixels is one.
        small_hole = cv2.resize(crop_hole.astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) > 0 \
            if side != s else crop_hole
        out = self.predict(small[None], small_hole[None])[0]
        big = cv2.resize(out, (side, side), interpolation=cv2.INTER_CUBIC) if side != s else out
        big = big[: crop.shape[0] - ph, : crop.shape[1] - pw]
        paste = region[ys, xs]
        pred[ys, xs][paste] = big[paste]
