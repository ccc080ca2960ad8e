"""The permutation-invariant objective of AudioSlots (paper section 3, "Objective").

Predicted spectrograms come out in no particular order, so each example's predictions are matched
one-to-one to its true sources by the Hungarian algorithm on the MSE cost matrix
(``scipy.optimize.linear_sum_assignment``), and the loss is the MSE of the matched pairs. With more
slots than sources, the unmatched slots are free (no loss): the paper's "slots >= sources" case.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from paperzoo.errors import InvalidArgumentError


def pairwise_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, n, F, T), (B, m, F, T) -> (B, n, m) mean squared error of every (slot, source) pair.

    ``weight`` (B, m, F, T), one per source: the mean of weight * (pred - target)^2 instead."""
    p, t = pred.flatten(2), target.flatten(2)
    w = torch.ones_like(t) if weight is None else weight.flatten(2)
    # sum w (p - t)^2 = p^2 . w - 2 p . (w t) + w . t^2: batched matmuls instead of n*m differences
    cost = p.pow(2) @ w.transpose(1, 2) - 2 * p @ (w * t).transpose(1, 2) + (w * t.pow(2)).sum(-1)[:, None, :]
    return cost.clamp_min(0) / p.shape[-1]


def magnitude_weights(target: torch.Tensor, strength: float) -> torch.Tensor:
    """(B, m, F, T) compressed source magnitudes -> weights 1 + strength * target / mean(target).

    The harmonics are the loud, narrow peaks of a voiced spectrogram; the plain MSE lets a smooth
    decoder trade them for the floor between them. Weighting each bin by its own target magnitude
    (normalised per source, so loud and quiet sources count alike) makes missing a peak cost more.
    ``strength`` 0 is the paper's unweighted MSE."""
    mean = target.flatten(2).mean(-1).clamp_min(1e-6)[..., None, None]
    return 1 + strength * target / mean


def hungarian_match(cost: torch.Tensor) -> torch.Tensor:
    """(B, n, m) cost with n >= m -> (B, m) index of the slot assigned to each source."""
    if cost.shape[1] < cost.shape[2]:
        raise InvalidArgumentError(f"{cost.shape[1]} slots cannot explain {cost.shape[2]} sources: use num_slots >= sources")
    c = cost.detach().float().cpu().numpy()
    out = np.empty((c.shape[0], c.shape[2]), dtype=np.int64)
    for b in range(c.shape[0]):
        rows, cols = linear_sum_assignment(c[b])
        out[b, cols] = rows
    return torch.from_numpy(out).to(cost.device)


def matched_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Hungarian-matched MSE: (B, n, F, T) predictions, (B, m, F, T) sources (n >= m) ->
    (scalar loss, (B, m) slot index per source). Gradients flow only through matched slots.
    ``weight`` (B, m, F, T): per-bin weights of each source's error (matching uses them too)."""
    cost = pairwise_mse(pred, target, weight)
    slots = hungarian_match(cost)
    matched = torch.gather(cost, 1, slots[:, None, :]).squeeze(1)  # (B, m): cost[b, slots[b, j], j]
    return matched.mean(), slots


def reorder(pred: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """(B, n, ...) predictions -> (B, m, ...) the slot matched to each source, in source order."""
    index = slots.view(*slots.shape, *([1] * (pred.dim() - 2))).expand(-1, -1, *pred.shape[2:])
    return torch.gather(pred, 1, index)
