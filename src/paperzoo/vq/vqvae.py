"""VQ-VAE for images (van den Oord et al. 2017, section 4.1; posts 000/001).

    x (B, 3, H, W) --Encoder--> z_e (B, G*D, H/4, W/4) --VectorQuantizer--> z_q --Decoder--> x^ (B, 3, H, W)

Encoder (paper 4.1): two strided 4x4 convolutions (stride 2), a 3x3 convolution, residual blocks
(ReLU, 3x3 conv, ReLU, 1x1 conv), then a 1x1 projection to the code dimension. Decoder: 3x3
convolution, the same residual blocks, two transposed 4x4 convolutions with stride 2.

``latents_per_position`` = G splits each position's G*D channels into G vectors of size D, each
quantised with the shared K-code codebook. This is our reading of the paper's CIFAR-10 latent
"8 x 8 x 10": an 8x8 grid with 10 discrete latents per position (K = 512 each). The paper does not
give D for CIFAR-10; the config uses D = 64 as in its other experiments and the Sonnet example.

Named builders (``paperzoo.create_model``):
  * ``vqvae_paper_cifar10``: 256 hidden units everywhere, 2 residual blocks, K=512, D=64, G=10,
    codebook loss (no EMA), beta 0.25 (paper section 4.1).
  * ``vqvae_sonnet_cifar10``: the DeepMind Sonnet example: 128 hidden (64 in the first conv), 2
    residual layers of 32, K=512, D=64, EMA decay 0.99, beta 0.25.
  * ``vqvae_tiny``: a CPU-minutes model for the demo and tests.

``likelihood`` is the decoder's p(x | z): "mse" (default, the paper's and Sonnet's Gaussian with a fixed
variance: the loss is the MSE over the training pixels' variance) or "logistic": the decoder also
predicts a log scale per pixel channel (2C output channels) and the loss is the negative log-likelihood
of the integer 0..255 pixels under the discretised logistic (PixelCNN++'s bins), in nats per dimension,
so the decoder term of bits/dim is the training loss itself. ``reconstruction`` / ``decode_codes`` are
the mean either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.metrics.image import discretized_logistic_nll
from paperzoo.registry import register_model
from paperzoo.vq.quantizer import QuantizerOutput, VectorQuantizer


class ResidualStack(nn.Module):
    """``layers`` x [x + Conv1x1(ReLU(Conv3x3(ReLU(x))))], then ReLU.   (B, C, H, W) -> (B, C, H, W)"""

    def __init__(self, channels: int, hidden: int, layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
            for _ in range(layers)
        )

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return torch.relu(x)


class Encoder(nn.Module):
    """(B, in, H, W) -> (B, hidden, H/4, W/4)."""

    def __init__(self, in_channels: int, hidden: int, first: int, res_layers: int, res_hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, first, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(first, hidden, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            ResidualStack(hidden, res_hidden, res_layers),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """(B, latent_channels, h, w) -> (B, out, 4h, 4w)."""

    def __init__(self, latent_channels: int, hidden: int, last: int, res_layers: int, res_hidden: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, hidden, 3, padding=1),
            ResidualStack(hidden, res_hidden, res_layers),
            nn.ConvTranspose2d(hidden, last, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(last, out_channels, 4, stride=2, padding=1),
        )

    def forward(self, z):
        return self.net(z)


LIKELIHOODS = ("mse", "logistic")
LOG_SCALE_INIT = math.log(16.0)  # logistic decoders start at a scale of ~16 grey levels
MIN_LOG_SCALE = math.log(0.1)  # a tenth of a grey level: sharper than any bin needs, keeps the loss finite


def check_likelihood(likelihood: str) -> int:
    """The decoder's output channels per image channel (1 for mse, 2 for logistic: mean and log scale)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}")
    return 2 if likelihood == "logistic" else 1


def split_decoder_output(out: torch.Tensor, likelihood: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Decoder output -> (mean (B, C, H, W) on the input scale, log scale per pixel channel on the 0..255 scale or None)."""
    if likelihood == "mse":
        return out, None
    mean, raw = out.chunk(2, dim=1)
    return mean, (raw + LOG_SCALE_INIT).clamp_min(MIN_LOG_SCALE)


def logistic_nll(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Mean -ln P(x) per pixel channel, nats: x and mean on the models' [-0.5, 0.5] scale, x from 8-bit pixels."""
    x255 = ((x.float() + 0.5) * 255).round()
    return discretized_logistic_nll(x255, (mean.float() + 0.5) * 255, log_scale.float()).mean()


@dataclass
class VQVAEOutput:
    reconstruction: torch.Tensor  # (B, C, H, W), same scale as the input: the decoder's mean
    vq: QuantizerOutput  # indices (B, G, H/4, W/4) or (B, H/4, W/4) for G = 1
    log_scale: torch.Tensor | None = None  # (B, C, H, W) per-pixel logistic log scale (0..255 units), likelihood="logistic"

    # the interface shared with VQVAE2Output
    @property
    def levels(self) -> list[QuantizerOutput]:
        return [self.vq]

    @property
    def vq_loss(self) -> torch.Tensor:
        return self.vq.loss


class VQVAE(nn.Module):
    """Image VQ-VAE; ``forward(x)`` -> VQVAEOutput, ``encode(x)`` -> codes, ``decode_codes(codes)`` -> x^."""

    def __init__(self, *, in_channels: int = 3, hidden: int = 128, first_hidden: int | None = None,
                 res_layers: int = 2, res_hidden: int = 32, num_codes: int = 512, code_dim: int = 64,
                 latents_per_position: int = 1, beta: float = 0.25, ema: bool = True, decay: float = 0.99,
                 kmeans_init: bool = False, restart_after: int | None = None, cosine: bool = False,
                 likelihood: str = "mse"):
        super().__init__()
        out_per_channel = check_likelihood(likelihood)
        self.likelihood = likelihood
        first = first_hidden or hidden
        self.groups, self.code_dim = latents_per_position, code_dim
        self.encoder = Encoder(in_channels, hidden, first, res_layers, res_hidden)
        self.pre_quantize = nn.Conv2d(hidden, code_dim * latents_per_position, 1)
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta, ema=ema, decay=decay, kmeans_init=kmeans_init,
                                         restart_after=restart_after, cosine=cosine)
        self.decoder = Decoder(code_dim * latents_per_position, hidden, first, res_layers, res_hidden,
                               in_channels * out_per_channel)

    @property
    def quantizers(self) -> list[VectorQuantizer]:
        return [self.quantizer]

    # (B, G*D, h, w) <-> (B, D, G, h, w): G becomes one more "spatial" axis of the quantiser
    def _split(self, z):
        b, _, h, w = z.shape
        return z.reshape(b, self.groups, self.code_dim, h, w).transpose(1, 2) if self.groups > 1 else z

    def _merge(self, z):
        if self.groups == 1:
            return z
        b, d, g, h, w = z.shape
        return z.transpose(1, 2).reshape(b, g * d, h, w)

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        vq = self.quantizer(self._split(self.pre_quantize(self.encoder(x))))
        mean, log_scale = split_decoder_output(self.decoder(self._merge(vq.quantized)), self.likelihood)
        return VQVAEOutput(mean, vq, log_scale)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> int64 codes (B, H/4, W/4), or (B, G, H/4, W/4) with G latents per position."""
        z = self._split(self.pre_quantize(self.encoder(x)))
        flat, spatial = self.quantizer._flatten(z)
        return self.quantizer.nearest(flat).reshape(x.shape[0], *spatial)

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes from ``encode`` (or a prior) -> images (B, C, H, W) (the decoder's mean)."""
        return self.decode_distribution(codes)[0]

    @torch.no_grad()
    def decode_distribution(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Codes -> (mean, per-pixel log scale on the 0..255 scale, or None for likelihood="mse")."""
        return split_decoder_output(self.decoder(self._merge(self.quantizer.lookup(codes))), self.likelihood)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Discrete latents per 32x32 image: (G,) + (8, 8) for the CIFAR configs, G omitted when 1."""
        return ((self.groups,) if self.groups > 1 else ()) + (8, 8)


@register_model("vqvae_paper_cifar10", family="vq")
def vqvae_paper_cifar10(**overrides) -> VQVAE:
    """VQ-VAE, paper section 4.1 CIFAR-10: 256 hidden, K=512, latents 8x8x10 (D=64 assumed), codebook loss."""
    cfg = dict(hidden=256, res_layers=2, res_hidden=256, num_codes=512, code_dim=64, latents_per_position=10,
               beta=0.25, ema=False)
    return VQVAE(**{**cfg, **overrides})


@register_model("vqvae_sonnet_cifar10", family="vq")
def vqvae_sonnet_cifar10(**overrides) -> VQVAE:
    """VQ-VAE, DeepMind Sonnet example: 128 hidden, 2 residual layers of 32, K=512, D=64, EMA 0.99."""
    cfg = dict(hidden=128, first_hidden=64, res_layers=2, res_hidden=32, num_codes=512, code_dim=64,
               beta=0.25, ema=True, decay=0.99)
    return VQVAE(**{**cfg, **overrides})


@register_model("vqvae_tiny", family="vq")
def vqvae_tiny(**overrides) -> VQVAE:
    """Small VQ-VAE for CPU demos and tests: 64 hidden, 1 residual layer of 32, K=128, D=32, EMA."""
    cfg = dict(hidden=64, first_hidden=32, res_layers=1, res_hidden=32, num_codes=128, code_dim=32,
               beta=0.25, ema=True, decay=0.99)
    return VQVAE(**{**cfg, **overrides})
