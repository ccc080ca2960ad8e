"""The discretised logistic likelihood of 0..255 pixels (``paperzoo.metrics.image``)."""

from __future__ import annotations

import math

import torch

from paperzoo.metrics.image import discretized_logistic_bits, fit_logistic_log_scale, gaussian_bits_per_dim


def test_the_256_bins_hold_all_the_probability():
    means = torch.tensor([0.3, 100.7, 254.9, -20.0, 300.0])
    bins = torch.arange(256).view(-1, 1).expand(256, len(means))
    for log_scale in (-2.0, 0.0, 3.0):
        total = (2.0 ** -discretized_logistic_bits(bins, means.expand(256, -1), log_scale)).sum(0)
        torch.testing.assert_close(total, torch.ones(len(means), dtype=torch.float64))


def test_a_middle_bin_matches_the_logistic_cdf_difference():
    x, m, s = torch.tensor([37]), torch.tensor([40.2], dtype=torch.float64), 1.7
    want = -math.log2(1 / (1 + math.exp(-(37.5 - 40.2) / s)) - 1 / (1 + math.exp(-(36.5 - 40.2) / s)))
    assert abs(float(discretized_logistic_bits(x, m, math.log(s))) - want) < 1e-9


def test_fitted_scale_recovers_logistic_noise_and_beats_the_gaussian_density_on_heavy_tails():
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(20, 236, (200_000,), generator=g).double()
    u = torch.rand(200_000, generator=g, dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    noisy = (clean + 4.0 * torch.log(u / (1 - u))).round().clamp(0, 255)  # logistic noise, scale 4
    log_scale = fit_logistic_log_scale(noisy, clean)
    assert abs(math.exp(log_scale) - 4.0) < 0.1
    mse01 = float(((noisy - clean) / 255).pow(2).mean())
    assert float(discretized_logistic_bits(noisy, clean, log_scale).mean()) < gaussian_bits_per_dim(mse01)
