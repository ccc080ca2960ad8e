"""`paperzoo sample`: draw code maps from trained priors and decode them with their VQ-VAE.

One prior for a plain VQ-VAE; for a VQ-VAE-2 hierarchy one prior per level (``sample_chain``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.bundle import load
from paperzoo.priors.inference import PriorSampler, sample_chain


def load_priors(paths) -> list[PriorSampler]:
    priors = []
    for path in paths:  # a run, an export or zoo:ENTRY (a string: Path() would fold its prefix)
        prior = load(path)
        if not isinstance(prior, PriorSampler):
            raise InvalidArgumentError(f"{path} holds a {type(getattr(prior, 'model', prior)).__name__}, not a prior")
        priors.append(prior)
    return priors


def sample_images(prior_dirs, out_dir, *, n: int = 64, label: int | None = None, temperature: float = 1.0,
                  top_k: int | None = None, seed: int = 0) -> Path:
    """Write OUT/samples.png (8 per row; one row per class when class-conditional and no label is
    given) and OUT/codes_l{i}.npy. Returns OUT."""
    from paperzoo.report.figures import image_grid

    if isinstance(prior_dirs, (str, Path)):
        prior_dirs = [prior_dirs]
    if n < 1:
        raise InvalidArgumentError(f"--n must be >= 1, got {n}")
    priors = load_priors(prior_dirs)
    classes = max(p.num_classes for p in priors)
    rows = classes if classes and label is None else None
    if rows:  # per-class grid: n // classes samples of each class
        n = max(1, n // classes) * classes
    samples = sample_chain(priors, n, label, temperature, top_k=top_k, seed=seed)
    if samples.images is None:
        raise InvalidArgumentError("these priors were trained without a known VQ-VAE, so they cannot make images")
    images = (samples.images.permute(0, 2, 3, 1) * 255).round().byte().numpy()
    per_row = n // rows if rows else 8
    grid_rows = [images[i : i + per_row] for i in range(0, n, per_row) if len(images[i : i + per_row]) == per_row]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        image_grid(grid_rows or [images], tmp / "samples.png")
        for i, c in enumerate(samples.codes):
            np.save(tmp / f"codes_l{i}.npy", c.numpy().astype(np.uint16))
    return out_dir
