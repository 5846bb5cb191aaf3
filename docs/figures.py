"""The README's picture: a hole in one of the test photos, filled by Telea, PatchMatch and
odinpaint's two styles with the shipped model.

    .venv/bin/python docs/figures.py      # writes docs/img/fill.jpg (needs `make photos`)
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from odinpaint import Inpainter
from odinpaint.classical import BASELINES
from odinpaint.inference.inpainter import boxes_to_mask

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/fruits.jpg")  # a test photo, never trained on
OUT = Path(__file__).parent / "img" / "fill.jpg"
WIDTH = 360  # each panel's width, px
LABEL = 22  # the label strip's height, px


def panel(rgb: np.ndarray, label: str) -> Image.Image:
    img = Image.fromarray(rgb)
    img = img.resize((WIDTH, round(img.height * WIDTH / img.width)), Image.LANCZOS)
    out = Image.new("RGB", (img.width, img.height + LABEL), "white")
    out.paste(img, (0, LABEL))
    ImageDraw.Draw(out).text((6, 5), label, fill="black")
    return out


def main() -> None:
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    h, w = rgb.shape[:2]
    side = int(0.3 * min(h, w))  # a square of 30% of the short side
    hole = boxes_to_mask((h, w), [(int(0.42 * w), int(0.3 * h), side, side)])
    shown = rgb.copy()
    shown[hole] = (255, 0, 255)
    inp = Inpainter.default()
    panels = [panel(shown, "the hole"), panel(BASELINES["telea"](rgb, hole), "OpenCV Telea"),
              panel(BASELINES["patchmatch"](rgb, hole), "PatchMatch"),
              panel(inp.fill_array(rgb, hole, style="smooth"), "odinpaint, smooth"),
              panel(inp.fill_array(rgb, hole, style="detailed"), "odinpaint, detailed (default)"),
              panel(rgb, "the photo")]
    cols = 3
    sheet = Image.new("RGB", (cols * WIDTH, 2 * panels[0].height), "white")
    for i, p in enumerate(panels):
        sheet.paste(p, ((i % cols) * WIDTH, (i // cols) * p.height))
    OUT.parent.mkdir(exist_ok=True)
    sheet.save(OUT, quality=88)
    print(f"wrote {OUT} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
