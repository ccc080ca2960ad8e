"""Codebook statistics. Per-batch perplexity depends on the batch size (a batch of 32 images with
8x8 latents can show at most 2048 codes), so the dataset-level numbers accumulate the code
histogram over a whole evaluation pass."""

from __future__ import annotations

import math

import torch


class CodeUsage:
    """Accumulate code counts: ``update(indices)`` per batch, ``compute()`` at the end."""

    def __init__(self, num_codes: int):
        self.num_codes = num_codes
        self.counts = torch.zeros(num_codes, dtype=torch.long)

    def update(self, indices: torch.Tensor) -> None:
        self.counts += torch.bincount(indices.detach().reshape(-1).cpu(), minlength=self.num_codes)

    def compute(self) -> dict[str, float]:
        total = int(self.counts.sum())
        p = self.counts.double() / max(total, 1)
        entropy = float(-(p[p > 0] * torch.log2(p[p > 0])).sum())
        return {
            "usage": float((self.counts > 0).sum()) / self.num_codes,  # fraction of codes used at least once
            "entropy_bits": entropy,  # <= log2(K)
            "perplexity": 2.0**entropy,  # effective number of codes
            "max_entropy_bits": math.log2(self.num_codes),
            "total": total,
        }
