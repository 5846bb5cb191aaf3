"""``odinpaint experiment``: the report's whole study as one command and one report.

    odinpaint experiment --preset quick --data data/photos64 --out experiments/quick
    odinpaint experiment --preset quick --data data/photos64 --dry-run
    odinpaint experiment --preset quick --data data/photos64 --only ce-on-demand,ce-fixed5,telea

Every learned arm of a family trains on the same number of images with the same seed, and
every arm, classical ones included, is scored on the same test images and masks. Arms live
in ``OUT/arms/NAME``; a complete one is reused, an interrupted one resumed, so a stopped
experiment picks up where it was. The report is ``OUT/report/index.html`` (self-contained),
``report.md`` and ``results.json``.

Under ``torchrun`` (``torchrun --nproc_per_node N -m odinpaint experiment ...``) every arm
trains data-parallel on all processes; rank 0 decides what to reuse, and alone evaluates
and writes the report.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from odinpaint.checkpoint import load_checkpoint
from odinpaint.classical import BASELINES
from odinpaint.data.dataset import DataSet
from odinpaint.errors import UserError
from odinpaint.evaluate import EvalConfig, baseline_results, evaluate, model_fill
from odinpaint.study import analysis
from odinpaint.study.analysis import Claim, Study
from odinpaint.training import distributed
from odinpaint.training.config import RECIPES, TrainConfig, from_dict, make_config, resolve, setting_fields, settings


@dataclass(frozen=True)
class Arm:
    name: str          # directory and table name
    family: str        # ce | gan | classical
    label: str         # what the report calls it
    settings: tuple = ()  # settings over the recipe's, as (name, value) pairs (odinpaint.training.config)
    why: str = ""      # the question this arm answers
    recipe: str = ""   # the training recipe, by name (odinpaint.training.config.RECIPES); "" for classical arms

    def overrides(self) -> dict:
        """Every setting the arm gives its training: the recipe's (model first), then its own."""
        return {**(RECIPES[self.recipe] if self.recipe else {}), **dict(self.settings)}


# The declared study. Seed-faithful arms reproduce the report; the last GAN arm is its
# proposed future work; the classical arms are the bar every learned model must clear. The
# arms the report's claims compare are named here once (STUDY below refers to them).
CE_ON_DEMAND = Arm("ce-on-demand", "ce", "CE on-demand", (("schedule", "on-demand"),),
                   "the report's CNN with on-demand learning", recipe="seed-faithful-ce")
CE_FIXED5 = Arm("ce-fixed5", "ce", "CE fixed:5", (("schedule", "fixed:5"),),
                "the report's comparison: trained on the largest holes only (90 px at 128 px)", recipe="seed-faithful-ce")
CE_UNIFORM = Arm("ce-uniform", "ce", "CE uniform", (("schedule", "uniform"),),
                 "equal split between levels: does the PSNR feedback matter?", recipe="seed-faithful-ce")
# the specialist of each level, trained on its holes only (fixed:5 is also the report's comparison)
SPECIALIST_ARMS = (*(Arm(f"ce-fixed{lv}", "ce", f"CE fixed:{lv}", (("schedule", f"fixed:{lv}"),),
                         f"the specialist of level {lv}: does one on-demand model do as well as one per level?",
                         recipe="seed-faithful-ce") for lv in range(1, 5)), CE_FIXED5)
CE_IMPROVED = Arm("ce-improved", "ce", "CE improved (biharmonic start, level-PSNR loss)", (("schedule", "on-demand"),),
                  "ours: starts from biharmonic inpainting and learns a correction; on-demand allocation",
                  recipe="improved-ce")
CE_IMPROVED_UNIFORM = Arm("ce-improved-uniform", "ce", "CE improved, uniform", (("schedule", "uniform"),),
                          "does on-demand allocation beat a uniform split for the improved model?", recipe="improved-ce")
GAN_ON_DEMAND = Arm("gan-on-demand", "gan", "GAN on-demand", (("schedule", "on-demand"),),
                    "the report's conditional GAN, seed-faithful (black fill, no mask channel)", recipe="seed-faithful-gan")
GAN_NO_SKIP = Arm("gan-no-skip", "gan", "GAN --no-skip", (("skips", False),),
                  "the report's first trial: U-Net skips removed", recipe="seed-faithful-gan")
GAN_HOLE_L1 = Arm("gan-hole-l1", "gan", "GAN --hole-l1 100", (("hole_weight", 100.0),),
                  "the report's second trial: an extra L1 term on the hole", recipe="seed-faithful-gan")
GAN_IMPROVED = Arm("gan-improved", "gan", "GAN improved + hole-aware D", (),
                   "the report's future work: D attends to the hole; mean fill and mask channel against dark fill",
                   recipe="improved-gan")
ARMS = (
    CE_ON_DEMAND, CE_FIXED5, CE_UNIFORM,
    Arm("ce-random", "ce", "CE random", (("schedule", "random"),),
        "hole side uniform over the whole range, no levels", recipe="seed-faithful-ce"),
    *SPECIALIST_ARMS[:4], CE_IMPROVED, CE_IMPROVED_UNIFORM, GAN_ON_DEMAND, GAN_NO_SKIP, GAN_HOLE_L1, GAN_IMPROVED,
    Arm("telea", "classical", "Telea", why="OpenCV fast marching"),
    Arm("ns", "classical", "Navier-Stokes", why="OpenCV Navier-Stokes"),
    Arm("biharmonic", "classical", "biharmonic", why="scikit-image biharmonic"),
)
ARM_NAMES = tuple(a.name for a in ARMS)
SPECIALISTS = tuple(a.name for a in SPECIALIST_ARMS)

# What the report checks on these arms (the project report's claims; odinpaint.study.analysis judges them).
STUDY = Study(
    claims=(
        Claim("On-demand CNN beats a CNN trained only on 90 px holes when holes of every size are tested.",
              (CE_ON_DEMAND.name, CE_FIXED5.name), analysis.on_demand_beats_fixed),
        *(Claim(f"On-demand allocation beats a uniform split at equal images seen ({od.name} vs {uni.name}).",
                (od.name, uni.name), analysis.on_demand_beats_uniform, untested=False)
          for od, uni in ((CE_ON_DEMAND, CE_UNIFORM), (CE_IMPROVED, CE_IMPROVED_UNIFORM))),
        Claim("The GAN is sharper outside the hole but fills the hole worse, with dark fill and a visible border.",
              (GAN_ON_DEMAND.name, CE_ON_DEMAND.name), analysis.gan_tradeoff),
        Claim("Sharper fills: the GAN's hole holds more of the photo's detail than the context encoder's.",
              (GAN_ON_DEMAND.name, CE_ON_DEMAND.name), analysis.gan_fill_sharper),
        Claim("Removing the U-Net skips makes results worse.",
              (GAN_NO_SKIP.name, GAN_ON_DEMAND.name), analysis.removing_skips_hurts),
        Claim("The extra hole-L1 term helps early in training, not late.",
              (GAN_HOLE_L1.name, GAN_ON_DEMAND.name), analysis.hole_l1_helps_early),
        Claim("(Future work, done here) A hole-aware discriminator with mean fill and a mask channel fixes the dark "
              "fill and the visible border.", (GAN_IMPROVED.name, GAN_ON_DEMAND.name), analysis.hole_aware_d_fixes_gan,
              untested=False),
    ),
    specialists={str(lv): a.name for lv, a in enumerate(SPECIALIST_ARMS, 1)},
    generalists=(CE_ON_DEMAND.name, CE_UNIFORM.name),
)

# Each preset's arms, seeds per learned arm, images seen per learned arm (per family) and
# training preset.
# - quick: the demo, every arm of the report's study but the level specialists, one seed; on
#   an idle 2-core CPU in under 30 minutes from a fresh clone (docs/results/demo.md): a
#   seed-faithful CE arm takes about 2 minutes, an improved one about 5 (half of it the 8-view
#   test evaluation), a GAN arm about 2.
# - study: the on-demand question with error bars: the CE schedule arms and the specialist of
#   every level, 3 seeds each (24 trainings of about 2 minutes on the 2-core CPU).
# - paper: the report's recipe (epochs from the preset) for a GPU.
_REPORT_ARMS = tuple(n for n in ARM_NAMES if n not in SPECIALISTS[:4])  # the report's study: fixed:5 only
PRESET_ARMS = {
    "quick": _REPORT_ARMS,
    "study": ("ce-on-demand", "ce-uniform", "ce-random", *SPECIALISTS, "telea", "ns", "biharmonic"),
    "paper": _REPORT_ARMS,
}
PRESET_SEEDS = {"quick": 1, "study": 3, "paper": 1}
BUDGETS = {"quick": {"ce": 40_000, "gan": 12_000}, "study": {"ce": 40_000}, "paper": None}
TRAIN_PRESET = {"quick": "quick", "study": "quick", "paper": "paper"}


@dataclass
class ExperimentConfig:
    data: str = ""                       # prepared data set directory
    preset: str = "quick"                # quick (CPU, 64 px) | paper (GPU, 128 px)
    out: str = ""                        # experiment directory (default experiments/PRESET)
    only: tuple = ()                     # arm names to run (default: all)
    budget_minutes: float | None = None  # per learned arm; converted to images per family once
    budgets: dict | None = None          # images per family, overriding the preset's
    seed: int = 0                        # the first seed; seed k of an arm trains with seed + k
    seeds: int = 0                       # seeds per learned arm (0: the preset's)
    device: str = "cpu"
    eval: EvalConfig = field(default_factory=EvalConfig)
    train_overrides: dict = field(default_factory=dict)  # applied to every learned arm (tests use tiny widths)
    progress: bool = True

    def resolved(self) -> "ExperimentConfig":
        if self.preset not in BUDGETS:
            raise UserError(f"config field 'preset': unknown preset {self.preset!r}; known: {', '.join(BUDGETS)}")
        if not self.data:
            raise UserError("config field 'data': a prepared data set directory is required")
        unknown = [n for n in self.only if n not in ARM_NAMES]
        if unknown:
            raise UserError(f"config field 'only': unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARM_NAMES)}")
        if self.budget_minutes is not None and self.budget_minutes <= 0:
            raise UserError(f"config field 'budget_minutes': must be positive, got {self.budget_minutes}")
        if self.seeds < 0:
            raise UserError(f"config field 'seeds': must be at least 1 (or 0 for the preset's), got {self.seeds}")
        return replace(self, out=self.out or f"experiments/{self.preset}", seeds=self.seeds or PRESET_SEEDS[self.preset])


def selected_arms(cfg: ExperimentConfig) -> list[Arm]:
    """``--only``'s arms, else the preset's, in the report's order."""
    return [a for a in ARMS if (a.name in cfg.only if cfg.only else a.name in PRESET_ARMS[cfg.preset])]


def seeds(cfg: ExperimentConfig) -> list[int]:
    return [cfg.seed + k for k in range(cfg.seeds)]


def arm_dir(cfg: ExperimentConfig, arm: Arm, seed: int) -> Path:
    """``OUT/arms/NAME`` for the first seed (as before seeds existed), ``NAME-seedS`` for the others."""
    return Path(cfg.out) / "arms" / (arm.name if seed == cfg.seed else f"{arm.name}-seed{seed}")


def arm_train_config(cfg: ExperimentConfig, arm: Arm, images: int | None, seed: int | None = None) -> TrainConfig:
    """One arm's training configuration; ``seed`` (default: the first) drives its weights'
    initialisation and its data order, never the test masks."""
    seed = cfg.seed if seed is None else seed
    base = dict(data=cfg.data, seed=seed, device=cfg.device, name=arm.name, progress=cfg.progress, max_images=images or 0)
    arm_settings = arm.overrides()
    # the experiment's overrides (tests use tiny widths) go wherever the arm's model has the setting
    shared = {k: v for k, v in cfg.train_overrides.items() if k in setting_fields(arm_settings["model"])}
    return resolve(make_config(preset=TRAIN_PRESET[cfg.preset], **{**base, **arm_settings, **shared}))


def family_budgets(cfg: ExperimentConfig, arms: list[Arm]) -> dict:
    """Images per learned arm, per family: equal within a family, so arms compare fairly.
    Under torchrun, rank 0 measures one process and counts it once per process."""
    if cfg.budgets:
        return dict(cfg.budgets)
    if cfg.budget_minutes is None:
        return dict(BUDGETS[cfg.preset] or {})
    from odinpaint.training.trainer import measure_train_throughput

    ctx = distributed.setup(cfg.device)
    out = {}
    if ctx.main:
        for fam in sorted({a.family for a in arms if a.family != "classical"}):
            first = next(a for a in arms if a.family == fam)
            ips = measure_train_throughput(arm_train_config(cfg, first, None), DataSet(cfg.data).size)
            out[fam] = int(cfg.budget_minutes * 60 * ips * ctx.world)
    return ctx.share(out)


def arm_complete(run_dir: Path) -> bool:
    """Whether an arm's training finished: its best checkpoint saved and a done record in its stats."""
    stats = run_dir / "stats.jsonl"
    if not ((run_dir / "checkpoints" / "best.safetensors").is_file() and stats.is_file()):
        return False
    return any(_event(line) == "done" for line in stats.read_text().splitlines())


def _event(record: str) -> str | None:
    """A stats line's event; None for a loss line, and for the torn last line of a run stopped mid-write."""
    try:
        return json.loads(record).get("event")
    except json.JSONDecodeError:
        return None


def arm_action(tc: TrainConfig, run_dir: Path) -> str:
    """What one arm needs: ``reused`` (complete with these settings), ``resumed`` or ``trained``;
    clears a run that cannot be continued."""
    if arm_complete(run_dir):
        # fields added to the config since the run was made take their defaults; the data set
        # decides the image size, and the progress bar changes nothing
        stored = from_dict(json.loads((run_dir / "config.json").read_text())).for_size(tc.g.image_size)
        if replace(stored, run=replace(stored.run, progress=tc.run.progress)) == tc:
            return "reused"
        shutil.rmtree(run_dir)  # settings changed since: this arm's old run no longer answers the question
    if (run_dir / "checkpoints" / "last.safetensors").is_file():
        return "resumed"
    shutil.rmtree(run_dir, ignore_errors=True)  # started but never checkpointed: start over
    return "trained"


def train_arm(cfg: ExperimentConfig, arm: Arm, images: int | None, run_dir: Path, seed: int | None = None) -> str:
    """Train (or resume, or reuse) one arm with one seed; returns what was done. Under
    torchrun rank 0 decides for every process."""
    from odinpaint.training.trainer import train

    tc = arm_train_config(cfg, arm, images, seed)
    ctx = distributed.setup(cfg.device)
    what = ctx.share(arm_action(tc, run_dir) if ctx.main else None)
    if what == "resumed":
        train(tc, resume=run_dir)
    elif what == "trained":
        train(tc, run_dir=run_dir)
    return what


def _speed_kind(cfg: ExperimentConfig, arm: Arm) -> tuple:
    """Arms of one kind train at about one speed: the family, and whether a classical fill
    (computed on the CPU for every batch) starts the network."""
    return arm.family, arm_train_config(cfg, arm, None).g.fill in BASELINES


def _time_left(cfg: ExperimentConfig, jobs: list[tuple[Arm, int]], budgets: dict, seconds_per_image: dict) -> str:
    """", about N min of training left" over ``jobs`` (arm, seed), from the speed of each kind
    of arm timed this session; a lower bound while some kinds are not timed yet ("" before
    any is)."""
    todo = [a for a, seed in jobs if not arm_complete(arm_dir(cfg, a, seed))]
    timed = [a for a in todo if budgets.get(a.family) and _speed_kind(cfg, a) in seconds_per_image]
    if not timed:
        return ""
    minutes = sum(seconds_per_image[_speed_kind(cfg, a)] * budgets[a.family] for a in timed) / 60
    untimed = len(todo) - len(timed)
    return (f", about {minutes:.0f} min of training left" if not untimed else
            f", at least {minutes:.0f} min of training left ({untimed} arm(s) of a kind not timed yet)")


def combine_seeds(per_seed: list[dict]) -> dict:
    """One arm's evaluation over its seeds: every score averaged over seeds (per level, and per
    test mask), with each seed's hole PSNR per level, and per test mask for the intervals over
    seeds and masks (odinpaint.study.stats.seeded_interval), kept beside."""
    if len(per_seed) == 1:
        return per_seed[0]
    out = {**per_seed[0], "levels": {}, "psnr_hole_per_mask": {}, "psnr_hole_per_seed_mask": {}, "seeds": len(per_seed),
           "detail_per_mask": {}}
    for key, first in per_seed[0]["levels"].items():
        out["levels"][key] = {m: float(np.mean([r["levels"][key][m] for r in per_seed])) for m in first}
        out["levels"][key]["psnr_hole_per_seed"] = [r["levels"][key]["psnr_hole"] for r in per_seed]
        out["psnr_hole_per_seed_mask"][key] = [r["psnr_hole_per_mask"][key] for r in per_seed]
        out["psnr_hole_per_mask"][key] = np.mean(out["psnr_hole_per_seed_mask"][key], axis=0).round(4).tolist()
        if all("detail_per_mask" in r for r in per_seed):
            out.setdefault("detail_per_mask", {})[key] = np.mean(
                [r["detail_per_mask"][key] for r in per_seed], axis=0).round(4).tolist()
    return out


def run_experiment(cfg: ExperimentConfig) -> Path:
    """Train and evaluate every selected arm with each seed, then write the report; returns the
    report dir."""
    from odinpaint.study.report import write_report

    cfg = cfg.resolved()
    ctx = distributed.setup(cfg.device)
    out = Path(cfg.out)
    arms = selected_arms(cfg)
    ds = DataSet(cfg.data)
    budgets = family_budgets(cfg, arms)
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    per_seed, runs = {}, {}
    t0 = time.perf_counter()
    jobs = [(a, seed) for a in arms if a.family != "classical" for seed in seeds(cfg)]
    seconds_per_image = {}  # per kind of arm (see _speed_kind), from arms trained this session
    for i, (arm, seed) in enumerate(jobs, 1):
        where = arm_dir(cfg, arm, seed)
        name = arm.name if cfg.seeds == 1 else f"{arm.name} seed {seed}"
        if ctx.main:
            print(f"[arm {i}/{len(jobs)}] {name}{_time_left(cfg, jobs[i - 1:], budgets, seconds_per_image)}", flush=True)
        t = time.perf_counter()
        what = train_arm(cfg, arm, budgets.get(arm.family), where, seed)
        if what == "trained" and budgets.get(arm.family):
            seconds_per_image[_speed_kind(cfg, arm)] = (time.perf_counter() - t) / budgets[arm.family]
        if not ctx.main:
            continue  # the other processes only train
        ckpt = where / "checkpoints" / "best.safetensors"
        eval_file = where / "test_eval.json"
        res = json.loads(eval_file.read_text()) if eval_file.is_file() else None
        if (what != "reused" or res is None or res.get("config") != asdict(cfg.eval)
                or not {"psnr_hole_per_mask", "detail_per_mask"} <= set(res)):  # an older evaluation lacks some
            res = evaluate(model_fill(load_checkpoint(ckpt).build("G"), cfg.device), ds.split("test"), cfg.eval,
                           desc=f"eval {name}", progress=cfg.progress, device=cfg.device)
            eval_file.write_text(json.dumps(res, indent=1))
        per_seed.setdefault(arm.name, []).append(res)
        if seed == cfg.seed:  # the first seed's run stands for the arm in curves and sample grids
            runs[arm.name] = {"dir": str(where), "status": what, "seconds_this_session": 0.0}
        runs[arm.name]["seconds_this_session"] = round(runs[arm.name]["seconds_this_session"] + time.perf_counter() - t, 1)
        print(f"{name}: {what}, mixed hole PSNR {res['levels']['mixed']['psnr_hole']:.2f} dB", flush=True)
    if not ctx.main:
        return out / "report"
    results = {name: combine_seeds(rs) for name, rs in per_seed.items()}
    classical = [a for a in arms if a.family == "classical"]
    if classical:
        base = baseline_results(ds, cfg.eval, [a.name for a in classical], progress=cfg.progress)
        for arm, res in zip(classical, base.values()):
            results[arm.name] = res
    return write_report(cfg, arms, results, runs, budgets, time.perf_counter() - t0, STUDY)


def dry_run(cfg: ExperimentConfig) -> str:
    """The arms with their seeds, settings and budgets, as text."""
    cfg = cfg.resolved()
    arms = selected_arms(cfg)
    budgets = family_budgets(cfg, arms)
    lines = [f"experiment {cfg.preset} on {cfg.data} -> {cfg.out}",
             f"evaluation: {cfg.eval.max_images} test images x {cfg.eval.masks_per_image} fixed masks per level, seed {cfg.eval.seed}",
             f"seeds per learned arm: {cfg.seeds} ({', '.join(map(str, seeds(cfg)))})"]
    for arm in arms:
        if arm.family == "classical":
            lines.append(f"  {arm.name:20s} classical  {arm.label}")
            continue
        tc = arm_train_config(cfg, arm, budgets.get(arm.family))
        s = settings(tc)  # None for a setting the arm's model has not
        budget = f"{s['max_images']:,} images" if s["max_images"] else f"{s['epochs']} epochs"
        done = sum(arm_complete(arm_dir(cfg, arm, seed)) for seed in seeds(cfg))
        status = f"{done} of {cfg.seeds} seed(s) complete, reused" if done else "to train"
        shown = ("schedule", "width", "batch", "fill", "mask_channel", "skips", "residual", "composite", "loss",
                 "image_weight", "hole_weight", "hole_aware")
        lines.append(f"  {arm.name:20s} {arm.family:5s} {budget:>15s} x {cfg.seeds} seed(s)  "
                     + " ".join(f"{k}={s.get(k)}" for k in shown) + f"  [{status}]")
    return "\n".join(lines)
