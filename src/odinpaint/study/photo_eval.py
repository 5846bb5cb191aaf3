"""``odinpaint eval-photos``: what users get, scored on whole photos the model never saw.

    odinpaint eval-photos --data data/photos64                    # the shipped model, the test photos
    odinpaint eval-photos --data data/photos64 --model runs/x/checkpoints/best.safetensors
    odinpaint eval-photos --photos ~/holiday --model model.onnx --sizes 512 --out runs/photo-eval
    odinpaint eval-photos --photos gcompris --masks-per-photo 1   # every photo of a named source

    >>> from odinpaint.study.photo_eval import PhotoEvalConfig, evaluate_photos
    >>> result = evaluate_photos(PhotoEvalConfig(data="data/photos64"))
    >>> result["sizes"]["512"]["square 47%"]["detailed"]["psnr_hole"]   # or "smooth", "patchmatch", ...

The photos are the source files of a prepared data set's test split (for the ``photos`` set,
the opencv-doc photos: another source than the training wallpapers), every image of a
folder, or every photo of a named source that the shipped model never trains on
(``PHOTO_SOURCES``: gcompris's photos of animals, monuments and people, or the sample
photos of Python packages). Each is used whole, resized (never enlarged) so that its longer
side is 256 or 512 px. On each photo, at each size, a fixed seeded set of holes: squares
of 15, 25, 35 and 47% of the shorter side, and free-form strokes covering 10-20, 20-30,
30-40 and 40-50% of the area. The model fills them as ``odinpaint fill`` does (``Inpainter``: windows, coarse-to-fine
passes, feathering, and the detail stage for the "detailed" style), in each of its styles;
the classical methods, PatchMatch among them, fill the same photos at full resolution. Every
output is composited into the known pixels and rounded to 8 bits, then scored on two axes:

- accuracy: hole PSNR, SSIM, hole L1, the mean colour error in the hole per channel (bias),
  and MS-SSIM, a structure measure that a blur does not win as easily as PSNR;
- realism: ``swd`` (the sliced Wasserstein distance between the fill's and the truth's
  7x7 patches on three Laplacian levels; lower is more photo-like) and ``hf`` (the hole's
  finest detail as a share of the truth's; 1 is as detailed as the photo, 0 flat).

Writes ``OUT/photo_eval.json``, ``OUT/photo_eval.md`` and sample grids of the largest holes.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure
from tqdm import tqdm

from odinpaint import masks as masklib
from odinpaint import metrics
from odinpaint.errors import UserError
from odinpaint.inference.styles import STYLES
from odinpaint.study.stats import format_interval, paired_interval
from odinpaint.tables import markdown_table

# (name, kind, parameter): a square's side as a share of the shorter side, or a free-form
# level (masks.FREEFORM_AREA: level 2 covers 10-20% of the area ... level 5 40-50%).
HOLES = (("square 15%", "square", 0.15), ("square 25%", "square", 0.25), ("square 35%", "square", 0.35),
         ("square 47%", "square", 0.47), ("strokes 10-20%", "freeform", 2), ("strokes 20-30%", "freeform", 3),
         ("strokes 30-40%", "freeform", 4), ("strokes 40-50%", "freeform", 5))
CLASSICAL = ("telea", "ns", "biharmonic", "patchmatch")
BIAS = ("bias_r", "bias_g", "bias_b")  # the mean colour error in the hole per channel, grey levels
SCORES = ("psnr_hole", "ssim", "ms_ssim", "l1_hole", *BIAS, "swd", "hf")
SCORE_TITLES = {"psnr_hole": "hole PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "l1_hole": "hole L1 (grey levels)",
                "swd": "SWD (lower is more photo-like)", "hf": "HF share (1 = as detailed as the photo)"}
PER_HOLE = ("psnr_hole", "swd", "detail")  # kept hole by hole: paired intervals between methods
REALISM_ANCHOR = "patchmatch"  # the detailed fill's realism is held against it
# MS-SSIM's five scales with a 7 px window need a shorter side over 96 px: a 256 px photo of
# 16:10 has 160 (the default 11 px window would need over 160). Smaller photos get fewer
# scales (the first weights of the five, renormalised).
MS_SSIM_KERNEL = 7
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, torchmetrics' default


PHOTO_SOURCES = ("gcompris", "samples")  # --photos NAME: every photo of that source, whatever its split


@dataclass
class PhotoEvalConfig:
    data: str = ""                 # a prepared data set: its test (or ``split``) split's source photos
    split: str = "test"            # of ``data``: "val" to choose between models, "test" to report
    photos: str = ""               # or a folder of photos, or one of PHOTO_SOURCES
    model: str = ""                # checkpoint, exported weights or .onnx; "" for the shipped model
    sizes: tuple = (256, 512)      # longer side of each photo, px
    masks_per_photo: int = 2       # holes of each kind per photo and size
    max_photos: int = 0            # 0: every photo; else this many, evenly spaced over them (a quicker run)
    styles: tuple = STYLES         # the model's fill styles scored (the first is the one compared)
    methods: tuple = CLASSICAL     # classical methods beside the model
    seed: int = masklib.EVAL_SEED
    device: str = "cpu"
    out: str = ""
    samples: int = 4               # photos in each sample grid
    progress: bool = True

    def resolved(self) -> "PhotoEvalConfig":
        if bool(self.data) == bool(self.photos):
            raise UserError("give the photos as exactly one of --data (a prepared data set) or --photos (a folder)")
        if not self.sizes or any(s < 32 for s in self.sizes):
            raise UserError(f"config field 'sizes': each size must be at least 32 px, got {self.sizes}")
        if self.split not in ("val", "test"):
            raise UserError(f"config field 'split': 'val' or 'test', got {self.split!r}")
        if self.max_photos < 0:
            raise UserError(f"config field 'max_photos': 0 (all) or more, got {self.max_photos}")
        if self.masks_per_photo < 1:
            raise UserError(f"config field 'masks_per_photo': must be at least 1, got {self.masks_per_photo}")
        unknown = [m for m in self.methods if m not in CLASSICAL]
        if unknown:
            raise UserError(f"config field 'methods': unknown {', '.join(unknown)}; known: {', '.join(CLASSICAL)}")
        if not self.styles or any(s not in STYLES for s in self.styles):
            raise UserError(f"config field 'styles': each one of {', '.join(STYLES)}, got {self.styles}")
        return self


def _split_files(data: str, split: str) -> tuple[dict, list[str]]:
    """A prepared data set's source (its manifest entry) and the files of one split."""
    from odinpaint.data.dataset import DataSet

    ds = DataSet(data)
    return ds.manifest.get("source", {}), ds.manifest["splits"][split].get("files", [])


def held_out_photos(data: str, split: str = "test") -> list[Path]:
    """The source files of a prepared data set's test (or val) split, from its manifest."""
    return _split_paths(data, split, *_split_files(data, split))


def _split_paths(data: str, split: str, source: dict, files: list[str]) -> list[Path]:
    kind = source.get("kind")
    if kind == "photos":
        paths = [Path("/") / f for f in files]
    elif kind == "folder":
        paths = [Path(source["root"]) / f for f in files]
    elif kind == "samples":
        by_name = {Path(f).name: Path(f) for f in source.get("files", [])}
        paths = [by_name[f] for f in files if f in by_name]
    else:
        raise UserError(f"{data}: a {kind or 'unknown'} data set does not list its {split} photos' files; "
                        "pass a folder of photos with --photos")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise UserError(f"{data}: {split} photos not found ({', '.join(missing[:3]) or 'none listed'}); "
                        "install the data set's source again (make photos) or pass --photos")
    return paths


def load_photos(cfg: PhotoEvalConfig) -> list[tuple[str, np.ndarray]]:
    from odinpaint.data.sources import gcompris_photos, load_item, resolve_source
    from odinpaint.imageio import find_images, load_photo

    def decoded(items):  # short names for the report: an rcc item's name is "<bundle path>:<path inside>"
        return [(Path(i.name.split(":")[0]).stem + "/" + Path(i.name).name if ":" in i.name else i.name, load_item(i))
                for i in items]

    if cfg.photos in PHOTO_SOURCES:
        return decoded(resolve_source(cfg.photos).items)
    if cfg.data:
        source, files = _split_files(cfg.data, cfg.split)
        if source.get("kind") == "gcompris":  # the photos live inside Qt resource bundles, not in files
            wanted = set(files)
            items = [i for i in gcompris_photos() if i.name in wanted]
            if not items or len(items) < len(wanted):
                raise UserError(f"{cfg.data}: found {len(items)} of its {len(wanted)} {cfg.split} photos in "
                                f"gcompris-qt-data; install it again: sudo apt-get install gcompris-qt-data")
            return decoded(items)
        paths = _split_paths(cfg.data, cfg.split, source, files)
    else:
        paths = find_images(cfg.photos)
        if not paths:
            raise UserError(f"{cfg.photos}: no images found")
    return [(p.name, load_photo(p).rgb) for p in paths]


def resize_longer(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` resized (area averaging) so its longer side is ``side``; never enlarged."""
    import cv2

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def photo_hole(shape: tuple[int, int], kind: str, param, rng: np.random.Generator, max_tries: int = 200) -> np.ndarray:
    """One hole (bool, ``shape``) of a kind in ``HOLES``: a square placed uniformly inside, or
    free-form strokes drawn on the square of the longer side and cut to the photo, redrawn
    until the photo's hole share lies in the level's range."""
    h, w = shape
    if kind == "square":
        side = max(1, round(param * min(h, w)))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        hole = np.zeros(shape, bool)
        hole[y : y + side, x : x + side] = True
        return hole
    lo, hi = masklib.FREEFORM_AREA[param - 1]
    n = max(h, w)
    y0, x0 = (n - h) // 2, (n - w) // 2
    for _ in range(max_tries):
        hole = masklib.freeform_mask(n, param, rng)[y0 : y0 + h, x0 : x0 + w] > 0
        if lo <= hole.mean() <= hi:
            return hole
    raise RuntimeError(f"could not draw strokes covering {lo:.0%}-{hi:.0%} of a {w}x{h} photo")


def score(out: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """Scores of one filled photo (uint8, composited here) against the truth."""
    from odinpaint.tensors import to_tensor

    out = np.where(hole[..., None], out, truth)
    pred, image = to_tensor(out[None]), to_tensor(truth[None])
    mask = torch.from_numpy(hole[None, None].astype(np.float32))
    m = metrics.image_metrics(pred, image, mask)
    bias = metrics.channel_bias(pred, image, mask)[0]
    scales = len(MS_SSIM_BETAS)
    while scales > 1 and min(hole.shape) // max(1, (scales - 1) ** 2) <= MS_SSIM_KERNEL - 1:  # torchmetrics' rule
        scales -= 1
    betas = tuple(b / sum(MS_SSIM_BETAS[:scales]) for b in MS_SSIM_BETAS[:scales])
    ms_ssim = multiscale_structural_similarity_index_measure((pred + 1) / 2, (image + 1) / 2, data_range=1.0,
                                                             kernel_size=MS_SSIM_KERNEL, betas=betas)
    return {"psnr_hole": float(m["psnr_hole"][0]), "ssim": float(m["ssim"][0]), "ms_ssim": float(ms_ssim),
            "l1_hole": float(m["l1_hole"][0]), "bias_r": float(bias[0]), "bias_g": float(bias[1]),
            "bias_b": float(bias[2]), "swd": metrics.swd(out, truth, hole), "detail": metrics.detail(out, hole),
            "detail_truth": metrics.detail(truth, hole)}


def _inpainter(cfg: PhotoEvalConfig):
    from odinpaint.inference.inpainter import Inpainter

    return Inpainter.from_checkpoint(cfg.model, cfg.device) if cfg.model else Inpainter.default(cfg.device)


def evaluate_photos(cfg: PhotoEvalConfig) -> dict:
    """Score the model and the classical methods; returns (and writes, when ``cfg.out``) the
    result: per size, per hole kind, per method, the mean of each score over photos and holes,
    with the seconds per fill."""
    from odinpaint.classical import BASELINES

    cfg = cfg.resolved()
    photos = load_photos(cfg)
    if 0 < cfg.max_photos < len(photos):
        photos = [photos[i] for i in np.linspace(0, len(photos) - 1, cfg.max_photos).round().astype(int)]
    inp = _inpainter(cfg)
    methods = {**{s: functools.partial(inp.fill_array, style=s) for s in cfg.styles},
               **{m: BASELINES[m] for m in cfg.methods}}
    total = len(cfg.sizes) * len(photos) * len(HOLES) * cfg.masks_per_photo
    bar = tqdm(total=total, desc="eval-photos", unit="hole", disable=not cfg.progress)
    per = {}      # (size, hole name, method) -> list of score dicts
    seconds = {}  # method -> seconds
    samples = {}  # (size, hole name) -> [(truth, hole, {method: out})] for the grids
    for size in cfg.sizes:
        for p, (name, rgb) in enumerate(photos):
            truth = resize_longer(rgb, size)
            for k, (hole_name, kind, param) in enumerate(HOLES):
                rng = np.random.default_rng([cfg.seed, size, p, k])
                for _ in range(cfg.masks_per_photo):
                    hole = photo_hole(truth.shape[:2], kind, param, rng)
                    known = np.where(hole[..., None], 0, truth).astype(np.uint8)  # the truth never reaches a method
                    outs = {}
                    for method, fn in methods.items():
                        t = time.perf_counter()
                        outs[method] = fn(known, hole)
                        seconds[method] = seconds.get(method, 0.0) + time.perf_counter() - t
                        per.setdefault((size, hole_name, method), []).append(score(outs[method], truth, hole))
                    grid = samples.setdefault((size, hole_name), [])
                    if len(grid) < cfg.samples and len(grid) == p:  # the first hole of the first photos
                        grid.append((truth, hole, outs))
                    bar.update(1)
    bar.close()
    result = {"config": {**asdict(cfg), "sizes": list(cfg.sizes), "styles": list(cfg.styles),
                         "methods": list(cfg.methods)},
              "photos": [n for n, _ in photos], "holes": [h for h, _, _ in HOLES],
              "ms_per_fill": {m: 1000 * s / (total or 1) for m, s in seconds.items()}, "sizes": {}}
    for (size, hole_name, method), rows in per.items():
        mean = {s: metrics.nanmean([r[s] for r in rows]) for s in SCORES if s != "hf"}  # swd: NaN for a hole too thin
        # hf pooled over the cell's holes (the ratio of mean details), so one hole over a flat
        # sky, whose truth holds almost no detail, does not decide it
        mean["hf"] = metrics.detail_share([r["detail"] for r in rows], [r["detail_truth"] for r in rows])
        # every hole's scores and colour error, in the order all methods share: intervals pair
        # them hole by hole
        result["sizes"].setdefault(str(size), {}).setdefault(hole_name, {})[method] = {
            **mean, "n": len(rows), **{per_hole_key(s): [r[s] for r in rows] for s in PER_HOLE},
            "bias_per_hole": [[r[c] for c in BIAS] for r in rows]}
    if cfg.out:
        write(result, samples, Path(cfg.out))
    return result


def compared_style(result: dict) -> str:
    """The model style the comparisons are about: the first scored (the default fill)."""
    return result.get("config", {}).get("styles", STYLES)[0]


def per_hole_key(score_name: str) -> str:
    """Where a method's row keeps one score hole by hole: psnr_per_hole, swd_per_hole, ..."""
    return "psnr_per_hole" if score_name == "psnr_hole" else f"{score_name}_per_hole"


def best_classical(result: dict, size: str, hole: str, score_name: str = "psnr_hole") -> tuple[str, float]:
    """The classical method with the best ``score_name`` at one size and hole kind, and its score."""
    rows = result["sizes"][size][hole]
    pick = min if score_name in ("l1_hole", "swd") else max
    name = pick((m for m in rows if m in CLASSICAL), key=lambda m: rows[m][score_name])
    return name, rows[name][score_name]


def markdown(result: dict) -> str:
    """One table per size and score (methods x hole kinds), the model against the best
    classical method per hole kind, and against PatchMatch on both axes."""
    holes = result["holes"]
    cfg = result["config"]
    style = compared_style(result)
    where = f"the {cfg.get('split', 'test')} split of {cfg['data']}" if cfg.get("data") else cfg.get("photos", "")
    lines = [f"Photos: {len(result['photos'])} from {where} ({', '.join(result['photos'])}); "
             f"{cfg['masks_per_photo']} holes of each kind per photo and size. The model's fill styles: "
             f"{', '.join(cfg.get('styles', STYLES))}; \"{style}\" is the one compared."]
    digits = {"psnr_hole": 2, "l1_hole": 2, "swd": 3, "hf": 2}
    for size, by_hole in result["sizes"].items():
        methods = list(next(iter(by_hole.values())))
        for s, title in SCORE_TITLES.items():
            rows = [[m] + [f"{by_hole[h][m][s]:.{digits.get(s, 4)}f}" for h in holes] for m in methods]
            lines += ["", f"**{size} px, {title}**", "", markdown_table(["method", *holes], rows)]
        lines += ["", f"**{size} px, {style} minus the best classical method** (hole PSNR dB; SSIM; MS-SSIM)", "",
                  markdown_table(["", *holes], _model_minus_best(result, size)),
                  "", f"**{size} px, {style}'s mean colour error in the hole** (grey levels; 95% interval "
                      f"over the holes; the best classical method's in brackets)", "",
                  markdown_table(["", *holes], colour_error_rows(result, size))]
        if all(REALISM_ANCHOR in by_hole[h] for h in holes):
            lines += ["", f"**{size} px, {style} against PatchMatch, the realism anchor** (differences with 95% "
                          "intervals over the holes, paired hole by hole)", "",
                      markdown_table(["", *holes], _against_anchor(result, size))]
    ms = result["ms_per_fill"]
    lines += ["", "Milliseconds per fill: " + ", ".join(f"{m} {v:.0f}" for m, v in ms.items()) + "."]
    return "\n".join(lines)


def paired(result: dict, size: str, hole: str, a: str, b: str, score_name: str = "psnr_hole") -> dict:
    """Method ``a``'s ``score_name`` minus method ``b``'s at one size and hole kind, with its 95%
    bootstrap interval over the holes, paired hole by hole (``stats.paired_interval``); holes
    where either score is NaN (too thin for ``swd``) are left out."""
    rows = result["sizes"][size][hole]
    x = np.asarray(rows[a][per_hole_key(score_name)], np.float64)
    y = np.asarray(rows[b][per_hole_key(score_name)], np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 2:  # one photo with one hole of a kind: a difference, no interval
        return {"diff": float(x[0] - y[0]) if len(x) else float("nan"), "low": float("nan"), "high": float("nan"),
                "n": len(x)}
    return paired_interval(x, y)


def model_vs_best(result: dict, size: str, hole: str) -> dict:
    """The compared style's hole PSNR minus the best classical method's (by mean) at one size
    and hole kind, with its 95% interval over the holes, paired hole by hole."""
    best, _ = best_classical(result, size, hole)
    return {"best": best, **paired(result, size, hole, compared_style(result), best)}


def _fmt(x: dict, digits: int = 2) -> str:
    return format_interval(x, "", digits) if x["n"] > 1 else f"{x['diff']:+.{digits}f}"


def _against_anchor(result: dict, size: str) -> list[list[str]]:
    """Rows of the compared style minus PatchMatch per hole kind: hole PSNR and SWD with
    intervals, and both methods' HF shares."""
    style, holes = compared_style(result), result["holes"]
    by_hole = result["sizes"][size]
    return [["hole PSNR (dB)"] + [_fmt(paired(result, size, h, style, REALISM_ANCHOR)) for h in holes],
            ["SWD"] + [_fmt(paired(result, size, h, style, REALISM_ANCHOR, "swd"), 3) for h in holes],
            [f"HF share, {style} (PatchMatch)"] + [f"{by_hole[h][style]['hf']:.2f} ({by_hole[h][REALISM_ANCHOR]['hf']:.2f})"
                                                   for h in holes]]


def colour_error(result: dict, size: str, hole: str, method: str = "") -> list[dict]:
    """``method``'s mean colour error per channel (R, G, B) at one size and hole kind, each
    with its 95% bootstrap interval over the holes: a colour lean the method has, told apart
    from the lean of these particular holes (the classical methods' errors show that one)."""
    per = np.asarray(result["sizes"][size][hole][method or compared_style(result)]["bias_per_hole"], np.float64)
    if len(per) < 2:
        return [{"diff": float(x), "low": float("nan"), "high": float("nan"), "n": 1} for x in per[0]]
    return [paired_interval(per[:, c], np.zeros(len(per))) for c in range(per.shape[1])]


def colour_error_rows(result: dict, size: str) -> list[list[str]]:
    """Rows R, G, B of the model's colour error per hole kind, with intervals and, in
    brackets, the error of the classical method best on hole PSNR there."""
    errors = {h: colour_error(result, size, h) for h in result["holes"]}  # one bootstrap per channel and hole
    best = {h: best_classical(result, size, h)[0] for h in result["holes"]}
    rows = []
    for c, name in enumerate(("R", "G", "B")):
        row = [name]
        for h, per_channel in errors.items():
            x = per_channel[c]
            row.append(f"{format_interval(x, '') if x['n'] > 1 else format(x['diff'], '+.1f')} "
                       f"({best[h]} {result['sizes'][size][h][best[h]][BIAS[c]]:+.1f})")
        rows.append(row)
    return rows


def _model_minus_best(result: dict, size: str) -> list[list[str]]:
    """Per score (hole PSNR with its interval over holes, SSIM, MS-SSIM): the model's score
    minus the best classical method's, per hole kind."""
    by_hole, style = result["sizes"][size], compared_style(result)
    rows = [["hole PSNR (dB), 95% interval"] + [_fmt(model_vs_best(result, size, h)) for h in result["holes"]]]
    for s in ("ssim", "ms_ssim"):
        rows.append([SCORE_TITLES[s]] + [f"{by_hole[h][style][s] - best_classical(result, size, h, s)[1]:+.4f}"
                                         for h in result["holes"]])
    return rows


def _grid(rows: list, path: Path, title: str) -> None:
    """Input (hole in magenta), every method's output, the truth: one row per photo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(rows[0][2])
    cols = ["input", *methods, "truth"]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.2 * len(cols), 2.0 * len(rows) + 0.4), squeeze=False)
    for r, (truth, hole, outs) in enumerate(rows):
        shown = [np.where(hole[..., None], np.array([255, 0, 255], np.uint8), truth),
                 *(np.where(hole[..., None], outs[m], truth) for m in methods), truth]
        for c, img in enumerate(shown):
            ax = axes[r][c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict, samples: dict, out: Path) -> None:
    from odinpaint.atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for (size, hole_name), rows in samples.items():
        if hole_name in (HOLES[3][0], HOLES[-1][0]) and rows:  # the largest square and the most strokes
            name = f"samples_{size}_{hole_name.split()[0]}.png"
            _grid(rows, out / name, f"{hole_name} holes, photos at {size} px (longer side)")
            figures.append(name)
    result["figures"] = figures
    atomic_write(out / "photo_eval.json", lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
    text = "# Whole-photo evaluation\n\n" + markdown(result) + "\n" + "".join(f"\n![{f}]({f})\n" for f in figures)
    atomic_write(out / "photo_eval.md", lambda tmp: Path(tmp).write_text(text))
