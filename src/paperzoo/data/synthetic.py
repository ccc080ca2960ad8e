"""Generated datasets for tests, demos and CPU-scale experiments (no download needed)."""

from __future__ import annotations

import torch


def gaussian_blobs(n: int, dim: int, *, separation: float = 2.0, label_noise: float = 0.0, seed: int = 0):
    """Two Gaussian classes N(+-mu, I) in ``dim`` dimensions with ||2 mu|| = ``separation``.

    Returns ``X`` (n, dim) float32 and ``y`` (n,) in {-1, +1}; ``label_noise`` flips that fraction
    of labels (the Bayes error rises accordingly). The Bayes classifier is sign(x . mu).
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    direction = torch.randn(dim, generator=gen)
    mu = direction / direction.norm() * (separation / 2)
    X = torch.randn(n, dim, generator=gen) + y[:, None] * mu
    if label_noise > 0:
        flip = torch.rand(n, generator=gen) < label_noise
        y = torch.where(flip, -y, y)
    return X.float(), y.float()
