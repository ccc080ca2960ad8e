"""Separation metrics: SI-SNR and SI-SNRi after permutation matching (one definition, used everywhere).

    s_target = (<s_hat, s> / (||s||^2 + eps)) s,   e = s_hat - s_target
    SI-SNR   = 10 log10( (||s_target||^2 + eps) / (||e||^2 + eps) )        (both signals zero-mean)
    SI-SNRi  = SI-SNR(estimate, reference) - SI-SNR(mixture, reference)

The epsilon keeps silent references and silent estimates finite (no NaN, no inf). Estimates are
matched to references by the permutation that maximises the mean SI-SNR (Hungarian algorithm).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

EPS = 1e-8


def si_snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """(..., L), (..., L) -> (...) SI-SNR in dB."""
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def match_sources(estimates: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(n, L) estimates, (m, L) references (n >= m) -> (m, L) estimates reordered to maximise mean SI-SNR."""
    scores = si_snr(estimates[:, None, :], references[None, :, :])  # (n, m)
    rows, cols = linear_sum_assignment(-scores.detach().cpu().numpy())
    order = np.empty(references.shape[0], dtype=np.int64)
    order[cols] = rows
    return estimates[torch.from_numpy(order).to(estimates.device)]


def separation_scores(estimates: torch.Tensor, references: torch.Tensor, mixture: torch.Tensor) -> dict[str, float]:
    """Mean SI-SNR and SI-SNRi (dB) of one example after permutation matching.

    estimates (n, L), references (m, L), mixture (L,).
    """
    matched = match_sources(estimates, references)
    sdr = si_snr(matched, references)
    base = si_snr(mixture.expand_as(references), references)
    return {"si_snr": float(sdr.mean()), "si_snri": float((sdr - base).mean())}
