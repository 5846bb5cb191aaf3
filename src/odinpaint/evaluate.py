"""Per-level evaluation on the fixed masks: one code path for models and classical baselines.

A *fill function* takes ``known`` (N, 3, H, W) in [-1, 1] whose hole pixels are blanked (so
no method can peek at the truth) and ``mask`` (N, 1, H, W), 1 = hole, and returns a
prediction; ``evaluate`` composites it and scores it per level.

    >>> from odinpaint.evaluate import EvalConfig, evaluate, markdown_report
    >>> from odinpaint.classical import baseline_fill
    >>> res = evaluate(baseline_fill("telea"), ds.split("test"), EvalConfig())
    >>> res["levels"]["3"]["psnr_hole"]
    >>> print(markdown_report({"Telea": res}))
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from odinpaint import masks as masklib
from odinpaint import metrics
from odinpaint.tables import markdown_table
from odinpaint.tensors import quantize_8bit, to_tensor, to_uint8

LEVEL_KEYS = [str(level) for level in range(1, masklib.NUM_LEVELS + 1)] + ["mixed"]
# SWD pools the patches of this many masks per level, evenly spaced: enough for its 8,192-patch
# cap at levels 3-5, and extracting every mask's patches would add seconds per level to each evaluation
SWD_POOL = 128


@dataclass
class EvalConfig:
    max_images: int = 250        # test images used, evenly spaced over the split (all when fewer)
    masks_per_image: int = 4     # fixed masks per image per level
    batch_size: int = 64
    seed: int = masklib.EVAL_SEED
    mask_kind: str = "square"    # "square" (the report's levels) or "freeform"


def eval_indices(n_available: int, max_images: int) -> np.ndarray:
    """Evenly spaced test indices: deterministic, and spread over every source photo."""
    n = min(n_available, max_images)
    return np.unique(np.linspace(0, n_available - 1, n).round().astype(np.int64))


def eval_set(test: np.ndarray, cfg: EvalConfig):
    """(image index per mask, masks per level): the same for every method that is evaluated."""
    idx = eval_indices(len(test), cfg.max_images)
    per_mask = np.repeat(idx, cfg.masks_per_image)
    levels = masklib.eval_masks(test.shape[1], len(per_mask), seed=cfg.seed, kind=cfg.mask_kind)
    return per_mask, {str(k): v for k, v in levels.items()}


@torch.no_grad()
def evaluate(fill, test: np.ndarray, cfg: EvalConfig | None = None, desc: str = "eval",
             progress: bool = True, device: str = "cpu") -> dict:
    """Score ``fill`` on every level of the fixed evaluation set of ``test`` (uint8 N,H,W,3)."""
    cfg = cfg or EvalConfig()
    per_mask, level_masks = eval_set(test, cfg)
    out = {"config": asdict(cfg), "n_images": int(len(np.unique(per_mask))), "n_masks": int(len(per_mask)), "levels": {}}
    bar = tqdm(total=len(per_mask) * len(LEVEL_KEYS), desc=desc, unit="img", disable=not progress, leave=False)
    for key in LEVEL_KEYS:
        scores: dict[str, list] = {m: [] for m in metrics.METRICS}
        seen = {"out": [], "truth": [], "hole": []}  # 8-bit, for the realism measures
        seconds = 0.0
        for i in range(0, len(per_mask), cfg.batch_size):
            image = to_tensor(test[per_mask[i : i + cfg.batch_size]]).to(device)
            mask = torch.from_numpy(level_masks[key][i : i + cfg.batch_size]).float()[:, None].to(device)
            known = image * (1 - mask)
            t0 = time.perf_counter()
            pred = fill(known, mask)
            seconds += time.perf_counter() - t0
            for m, v in metrics.image_metrics(pred, image, mask).items():
                scores[m].append(v.cpu())
            seen["out"] += list(to_uint8(metrics.composite(pred.float().clamp(-1, 1), image, mask)))
            seen["truth"] += list(to_uint8(image))
            seen["hole"] += list(mask[:, 0].cpu().numpy() > 0.5)
            bar.update(len(image))
        per_image = {m: torch.cat(v) for m, v in scores.items()}
        summary = metrics.summarize(per_image)
        summary["ms_per_image"] = 1000 * seconds / len(per_mask)
        # realism, pooled over the level's holes (one 64 px hole holds too few patches)
        details = [metrics.detail(o, h) for o, h in zip(seen["out"], seen["hole"])]
        truth_details = [metrics.detail(t, h) for t, h in zip(seen["truth"], seen["hole"])]
        summary["hf"] = metrics.detail_share(details, truth_details)
        pool = np.unique(np.linspace(0, len(details) - 1, min(len(details), SWD_POOL)).round().astype(int))
        summary["swd"] = metrics.swd(*([seen[k][i] for i in pool] for k in ("out", "truth", "hole")))
        out["levels"][key] = summary
        # each mask's hole PSNR and detail, in the fixed mask order every method shares: the
        # report's paired confidence intervals (odinpaint.study.stats) resample these
        out.setdefault("psnr_hole_per_mask", {})[key] = [round(float(v), 4) for v in per_image["psnr_hole"]]
        out.setdefault("detail_per_mask", {})[key] = [round(float(v), 4) for v in details]
        out.setdefault("truth_detail", {})[key] = metrics.nanmean(truth_details)
    bar.close()
    return out


def _cache_valid(result: dict | None, cfg: EvalConfig) -> bool:
    """A cached result counts when made with the same settings and today's metrics."""
    return (result is not None and result.get("config") == asdict(cfg)
            and set(metrics.METRICS) <= set(result["levels"]["mixed"]) and "psnr_hole_per_mask" in result
            and "detail_per_mask" in result)


def baseline_results(ds, cfg: EvalConfig, methods=None, progress: bool = True) -> dict[str, dict]:
    """The classical baselines on ``ds``'s test split, cached in ``DATA/baselines/baselines.json``
    and recomputed only when the evaluation settings differ."""
    from odinpaint.classical import BASELINE_NAMES, BASELINES, baseline_fill

    cache = ds.root / "baselines" / "baselines.json"
    cached = {}
    if cache.is_file():
        try:
            cached = json.loads(cache.read_text()).get("results", {})
        except json.JSONDecodeError:
            cached = {}
    results = dict(cached)
    for key in methods or BASELINES:
        name = BASELINE_NAMES[key]
        if _cache_valid(cached.get(name), cfg):
            results[name] = cached[name]
        else:
            results[name] = evaluate(baseline_fill(key), ds.split("test"), cfg, desc=key, progress=progress)
    results = {n: r for n, r in results.items() if _cache_valid(r, cfg)}
    if results != cached:
        try:
            cache.parent.mkdir(exist_ok=True)
            cache.write_text(json.dumps({"data": str(ds.root), "results": results}, indent=1))
        except OSError:
            pass  # a read-only data set: the cache is an optimisation only
    return {BASELINE_NAMES[k]: results[BASELINE_NAMES[k]] for k in methods or BASELINES}


def model_fill(net, device: str = "cpu", channels_last: bool | None = None, tta: bool | None = None):
    """A fill function for ``evaluate`` from a generator network (eval mode), its output on the
    8-bit grid like every saved image. ``channels_last`` (default: on CPU) puts the network in
    that memory layout: 1.6x faster for the 8-view context encoder (odinpaint bench, inference).
    ``tta``: a context encoder's test-time views, on or off (default: its architecture's)."""
    net = net.to(device).eval()
    if channels_last if channels_last is not None else device == "cpu":
        net = net.to(memory_format=torch.channels_last)
    views = {"tta": tta} if tta is not None and hasattr(net.arch, "tta") else {}
    return lambda known, mask: quantize_8bit(net(known, mask, **views))


COLUMNS = (("psnr_hole", "PSNR hole", "{:.2f}"), ("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"),
           ("l1_hole", "L1 hole", "{:.2f}"), ("bias_hole", "bias", "{:+.2f}"), ("border_err", "border", "{:.2f}"),
           ("psnr_known", "PSNR known (raw)", "{:.2f}"), ("hf", "HF share", "{:.2f}"), ("swd", "SWD", "{:.3f}"),
           ("ms_per_image", "ms/img", "{:.2f}"))


def best_per_level(results: dict[str, dict], metric: str) -> dict[str, str]:
    """For each level, the name of the method with the best ``metric``."""
    best = {}
    for key in LEVEL_KEYS:
        for name, res in results.items():
            v = res["levels"][key][metric]
            if key not in best or metrics.better(metric, v, results[best[key]]["levels"][key][metric]):
                best[key] = name
    return best


def markdown_report(results: dict[str, dict]) -> str:
    """A hole-PSNR overview (methods x levels, best in bold) and the full per-level table."""
    level_names = [f"L{k}" if k != "mixed" else "mixed" for k in LEVEL_KEYS]
    best = best_per_level(results, "psnr_hole")
    overview = [[name] + [f"{res['levels'][key]['psnr_hole']:.2f}" for key in LEVEL_KEYS] for name, res in results.items()]
    bold = {(i, j + 1) for i, name in enumerate(results) for j, key in enumerate(LEVEL_KEYS) if best[key] == name}
    full = [[name, lname] + [f.format(res["levels"][key][k]) for k, _, f in COLUMNS]
            for name, res in results.items() for key, lname in zip(LEVEL_KEYS, level_names)]
    return "\n".join(["Hole PSNR (dB) per level; best in bold", "",
                      markdown_table(["method"] + level_names, overview, bold), "",
                      "All metrics (L1, bias and border error in 8-bit grey levels)", "",
                      markdown_table(["method", "level"] + [c[1] for c in COLUMNS], full)])
