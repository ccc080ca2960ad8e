"""Small figure writers shared by the tasks. All outputs are written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paperzoo.io.atomic import atomic_path


def image_grid(rows: list[np.ndarray], path: str | Path, scale: int = 3) -> Path:
    """Rows of images (each (N, H, W, 3) uint8) stacked into one PNG, e.g. originals above
    reconstructions; a 2-pixel white gap between images; upscaled by ``scale`` (nearest)."""
    from PIL import Image

    n, h, w, _ = rows[0].shape
    gap = 2
    canvas = np.full((len(rows) * (h + gap) + gap, n * (w + gap) + gap, 3), 255, np.uint8)
    for r, images in enumerate(rows):
        for c, img in enumerate(images):
            y, x = gap + r * (h + gap), gap + c * (w + gap)
            canvas[y : y + h, x : x + w] = img
    image = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    with atomic_path(path, suffix=".png") as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def code_usage_histogram(counts: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Bar chart of how often each code was chosen (sorted by frequency), with the unused count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(counts)
    order = np.sort(counts)[::-1]
    fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
    ax.bar(np.arange(len(order)), order / max(order.sum(), 1), width=1.0, color="tab:blue")
    ax.axhline(1 / len(order), color="tab:red", lw=1, ls="--", label="uniform")
    unused = int((counts == 0).sum())
    ax.set(xlabel="code (sorted by use)", ylabel="fraction of latents",
           title=title or f"code usage: {len(counts) - unused}/{len(counts)} codes used")
    ax.legend()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def to_uint8_images(x) -> np.ndarray:
    """(B, 3, H, W) float tensor in [-0.5, 0.5] -> (B, H, W, 3) uint8."""
    x = (x.detach().float().cpu() + 0.5).clamp(0, 1) * 255
    return x.round().byte().permute(0, 2, 3, 1).numpy()


def spectrogram_figure(mixture: np.ndarray, truth: np.ndarray, estimates: np.ndarray, path: str | Path,
                       sample_rate: int, title: str = "") -> Path:
    """The paper's Figure 2 layout: the mixture, then true and estimated sources side by side.

    mixture (F, T), truth (m, F, T), estimates (m, F, T): magnitudes, drawn in dB (80 dB range).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def db(x):
        x = 20 * np.log10(np.maximum(np.asarray(x), 1e-8))
        return np.maximum(x, x.max() - 80)

    m = len(truth)
    fig, axes = plt.subplots(m + 1, 2, figsize=(8, 2.2 * (m + 1)), squeeze=False)
    extent = (0, mixture.shape[1], 0, sample_rate / 2000)
    axes[0, 0].imshow(db(mixture), origin="lower", aspect="auto", extent=extent)
    axes[0, 0].set_title("mixture")
    axes[0, 1].axis("off")
    for i in range(m):
        for j, (name, spec) in enumerate((("true", truth[i]), ("estimate", estimates[i]))):
            axes[i + 1, j].imshow(db(spec), origin="lower", aspect="auto", extent=extent)
            axes[i + 1, j].set_title(f"{name} source {i + 1}")
    for ax in axes.ravel():
        ax.set_xlabel("frame")
        ax.set_ylabel("kHz")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Optical flow (N, H, W, 2) (u, v in pixels) -> (N, H, W, 3) uint8 in the usual colour code:
    hue = direction, saturation = magnitude (white = no motion), scaled by the largest magnitude."""
    from matplotlib.colors import hsv_to_rgb

    flow = np.asarray(flow, dtype=np.float32)
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    scale = max_magnitude or float(magnitude.max()) or 1.0
    hue = (np.arctan2(-flow[..., 1], -flow[..., 0]) / (2 * np.pi)) % 1.0
    hsv = np.stack([hue, np.clip(magnitude / scale, 0, 1), np.ones_like(hue)], -1)
    return (hsv_to_rgb(hsv) * 255).round().astype(np.uint8)
