"""Inpainting users' images of any size with a trained model, at a cost that follows the hole.

    >>> from odinpaint.inference.inpainter import Inpainter
    >>> inp = Inpainter.from_checkpoint("runs/003-ce/checkpoints/best.safetensors")   # or an .onnx export
    >>> out = inp.fill(image, mask)        # PIL images or numpy arrays; white / True = hole
    >>> out = inp.fill(image, boxes_to_mask(image.size[::-1], [(10, 20, 30, 15)]))

How a hole is filled: ``odinpaint.inference.plan.Planner`` turns the mask into window jobs
under a ``FillPolicy`` (every constant named below is one of its fields), and the
``Inpainter`` runs them, then the style's stages (``STYLE_STAGES``):

- **Crops.** Holes close to each other form a cluster; all the work on a cluster (windows,
  distance transform, seam band, blending) happens in the crop around it plus the margin its
  windows need, never on the whole image, so a small hole in a 24 MP photo costs what it
  costs in a small photo.
- **Windows as large as the hole is thick.** A hole spans at most ``hole_share`` of a
  window's side, and a window is resized to the model's size, predicted and resized back, so
  a larger window means a coarser prediction. A compact hole (a square, a blob) gets one
  window around it. A thin one (a brush stroke, a wire) gets windows sized by its thickness
  (twice its largest inscribed radius), not by its length: a 10 px stroke across a photo is
  predicted in tiles at the model's own resolution, not in one window downscaled 4x
  (the largest, ``max_downscale``). Specks (holes of at most a quarter of the model's size)
  share windows at the model's own size, so a mask of a thousand specks costs windows per
  area, not per speck.
- **Tiles.** Each tile predicts its core (``hole_share`` of its window, so every tile sees
  context on every side), and the overlaps are blended with weights that fall off toward the
  cores' edges, so no seam shows between tiles.
- **Coarse to fine for larger holes.** A hole whose box is too large for the largest window
  is first filled in a copy of its crop at half the resolution (recursively, until it fits
  one window); that coarse fill, resized up, then serves as context for the tiles at full
  resolution. The coarse passes only give context, so they use the largest windows: the
  thickness-sized tiles, which cost about 3x the time on a brush stroke, run once.
  Downscaling averages known pixels only, so the hole's old content never leaks in, and any
  known pixel survives at every level: every hole with at least one known pixel somewhere in
  the image gets filled.
- **A second, finer pass.** A hole that took one window is predicted again in overlapping
  tiles ``refine`` x smaller (cores of about 80% of the hole's side), which see the first
  fill as context: the first fill gives the hole's layout, the tiles its detail nearer the
  photo's resolution. On the validation photos it added up to +0.48 dB on squares (35% of a
  256 px photo) and lost nowhere (docs/results/quality.md).
- **Batches.** The windows of one level, of every hole, go through the network together.
- **Feathered paste.** Within ``feather`` px of the hole's edge the prediction is blended
  with OpenCV's Navier-Stokes fill of that band, which meets the surrounding pixels. Only
  hole pixels are written: the rest of the image is byte-identical to the input.
- **Detail (style "detailed", the default).** The fill so far is accurate and smooth; the
  detail stage (``odinpaint.inference.detail``) lays texture from the photo's own known patches over
  it, chosen to match the fill's low frequencies and to continue the texture around them,
  in a band as much coarser than the photo as the hole's windows were. Style "smooth"
  stops before it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from odinpaint.checkpoint import load_checkpoint
from odinpaint.classical import INPAINT_RADIUS, navier_stokes
from odinpaint.errors import UserError
from odinpaint.imageio import binarize_mask, to_rgb_array
from odinpaint.inference.detail import DetailConfig, add_detail
from odinpaint.inference.export import OnnxGenerator
from odinpaint.inference.plan import FillPolicy, Job, Planner
from odinpaint.inference.styles import DEFAULT_STYLE, check_style
from odinpaint.tensors import to_tensor, to_uint8

# The shipped model (see weights/MODEL_CARD.md): the improved context encoder at 64 px.
DEFAULT_MODEL = Path(__file__).parents[1] / "weights" / "default.safetensors"  # src/odinpaint/weights/

# The stages that follow the model's fill in each style (``STYLES``): each lays something
# over a group's fill in place. A new style is a new row here, not a branch in fill_array.
STYLE_STAGES = {"smooth": (), "detailed": ("detail",)}


def check_context(hole: np.ndarray, error=UserError) -> None:
    """Refuse a hole that covers the whole image, as ``error(reason)``: there is no known
    pixel to fill it from. Callers pass their own kind of error (one that names the mask
    file, or the server's 422)."""
    if hole.all():
        raise error("the mask covers the whole image: there is nothing to fill from")


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
        mask = binarize_mask(np.asarray(mask.convert("L")))
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    hole = m > 127 if m.dtype == np.uint8 else m.astype(bool)
    if hole.shape != tuple(shape):
        raise UserError(f"mask is {hole.shape[1]}x{hole.shape[0]}, image is {shape[1]}x{shape[0]}: they must match")
    return hole


def _masked_resize(img: np.ndarray, known: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``img`` (float32, H x W x 3) to ``size`` (w, h) over its known pixels only.
    Returns (image, known): an output pixel is known when any known pixel falls in it, so a
    single known pixel survives any downscale, and hole content never leaks into the average."""
    k = known.astype(np.float32)
    num = cv2.resize(img * k[..., None], size, interpolation=cv2.INTER_AREA)
    den = cv2.resize(k, size, interpolation=cv2.INTER_AREA)
    small_known = den > 1e-6
    return num / np.maximum(den, 1e-6)[..., None], small_known


class Inpainter:
    """A trained generator wrapped for images of any size. ``predict`` is the model call on
    a batch at the model's size; it can be PyTorch (default) or onnxruntime."""

    def __init__(self, net, device: str = "cpu", detail: DetailConfig = DetailConfig(),
                 policy: FillPolicy = FillPolicy()):
        self.net = net.to(device).eval()
        self.detail = detail
        if isinstance(self.net, torch.nn.Module):  # 1.5x faster convolutions on CPU (docs/results/performance.md)
            self.net = self.net.to(memory_format=torch.channels_last)
        self.device = device
        self.size = net.arch.image_size
        self.policy = policy
        self.planner = Planner(self.size, policy)
        self.stages = {"detail": self._add_detail}

    @classmethod
    def from_checkpoint(cls, path, device: str = "cpu") -> "Inpainter":
        """From a training checkpoint (``.safetensors``, PyTorch) or an export (``.onnx``, onnxruntime)."""
        if str(path).endswith(".onnx"):
            return cls(OnnxGenerator(path), "cpu")
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
        """Model at its own size: uint8 (N, s, s, 3) + bool (N, s, s) -> uint8 (N, s, s, 3),
        the prediction in the hole and the input elsewhere."""
        image = to_tensor(windows).to(self.device)
        mask = torch.from_numpy(holes.astype(np.float32))[:, None].to(self.device)
        if isinstance(self.net, torch.nn.Module):
            image, mask = (x.contiguous(memory_format=torch.channels_last) for x in (image, mask))
        pred = self.net(image * (1 - mask), mask)
        return to_uint8(pred * mask + image * (1 - mask))

    # ------------------------------------------------------------------ whole images
    def fill(self, image, mask, feather: int | None = None, style: str = DEFAULT_STYLE):
        """Fill the hole(s) of ``image`` in ``style`` (``STYLES``); returns the same type as
        ``image`` (PIL or numpy)."""
        rgb = _as_rgb(image)
        hole = _as_hole(mask, rgb.shape[:2])
        out = self.fill_array(rgb, hole, feather, style)
        return Image.fromarray(out) if isinstance(image, Image.Image) else out

    def fill_array(self, rgb: np.ndarray, hole: np.ndarray, feather: int | None = None,
                   style: str = DEFAULT_STYLE) -> np.ndarray:
        """``rgb`` (H, W, 3) uint8 with the pixels of the bool ``hole`` filled; a new array."""
        check_style(style)
        out = rgb.copy()
        if not hole.any():
            return out
        check_context(hole)
        f = feather if feather is not None else self.policy.feather(rgb.shape[:2])
        groups = list(self.planner.clusters(hole, margin=f + 4))
        for ys, xs, target in groups:  # the model's fill, with its seam band
            crop, crop_hole = rgb[ys, xs], hole[ys, xs]
            filled = self._fill_level(crop.astype(np.float32), crop_hole, target)
            filled = np.clip(filled, 0, 255).round().astype(np.uint8)
            out[ys, xs][target] = self._feathered(crop, crop_hole, target, filled, f)[target]
        for stage in STYLE_STAGES[style]:  # then what the style lays over it, group by group
            for ys, xs, target in groups:
                self.stages[stage](out, hole, ys, xs, target)
        return out

    def _add_detail(self, out: np.ndarray, hole: np.ndarray, ys: slice, xs: slice, target: np.ndarray) -> None:
        """Lay the photo's texture over one group's smooth fill in ``out``, in place. The
        texture's scale follows the model's: a hole predicted in windows ``scale`` x the
        model's size came out ``scale`` x blurrier than the photo, so the band the photo gives
        starts ``scale`` x coarser. Sources come from a crop around the group as large again
        as the group, where the photo's texture is most like the hole's."""
        h, w = hole.shape
        inside = cv2.distanceTransform(np.pad(target.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        thickness = 2 * float(inside.max())  # what sizes the windows (see Planner.level)
        scale = min(self.policy.max_downscale, max(1.0, thickness / self.policy.hole_share / self.size))
        rows, cols = np.flatnonzero(target.any(axis=1)), np.flatnonzero(target.any(axis=0))
        y0, y1, x0, x1 = ys.start + rows[0], ys.start + rows[-1] + 1, xs.start + cols[0], xs.start + cols[-1] + 1
        grow = max(y1 - y0, x1 - x0, 4 * self.detail.patch)
        cy, cx = slice(max(0, y0 - grow), min(h, y1 + grow)), slice(max(0, x0 - grow), min(w, x1 + grow))
        mine = np.zeros((h, w), bool)
        mine[ys, xs] = target
        mine = mine[cy, cx]
        crop = out[cy, cx]
        detailed = add_detail(crop.astype(np.float32), mine, ~hole[cy, cx], self.detail, scale)
        crop[mine] = np.clip(detailed[mine], 0, 255).round().astype(np.uint8)

    def _fill_level(self, img: np.ndarray, hole: np.ndarray, target: np.ndarray, final: bool = True) -> np.ndarray:
        """``img`` (float32, H x W x 3) with ``target`` filled, by the planner's jobs for this
        level. ``hole`` marks every pixel without a usable value (``target`` and holes left to
        other groups or levels). Holes too large for one window are first filled in a copy at
        half the resolution, whose fill, resized up, is their context here."""
        h, w = hole.shape
        plan = self.planner.level(target, final)
        img = img.copy()
        has_init = np.zeros_like(hole)
        if plan.coarse is not None:
            size = ((w + 1) // 2, (h + 1) // 2)
            small, small_known = _masked_resize(img, ~hole, size)
            touches_big = cv2.resize(plan.coarse.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
            small_target = ~small_known & touches_big
            coarse = self._fill_level(small, ~small_known, small_target, final=False)
            # Resize up from valid coarse pixels only (holes left to others hold no value).
            valid = (small_known | small_target).astype(np.float32)
            num = cv2.resize(coarse * valid[..., None], (w, h), interpolation=cv2.INTER_LINEAR)
            den = cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR)
            up = num / np.maximum(den, 1e-6)[..., None]
            img[plan.coarse] = up[plan.coarse]
            has_init = plan.coarse
        self._run(img, hole & ~has_init, plan.jobs)
        if plan.refine:  # every hole of this level now has a value: only other groups' holes stay unknown
            self._run(img, hole & ~target, plan.refine)
        return img

    def _run(self, img: np.ndarray, unknown: np.ndarray, jobs: list[Job]) -> None:
        """Predict every job's window (in batches) and write the results into ``img``.
        ``unknown`` marks the pixels that are holes in every window (no value yet)."""
        s = self.size
        acc = np.zeros_like(img) if any(j.weight is not None for j in jobs) else None
        wsum = np.zeros(unknown.shape, np.float32) if acc is not None else None
        for k in range(0, len(jobs), self.policy.batch):
            chunk = jobs[k : k + self.policy.batch]
            windows, holes = [], []
            for j in chunk:
                ys, xs = slice(j.y0, j.y0 + j.side), slice(j.x0, j.x0 + j.side)
                win, win_hole = img[ys, xs], unknown[ys, xs] | j.paste  # paste: the window within the image
                ph, pw = j.side - win.shape[0], j.side - win.shape[1]
                if ph or pw:  # the image is smaller than the window: replicate its edge (never pasted)
                    win = cv2.copyMakeBorder(win, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
                    win_hole = cv2.copyMakeBorder(win_hole.astype(np.uint8), 0, ph, 0, pw, cv2.BORDER_REPLICATE) > 0
                small, known = _masked_resize(win, ~win_hole, (s, s)) if j.side != s else (win, ~win_hole)
                if not known.any():
                    raise RuntimeError(f"window ({j.y0}, {j.x0}, side {j.side}) holds no known pixel (an inpainter bug)")
                windows.append(np.clip(small, 0, 255).round().astype(np.uint8))
                holes.append(~known)
            preds = self.predict(np.stack(windows), np.stack(holes))
            for j, pred in zip(chunk, preds):
                big = pred.astype(np.float32)
                if j.side != s:
                    big = cv2.resize(big, (j.side, j.side), interpolation=cv2.INTER_CUBIC)
                big = big[: j.paste.shape[0], : j.paste.shape[1]]
                ys, xs = slice(j.y0, j.y0 + j.paste.shape[0]), slice(j.x0, j.x0 + j.paste.shape[1])
                if j.weight is None:
                    img[ys, xs][j.paste] = big[j.paste]
                else:
                    acc[ys, xs][j.paste] += big[j.paste] * j.weight[j.paste][:, None]
                    wsum[ys, xs][j.paste] += j.weight[j.paste]
        if acc is not None:
            tiled = wsum > 0
            img[tiled] = acc[tiled] / wsum[tiled][:, None]

    @staticmethod
    def _feathered(crop: np.ndarray, hole: np.ndarray, target: np.ndarray, filled: np.ndarray, f: int) -> np.ndarray:
        """``filled`` blended, within ``f`` px of the hole's edge, toward OpenCV's Navier-Stokes
        fill of that band (which meets the known pixels): no seam at the edge. Not Telea: on a
        flat colour Telea's fill is off by up to 2 grey levels, Navier-Stokes' is exact, so a hole
        in a flat region stays exact (on the photos' 15% holes one such hole cost the mean 2 dB)."""
        if f <= 0:
            return filled
        dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        band = target & (dist <= f + 1)
        context = crop.copy()
        context[target] = filled[target]  # the band's fill sees the known pixels and the prediction inside
        # A replicated border: on a one-pixel-high image OpenCV's inpainting reads past the edge
        # and gives a different answer on every call.
        p = INPAINT_RADIUS + 1
        context = cv2.copyMakeBorder(context, p, p, p, p, cv2.BORDER_REPLICATE)
        band_mask = cv2.copyMakeBorder(band.astype(np.uint8), p, p, p, p, cv2.BORDER_CONSTANT, value=0)
        smooth = navier_stokes(context, band_mask)[p:-p, p:-p]
        alpha = np.clip(dist[band] / (f + 1), 0, 1)[:, None]
        out = filled.copy()
        out[band] = (alpha * filled[band] + (1 - alpha) * smooth[band]).round().astype(np.uint8)
        return out

