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


def pairwise_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, n, F, T), (B, m, F, T) -> (B, n, m) mean squared error of every (slot, source) pair."""
    p, t = pred.flatten(2), target.flatten(2)
    # |p - t|^2 = |p|^2 - 2 p.t + |t|^2, one batched matmul instead of n*m differences
    cost = p.pow(2).sum(-1)[:, :, None] - 2 * p @ t.transpose(1, 2) + t.pow(2).sum(-1)[:, None, :]
    return cost.clamp_min(0) / p.shape[-1]


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


def matched_mse_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hungarian-matched MSE: (B, n, F, T) predictions, (B, m, F, T) sources (n >= m) ->
    (scalar loss, (B, m) slot index per source). Gradients flow only through matched slots."""
    cost = pairwise_mse(pred, target)
    slots = hungarian_match(cost)
    matched = torch.gather(cost, 1, slots[:, None, :]).squeeze(1)  # (B, m): cost[b, slots[b, j], j]
    return matched.mean(), slots


def reorder(pred: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """(B, n, ...) predictions -> (B, m, ...) the slot matched to each source, in source order."""
    index = slots.view(*slots.shape, *([1] * (pred.dim() - 2))).expand(-1, -1, *pred.shape[2:])
    return torch.gather(pred, 1, index)
