"""VQ-VAE-2 (Razavi et al. 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2"; post 000).

A hierarchy of L quantised latent maps, bottom (finest) to top (coarsest). With L = 2 on a 256x256
image (the paper's default): bottom 64x64, top 32x32, K = 512, D = 64, EMA codebooks::

    x --enc_0 (/4)--> h_0 --enc_1 (/2)--> h_1
    top:     z_1 = VQ(pre_1(h_1))
    bottom:  z_0 = VQ(pre_0([h_0, up_1(z_1)]))       the bottom code is conditioned on the top code
    decoder: x^ = dec([z_0, upsample(z_1)])           the decoder uses every level

For L levels every level i < L-1 is conditioned on the decoded levels above it, built top-down:
``up_i = cond_decoder_i([z_{i+1}, up_{i+1}])`` (2x upsampling). The 3-level FFHQ-1024 setting
uses a /8 bottom (128x128), then 64x64 and 32x32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.vq.quantizer import QuantizerOutput, VectorQuantizer
from paperzoo.vq.vqvae import ResidualStack


def _down(cin: int, hidden: int, factor: int, res_layers: int, res_hidden: int) -> nn.Sequential:
    """log2(factor) strided 4x4 convolutions (stride 2), a 3x3 convolution, residual blocks."""
    steps = int(math.log2(factor))
    layers, c = [], cin
    for i in range(steps):
        out = hidden // 2 if i < steps - 1 else hidden
        layers += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.ReLU()]
        c = out
    return nn.Sequential(*layers, nn.Conv2d(c, hidden, 3, padding=1), ResidualStack(hidden, res_hidden, res_layers))


def _up(cin: int, hidden: int, cout: int, factor: int, res_layers: int, res_hidden: int) -> nn.Sequential:
    """3x3 convolution, residual blocks, log2(factor) transposed 4x4 convolutions (stride 2)."""
    steps = int(math.log2(factor))
    layers = [nn.Conv2d(cin, hidden, 3, padding=1), ResidualStack(hidden, res_hidden, res_layers)]
    c = hidden
    for i in range(steps):
        last = i == steps - 1
        out = cout if last else hidden // 2
        layers.append(nn.ConvTranspose2d(c, out, 4, stride=2, padding=1))
        if not last:
            layers.append(nn.ReLU())
        c = out
    return nn.Sequential(*layers)


@dataclass
class VQVAE2Output:
    reconstruction: torch.Tensor  # (B, C, H, W)
    levels: list[QuantizerOutput]  # bottom first; level i indices (B, H / (f * 2^i), W / (f * 2^i))

    @property
    def vq_loss(self) -> torch.Tensor:
        return sum(level.loss for level in self.levels)


class VQVAE2(nn.Module):
    """Hierarchical VQ-VAE; ``forward(x)`` -> VQVAE2Output, ``encode`` -> list of code maps (bottom
    first), ``decode_codes(list)`` -> images."""

    def __init__(self, *, in_channels: int = 3, hidden: int = 128, res_layers: int = 2, res_hidden: int = 64,
                 num_codes: int = 512, code_dim: int = 64, levels: int = 2, bottom_factor: int = 4,
                 beta: float = 0.25, ema: bool = True, decay: float = 0.99, kmeans_init: bool = False,
                 restart_after: int | None = None):
        super().__init__()
        if levels < 1 or bottom_factor < 2 or bottom_factor & (bottom_factor - 1):
            raise ValueError("need levels >= 1 and a power-of-two bottom_factor >= 2")
        self.levels, self.bottom_factor = levels, bottom_factor
        self.encoders = nn.ModuleList(
            _down(in_channels if i == 0 else hidden, hidden, bottom_factor if i == 0 else 2, res_layers, res_hidden)
            for i in range(levels)
        )
        # level i < top sees its encoder features and the decoded levels above (code_dim channels)
        self.pre_quantize = nn.ModuleList(
            nn.Conv2d(hidden + (code_dim if i < levels - 1 else 0), code_dim, 1) for i in range(levels)
        )
        self.quantizers = nn.ModuleList(
            VectorQuantizer(num_codes, code_dim, beta, ema=ema, decay=decay, kmeans_init=kmeans_init,
                            restart_after=restart_after)
            for _ in range(levels)
        )
        # cond_decoders[i] maps [z_{i+1}, up_{i+1}] to up_i at level i's resolution (i < top)
        self.cond_decoders = nn.ModuleList(
            _up(code_dim * (1 if i == levels - 2 else 2), hidden, code_dim, 2, res_layers, res_hidden)
            for i in range(levels - 1)
        )
        # each upper level's codes brought to the bottom resolution for the final decoder
        self.upsamplers = nn.ModuleList(
            nn.Identity() if i == 0 else
            nn.Sequential(*[nn.ConvTranspose2d(code_dim, code_dim, 4, stride=2, padding=1) for _ in range(i)])
            for i in range(levels)
        )
        self.decoder = _up(code_dim * levels, hidden, in_channels, bottom_factor, res_layers, res_hidden)

    def _encode_features(self, x):
        feats, h = [], x
        for enc in self.encoders:
            h = enc(h)
            feats.append(h)
        return feats

    def _quantize_top_down(self, feats, hard: bool = False):
        """Quantise from the top level down; returns per level (QuantizerOutput or codes) bottom first."""
        outs, quantized, up = [None] * self.levels, [None] * self.levels, None
        for i in reversed(range(self.levels)):
            h = feats[i] if up is None else torch.cat([feats[i], up], 1)
            z = self.pre_quantize[i](h)
            if hard:
                flat, spatial = self.quantizers[i]._flatten(z)
                codes = self.quantizers[i].nearest(flat).reshape(z.shape[0], *spatial)
                outs[i], quantized[i] = codes, self.quantizers[i].lookup(codes)
            else:
                outs[i] = self.quantizers[i](z)
                quantized[i] = outs[i].quantized
            if i > 0:
                up = self.cond_decoders[i - 1](quantized[i] if up is None else torch.cat([quantized[i], up], 1))
        return outs, quantized

    def _decode(self, quantized):
        return self.decoder(torch.cat([up(q) for up, q in zip(self.upsamplers, quantized)], 1))

    def forward(self, x: torch.Tensor) -> VQVAE2Output:
        outs, quantized = self._quantize_top_down(self._encode_features(x))
        return VQVAE2Output(self._decode(quantized), outs)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> [codes of level 0 (bottom), ..., codes of the top level]."""
        return self._quantize_top_down(self._encode_features(x), hard=True)[0]

    @torch.no_grad()
    def decode_codes(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return self._decode([q.lookup(c) for q, c in zip(self.quantizers, codes)])


@register_model("vqvae2_paper_256", family="vq")
def vqvae2_paper_256(**overrides) -> VQVAE2:
    """VQ-VAE-2, paper default: 256x256 -> bottom 64x64, top 32x32; K=512, D=64, 128 hidden, EMA."""
    return VQVAE2(**{**dict(hidden=128, res_hidden=64, res_layers=2, num_codes=512, code_dim=64, levels=2,
                            bottom_factor=4), **overrides})


@register_model("vqvae2_ffhq_1024", family="vq")
def vqvae2_ffhq_1024(**overrides) -> VQVAE2:
    """VQ-VAE-2, 3-level FFHQ-1024 setting: 1024x1024 -> 128x128, 64x64, 32x32; K=512, D=64, EMA."""
    return VQVAE2(**{**dict(hidden=128, res_hidden=64, res_layers=2, num_codes=512, code_dim=64, levels=3,
                            bottom_factor=8), **overrides})


@register_model("vqvae2_cifar10_small", family="vq")
def vqvae2_cifar10_small(**overrides) -> VQVAE2:
    """VQ-VAE-2, small CPU setting: 32x32 -> bottom 8x8, top 4x4; K=256, D=32, 64 hidden, EMA."""
    return VQVAE2(**{**dict(hidden=64, res_hidden=32, res_layers=1, num_codes=256, code_dim=32, levels=2,
                            bottom_factor=4), **overrides})
