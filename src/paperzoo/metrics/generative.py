"""Sample-quality metrics on feature vectors (VQ-VAE-2 section 4 evaluation).

Inception weights cannot be downloaded here, so features come from a classifier the caller names
(e.g. paperzoo's own CIFAR-10 classifier); every reported number must say which extractor it used.

* ``frechet_distance``: the FID formula, ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)),
  between Gaussian fits of two feature sets ("FID-style" unless the features are Inception's).
* ``precision_recall``: Kynkaanniemi et al. 2019. Each set's manifold is the union of balls around
  its points with radius = distance to the k-th nearest neighbour in the same set; precision is the
  fraction of generated points inside the real manifold, recall the fraction of real points inside
  the generated one.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from paperzoo.errors import InvalidArgumentError


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """a (N, F), b (M, F) feature matrices -> Frechet distance between their Gaussian fits."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise InvalidArgumentError("frechet_distance needs two (N >= 2, F) feature matrices with the same F")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # singular product: regularise, as the reference FID code does
        eps = 1e-6 * np.eye(a.shape[1])
        covmean = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # k+1: the point itself is its own nearest neighbour


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of generated features ``fake`` against ``real`` (Kynkaanniemi et al. 2019)."""
    real_t, fake_t = torch.as_tensor(np.asarray(real), dtype=torch.float64), torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if min(len(real_t), len(fake_t)) <= k:
        raise InvalidArgumentError(f"precision_recall needs more than k={k} points in each set")
    r_real, r_fake = _kth_neighbour_radius(real_t, k), _kth_neighbour_radius(fake_t, k)
    d = torch.cdist(fake_t, real_t)  # (fake, real)
    precision = (d <= r_real[None, :]).any(1).double().mean()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean()
    return float(precision), float(recall)


def classification_accuracy_score(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                                  *, make_model, steps: int = 500, batch: int = 128, lr: float = 2e-3, seed: int = 0) -> float:
    """CAS (Ravuri & Vinyals 2019): train a fresh classifier ``make_model()`` on generated images
    ``train_x`` (N, 3, H, W) with their intended labels, return its top-1 accuracy on real test images."""
    from paperzoo.metrics.probe import accuracy, train_classifier

    model = train_classifier(train_x, train_y, make_model, steps=steps, batch=batch, lr=lr, seed=seed)
    return accuracy(model, test_x, test_y)
