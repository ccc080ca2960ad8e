"""Classifier-based rejection sampling (VQ-VAE-2 section 3.3).

Samples are drawn from the (class-conditional) prior and decoded; a classifier trained on real
images scores each sample, and only samples whose probability of the intended class reaches the
threshold are kept. Raising the threshold trades diversity (recall) for quality (precision / FID);
the acceptance rate says what that costs in sampling time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from paperzoo.errors import InvalidArgumentError


@dataclass
class RejectionResult:
    samples: torch.Tensor  # (n_accepted, ...) the kept samples, in the order they were drawn
    probabilities: torch.Tensor  # (n_accepted,) the classifier's probability of the target class
    drawn: int  # how many samples were generated
    acceptance_rate: float  # accepted / drawn (over every batch drawn)


@torch.no_grad()
def rejection_sample(sample: Callable[[int], torch.Tensor], classify: Callable[[torch.Tensor], torch.Tensor], *,
                     target: int, threshold: float, n: int, batch: int = 64, max_draws: int = 10_000) -> RejectionResult:
    """Draw batches with ``sample(batch)`` until ``n`` samples have p(target | sample) >= threshold
    under ``classify`` (which returns logits (B, classes)), or ``max_draws`` samples were drawn."""
    if not 0.0 <= threshold <= 1.0:
        raise InvalidArgumentError(f"threshold must be in [0, 1], got {threshold}")
    if n < 1 or batch < 1 or max_draws < 1:
        raise InvalidArgumentError("n, batch and max_draws must be >= 1")
    kept, probs, drawn, accepted = [], [], 0, 0
    while accepted < n and drawn < max_draws:
        x = sample(batch)
        p = torch.softmax(classify(x).float(), dim=1)[:, target]
        keep = p >= threshold
        kept.append(x[keep])
        probs.append(p[keep])
        drawn += len(x)
        accepted += int(keep.sum())
    samples, probabilities = torch.cat(kept), torch.cat(probs)
    return RejectionResult(samples[:n], probabilities[:n], drawn, accepted / max(drawn, 1))
