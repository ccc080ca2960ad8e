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
"""

from __future__ import annotations

import math

import torch


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


def bits_per_dim_uniform(mse01: float, latents_per_image: int, num_codes: int, dims_per_image: int) -> float:
    """Gaussian reconstruction NLL + uniform-prior KL (log2 K bits per latent), in bits/dim."""
    return gaussian_bits_per_dim(mse01) + latents_per_image * math.log2(num_codes) / dims_per_image
