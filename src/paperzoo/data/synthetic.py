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


def shapes_images(n: int, size: int = 32, *, seed: int = 0) -> torch.Tensor:
    """Generated images with structure a VQ-VAE can learn offline: a random background colour with
    one to three filled rectangles and discs of random colours. Returns (n, size, size, 3) uint8."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = (torch.rand(n, 1, 1, 3, generator=gen) * 255).expand(n, size, size, 3).clone()
    for _ in range(3):
        present = torch.rand(n, generator=gen) < 0.75
        colour = torch.rand(n, 3, generator=gen) * 255
        cx, cy = (torch.rand(2, n, generator=gen) * size)
        r = 3 + torch.rand(n, generator=gen) * size / 4
        disc = torch.rand(n, generator=gen) < 0.5
        dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
        inside = torch.where(disc[:, None, None], dx**2 + dy**2 <= r[:, None, None] ** 2,
                             (dx.abs() <= r[:, None, None]) & (dy.abs() <= r[:, None, None] * 0.7))
        mask = inside & present[:, None, None]
        images = torch.where(mask[..., None], colour[:, None, None, :], images)
    return images.round().to(torch.uint8)


def clustered_interactions(path, users: list[str], items: list[str], *, n: int, clusters: int = 3,
                           affinity: float = 0.8, seed: int = 0):
    """Write implicit feedback as an Amazon-style CSV (``userid,itemid,timestamp,rating``).

    User ``users[k]`` belongs to cluster ``k % clusters``, item ``items[j]`` to ``j % clusters``; each
    of the ``n`` interactions picks a random user and, with probability ``affinity``, an item of the
    user's cluster (else any item). Timestamps are the row numbers. Returns ``path``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    by_cluster = [[i for j, i in enumerate(items) if j % clusters == c] for c in range(clusters)]
    rows = ["userid,itemid,timestamp,rating"]
    for t in range(n):
        k = int(rng.integers(len(users)))
        pool = by_cluster[k % clusters] if rng.random() < affinity else items
        rows.append(f"{users[k]},{pool[int(rng.integers(len(pool)))]},{t},5.0")
    path.write_text("\n".join(rows) + "\n")
    return path


def synthetic_fsdd(root, *, speakers=("george", "jackson", "lucas", "nicolas", "theo", "yweweler"), digits: int = 4,
                   takes=(0, 1, 2, 5, 6, 7, 45, 46), sample_rate: int = 8000, seed: int = 0):
    """Write an FSDD-shaped folder ``root/recordings/{digit}_{speaker}_{take}.wav`` of voiced-like
    sounds: per speaker a pitch, per digit a pitch glide and a formant-like harmonic weighting, per
    take a random length (0.25-0.5 s) and jitter. For demos and tests of the separation pipeline.
    Returns ``root``."""
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    rec = Path(root) / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(speakers):
        pitch = 110.0 * 2 ** (s / len(speakers))
        for digit in range(digits):
            weights = np.exp(-((np.arange(1, 9) - 1 - 2 * digit % 7) ** 2) / 4.0)
            for take in takes:
                n = int(sample_rate * rng.uniform(0.25, 0.5))
                t = np.arange(n) / sample_rate
                f0 = pitch * (1 + 0.15 * (digit % 3 - 1) * t / t[-1]) * (1 + 0.01 * rng.standard_normal())
                phase = 2 * np.pi * np.cumsum(f0) / sample_rate
                wave = sum(w * np.sin(k * phase) for k, w in enumerate(weights, 1)) * np.hanning(n)
                wave = 0.5 * wave / np.abs(wave).max()
                sf.write(rec / f"{digit}_{speaker}_{take}.wav", (wave * 32767).astype(np.int16), sample_rate, subtype="PCM_16")
    return Path(root)
