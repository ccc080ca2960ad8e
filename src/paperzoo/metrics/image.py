"""Image reconstruction metrics. Pixels are compared on the [0, 1] scale.

* ``mse``: mean squared error on [0, 1] pixels.
* ``psnr``: 10 log10(1 / mse) in dB (peak 1), averaged over images (per-image PSNR, then mean).
* ``normalized_mse``: mse / variance of the training pixels — the DeepMind Sonnet VQ-VAE example's
  convention ("nmse"), which makes numbers comparable across pixel scalings ([0,1] vs [-0.5,0.5]).
* ``bits_per_dim_uniform``: the VQ-VAE negative ELBO in bits per pixel channel with the uniform
  prior of training (section 3.1/3.2): reconstruction term from a Gaussian decoder whose variance
  is the measured MSE on the 0..255 scale, plus KL = log2(K) bits for every discrete latent.
  The paper's 4.67 bits/dim used a better likelihood and the learned prior; this bound is the
  comparable-to-itself number available before a prior exists.
* ``discretized_logistic_bits``: -log2 P(x) of 0..255 pixel values under a logistic of the decoder's
  mean and one scale, discretised to the 256 integer bins (the edge bins take the tails), as
  PixelCNN++; ``fit_logistic_log_scale`` picks the scale that minimises it on given pixels. A
  likelihood of the pixels' actual values, unlike the continuous Gaussian density of the variance
  = MSE convention, and robust to the heavy tails of reconstruction errors. The scale may also be
  per pixel: ``discretized_logistic_nll`` is the training loss of the VQ-VAE / VAE decoders built with
  ``likelihood="logistic"``, which predict a log scale for every pixel channel beside the mean.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) x2 in [0, 1] -> scalar."""
    return torch.mean((x.float() - y.float()) ** 2)


def psnr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Mean over images of 10 log10(1 / mse_image), pixels in [0, 1]."""
    per_image = ((x.float() - y.float()) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / per_image.clamp_min(eps))).mean()


def normalized_mse(mse_value: float | torch.Tensor, train_variance: float) -> float:
    return float(mse_value) / train_variance


def gaussian_bits_per_dim(mse01: float) -> float:
    """Reconstruction NLL of a Gaussian decoder whose variance is the MSE on the 0..255 scale, in bits/dim."""
    var255 = max(mse01 * 255.0**2, 1e-12)
    return 0.5 * math.log2(2 * math.pi * math.e * var255)


def discretized_logistic_nll(x255: torch.Tensor, mean255: torch.Tensor, log_scale: float | torch.Tensor) -> torch.Tensor:
    """Per-element -ln P(x) of integer pixels ``x255`` (0..255) under Logistic(mean255, e^log_scale) discretised
    to unit bins: P = sigmoid((x + 0.5 - m) / s) - sigmoid((x - 0.5 - m) / s), the bin of 0 from -inf and the
    bin of 255 to +inf. ``log_scale`` is one number or a per-pixel tensor (a decoder's learned scales); computed
    in the inputs' dtype and differentiable, so it is also the training loss of ``likelihood="logistic"``."""
    x, m = x255, mean255
    inv_s = torch.exp(-torch.as_tensor(log_scale, dtype=m.dtype, device=m.device))
    upper, lower = (x + 0.5 - m) * inv_s, (x - 0.5 - m) * inv_s
    log_cdf_upper = F.logsigmoid(upper)
    log_cdf_lower = F.logsigmoid(lower)
    # log(sigmoid(u) - sigmoid(l)) = log sigmoid(u) + log(1 - exp(log sigmoid(l) - log sigmoid(u)))
    tiny = torch.finfo(m.dtype).eps
    middle = log_cdf_upper + torch.log1p(-torch.exp(log_cdf_lower - log_cdf_upper).clamp(max=1 - tiny))
    logp = torch.where(x <= 0, log_cdf_upper, torch.where(x >= 255, F.logsigmoid(-lower), middle))
    return -logp


def discretized_logistic_bits(x255: torch.Tensor, mean255: torch.Tensor, log_scale: float | torch.Tensor) -> torch.Tensor:
    """``discretized_logistic_nll`` in bits, computed in float64 (evaluation)."""
    scale = log_scale.double() if torch.is_tensor(log_scale) else log_scale
    return discretized_logistic_nll(x255.double(), mean255.double(), scale) / math.log(2)


def fit_logistic_log_scale(x255: torch.Tensor, mean255: torch.Tensor) -> float:
    """The log scale (0..255 units) minimising the mean ``discretized_logistic_bits`` of these pixels."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda ls: float(discretized_logistic_bits(x255, mean255, ls).mean()),
                             bounds=(math.log(0.05), math.log(100.0)), method="bounded", options={"xatol": 1e-4})
    return float(result.x)


def bits_per_dim_uniform(mse01: float, latents_per_image: int, num_codes: int, dims_per_image: int) -> float:
    """Gaussian reconstruction NLL + uniform-prior KL (log2 K bits per latent), in bits/dim."""
    return gaussian_bits_per_dim(mse01) + latents_per_image * math.log2(num_codes) / dims_per_image
