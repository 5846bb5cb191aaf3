"""What an experiment's results say: the study's claims judged, each level's specialist
against the generalists, the best learned arm against the best classical one.

    >>> from odinpaint.study.analysis import check_claims, specialists
    >>> from odinpaint.study.experiment import STUDY
    >>> check_claims(STUDY.claims, results, runs_stats)   # [{"claim", "verdict", "evidence"}, ...]
    >>> specialists(STUDY, results)                       # one row per level that has its specialist

``results`` maps an arm's name to its evaluation (``odinpaint.evaluate.evaluate``, seeds
combined by ``odinpaint.study.experiment.combine_seeds``); ``runs_stats`` maps it to its training's
``stats.jsonl`` records. Which arms a claim compares is not written here: ``experiment.STUDY``
names them from its ``Arm`` definitions, so renaming an arm renames it in its claims too.
Differences in hole PSNR come with 95% intervals over the test masks and, where an arm has
several, its training seeds (``odinpaint.study.stats.seeded_interval``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from odinpaint.evaluate import LEVEL_KEYS, best_per_level
from odinpaint.study.stats import format_interval, paired_interval, seeded_interval, verdict

LEVEL_NAMES = [f"L{k}" if k != "mixed" else "mixed" for k in LEVEL_KEYS]


@dataclass(frozen=True)
class Claim:
    text: str                # what the report says
    arms: tuple[str, str]    # the two arms it compares, by their experiment.ARMS names
    judge: Callable          # (results, runs_stats, a, b) -> (verdict, evidence), or None without the evidence
    untested: bool = True    # listed as "not tested" when an arm is missing (else left out)


@dataclass(frozen=True)
class Study:
    claims: tuple[Claim, ...]    # in the report's order
    specialists: dict            # level key -> the arm trained on that level's holes only
    generalists: tuple           # arms scored against each level's specialist


# ----------------------------------------------------------------------------- results access
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
    and, where an arm has several, its training seeds (odinpaint.study.stats.seeded_interval)."""
    return seeded_interval(per_seed_mask(results, a, level), per_seed_mask(results, b, level))


def intervals(results, a, b) -> dict:
    """95% intervals of ``a`` minus ``b`` in hole PSNR, per level key."""
    return {k: compare(results, a, b, k) for k in LEVEL_KEYS}


def interval_text(ivs: dict) -> str:
    return ", ".join(f"{n} {format_interval(ivs[k], '')}" for k, n in zip(LEVEL_KEYS, LEVEL_NAMES))


def parts_verdict(held: int, parts: int) -> str:
    """A claim of several parts: held when all of them held, did not hold when none did."""
    return "held" if held == parts else ("did not hold" if not held else "partly held")


# ----------------------------------------------------------------------------- claims
def check_claims(claims, results: dict, runs_stats: dict) -> list[dict]:
    """Each claim with this run's evidence for or against it."""
    out = []
    for c in claims:
        a, b = c.arms
        judged = c.judge(results, runs_stats, a, b) if {a, b} <= set(results) else None
        if judged is not None:
            out.append({"claim": c.text, "verdict": judged[0], "evidence": judged[1]})
        elif c.untested:
            out.append({"claim": c.text, "verdict": "not tested", "evidence": f"needs arms {a} and {b}"})
    return out


def on_demand_beats_fixed(results, runs_stats, a, b):
    """``a`` ahead of ``b`` in hole PSNR on mixed-size holes, and at how many levels."""
    ivs = intervals(results, a, b)
    wins = [n for k, n in zip(LEVEL_KEYS[:5], LEVEL_NAMES) if verdict(ivs[k]) == "holds"]
    return verdict(ivs["mixed"]), (
        f"Mixed-size test holes: on-demand {hole(results, a):.2f} dB vs fixed:5 {hole(results, b):.2f} dB, "
        f"difference {format_interval(ivs['mixed'])} (95% interval). On-demand is ahead beyond the interval at "
        f"{len(wins)} of 5 levels ({', '.join(wins) or 'none'}). Per level: {interval_text(ivs)}.")


def mixed_difference(results, a, b, head: str, middle: str = "") -> tuple[str, str]:
    """``a`` minus ``b`` in hole PSNR: the verdict of its interval on mixed-size holes, and the
    evidence: ``head``, that interval, ``middle``, then the interval at every level."""
    ivs = intervals(results, a, b)
    return verdict(ivs["mixed"]), (f"{head}, difference {format_interval(ivs['mixed'])}; {middle}"
                                   f"per level: {interval_text(ivs)}.")


def on_demand_beats_uniform(results, runs_stats, a, b):
    """On-demand ``a`` against uniform ``b``."""
    return mixed_difference(results, a, b, f"Mixed: on-demand {hole(results, a):.2f} dB vs uniform "
                                           f"{hole(results, b):.2f} dB")


def gan_tradeoff(results, runs_stats, g, e):
    """GAN ``g`` against CE ``e``: sharper outside the hole, worse in it, dark, with a border."""
    def m(arm, name):
        return metric(results, arm, name)

    parts = {
        "sharper outside": m(g, "psnr_known") > m(e, "psnr_known"),
        "worse hole": hole(results, g) < hole(results, e),
        "dark fill": m(g, "bias_hole") < -1.0 and m(g, "bias_hole") < m(e, "bias_hole"),
        "visible border": m(g, "border_err") > m(e, "border_err"),
    }
    held = [k for k, v in parts.items() if v]
    return parts_verdict(len(held), len(parts)), (
        f"GAN vs CE (mixed holes): raw output over known pixels {m(g, 'psnr_known'):.2f} vs "
        f"{m(e, 'psnr_known'):.2f} dB; hole PSNR {hole(results, g):.2f} vs {hole(results, e):.2f} dB; "
        f"brightness bias {m(g, 'bias_hole'):+.2f} vs {m(e, 'bias_hole'):+.2f} grey levels; "
        f"border error {m(g, 'border_err'):.2f} vs {m(e, 'border_err'):.2f}. "
        f"Parts that held: {', '.join(held) or 'none'}.")


def sharpness(results, a, b, level="mixed") -> dict:
    """``a``'s detail share in the hole (``metrics.hf``) minus ``b``'s at ``level``, with its 95%
    interval over the test masks: each mask's detail difference over the truth's mean detail."""
    scale = results[a]["truth_detail"][level]
    x = np.asarray(results[a]["detail_per_mask"][level], np.float64) / scale
    y = np.asarray(results[b]["detail_per_mask"][level], np.float64) / scale
    ok = ~(np.isnan(x) | np.isnan(y))  # holes too thin to hold a patch centre
    return paired_interval(x[ok], y[ok])


def gan_fill_sharper(results, runs_stats, g, e):
    """GAN ``g`` against CE ``e``: more detail in the hole (HF share), with an interval over the
    masks, and the patch statistics (SWD) beside it."""
    if "detail_per_mask" not in results[g] or "detail_per_mask" not in results[e]:
        return None
    iv = sharpness(results, g, e)
    return verdict(iv), (
        f"Mixed holes: HF share (the hole's finest detail over the truth's; 1 = as detailed as the photo) GAN "
        f"{metric(results, g, 'hf'):.2f} vs CE {metric(results, e, 'hf'):.2f}, difference {format_interval(iv, '')} "
        f"(95% interval over the test masks); SWD (patch statistics against the truth's, pooled over the masks; "
        f"lower is more photo-like) GAN {metric(results, g, 'swd'):.3f} vs CE {metric(results, e, 'swd'):.3f}. "
        f"Per level, HF share GAN / CE: " + ", ".join(
            f"{n} {metric(results, g, 'hf', k):.2f} / {metric(results, e, 'hf', k):.2f}"
            for k, n in zip(LEVEL_KEYS[:5], LEVEL_NAMES)) + ".")


def removing_skips_hurts(results, runs_stats, without, with_):
    """The arm ``with_`` skips against the one ``without``: positive when the skips help."""
    return mixed_difference(
        results, with_, without,
        f"Mixed hole PSNR with skips {hole(results, with_):.2f} dB vs without {hole(results, without):.2f}",
        f"raw known-pixel PSNR {metric(results, with_, 'psnr_known'):.2f} vs "
        f"{metric(results, without, 'psnr_known'):.2f} dB; ")


def hole_l1_helps_early(results, runs_stats, a, b):
    """``a`` minus ``b`` in validation hole PSNR at the first and the last validation; needs
    both arms' training stats."""
    if not (runs_stats.get(a) and runs_stats.get(b)):
        return None
    va = [r for r in runs_stats[a] if r.get("event") == "val"]
    vb = [r for r in runs_stats[b] if r.get("event") == "val"]
    early = va[0]["mean_psnr_hole"] - vb[0]["mean_psnr_hole"]
    late = va[-1]["mean_psnr_hole"] - vb[-1]["mean_psnr_hole"]
    said = "held" if early > 0 and late <= early / 2 else ("did not hold" if early <= 0 or late > early else "partly held")
    return said, (f"Validation mean hole PSNR, hole-L1 minus plain: {early:+.2f} dB at the first validation "
                  f"(step {va[0]['step']}), {late:+.2f} dB at the last (step {va[-1]['step']}); "
                  f"test mixed {hole(results, a) - hole(results, b):+.2f} dB.")


def hole_aware_d_fixes_gan(results, runs_stats, a, b):
    """``a``'s brightness bias and border error against ``b``'s."""
    bias_better = abs(metric(results, a, "bias_hole")) < abs(metric(results, b, "bias_hole"))
    border_better = metric(results, a, "border_err") < metric(results, b, "border_err")
    return parts_verdict(bias_better + border_better, 2), (
        f"Brightness bias {metric(results, a, 'bias_hole'):+.2f} vs {metric(results, b, 'bias_hole'):+.2f} grey levels; "
        f"border error {metric(results, a, 'border_err'):.2f} vs {metric(results, b, 'border_err'):.2f}; "
        f"hole PSNR {hole(results, a):.2f} vs {hole(results, b):.2f} dB (mixed).")


# ----------------------------------------------------------------------------- comparisons
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


def specialists(study: Study, results: dict) -> list[dict]:
    """At each level that has its specialist: the generalists against it, at that level, with
    paired intervals."""
    rows = []
    for level, spec in study.specialists.items():
        if spec not in results:
            continue
        row = {"level": level, "specialist": spec, "specialist_psnr": hole(results, spec, level)}
        for arm in study.generalists:
            if arm in results:
                iv = compare(results, arm, spec, level)
                row[arm] = {"psnr": hole(results, arm, level), **iv, "verdict": verdict(iv)}
        rows.append(row)
    return rows
