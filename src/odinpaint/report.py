"""The experiment report: tables, figures, the report's claims checked, the environment.

Written by ``odinpaint experiment`` into ``OUT/report/``: ``index.html`` (self-contained,
figures embedded), ``report.md`` (figures beside it as PNG) and ``results.json``.
Tables and claims are built once as data and rendered to both formats.
"""

from __future__ import annotations

import base64
import html
import json
import textwrap
import os
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from odinpaint import __version__, metrics  # noqa: E402
from odinpaint.data.dataset import DataSet, to_tensor, to_uint8  # noqa: E402
from odinpaint.evaluate import LEVEL_KEYS, best_per_level, eval_set  # noqa: E402
from odinpaint.stats import format_interval, seeded_interval, verdict  # noqa: E402
from odinpaint.training.plots import THOUSANDS, plot_allocation, read_stats  # noqa: E402

LEVEL_NAMES = [f"L{k}" if k != "mixed" else "mixed" for k in LEVEL_KEYS]
TABLE_METRICS = (("psnr_hole", "Hole PSNR (dB), higher is better", "{:.2f}"),
                 ("psnr", "Whole-image PSNR (dB), the report's figure", "{:.2f}"),
                 ("ssim", "SSIM, higher is better", "{:.4f}"),
                 ("l1_hole", "L1 in the hole (grey levels), lower is better", "{:.2f}"),
                 ("bias_hole", "Brightness bias in the hole (prediction - truth, grey levels): the dark-fill failure",
                  "{:+.2f}"),
                 ("border_err", "Error on the 2-px band inside the hole edge (grey levels): the visible-border failure",
                  "{:.2f}"),
                 ("psnr_known", "Raw output over the known pixels (dB): how sharply a model reproduces the context "
                                "(classical methods return it untouched)", "{:.2f}"))


# ----------------------------------------------------------------------------- data helpers
def hole(results, arm, level="mixed"):
    return results[arm]["levels"][level]["psnr_hole"]


def metric(results, arm, name, level="mixed"):
    return results[arm]["levels"][level][name]


def per_seed_mask(results, arm, level):
    """An arm's hole PSNR per (training seed, test mask) at ``level``: one row per seed."""
    r = results[arm]
    return r.get("psnr_hole_per_seed_mask", {}).get(level) or [r["psnr_hole_per_mask"][level]]


def compare(results, a, b, level) -> dict:
    """Hole PSNR of ``a`` minus ``b`` at ``level``, with its 95% interval over the test masks
    and, where an arm has several, its training seeds (odinpaint.stats.seeded_interval)."""
    return seeded_interval(per_seed_mask(results, a, level), per_seed_mask(results, b, level))


def interval_scope(results) -> str:
    """What the report's intervals cover, for the captions."""
    if any(r.get("seeds") for r in results.values()):
        return ("bootstrap over the training seeds and the test masks together (crossed, percentile; masks paired "
                "between arms; odinpaint.stats.seeded_interval)")
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


# ----------------------------------------------------------------------------- claims
def check_claims(results: dict, runs_stats: dict) -> list[dict]:
    """The report's claims (DESIGN.md), each with this run's evidence for or against it."""
    have = set(results)
    out = []

    def add(claim, said, evidence):
        out.append({"claim": claim, "verdict": said, "evidence": evidence})

    def per_level(a, b, name="psnr_hole"):
        return ", ".join(f"{n} {metric(results, a, name, k) - metric(results, b, name, k):+.2f}"
                         for k, n in zip(LEVEL_KEYS, LEVEL_NAMES))

    def intervals(a, b):
        """95% intervals of a - b in hole PSNR, per level key."""
        return {k: compare(results, a, b, k) for k in LEVEL_KEYS}

    def interval_text(ivs):
        return ", ".join(f"{n} {format_interval(ivs[k], '')}" for k, n in zip(LEVEL_KEYS, LEVEL_NAMES))

    c = "On-demand CNN beats a CNN trained only on 90 px holes when holes of every size are tested."
    if {"ce-on-demand", "ce-fixed5"} <= have:
        ivs = intervals("ce-on-demand", "ce-fixed5")
        wins = [n for k, n in zip(LEVEL_KEYS[:5], LEVEL_NAMES) if verdict(ivs[k]) == "holds"]
        add(c, verdict(ivs["mixed"]),
            f"Mixed-size test holes: on-demand {hole(results, 'ce-on-demand'):.2f} dB vs fixed:5 "
            f"{hole(results, 'ce-fixed5'):.2f} dB, difference {format_interval(ivs['mixed'])} (95% interval). On-demand is ahead beyond the interval at {len(wins)} of 5 levels "
            f"({', '.join(wins) or 'none'}). Per level: {interval_text(ivs)}.")
    else:
        add(c, "not tested", "needs arms ce-on-demand and ce-fixed5")

    for od, uni in (("ce-on-demand", "ce-uniform"), ("ce-improved", "ce-improved-uniform")):
        if {od, uni} <= have:
            ivs = intervals(od, uni)
            add(f"On-demand allocation beats a uniform split at equal images seen ({od} vs {uni}).",
                verdict(ivs["mixed"]),
                f"Mixed: on-demand {hole(results, od):.2f} dB vs uniform {hole(results, uni):.2f} dB, difference "
                f"{format_interval(ivs['mixed'])}; per level: {interval_text(ivs)}.")

    c = "The GAN is sharper outside the hole but fills the hole worse, with dark fill and a visible border."
    if {"gan-on-demand", "ce-on-demand"} <= have:
        g, e = "gan-on-demand", "ce-on-demand"
        parts = {
            "sharper outside": metric(results, g, "psnr_known") > metric(results, e, "psnr_known"),
            "worse hole": hole(results, g) < hole(results, e),
            "dark fill": metric(results, g, "bias_hole") < -1.0 and metric(results, g, "bias_hole") < metric(results, e, "bias_hole"),
            "visible border": metric(results, g, "border_err") > metric(results, e, "border_err"),
        }
        held = [k for k, v in parts.items() if v]
        add(c, "held" if len(held) == 4 else ("did not hold" if not held else "partly held"),
            f"GAN vs CE (mixed holes): raw output over known pixels {metric(results, g, 'psnr_known'):.2f} vs "
            f"{metric(results, e, 'psnr_known'):.2f} dB; hole PSNR {hole(results, g):.2f} vs {hole(results, e):.2f} dB; "
            f"brightness bias {metric(results, g, 'bias_hole'):+.2f} vs {metric(results, e, 'bias_hole'):+.2f} grey levels; "
            f"border error {metric(results, g, 'border_err'):.2f} vs {metric(results, e, 'border_err'):.2f}. "
            f"Parts that held: {', '.join(held) or 'none'}.")
    else:
        add(c, "not tested", "needs arms gan-on-demand and ce-on-demand")

    c = "Removing the U-Net skips makes results worse."
    if {"gan-no-skip", "gan-on-demand"} <= have:
        ivs = intervals("gan-on-demand", "gan-no-skip")  # with minus without: positive when skips help
        add(c, verdict(ivs["mixed"]),
            f"Mixed hole PSNR with skips {hole(results, 'gan-on-demand'):.2f} dB vs without "
            f"{hole(results, 'gan-no-skip'):.2f}, difference {format_interval(ivs['mixed'])}; raw known-pixel PSNR "
            f"{metric(results, 'gan-on-demand', 'psnr_known'):.2f} vs {metric(results, 'gan-no-skip', 'psnr_known'):.2f} dB; "
            f"per level: {interval_text(ivs)}.")
    else:
        add(c, "not tested", "needs arms gan-no-skip and gan-on-demand")

    c = "The extra hole-L1 term helps early in training, not late."
    if {"gan-hole-l1", "gan-on-demand"} <= have and all(runs_stats.get(a) for a in ("gan-hole-l1", "gan-on-demand")):
        va = [r for r in runs_stats["gan-hole-l1"] if r.get("event") == "val"]
        vb = [r for r in runs_stats["gan-on-demand"] if r.get("event") == "val"]
        early = va[0]["mean_psnr_hole"] - vb[0]["mean_psnr_hole"]
        late = va[-1]["mean_psnr_hole"] - vb[-1]["mean_psnr_hole"]
        test = hole(results, "gan-hole-l1") - hole(results, "gan-on-demand")
        add(c, "held" if early > 0 and late <= early / 2 else ("did not hold" if early <= 0 or late > early else "partly held"),
            f"Validation mean hole PSNR, hole-L1 minus plain: {early:+.2f} dB at the first validation "
            f"(step {va[0]['step']}), {late:+.2f} dB at the last (step {va[-1]['step']}); "
            f"test mixed {test:+.2f} dB.")
    else:
        add(c, "not tested", "needs arms gan-hole-l1 and gan-on-demand")

    c = "(Future work, done here) A hole-aware discriminator with mean fill and a mask channel fixes the dark fill and the visible border."
    if {"gan-improved", "gan-on-demand"} <= have:
        a, b = "gan-improved", "gan-on-demand"
        bias_better = abs(metric(results, a, "bias_hole")) < abs(metric(results, b, "bias_hole"))
        border_better = metric(results, a, "border_err") < metric(results, b, "border_err")
        add(c, "held" if bias_better and border_better else ("partly held" if bias_better or border_better else "did not hold"),
            f"Brightness bias {metric(results, a, 'bias_hole'):+.2f} vs {metric(results, b, 'bias_hole'):+.2f} grey levels; "
            f"border error {metric(results, a, 'border_err'):.2f} vs {metric(results, b, 'border_err'):.2f}; "
            f"hole PSNR {hole(results, a):.2f} vs {hole(results, b):.2f} dB (mixed).")
    return out


def learned_vs_classical(results: dict, families: dict) -> dict | None:
    """Per level: the best learned arm against the best classical one."""
    learned = {a: r for a, r in results.items() if families[a] != "classical"}
    classical = {a: r for a, r in results.items() if families[a] == "classical"}
    if not learned or not classical:
        return None
    bl, bc = best_per_level(learned, "psnr_hole"), best_per_level(classical, "psnr_hole")
    out = {}
    for k in LEVEL_KEYS:
        iv = compare(results, bl[k], bc[k], k)
        out[k] = {"learned": bl[k], "learned_psnr": hole(results, bl[k], k), "classical": bc[k],
                  "classical_psnr": hole(results, bc[k], k), "delta": iv["diff"], "low": iv["low"], "high": iv["high"],
                  "verdict": verdict(iv)}
    return out


def specialists(results: dict) -> list[dict]:
    """At each level that has its specialist (``ce-fixedL``, trained on that level only): the
    on-demand and the uniform arm against it, at that level, with paired intervals."""
    rows = []
    for level in LEVEL_KEYS[:5]:
        spec = f"ce-fixed{level}"
        if spec not in results:
            continue
        row = {"level": level, "specialist": spec, "specialist_psnr": hole(results, spec, level)}
        for arm in ("ce-on-demand", "ce-uniform"):
            if arm in results:
                iv = compare(results, arm, spec, level)
                row[arm] = {"psnr": hole(results, arm, level), **iv, "verdict": verdict(iv)}
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- figures
def fig_specialists(rows: list[dict], labels, path):
    """Per level: each generalist minus that level's specialist, with its 95% interval."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    arms = [a for a in ("ce-on-demand", "ce-uniform") if a in rows[0]]
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


# ----------------------------------------------------------------------------- rendering
def _table(headers, rows, bold=None):
    """(markdown, html) for a table; ``bold`` is a set of (row, col) cells to emphasise."""
    bold = bold or set()
    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    h = ["<table><thead><tr>" + "".join(f"<th>{html.escape(x)}</th>" for x in headers) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        md.append("| " + " | ".join(f"**{v}**" if (i, j) in bold else str(v) for j, v in enumerate(row)) + " |")
        h.append("<tr>" + "".join(f"<td class='best'>{html.escape(str(v))}</td>" if (i, j) in bold
                                  else f"<td>{html.escape(str(v))}</td>" for j, v in enumerate(row)) + "</tr>")
    h.append("</tbody></table>")
    return "\n".join(md), "\n".join(h)


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0 1.4em;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}td.best{font-weight:bold;background:#e6f4e6}
img{max-width:100%;border:1px solid #ddd;margin:0.4em 0}.verdict{font-weight:bold}
.held,.holds{color:#1a7a1a}.did-not-hold,.refuted{color:#b02020}
.partly-held,.mixed,.no-clear-difference,.not-resolved-at-this-budget{color:#a06000}
figcaption{font-size:0.9em;color:#555;margin-bottom:1.2em}code{background:#f4f4f4;padding:0 3px}"""


def write_report(cfg, arms, results: dict, runs: dict, budgets: dict, wall_seconds: float) -> Path:
    out = Path(cfg.out) / "report"
    out.mkdir(parents=True, exist_ok=True)
    labels = {a.name: a.label for a in arms}
    families = {a.name: a.family for a in arms}
    stats = {a.name: read_stats(runs[a.name]["dir"]) for a in arms if a.name in runs}
    training = {a: training_summary(Path(r["dir"])) for a, r in runs.items()}
    claims = check_claims(results, stats)
    vs = learned_vs_classical(results, families)
    env = environment(cfg)

    md, hx, figures = [], [], []

    def section(title, text=""):
        md.append(f"## {title}\n")
        hx.append(f"<h2>{html.escape(title)}</h2>")
        if text:
            md.append(text + "\n")
            hx.append(f"<p>{html.escape(text)}</p>")

    def table(headers, rows, bold=None, caption=""):
        m, h = _table(headers, rows, bold)
        if caption:
            md.append(f"{caption}\n")
            hx.append(f"<h3>{html.escape(caption)}</h3>")
        md.append(m + "\n")
        hx.append(h)

    def figure(name, caption):
        figures.append(name)
        md.append(f"![{caption}]({name})\n\n*{caption}*\n")
        data = base64.b64encode((out / name).read_bytes()).decode()
        hx.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                  f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    n_img = next(iter(results.values()))["n_images"]
    intro = (f"odinpaint experiment, preset {cfg.preset}, data {cfg.data} ({DataSet(cfg.data).size} px). "
             f"Every arm is scored on the same {n_img} test images x {cfg.eval.masks_per_image} fixed masks per level "
             f"(square holes; 'mixed' draws the side uniformly over the whole range, the report's test protocol). "
             f"Learned arms of a family see the same number of training images: "
             + ", ".join(f"{k}: {v:,}" for k, v in budgets.items()) + ". Total wall time "
             f"{wall_seconds / 60:.1f} min this session.")
    md.append("# On-demand inpainting: the study\n\n" + intro + "\n")
    hx.append(f"<h1>On-demand inpainting: the study</h1><p>{html.escape(intro)}</p>")

    section("Per-level results", "Scores on the composited output (known pixels are the input's). Best per level in bold.")
    for key, caption, fmt in TABLE_METRICS:
        best = best_per_level(results, key)
        rows, bold = [], set()
        for i, a in enumerate(results):
            rows.append([labels[a]] + [fmt.format(metric(results, a, key, k)) for k in LEVEL_KEYS])
            bold |= {(i, j + 1) for j, k in enumerate(LEVEL_KEYS) if best[k] == a}
        table(["arm"] + LEVEL_NAMES, rows, bold, caption)
    if vs:
        table(["level", "best learned", "dB", "best classical", "dB", "delta (dB) [95% interval]", "learned ahead?"],
              [[n, labels[v["learned"]], f"{v['learned_psnr']:.2f}", labels[v["classical"]], f"{v['classical_psnr']:.2f}",
                f"{v['delta']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}]", v["verdict"]]
               for n, v in zip(LEVEL_NAMES, vs.values())],
              caption=f"Best learned arm against best classical baseline, hole PSNR. Intervals: {interval_scope(results)}")
    fig_hole_psnr(results, labels, out / "hole_psnr.png")
    figure("hole_psnr.png", "Hole PSNR per level for every arm, on the same test images and masks.")

    section("The report's claims, checked")
    for c in claims:
        cls = c["verdict"].replace(" ", "-")
        md.append(f"- **{c['claim']}** — *{c['verdict']}*. {c['evidence']}\n")
        hx.append(f"<p><b>{html.escape(c['claim'])}</b> <span class='verdict {cls}'>{html.escape(c['verdict'])}</span>"
                  f"<br>{html.escape(c['evidence'])}</p>")

    spec = specialists(results)
    if spec:
        section("One model or one per level", "Each level's specialist is a CE trained on that level's holes only "
                "(fixed:L), scored at its own level; the generalists are scored on the same masks. Intervals: "
                f"{interval_scope(results)}.")
        gens = [a for a in ("ce-on-demand", "ce-uniform") if a in spec[0]]
        table(["level", "specialist dB"] + [f"{labels[a]} dB" for a in gens] + [f"{labels[a]} minus specialist" for a in gens],
              [[f"L{r['level']}", f"{r['specialist_psnr']:.2f}"] + [f"{r[a]['psnr']:.2f}" for a in gens]
               + [f"{format_interval(r[a])}: {r[a]['verdict']}" for a in gens] for r in spec])
        if gens:
            fig_specialists(spec, labels, out / "specialists.png")
            figure("specialists.png", "Generalists minus each level's specialist, at that level, with 95% intervals.")
    seeded = {a: r for a, r in results.items() if r.get("seeds")}
    if seeded:
        section("Seeds", "Each learned arm trained with several seeds (initialisation and data order; the test masks "
                "stay fixed). The tables above give each arm's mean over seeds. The intervals resample seeds and test "
                "masks together: a crossed bootstrap counts the seed-by-mask interaction twice (wider), and with "
                "n seeds it sees (n-1)/n of their variance (narrower: 2/3 with 3 seeds). Each seed's own score:")
        table(["arm", "seeds"] + [f"{n} mean (min-max)" for n in LEVEL_NAMES],
              [[labels[a], str(r["seeds"])] + [f"{r['levels'][k]['psnr_hole']:.2f} ({min(r['levels'][k]['psnr_hole_per_seed']):.2f}-"
                                               f"{max(r['levels'][k]['psnr_hole_per_seed']):.2f})" for k in LEVEL_KEYS]
               for a, r in seeded.items()], caption="Hole PSNR (dB) per seed")

    section("Training curves")
    for fam in ("ce", "gan"):
        fam_stats = {a: s for a, s in stats.items() if families[a] == fam}
        if fam_stats:
            fig_family_curves(fam_stats, labels, fam, out / f"curves_{fam}.png")
            figure(f"curves_{fam}.png", f"{fam.upper()} arms: validation hole PSNR per level over training images seen.")
    for a, s in stats.items():
        if dict(next(x for x in arms if x.name == a).settings).get("schedule", "on-demand") == "on-demand":
            plot_allocation(s, out / f"allocation_{a}.png", labels[a])
            figure(f"allocation_{a}.png", f"{labels[a]}: how each batch was split between the five levels over training.")

    section("Samples", "Rows: the input (hole in magenta), each arm's output, the truth. Columns: the same test "
                       "images and masks for every arm.")
    ds = DataSet(cfg.data)
    fills = _arm_fills(arms, runs, cfg.device)
    for level in LEVEL_KEYS:
        name = f"samples_{'mixed' if level == 'mixed' else 'L' + level}.png"
        fig_samples(cfg, arms, level, fills, ds.split("test"), out / name)
        figure(name, f"Samples at {'mixed sizes' if level == 'mixed' else 'level ' + level}.")

    section("Arms and environment")
    rows = []
    for a in arms:
        t, wall = training.get(a.name, {}), runs.get(a.name, {}).get("seconds_this_session")
        rows.append([a.name, a.family, a.why, f"{t['images']:,}" if t.get("images") else "-",
                     f"{t['train_seconds'] / 60:.1f}" if t.get("train_seconds") else "-",
                     f"{t['images_per_s']}" if t.get("images_per_s") else "-",
                     f"{wall / 60:.1f}" if wall is not None else "-",
                     f"{metric(results, a.name, 'ms_per_image'):.2f}"])
    table(["arm", "family", "question", "train images", "train min", "train img/s",
           "wall min this session (training, validation, test evaluation)", "inference ms/img"], rows)
    table(["", "value"], [[k, str(v)] for k, v in env.items()], caption="Environment")

    (out / "report.md").write_text("\n".join(md))
    (out / "index.html").write_text("<!doctype html><html><head><meta charset='utf-8'><title>odinpaint experiment</title>"
                                    f"<style>{CSS}</style></head><body>" + "\n".join(hx) + "</body></html>")
    (out / "results.json").write_text(json.dumps({
        "preset": cfg.preset, "data": cfg.data, "budgets": budgets, "eval": results[next(iter(results))]["config"],
        "arms": [{"name": a.name, "family": a.family, "label": a.label, "why": a.why, "settings": a.overrides(),
                  "run": runs.get(a.name), "training": training.get(a.name)} for a in arms],
        "results": results, "claims": claims, "learned_vs_classical": vs, "specialists": spec, "environment": env,
        "wall_seconds": round(wall_seconds, 1), "figures": figures}, indent=1))
    return out


def _arm_fills(arms, runs, device):
    from odinpaint.baselines import baseline_fill
    from odinpaint.evaluate import model_fill
    from odinpaint.training.checkpoint import load_checkpoint

    fills = {}
    for a in arms:
        if a.family == "classical":
            fills[a.name] = baseline_fill(a.name)
        else:
            fills[a.name] = model_fill(load_checkpoint(Path(runs[a.name]["dir"]) / "checkpoints/best.safetensors").build("G"), device)
    return fills
