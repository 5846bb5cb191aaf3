"""The experiment report: tables, figures, the report's claims checked, the environment.

    >>> from odinpaint.study.report import write_report
    >>> write_report(cfg, arms, results, runs, budgets, wall_seconds, experiment.STUDY)  # -> OUT/report

Written by ``odinpaint experiment`` into ``OUT/report/``: ``index.html`` (self-contained,
figures embedded), ``report.md`` (figures beside it as PNG) and ``results.json``. The report
is built once as data (sections of tables, figures and claims, below) and rendered to both
formats by the Jinja2 templates in ``odinpaint/study/templates/``. What the results say (claims,
specialists, learned against classical) is ``odinpaint.study.analysis``.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from odinpaint import __version__, metrics  # noqa: E402
from odinpaint.data.dataset import DataSet  # noqa: E402
from odinpaint.evaluate import LEVEL_KEYS, best_per_level, eval_set  # noqa: E402
from odinpaint.plots import THOUSANDS, plot_allocation, read_stats  # noqa: E402
from odinpaint.study.analysis import (LEVEL_NAMES, Study, check_claims, hole, learned_vs_classical,  # noqa: E402
                                      metric, specialists)
from odinpaint.study.stats import format_interval  # noqa: E402
from odinpaint.tables import markdown_table  # noqa: E402
from odinpaint.tensors import to_tensor, to_uint8  # noqa: E402

TABLE_METRICS = (("psnr_hole", "Hole PSNR (dB), higher is better", "{:.2f}"),
                 ("psnr", "Whole-image PSNR (dB), the report's figure", "{:.2f}"),
                 ("ssim", "SSIM, higher is better", "{:.4f}"),
                 ("l1_hole", "L1 in the hole (grey levels), lower is better", "{:.2f}"),
                 ("bias_hole", "Brightness bias in the hole (prediction - truth, grey levels): the dark-fill failure",
                  "{:+.2f}"),
                 ("border_err", "Error on the 2-px band inside the hole edge (grey levels): the visible-border failure",
                  "{:.2f}"),
                 ("psnr_known", "Raw output over the known pixels (dB): how sharply a model reproduces the context "
                                "(classical methods return it untouched)", "{:.2f}"),
                 ("hf", "HF share in the hole: the fill's finest detail over the truth's (1 = as detailed as the "
                        "photo, 0 = flat)", "{:.2f}"),
                 ("swd", "SWD in the hole: 7x7 patches on three Laplacian levels against the truth's, pooled over "
                         "the level's masks; lower is more photo-like", "{:.3f}"))
# block tags take no line of their own (trim_blocks, lstrip_blocks), so the templates can be
# laid out readably and still give report.md its exact blank lines
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("odinpaint.study", "templates"),
                               autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# ----------------------------------------------------------------------------- the report as data
@dataclass
class Table:
    headers: list
    rows: list
    bold: set = field(default_factory=set)  # (row, column) cells to emphasise
    caption: str = ""
    kind = "table"  # what the templates branch on (a class attribute, not a field)

    def markdown(self) -> str:
        return markdown_table(self.headers, self.rows, self.bold)


@dataclass
class Figure:
    name: str     # the PNG file, in the report directory
    caption: str
    kind = "figure"  # what the templates branch on (a class attribute, not a field)


@dataclass
class Claims:
    claims: list  # analysis.check_claims' records
    kind = "claims"  # what the templates branch on (a class attribute, not a field)


@dataclass
class Section:
    title: str
    text: str = ""
    blocks: list = field(default_factory=list)  # Table, Figure and Claims, in order


def interval_scope(results) -> str:
    """What the report's intervals cover, for the captions."""
    if any(r.get("seeds") for r in results.values()):
        return ("bootstrap over the training seeds and the test masks together (crossed, percentile; masks paired "
                "between arms; odinpaint.study.stats.seeded_interval)")
    return ("paired bootstrap over the test masks (one training seed per arm: they do not cover seed-to-seed "
            "variation)")


def training_summary(run_dir: Path) -> dict:
    stats = read_stats(run_dir)
    done = next((r for r in stats if r.get("event") == "done"), {})
    images = done.get("images") or max((r.get("images", 0) for r in stats), default=0)
    seconds = done.get("train_seconds")
    return {"images": images, "train_seconds": seconds,
            "images_per_s": round(images / seconds, 1) if seconds else None,
            "params": next((r["params"] for r in stats if r.get("event") == "start"), {})}


def environment(cfg) -> dict:
    import cv2
    import skimage
    import torchmetrics

    return {"odinpaint": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "opencv": cv2.__version__, "scikit-image": skimage.__version__,
            "torchmetrics": torchmetrics.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": cfg.device,
            "processes": int(os.environ.get("WORLD_SIZE", "1"))}  # torchrun's data-parallel processes


# ----------------------------------------------------------------------------- figures
def fig_specialists(rows: list[dict], arms: list[str], labels, path):
    """Per level: each generalist in ``arms`` minus that level's specialist, with its 95% interval."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(rows))
    for i, arm in enumerate(arms):
        d = np.array([r[arm]["diff"] for r in rows])
        err = np.array([[r[arm]["diff"] - r[arm]["low"] for r in rows], [r[arm]["high"] - r[arm]["diff"] for r in rows]])
        ax.errorbar(x + (i - (len(arms) - 1) / 2) * 0.15, d, yerr=err, fmt="o", capsize=4, label=labels.get(arm, arm))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [f"L{r['level']}" for r in rows])
    ax.set_ylabel("hole PSNR minus the specialist's (dB)")
    ax.set_title("One model for every level against the specialist of each level (95% intervals)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_hole_psnr(results, labels, path):
    names = list(results)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / len(names)
    cmap = plt.get_cmap("tab20")
    for i, a in enumerate(names):
        ax.bar(np.arange(len(LEVEL_KEYS)) + i * width, [hole(results, a, k) for k in LEVEL_KEYS], width,
               label=labels[a], color=cmap(i % 20))
    ax.set_xticks(np.arange(len(LEVEL_KEYS)) + 0.4 - width / 2, LEVEL_NAMES)
    lo = min(hole(results, a, k) for a in names for k in LEVEL_KEYS)
    ax.set_ylim(max(0, lo - 2), None)
    ax.set_ylabel("test hole PSNR (dB)")
    ax.set_title("Hole PSNR per level, every arm (same test images and masks)")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_family_curves(stats_by_arm: dict, labels, family: str, path):
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True)
    for a, stats in stats_by_arm.items():
        vals = [r for r in stats if r.get("event") == "val"]
        start = next((r for r in stats if r.get("event") == "start"), {})
        config = start.get("config", {})
        batch = config.get("optim", config).get("batch", 1)  # the nested config, or an earlier run's flat one
        x = [r["step"] * batch for r in vals]
        for lv, ax in enumerate(axes.flat[:5]):
            ax.plot(x, [r["psnr_hole"][lv] for r in vals], marker="o", ms=3, label=labels[a])
        axes.flat[5].plot(x, [r["mixed_psnr_hole"] for r in vals], marker="o", ms=3, label=labels[a])
    for lv, ax in enumerate(axes.flat):
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.xaxis.set_major_formatter(THOUSANDS)
        ax.set_title(f"level {lv + 1}" if lv < 5 else "mixed sizes", fontsize=10)
        ax.grid(alpha=0.3)
        if lv % 3 == 0:
            ax.set_ylabel("val hole PSNR (dB)")
        if lv >= 3:
            ax.set_xlabel("training images seen")
    axes.flat[5].legend(fontsize=8)
    fig.suptitle(f"{family.upper()} arms: per-level validation PSNR over training")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def fig_samples(cfg, arms, level: str, fills: dict, test: np.ndarray, path, n_images: int = 6):
    """Rows: input, every arm, truth; columns: the same test images and masks for all."""
    per_mask, masks = eval_set(test, cfg.eval)
    pick = np.linspace(0, len(per_mask) - 1, n_images).round().astype(int)
    image = to_tensor(test[per_mask[pick]])
    mask = torch.from_numpy(masks[level][pick]).float()[:, None]
    known = image * (1 - mask)
    rows = [("input", known + mask * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1))]
    for arm in arms:
        label = textwrap.fill(arm.label, 22)
        rows.append((label, metrics.composite(fills[arm.name](known, mask).float().clamp(-1, 1), image, mask)))
    rows.append(("truth", image))
    fig, axes = plt.subplots(len(rows), n_images, figsize=(1.25 * n_images + 2.2, 1.2 * len(rows) + 0.6), squeeze=False)
    for r, (name, x) in enumerate(rows):
        pics = to_uint8(x)
        for c in range(n_images):
            ax = axes[r, c]
            ax.imshow(pics[c])
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    title = "mixed sizes" if level == "mixed" else f"level {level}"
    fig.suptitle(f"Test samples, {title}: the same images and masks for every arm", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (1.2 * len(rows) + 0.6)))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------- sections
def intro_text(cfg, results: dict, budgets: dict, wall_seconds: float) -> str:
    n_img = next(iter(results.values()))["n_images"]
    return (f"odinpaint experiment, preset {cfg.preset}, data {cfg.data} ({DataSet(cfg.data).size} px). "
            f"Every arm is scored on the same {n_img} test images x {cfg.eval.masks_per_image} fixed masks per level "
            f"(square holes; 'mixed' draws the side uniformly over the whole range, the report's test protocol). "
            f"Learned arms of a family see the same number of training images: "
            + ", ".join(f"{k}: {v:,}" for k, v in budgets.items()) + ". Total wall time "
            f"{wall_seconds / 60:.1f} min this session.")


def results_section(results: dict, labels: dict, vs: dict | None, out: Path) -> Section:
    """Every metric per arm and level, the best learned against the best classical, and the figure."""
    section = Section("Per-level results", "Scores on the composited output (known pixels are the input's). "
                      "Best per level in bold.")
    for key, caption, fmt in TABLE_METRICS:
        best = best_per_level(results, key)
        # NaN: a level whose holes are too thin to hold a realism measure's patch centre
        rows = [[labels[a]] + [fmt.format(v) if (v := metric(results, a, key, k)) == v else "n/a" for k in LEVEL_KEYS]
                for a in results]
        bold = {(i, j + 1) for i, a in enumerate(results) for j, k in enumerate(LEVEL_KEYS) if best[k] == a}
        section.blocks.append(Table(["arm"] + LEVEL_NAMES, rows, bold, caption))
    if vs:
        section.blocks.append(Table(
            ["level", "best learned", "dB", "best classical", "dB", "delta (dB) [95% interval]", "learned ahead?"],
            [[n, labels[v["learned"]], f"{v['learned_psnr']:.2f}", labels[v["classical"]], f"{v['classical_psnr']:.2f}",
              f"{v['delta']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}]", v["verdict"]] for n, v in zip(LEVEL_NAMES, vs.values())],
            caption=f"Best learned arm against best classical baseline, hole PSNR. Intervals: {interval_scope(results)}"))
    fig_hole_psnr(results, labels, out / "hole_psnr.png")
    section.blocks.append(Figure("hole_psnr.png", "Hole PSNR per level for every arm, on the same test images and masks."))
    return section


def specialists_section(spec: list[dict], generalists, results: dict, labels: dict, out: Path) -> Section:
    """Each level's specialist against the generalists, at that level."""
    section = Section("One model or one per level", "Each level's specialist is a CE trained on that level's holes "
                      "only (fixed:L), scored at its own level; the generalists are scored on the same masks. "
                      f"Intervals: {interval_scope(results)}.")
    gens = [a for a in generalists if a in spec[0]]
    section.blocks.append(Table(
        ["level", "specialist dB"] + [f"{labels[a]} dB" for a in gens] + [f"{labels[a]} minus specialist" for a in gens],
        [[f"L{r['level']}", f"{r['specialist_psnr']:.2f}"] + [f"{r[a]['psnr']:.2f}" for a in gens]
         + [f"{format_interval(r[a])}: {r[a]['verdict']}" for a in gens] for r in spec]))
    if gens:
        fig_specialists(spec, gens, labels, out / "specialists.png")
        section.blocks.append(Figure("specialists.png",
                                     "Generalists minus each level's specialist, at that level, with 95% intervals."))
    return section


def seeds_section(seeded: dict, labels: dict) -> Section:
    """Each seed's own score, for the arms trained with several."""
    def spread(r, k):
        per_seed = r["levels"][k]["psnr_hole_per_seed"]
        return f"{r['levels'][k]['psnr_hole']:.2f} ({min(per_seed):.2f}-{max(per_seed):.2f})"

    return Section("Seeds", "Each learned arm trained with several seeds (initialisation and data order; the test masks "
                   "stay fixed). The tables above give each arm's mean over seeds. The intervals resample seeds and test "
                   "masks together: a crossed bootstrap counts the seed-by-mask interaction twice (wider), and with "
                   "n seeds it sees (n-1)/n of their variance (narrower: 2/3 with 3 seeds). Each seed's own score:",
                   [Table(["arm", "seeds"] + [f"{n} mean (min-max)" for n in LEVEL_NAMES],
                          [[labels[a], str(r["seeds"])] + [spread(r, k) for k in LEVEL_KEYS] for a, r in seeded.items()],
                          caption="Hole PSNR (dB) per seed")])


def curves_section(arms, stats: dict, out: Path) -> Section:
    """Validation curves per family, and how on-demand arms split their batches."""
    labels, families = {a.name: a.label for a in arms}, {a.name: a.family for a in arms}
    section = Section("Training curves")
    for fam in ("ce", "gan"):
        fam_stats = {a: s for a, s in stats.items() if families[a] == fam}
        if fam_stats:
            fig_family_curves(fam_stats, labels, fam, out / f"curves_{fam}.png")
            section.blocks.append(Figure(f"curves_{fam}.png",
                                         f"{fam.upper()} arms: validation hole PSNR per level over training images seen."))
    for arm in arms:
        if arm.name in stats and arm.overrides().get("schedule", "on-demand") == "on-demand":
            plot_allocation(stats[arm.name], out / f"allocation_{arm.name}.png", arm.label)
            section.blocks.append(Figure(f"allocation_{arm.name}.png", f"{arm.label}: how each batch was split between "
                                         "the five levels over training."))
    return section


def samples_section(cfg, arms, runs: dict, out: Path) -> Section:
    """Sample grids: the same test images and masks for every arm, one grid per level."""
    section = Section("Samples", "Rows: the input (hole in magenta), each arm's output, the truth. Columns: the same "
                      "test images and masks for every arm.")
    test = DataSet(cfg.data).split("test")
    fills = _arm_fills(arms, runs, cfg.device)
    for level in LEVEL_KEYS:
        name = f"samples_{'mixed' if level == 'mixed' else 'L' + level}.png"
        fig_samples(cfg, arms, level, fills, test, out / name)
        section.blocks.append(Figure(name, f"Samples at {'mixed sizes' if level == 'mixed' else 'level ' + level}."))
    return section


def arms_section(arms, runs: dict, training: dict, results: dict, env: dict) -> Section:
    """What each arm asks and what its training cost, and the machine."""
    def cell(value, fmt, scale=1):
        return fmt.format(value * scale) if value else "-"

    rows = []
    for a in arms:
        t, wall = training.get(a.name, {}), runs.get(a.name, {}).get("seconds_this_session")
        rows.append([a.name, a.family, a.why, cell(t.get("images"), "{:,}"),
                     cell(t.get("train_seconds"), "{:.1f}", 1 / 60), cell(t.get("images_per_s"), "{}"),
                     f"{wall / 60:.1f}" if wall is not None else "-", f"{metric(results, a.name, 'ms_per_image'):.2f}"])
    return Section("Arms and environment", blocks=[
        Table(["arm", "family", "question", "train images", "train min", "train img/s",
               "wall min this session (training, validation, test evaluation)", "inference ms/img"], rows),
        Table(["", "value"], [[k, str(v)] for k, v in env.items()], caption="Environment")])


# ----------------------------------------------------------------------------- the report
def write_report(cfg, arms, results: dict, runs: dict, budgets: dict, wall_seconds: float, study: Study) -> Path:
    """The report of ``arms``' ``results`` into ``OUT/report``; ``study`` says which claims and
    specialists to check (``odinpaint.study.experiment.STUDY``)."""
    out = Path(cfg.out) / "report"
    out.mkdir(parents=True, exist_ok=True)
    labels = {a.name: a.label for a in arms}
    stats = {a.name: read_stats(runs[a.name]["dir"]) for a in arms if a.name in runs}
    training = {a: training_summary(Path(r["dir"])) for a, r in runs.items()}
    claims = check_claims(study.claims, results, stats)
    vs = learned_vs_classical(results, {a.name: a.family for a in arms})
    spec = specialists(study, results)
    seeded = {a: r for a, r in results.items() if r.get("seeds")}
    env = environment(cfg)
    sections = [results_section(results, labels, vs, out), Section("The report's claims, checked", blocks=[Claims(claims)])]
    if spec:
        sections.append(specialists_section(spec, study.generalists, results, labels, out))
    if seeded:
        sections.append(seeds_section(seeded, labels))
    sections += [curves_section(arms, stats, out), samples_section(cfg, arms, runs, out),
                 arms_section(arms, runs, training, results, env)]
    figures = [b.name for s in sections for b in s.blocks if b.kind == "figure"]
    page = {"title": "On-demand inpainting: the study", "intro": intro_text(cfg, results, budgets, wall_seconds),
            "sections": sections}
    (out / "report.md").write_text(TEMPLATES.get_template("report.md.j2").render(page))
    images = {f: base64.b64encode((out / f).read_bytes()).decode() for f in figures}
    (out / "index.html").write_text(TEMPLATES.get_template("report.html.j2").render(page, images=images))
    (out / "results.json").write_text(json.dumps({
        "preset": cfg.preset, "data": cfg.data, "budgets": budgets, "eval": results[next(iter(results))]["config"],
        "arms": [{"name": a.name, "family": a.family, "label": a.label, "why": a.why, "settings": a.overrides(),
                  "run": runs.get(a.name), "training": training.get(a.name)} for a in arms],
        "results": results, "claims": claims, "learned_vs_classical": vs, "specialists": spec, "environment": env,
        "wall_seconds": round(wall_seconds, 1), "figures": figures}, indent=1))
    return out


def _arm_fills(arms, runs, device):
    from odinpaint.checkpoint import load_checkpoint
    from odinpaint.classical import baseline_fill
    from odinpaint.evaluate import model_fill

    fills = {}
    for a in arms:
        if a.family == "classical":
            fills[a.name] = baseline_fill(a.name)
        else:
            fills[a.name] = model_fill(load_checkpoint(Path(runs[a.name]["dir"]) / "checkpoints/best.safetensors").build("G"), device)
    return fills
