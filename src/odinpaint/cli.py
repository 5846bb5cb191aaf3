"""The ``odinpaint`` command line.

    odinpaint data prepare photos --out data/photos64 --size 64
    odinpaint data prepare ~/pictures --out data/mine --size 128 --split 0.8,0.1,0.1
    odinpaint baseline --data data/photos64 --method all

Errors a user can fix (bad files, bad options, missing data) print one line naming the
file or field and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from odinpaint import __version__

EXIT_USAGE = 2


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


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
                        scales=args.scales, min_std=args.min_std, workers=args.workers)
    manifest = prepare(args.source, args.out, cfg, force=args.force, photos_root=Path(args.photos_root))
    print(summary(manifest))
    print(f"wrote {args.out}")
    return 0


# ----------------------------------------------------------------------------- baseline
def cmd_baseline(args) -> int:
    from odinpaint.baselines import BASELINE_NAMES, BASELINES, baseline_fill
    from odinpaint.data.dataset import DataSet
    from odinpaint.evaluate import EvalConfig, evaluate, markdown_report

    ds = DataSet(args.data)
    methods = list(BASELINES) if args.method == "all" else [args.method]
    cfg = EvalConfig(max_images=args.max_images, masks_per_image=args.masks_per_image, mask_kind=args.mask_kind)
    test = ds.split("test")
    results = {BASELINE_NAMES[m]: evaluate(baseline_fill(m), test, cfg, desc=m) for m in methods}
    report = markdown_report(results)
    print(f"classical baselines on {args.data} (test split, {next(iter(results.values()))['n_images']} images x "
          f"{cfg.masks_per_image} masks per level)\n")
    print(report)
    out = Path(args.out) if args.out else ds.root / "baselines"
    out.mkdir(parents=True, exist_ok=True)
    (out / "baselines.json").write_text(json.dumps({"data": str(args.data), "results": results}, indent=1))
    (out / "baselines.md").write_text(report + "\n")
    print(f"\nwrote {out / 'baselines.json'} and {out / 'baselines.md'}")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="odinpaint", description="On-demand image inpainting.")
    p.add_argument("--version", action="version", version=f"odinpaint {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare data sets").add_subparsers(dest="data_command", required=True)
    dp = data.add_parser("prepare", help="turn images into a memory-mapped data set directory",
                         description="SOURCE is 'photos' (Debian photo packages: wallpapers train, opencv-doc "
                                     "photos val/test), 'samples' (photos shipped in pip packages), a CelebA "
                                     "img_align_celeba folder or zip, or any folder of images (searched recursively).")
    dp.add_argument("source")
    dp.add_argument("--out", required=True, help="data set directory to create")
    dp.add_argument("--size", type=int, default=64, help="sample side in px (multiple of 16)")
    dp.add_argument("--seed", type=int, default=0)
    dp.add_argument("--split", type=_floats, default=(0.8, 0.1, 0.1), help="train,val,test ratios for folders")
    dp.add_argument("--crop", choices=("center", "patches"), default="center", help="folder sources: one centre crop per image, or patches")
    dp.add_argument("--scales", type=_ints, default=(4, 8, 16), help="patch mode: short side = size*k for each k")
    dp.add_argument("--min-std", type=float, default=15.0, help="patch mode: drop patches flatter than this")
    dp.add_argument("--workers", type=int, default=2, help="decoding processes")
    dp.add_argument("--force", action="store_true", help="replace an existing data set")
    dp.add_argument("--photos-root", default="/", help=argparse.SUPPRESS)  # tests point this at a fixture tree
    dp.set_defaults(func=cmd_data_prepare)

    bp = sub.add_parser("baseline", help="evaluate classical inpainting on the test split")
    bp.add_argument("--data", required=True, help="data set directory")
    bp.add_argument("--method", choices=("telea", "ns", "biharmonic", "all"), default="all")
    bp.add_argument("--max-images", type=int, default=250, help="test images used (evenly spaced)")
    bp.add_argument("--masks-per-image", type=int, default=4)
    bp.add_argument("--mask-kind", choices=("square", "freeform"), default="square")
    bp.add_argument("--out", help="directory for baselines.json/.md (default: DATA/baselines)")
    bp.set_defaults(func=cmd_baseline)
    return p


def main(argv=None) -> int:
    from odinpaint.data.dataset import DataSetError
    from odinpaint.imageio import ImageError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, ValueError, FileExistsError, FileNotFoundError, ImageError, DataSetError) as e:
        print(f"odinpaint: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("odinpaint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
