"""Plots of a run, drawn from ``stats.jsonl`` only, plus a sample grid from the model. The
trainer draws them at the end of a run; the experiment's report reuses them.

    >>> from odinpaint.plots import plot_run
    >>> plot_run("runs/000-ce-on-demand-quick", net, val_split)
    # -> loss.png, val_psnr.png, allocation.png, samples.png in the run directory
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from odinpaint.masks import NUM_LEVELS, eval_masks  # noqa: E402
from odinpaint.metrics import composite  # noqa: E402
from odinpaint.tensors import to_tensor, to_uint8  # noqa: E402

LEVEL_COLORS = plt.get_cmap("viridis")(np.linspace(0.05, 0.9, NUM_LEVELS))
THOUSANDS = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}")


def read_stats(run_dir) -> list[dict]:
    path = Path(run_dir) / "stats.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss(stats: list[dict], path: Path, title: str) -> None:
    rows = [r for r in stats if "event" not in r and "loss" in r]
    keys = [k for k in ("loss", "d_loss", "g_gan") if rows and k in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    x = [r["images"] for r in rows]
    for ax, k in zip(axes[0], keys):
        ax.plot(x, [r[k] for r in rows], lw=1)
        ax.set_xlabel("training images seen")
        ax.xaxis.set_major_formatter(THOUSANDS)
        ax.set_ylabel(k)
        ax.set_yscale("log" if k == "loss" and min(r[k] for r in rows) > 0 else "linear")
        ax.grid(alpha=0.3)
    axes[0][0].set_title(f"{title}\ntraining loss")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_val_psnr(stats: list[dict], path: Path, title: str) -> None:
    rows = [r for r in stats if r.get("event") == "val"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = [r["step"] for r in rows]
    for lv in range(NUM_LEVELS):
        ax.plot(x, [r["psnr_hole"][lv] for r in rows], marker="o", ms=3, color=LEVEL_COLORS[lv], label=f"level {lv + 1}")
    ax.plot(x, [r["mixed_psnr_hole"] for r in rows], "k--", lw=1, label="mixed")
    ax.set_xlabel("step")
    ax.set_ylabel("validation hole PSNR (dB)")
    ax.set_title(f"{title}\nper-level validation PSNR")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_allocation(stats: list[dict], path: Path, title: str) -> None:
    rows = [r for r in stats if r.get("event") == "allocation" and r.get("counts")]
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    x = [r["step"] for r in rows]
    counts = np.array([r["counts"] for r in rows], dtype=float).T
    if len(x) == 1:  # a fixed schedule never changes: draw it as a band over the run
        last = max(r.get("step", 0) for r in stats)
        x, counts = [0, max(last, 1)], np.repeat(counts, 2, axis=1)
    ax.stackplot(x, counts, colors=LEVEL_COLORS, labels=[f"level {i + 1}" for i in range(NUM_LEVELS)], step="post")
    ax.set_xlabel("step")
    ax.set_ylabel("samples per batch")
    ax.set_ylim(0, counts.sum(0).max())
    ax.set_title(f"{title}\nbatch allocation per level")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=5, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def sample_grid(net, images: np.ndarray, path: Path, title: str, n_images: int = 4, seed: int = 7) -> None:
    """Rows = levels; for each of ``n_images`` images: masked input | output | truth."""
    idx = np.linspace(0, len(images) - 1, n_images).round().astype(int)
    image = to_tensor(images[idx])
    masks = eval_masks(images.shape[1], n_images, seed=seed)
    was_training = net.training
    net.eval()
    fig, axes = plt.subplots(NUM_LEVELS, 3 * n_images, figsize=(1.2 * 3 * n_images, 1.3 * NUM_LEVELS + 0.5))
    for lv in range(1, NUM_LEVELS + 1):
        mask = torch.from_numpy(masks[lv]).float()[:, None]
        known = image * (1 - mask)
        out = composite(net(known, mask).float().clamp(-1, 1), image, mask)
        shown = known + mask * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1)  # magenta hole
        for i in range(n_images):
            for j, (x, name) in enumerate(((shown, "input"), (out, "output"), (image, "truth"))):
                ax = axes[lv - 1, 3 * i + j]
                ax.imshow(to_uint8(x[i : i + 1])[0])
                ax.set_xticks([])
                ax.set_yticks([])
                if lv == 1:
                    ax.set_title(name, fontsize=8)
            axes[lv - 1, 0].set_ylabel(f"level {lv}", fontsize=9)
    fig.suptitle(f"{title}: validation samples per level", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    net.train(was_training)


def plot_run(run_dir, net=None, val_images: np.ndarray | None = None) -> list[Path]:
    run_dir = Path(run_dir)
    stats = read_stats(run_dir)
    title = run_dir.name
    out = [run_dir / "loss.png", run_dir / "val_psnr.png", run_dir / "allocation.png"]
    plot_loss(stats, out[0], title)
    plot_val_psnr(stats, out[1], title)
    plot_allocation(stats, out[2], title)
    if net is not None and val_images is not None:
        out.append(run_dir / "samples.png")
        sample_grid(net, val_images, out[-1], title)
    return out
