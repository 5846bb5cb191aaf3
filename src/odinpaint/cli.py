"""The ``odinpaint`` command line.

    odinpaint data prepare photos --out data/photos64 --size 64
    odinpaint data prepare ~/pictures --out data/mine --size 128 --split 0.8,0.1,0.1
    odinpaint baseline --data data/photos64 --method all
    odinpaint train --model ce --data data/photos64 --schedule on-demand --preset quick
    odinpaint eval runs/000-ce-on-demand-quick/checkpoints/best.safetensors --data data/photos64
    odinpaint experiment --preset quick --data data/photos64

Errors a user can fix (bad files, bad options, missing data, a full disk) print one line
naming the file or field and exit with status 2. Batches (``fill --input``, ``data
prepare``) go on past bad files, name each one at the end, and then exit with status 2.
Anything else is a bug in odinpaint: one line says so and where its traceback was written
(``--debug`` prints it instead), and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from odinpaint import __version__
from odinpaint.errors import UserError
from odinpaint.inference.styles import DEFAULT_STYLE, STYLE_HELP, STYLES
from odinpaint.masks import MASK_KINDS

EXIT_USAGE = 2  # the user's input, options or files: one line that names the problem
EXIT_BUG = 1    # anything else: a bug in odinpaint, reported as one, with its traceback kept


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


# ----------------------------------------------------------------------------- data
def cmd_data_prepare(args) -> int:
    from odinpaint.data.prepare import PrepareConfig, prepare, summary

    cfg = PrepareConfig(size=args.size, seed=args.seed, ratios=args.split, crop=args.crop,
                        scales=args.scales, min_std=args.min_std, train_crops=args.train_crops,
                        workers=args.workers)
    manifest = prepare(args.source, args.out, cfg, force=args.force, photos_root=Path(args.photos_root))
    print(summary(manifest))
    print(f"wrote {args.out}")
    if manifest["skipped"]:  # the data set is complete without them, but the user should know
        print(f"odinpaint: {len(manifest['skipped'])} unreadable file(s) skipped (listed above)", file=sys.stderr)
        return EXIT_USAGE
    return 0


# ----------------------------------------------------------------------------- baseline
def _eval_config(args):
    from odinpaint.evaluate import EvalConfig

    return EvalConfig(max_images=args.max_images, masks_per_image=args.masks_per_image, mask_kind=args.mask_kind)


def _write_report(results: dict, out: Path, stem: str, header: str) -> None:
    from odinpaint.evaluate import markdown_report

    report = markdown_report(results)
    print(header + "\n")
    print(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (out / f"{stem}.md").write_text(header + "\n\n" + report + "\n")
    print(f"\nwrote {out / (stem + '.json')} and {out / (stem + '.md')}")


def cmd_baseline(args) -> int:
    from odinpaint.classical import BASELINES
    from odinpaint.data.dataset import DataSet
    from odinpaint.evaluate import baseline_results

    ds = DataSet(args.data)
    cfg = _eval_config(args)
    results = baseline_results(ds, cfg, list(BASELINES) if args.method == "all" else [args.method])
    first = next(iter(results.values()))
    header = (f"Classical baselines on {args.data} (test split, {first['n_images']} images x "
              f"{cfg.masks_per_image} masks per level)")
    _write_report(results, Path(args.out) if args.out else ds.root / "baselines", "report", header)
    return 0


# ----------------------------------------------------------------------------- train / eval
def _train_settings() -> dict:
    """Every training setting of either model kind by flat name (odinpaint.training.config); a
    setting both kinds have (width, fill ...) takes its help from the first."""
    from odinpaint.training.config import MODELS, setting_fields

    out = {}
    for model in MODELS:
        for name, (_, f) in setting_fields(model).items():
            out.setdefault(name, f)
    return out


_FIELD_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _add_setting_options(p, settings: dict) -> None:
    """One option per config field, from the field's metadata: its help, its ``choices``, other
    spellings (``aliases``: --hole-l1 for --hole-weight, --no-skip for --no-skips, the report's
    names), and ``cli=False`` for a field no flag sets. A bool gives --x and --no-x. An option
    left out is absent from the parsed arguments, so the field keeps the preset's value."""
    for name, f in settings.items():
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        kind = _FIELD_TYPES[f.type.removesuffix(" | None")]
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=meta["help"])
            for alias in meta.get("aliases", ()):
                p.add_argument(alias, dest=name, action="store_false", default=argparse.SUPPRESS,
                               help=f"the same as --no-{flag[2:]}")
        else:
            p.add_argument(flag, *meta.get("aliases", ()), dest=name, type=kind, choices=meta.get("choices"),
                           metavar=meta.get("metavar"), default=argparse.SUPPRESS, help=meta["help"])


def _train_config(args):
    from odinpaint.training.config import make_config

    given = {name: getattr(args, name) for name in _train_settings() if hasattr(args, name)}
    return make_config(args.model, args.preset, args.recipe, **given)


def _say():
    """print on rank 0 only: under torchrun every process runs the command."""
    from odinpaint.training.distributed import env_rank

    return print if env_rank() == 0 else (lambda *a, **k: None)


def cmd_train(args) -> int:
    from odinpaint.training import config as C
    from odinpaint.training.distributed import session
    from odinpaint.training.trainer import train

    say = _say()
    with session():
        if args.resume:
            run_dir = train(C.make_config(progress=getattr(args, "progress", True)), resume=args.resume)
        else:
            cfg = C.resolve(_train_config(args))
            say(f"options that differ from the preset {cfg.preset}: "
                + ", ".join(f"{k}={v}" for k, v in C.non_defaults(cfg).items()))
            if args.dry_run:
                say(json.dumps(C.to_dict(cfg), indent=1))
                return 0
            run_dir = train(cfg)
    say(f"run directory: {run_dir}")
    say(f"evaluate with: odinpaint eval {run_dir / 'checkpoints' / 'best.safetensors'} --data <DIR>")
    return 0


def cmd_eval(args) -> int:
    from odinpaint.checkpoint import load_checkpoint
    from odinpaint.data.dataset import DataSet
    from odinpaint.evaluate import baseline_results, evaluate, model_fill

    ckpt = load_checkpoint(args.checkpoint)
    net = ckpt.build("G")
    ds = DataSet(args.data)
    if net.arch.image_size != ds.size:
        raise UserError(f"{args.checkpoint}: model is for {net.arch.image_size} px images, {args.data} has {ds.size} px")
    cfg = _eval_config(args)
    run = Path(args.checkpoint).resolve().parent.parent
    name = f"{run.name}/{Path(args.checkpoint).stem}"
    results = {name: evaluate(model_fill(net, args.device), ds.split("test"), cfg, desc="model", device=args.device)}
    if not args.no_baselines:
        results.update(baseline_results(ds, cfg))
    header = (f"{name} (step {ckpt.meta['step']}, {ckpt.meta['images']} images seen) on {args.data}, "
              f"test split, {results[name]['n_images']} images x {cfg.masks_per_image} masks per level")
    _write_report(results, Path(args.out) if args.out else run / "eval", f"eval-{Path(args.checkpoint).stem}", header)
    return 0


def cmd_experiment(args) -> int:
    from odinpaint.study.experiment import ExperimentConfig, dry_run, run_experiment
    from odinpaint.training.distributed import session

    cfg = ExperimentConfig(data=args.data, preset=args.preset, out=args.out or "",
                           only=tuple(x for x in (args.only or "").split(",") if x), budget_minutes=args.budget_minutes,
                           seed=args.seed, seeds=args.seeds, device=args.device, progress=not args.no_progress,
                           eval=_eval_config(args))
    say = _say()
    with session():
        if args.dry_run:
            say(dry_run(cfg))
            return 0
        report = run_experiment(cfg)
    say(f"report: {report / 'index.html'} (also report.md, results.json)")
    return 0


def cmd_export(args) -> int:
    from odinpaint.inference.export import export_onnx, export_weights

    if not (args.onnx or args.weights):
        raise UserError("give --onnx OUT.onnx and/or --weights OUT.safetensors")
    for out in ([export_onnx(args.checkpoint, args.onnx)] if args.onnx else []) + \
               ([export_weights(args.checkpoint, args.weights)] if args.weights else []):
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); run it with: odinpaint fill IMAGE --model {out} ...")
    return 0


def cmd_eval_photos(args) -> int:
    from odinpaint.study.photo_eval import CLASSICAL, PhotoEvalConfig, evaluate_photos, markdown

    try:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    except ValueError:
        raise UserError(f"--sizes: expected comma-separated pixel counts like 256,512, got {args.sizes!r}") from None
    out = args.out or "runs/photo-eval"
    result = evaluate_photos(PhotoEvalConfig(data=args.data or "", split=args.split, photos=args.photos or "",
                                             model=args.model or "", sizes=sizes, masks_per_photo=args.masks_per_photo,
                                             max_photos=args.max_photos,
                                             methods=tuple(args.methods.split(",")) if args.methods else CLASSICAL,
                                             device=args.device, out=out, progress=not args.no_progress))
    print(markdown(result))
    print(f"wrote {Path(out) / 'photo_eval.md'} (also photo_eval.json and sample grids)")
    return 0


def cmd_bench(args) -> int:
    from odinpaint.study.bench import BenchConfig, markdown_table, run_bench, write_json

    result = run_bench(BenchConfig(quick=args.quick, data=args.data or "", repeats=args.repeats, compile=args.compile))
    print()
    print(markdown_table(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a box is x,y,w,h in pixels, got {text!r}") from None
    return x, y, w, h


def _inpainter(args):
    """``--model``, or the model shipped with odinpaint when it is left out."""
    from odinpaint.inference.inpainter import Inpainter

    return Inpainter.from_checkpoint(args.model, args.device) if args.model else Inpainter.default(args.device)


def cmd_fill(args) -> int:
    from odinpaint.inference.fill import MaskSpec, fill_file, fill_folder

    if args.mask and args.box:
        raise UserError("give --mask or --box, not both")
    if (args.image is None) == (args.input is None):
        raise UserError("give one IMAGE, or --input DIR for a folder")
    spec = MaskSpec(mask=args.mask, boxes=tuple(args.box or ()), invert=args.invert_mask, dilate=args.dilate)
    inp = _inpainter(args)
    if args.image is not None:
        info = fill_file(inp, args.image, args.output, spec, overwrite=args.overwrite, style=args.style)
        print(f"wrote {info['out']} ({info['hole_pixels']:,} hole pixels filled)")
        return 0
    res = fill_folder(inp, args.input, args.output, spec, mask_dir=args.mask_dir, progress=not args.no_progress,
                      style=args.style)
    print(f"filled {len(res['filled'])}, skipped {len(res['skipped_existing'])} existing, "
          f"failed {len(res['failed'])} -> {args.output}")
    for f in res["failed"]:
        print(f"  {f['file']}: {f['reason']}", file=sys.stderr)
    return EXIT_USAGE if res["failed"] else 0


def cmd_serve(args) -> int:
    from odinpaint.inference.server import serve

    serve(_inpainter(args), host=args.host, port=args.port,
          max_upload_mb=args.max_upload_mb, workers=args.workers, queue=args.queue)
    return 0


def _add_eval_options(p) -> None:
    p.add_argument("--max-images", type=int, default=250, help="test images used (evenly spaced)")
    p.add_argument("--masks-per-image", type=int, default=4, help="fixed masks per image per level")
    p.add_argument("--mask-kind", choices=MASK_KINDS, default="square")


# ----------------------------------------------------------------------------- parser
def _add_data_command(sub) -> None:
    data = sub.add_parser("data", help="prepare data sets").add_subparsers(dest="data_command", required=True)
    dp = data.add_parser("prepare", help="turn images into a memory-mapped data set directory",
                         description="SOURCE is 'photos' (Debian photo packages: wallpapers train, opencv-doc "
                                     "photos val/test), 'gcompris' (gcompris-qt-data's photos), 'samples' (photos "
                                     "shipped in pip packages), a CelebA img_align_celeba folder or zip, or any folder "
                                     "of images (searched recursively).")
    dp.add_argument("source")
    dp.add_argument("--out", required=True, help="data set directory to create")
    dp.add_argument("--size", type=int, default=64, help="sample side in px (multiple of 16)")
    dp.add_argument("--seed", type=int, default=0)
    dp.add_argument("--split", type=_floats, default=(0.8, 0.1, 0.1), help="train,val,test ratios for folders")
    dp.add_argument("--crop", choices=("center", "patches"), default="center", help="folder sources: one centre crop per image, or patches")
    dp.add_argument("--scales", type=_ints, default=(4, 8, 16), help="patch mode: short side = size*k for each k")
    dp.add_argument("--min-std", type=float, default=15.0, help="patch mode: drop patches flatter than this")
    dp.add_argument("--train-crops", type=int, default=0, metavar="N",
                    help="patch mode: the train split gets N random-resized crops per photo (every scale from "
                         "pixel detail to the whole photo, mirrored at random) instead of the tile grid; "
                         "val and test keep the grid")
    dp.add_argument("--workers", type=int, default=2, help="decoding processes")
    dp.add_argument("--force", action="store_true", help="replace an existing data set")
    dp.add_argument("--photos-root", default="/", help=argparse.SUPPRESS)  # tests point this at a fixture tree
    dp.set_defaults(func=cmd_data_prepare)


def _add_baseline_command(sub) -> None:
    bp = sub.add_parser("baseline", help="evaluate classical inpainting on the test split")
    bp.add_argument("--data", required=True, help="data set directory")
    # odinpaint.classical.BASELINES' names, spelled out: the parser is built without loading torch
    bp.add_argument("--method", choices=("telea", "ns", "biharmonic", "patchmatch", "all"), default="all")
    _add_eval_options(bp)
    bp.add_argument("--out", help="directory for report.json/.md (default: DATA/baselines)")
    bp.set_defaults(func=cmd_baseline)


def _add_train_command(sub) -> None:
    from odinpaint.training.config import MODELS, PRESETS, RECIPES

    tp = sub.add_parser("train", help="train a model (context encoder or GAN) with on-demand learning",
                        description="Options left out take the preset's value (see odinpaint.training.config).")
    tp.add_argument("--model", choices=tuple(MODELS), help="ce: context encoder; gan: U-Net + PatchGAN "
                                                             "(default: the recipe's, else ce)")
    tp.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="where unset values come from")
    tp.add_argument("--recipe", choices=tuple(RECIPES), help="a named set of settings over the preset's "
                                                              "(the experiment's and the shipped model's)")
    _add_setting_options(tp, _train_settings())
    tp.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    tp.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly where it stopped")
    tp.set_defaults(func=cmd_train)


def _add_experiment_command(sub) -> None:
    xp = sub.add_parser("experiment", help="the report's whole study: every arm trained, evaluated, reported",
                        description="Runs the declared arms (odinpaint.study.experiment.ARMS) with equal budgets per family "
                                    "and the same evaluation masks, then writes OUT/report/index.html. Complete arms "
                                    "are reused and interrupted ones resumed.")
    xp.add_argument("--data", required=True)
    xp.add_argument("--preset", choices=("quick", "study", "paper"), default="quick",
                    help="quick: the demo, one seed; study: the CE schedule arms and each level's specialist, "
                         "3 seeds; paper: the report's recipe for a GPU")
    xp.add_argument("--out", help="experiment directory (default: experiments/PRESET)")
    xp.add_argument("--only", help="comma-separated arm names")
    xp.add_argument("--budget-minutes", type=float, help="minutes per learned arm, turned into images per family")
    xp.add_argument("--seed", type=int, default=0, help="first seed; seed k of an arm is SEED + k")
    xp.add_argument("--seeds", type=int, default=0, help="seeds per learned arm (default: the preset's)")
    xp.add_argument("--device", default="cpu")
    _add_eval_options(xp)
    xp.add_argument("--no-progress", action="store_true")
    xp.add_argument("--dry-run", action="store_true", help="list the arms with their settings and budgets, then exit")
    xp.set_defaults(func=cmd_experiment)


def _add_fill_command(sub) -> None:
    fill_help = [
        "Fill the hole(s) of an image of any size.",
        "Method: each connected hole gets a square context window around it (the hole spans at most 55% of its "
        "side), resized to the model's size, predicted, resized back, and pasted into the hole pixels only, "
        "feathered into OpenCV's Navier-Stokes fill within a few px of the edge so no seam shows. A hole too large for "
        "one window at 4x the model size is filled coarse to fine: first in a half-resolution copy (recursively), "
        "then refined at full resolution by overlapping, blended tiles that use the coarse fill as context. All "
        "work happens in a crop around the holes, so the cost follows the hole, not the image. Pixels outside "
        "the hole are byte-identical to the input (in lossless output formats); the input's ICC profile and EXIF "
        "are kept.",
        "Styles: 'detailed' (the default) then lays texture from the photo's own known patches over the fill, "
        "chosen to match its low frequencies, so the hole looks like the photo; 'smooth' keeps the model's fill "
        "alone (a little more accurate on average, visibly flat).",
        "Masks: white (> 127) = hole; --invert-mask for black = hole. Without --mask or --box, an RGBA image's "
        "transparent pixels are the hole."]
    fp = sub.add_parser("fill", help="inpaint your own images (one file or a folder)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="\n\n".join(textwrap.fill(t, 88) for t in fill_help))
    fp.add_argument("image", nargs="?", help="the image to fill (or --input DIR)")
    fp.add_argument("--mask", help="mask image, white = hole (in folder mode: one mask for every image)")
    fp.add_argument("--box", type=_box, action="append", metavar="x,y,w,h", help="a rectangular hole (repeatable)")
    fp.add_argument("--model", help="a checkpoint (.safetensors) or an ONNX export (.onnx); default: the shipped model")
    fp.add_argument("--style", choices=STYLES, default=DEFAULT_STYLE, help=STYLE_HELP)
    fp.add_argument("--invert-mask", action="store_true", help="black = hole")
    fp.add_argument("--dilate", type=int, default=0, metavar="N", help="grow the hole by N px")
    fp.add_argument("-o", "--output", required=True, help="output file (or folder with --input)")
    fp.add_argument("--overwrite", action="store_true", help="allow the output to replace the input")
    fp.add_argument("--input", help="a folder of images to fill")
    fp.add_argument("--mask-dir", help="folder mode: masks matched by file stem")
    fp.add_argument("--device", default="cpu")
    fp.add_argument("--no-progress", action="store_true")
    fp.set_defaults(func=cmd_fill)


def _add_serve_command(sub) -> None:
    sp = sub.add_parser("serve", help="a local web page with a brush, and a REST API")
    sp.add_argument("--model", help="a checkpoint (.safetensors) or an ONNX export (.onnx); default: the shipped model")
    sp.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    sp.add_argument("--port", type=int, default=8000)
    sp.add_argument("--max-upload-mb", type=float, default=20)
    sp.add_argument("--workers", type=int, default=1, help="inferences at once")
    sp.add_argument("--queue", type=int, default=8, help="requests that may wait; more get 503")
    sp.add_argument("--device", default="cpu")
    sp.set_defaults(func=cmd_serve)


def _add_export_command(sub) -> None:
    op = sub.add_parser("export", help="export a checkpoint's generator to ONNX, or its weights alone")
    op.add_argument("checkpoint")
    op.add_argument("--onnx", metavar="OUT.onnx", help="an ONNX graph for onnxruntime")
    op.add_argument("--weights", metavar="OUT.safetensors", help="the generator's weights without optimizer state")
    op.set_defaults(func=cmd_export)


def _add_bench_command(sub) -> None:
    bp = sub.add_parser("bench", help="measure training and inference speed against this machine's matmul peak",
                        description="Medians after warm-up; training FLOPs from torch.utils.flop_counter. "
                                    "Prints a table and the goals; --json writes every figure.")
    bp.add_argument("--quick", action="store_true", help="5 rounds instead of 10, no torch.compile (about 4 minutes)")
    bp.add_argument("--json", metavar="OUT", help="write the results as JSON")
    bp.add_argument("--data", help="prepared data set for the loader figure (default: a synthetic split)")
    bp.add_argument("--repeats", type=int, default=0, help="timed repeats per figure (default 5 quick, 10 full)")
    bp.add_argument("--compile", action=argparse.BooleanOptionalAction, help="include torch.compile (default: "
                                                                              "not with --quick)")
    bp.set_defaults(func=cmd_bench)


def _add_eval_command(sub) -> None:
    ep = sub.add_parser("eval", help="evaluate a checkpoint per level, beside the classical baselines")
    ep.add_argument("checkpoint")
    ep.add_argument("--data", required=True)
    _add_eval_options(ep)
    ep.add_argument("--device", default="cpu")
    ep.add_argument("--no-baselines", action="store_true")
    ep.add_argument("--out", help="directory for the report (default: RUN/eval)")
    ep.set_defaults(func=cmd_eval)


def _add_eval_photos_command(sub) -> None:
    pp = sub.add_parser("eval-photos", help="score the model as `fill` runs it, on whole photos at 256 and 512 px, "
                                            "beside the classical methods at full resolution",
                        description="Holes: squares of 15-47%% of the shorter side and free-form strokes of 10-50%% "
                                    "of the area, fixed and seeded. See odinpaint.study.photo_eval.")
    pp.add_argument("--model", help="checkpoint, exported weights or .onnx (default: the shipped model)")
    pp.add_argument("--data", help="a prepared data set: its test split's source photos")
    pp.add_argument("--split", choices=("test", "val"), default="test",
                    help="of --data: val to choose between models, test to report the chosen one")
    pp.add_argument("--photos", help="or a folder of photos, or every photo of a source the shipped model never "
                                     "trains on: 'gcompris' (gcompris-qt-data) or 'samples' (Python packages'); "
                                     "a folder of either name is ./gcompris or ./samples")
    pp.add_argument("--sizes", default="256,512", help="longer side of the photos, px, comma-separated")
    pp.add_argument("--masks-per-photo", type=int, default=2, help="holes of each kind per photo and size")
    pp.add_argument("--max-photos", type=int, default=0, metavar="N",
                    help="score N photos, evenly spaced over the set (default: every photo)")
    pp.add_argument("--methods", default="", help="classical methods beside the model, comma-separated, of telea, ns, "
                                                  "biharmonic and patchmatch (default: all four)")
    pp.add_argument("--device", default="cpu")
    pp.add_argument("--out", help="directory for photo_eval.md/.json and the sample grids (default runs/photo-eval)")
    pp.add_argument("--no-progress", action="store_true")
    pp.set_defaults(func=cmd_eval_photos)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="odinpaint", description="On-demand image inpainting.")
    p.add_argument("--version", action="version", version=f"odinpaint {__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_command(sub)
    _add_baseline_command(sub)
    _add_train_command(sub)
    _add_experiment_command(sub)
    _add_fill_command(sub)
    _add_serve_command(sub)
    _add_export_command(sub)
    _add_bench_command(sub)
    _add_eval_command(sub)
    _add_eval_photos_command(sub)
    return p


def _report_bug(args) -> None:
    """An internal failure: say it is a bug, and keep the traceback (printed with --debug,
    else written to a log file the message names)."""
    import tempfile
    import time
    import traceback

    exc = sys.exc_info()[1]
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())
    print(f"odinpaint: internal error (a bug in odinpaint, not a problem with your input): {summary}", file=sys.stderr)
    trace = "".join(traceback.format_exception(exc))
    if getattr(args, "debug", False):
        print(trace, file=sys.stderr, end="")
        return
    try:
        fd, log = tempfile.mkstemp(prefix=time.strftime("odinpaint-bug-%Y%m%d-%H%M%S-"), suffix=".log")
        with open(fd, "w") as f:
            f.write(f"odinpaint {__version__}\ncommand: {' '.join(sys.argv)}\n\n{trace}")
        print(f"odinpaint: the traceback is in {log} (or rerun with --debug); please report it", file=sys.stderr)
    except OSError:
        print(trace, file=sys.stderr, end="")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, OSError) as e:
        # OSError: a full disk, a read-only or missing folder; the message names the path
        print("odinpaint: error: " + " ".join(str(e).split()), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("odinpaint: interrupted", file=sys.stderr)
        return 130
    except Exception:
        _report_bug(args)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
