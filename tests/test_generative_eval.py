"""Rejection sampling and the sample-quality metrics."""

import numpy as np
import pytest
import torch

from paperzoo.metrics.generative import frechet_distance, precision_recall
from paperzoo.priors.rejection import rejection_sample


def test_rejection_keeps_exactly_the_samples_above_threshold():
    stream = torch.arange(40, dtype=torch.float32)
    cursor = {"i": 0}

    def sample(b):
        out = stream[cursor["i"] : cursor["i"] + b]
        cursor["i"] += b
        return out

    def classify(x):  # p(class 1) = x / 40 exactly: logits log(1 - p), log(p)
        p = (x / 40).clamp(1e-6, 1 - 1e-6)
        return torch.stack([torch.log1p(-p), torch.log(p)], 1)

    result = rejection_sample(sample, classify, target=1, threshold=0.5, n=100, batch=8, max_draws=40)
    assert result.samples.tolist() == list(range(20, 40))  # p >= 0.5 <=> x >= 20
    assert result.drawn == 40 and result.acceptance_rate == 0.5
    assert (result.probabilities >= 0.5).all()
    cursor["i"] = 0
    early = rejection_sample(sample, classify, target=1, threshold=0.5, n=3, batch=8)
    assert early.samples.tolist() == [20, 21, 22] and early.drawn == 24  # stops once n are accepted
    with pytest.raises(Exception, match="threshold"):
        rejection_sample(sample, classify, target=1, threshold=1.5, n=1)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5])
    # same covariance, shifted mean: the distance is ||shift||^2 (up to sampling noise)
    assert frechet_distance(a, rng.normal(size=(4000, 3)) + shift) == pytest.approx(5.25, abs=0.15)
    # closed form for scaled isotropic Gaussians: Tr(I + s^2 I - 2 s I) = d (1 - s)^2
    assert frechet_distance(a, 2 * rng.normal(size=(4000, 3))) == pytest.approx(3.0, abs=0.25)


def test_precision_recall():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 2))
    p, r = precision_recall(real, rng.normal(size=(500, 2)))
    assert p > 0.9 and r > 0.9
    far = precision_recall(real, rng.normal(size=(500, 2)) + 50)
    assert far == (0.0, 0.0)
    collapsed = real[real[:, 0] > 1.0]  # mode dropping: good samples, little coverage
    p, r = precision_recall(real, collapsed + 0.01 * rng.normal(size=collapsed.shape))
    assert p > 0.9 and r < 0.4
