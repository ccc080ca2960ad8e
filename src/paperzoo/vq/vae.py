"""Continuous VAE baseline with the VQ-VAE's encoder and decoder (paper section 4.1's comparison:
"VAE 4.51, VQ-VAE 4.67, VIMCO 5.14 bits/dim" on CIFAR-10).

    x --Encoder--> (mu, log sigma^2) (B, D, H/4, W/4) --z = mu + sigma * eps--> Decoder --> x^

Same latent size as the VQ-VAE (D channels on the 8x8 grid), standard normal prior, Gaussian
decoder whose shared variance is set to its maximum-likelihood value, the batch MSE (the "sigma-VAE"
of Rybkin et al. 2021: -log p(x|z) per pixel = (log(2 pi MSE) + 1) / 2). This is the same decoder
term as the VQ-VAE's bits/dim bound, so the two are compared on equal terms, and it avoids a learned
variance that converges slowly. The loss is the negative ELBO per pixel in nats; ``bits_per_dim``
converts it to the 0..255 scale in bits, the unit of the paper's table.

``likelihood="logistic"`` replaces that decoder by the VQ-VAE's per-pixel discretised logistic (the
decoder predicts a mean and a log scale for every pixel channel; ``paperzoo.vq.vqvae.logistic_nll``),
a probability of the 8-bit values, so both models can be trained and scored with the same likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.vq.vqvae import Decoder, Encoder, check_likelihood, logistic_nll, split_decoder_output


@dataclass
class VAEOutput:
    reconstruction: torch.Tensor  # (B, C, H, W) decoder mean
    mu: torch.Tensor  # (B, D, h, w)
    logvar: torch.Tensor  # (B, D, h, w)
    nll: torch.Tensor  # scalar: -log p(x | z) per pixel, nats
    kl: torch.Tensor  # scalar: KL(q(z|x) || N(0, I)) per pixel, nats
    log_scale: torch.Tensor | None = None  # (B, C, H, W) per-pixel logistic log scale, likelihood="logistic"

    @property
    def loss(self) -> torch.Tensor:
        return self.nll + self.kl

    def bits_per_dim(self) -> float:
        """Negative ELBO in bits per pixel channel on the 0..255 scale (a Gaussian density of x*255: +log2 255;
        the discretised logistic is already a probability of the 0..255 values)."""
        return self.loss.item() / math.log(2) + (0.0 if self.log_scale is not None else math.log2(255.0))


class VAE(nn.Module):
    def __init__(self, *, in_channels: int = 3, hidden: int = 128, first_hidden: int | None = None, res_layers: int = 2,
                 res_hidden: int = 32, latent_dim: int = 64, likelihood: str = "mse"):
        super().__init__()
        out_per_channel = check_likelihood(likelihood)
        self.likelihood = likelihood
        first = first_hidden or hidden
        self.encoder = Encoder(in_channels, hidden, first, res_layers, res_hidden)
        self.to_latent = nn.Conv2d(hidden, 2 * latent_dim, 1)
        self.decoder = Decoder(latent_dim, hidden, first, res_layers, res_hidden, in_channels * out_per_channel)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents (B, D, h, w) -> (mean (B, C, H, W), per-pixel log scale (0..255 units) or None for "mse")."""
        return split_decoder_output(self.decoder(z), self.likelihood)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        mu, logvar = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        recon, log_scale = self.decode(z)
        if log_scale is None:
            mse = ((x - recon) ** 2).mean().clamp_min(1e-8)  # the optimal shared decoder variance
            nll = 0.5 * (math.log(2 * math.pi) + torch.log(mse) + 1)
        else:
            nll = logistic_nll(x, recon, log_scale)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum() / x.numel()
        return VAEOutput(recon, mu, logvar, nll, kl, log_scale)


@register_model("vae_sonnet_cifar10", family="vq")
def vae_sonnet_cifar10(**overrides) -> VAE:
    """Continuous VAE baseline with the Sonnet VQ-VAE's encoder/decoder; Gaussian latent 8x8x64."""
    return VAE(**{**dict(hidden=128, first_hidden=64, res_layers=2, res_hidden=32, latent_dim=64), **overrides})


@register_model("vae_tiny", family="vq")
def vae_tiny(**overrides) -> VAE:
    """Continuous VAE with vqvae_tiny's encoder/decoder (CPU demos and tests); latent 8x8x32."""
    return VAE(**{**dict(hidden=64, first_hidden=32, res_layers=1, res_hidden=32, latent_dim=32), **overrides})
