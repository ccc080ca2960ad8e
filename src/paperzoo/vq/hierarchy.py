"""A second VQ-VAE over the first one's latent map, with a PixelCNN decoder and three latents
(paper section 4.2, last experiment: 3 latents of K = 512 codes = 27 bits per image).

    first level   x -> code map c (h x w, K1 codes) by a trained image VQ-VAE (frozen)
    encoder       embedded c -> 2 strided 3x3 convs (ReLU) -> global average -> linear -> 3 vectors of D
    quantiser     each vector -> one of K = 512 codes (27 bits for the three)
    decoder       a gated PixelCNN over c whose spatial condition is the three quantised vectors,
                  broadcast over the map (the decoder can model everything the 27 bits do not say)

    loss = cross-entropy of the PixelCNN on c + the quantiser's terms

"Reconstructing" an image samples a new first-level map from the PixelCNN given the three codes
and decodes it with the first VQ-VAE: what survives is what 27 bits chose to keep (the paper found
global structure and objects of DM-Lab frames, not their exact positions or textures).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.priors.pixelcnn import GatedPixelCNN
from paperzoo.priors.samplers import sample_fast
from paperzoo.vq.quantizer import VectorQuantizer


class LatentCompressor(nn.Module):
    """Code maps (B, h, w) over K1 codes -> ``latents`` discrete codes (B, latents) and back by sampling."""

    def __init__(self, *, first_codes: int, latents: int = 3, num_codes: int = 512, dim: int = 32, hidden: int = 64,
                 channels: int = 64, layers: int = 8, beta: float = 0.25):
        super().__init__()
        self.latents, self.dim = latents, dim
        self.embed = nn.Embedding(first_codes, hidden)
        self.encoder = nn.Sequential(nn.Conv2d(hidden, hidden, 3, 2, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, 2, 1), nn.ReLU())
        self.to_latents = nn.Linear(hidden, latents * dim)
        self.quantizer = VectorQuantizer(num_codes, dim, beta, kmeans_init=True, restart_after=100)
        self.decoder = GatedPixelCNN(first_codes, channels, layers, cond_channels=latents * dim)

    def quantize(self, codes: torch.Tensor):
        h = self.encoder(self.embed(codes).permute(0, 3, 1, 2)).mean((2, 3))
        z = self.to_latents(h).reshape(len(codes), self.latents, self.dim).transpose(1, 2)  # (B, D, latents)
        return self.quantizer(z)

    def _cond(self, quantized: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        return quantized.reshape(len(quantized), -1, 1, 1).expand(-1, -1, *shape)

    def training_loss(self, codes: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        vq = self.quantize(codes)
        ce = F.cross_entropy(self.decoder(codes, cond=self._cond(vq.quantized, codes.shape[1:])), codes)
        return ce + vq.loss, {"ce": ce.detach(), "vq": vq.loss.detach(), "perplexity": vq.perplexity.detach()}

    @torch.no_grad()
    def encode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h, w) -> (B, latents) second-level codes."""
        return self.quantize(codes).indices

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, shape: tuple[int, int], *, seed: int = 0, temperature: float = 1.0) -> torch.Tensor:
        """(B, latents) -> sampled first-level code maps (B, h, w)."""
        q = self.quantizer.lookup(latents)  # (B, D, latents), as in training
        return sample_fast(self.decoder, shape, len(latents), seed=seed, temperature=temperature, cond=self._cond(q, shape))


def fit_compressor(codes: torch.Tensor, first_codes: int, *, steps: int = 1500, batch: int = 64, lr: float = 1e-3, seed: int = 0,
                   **options) -> LatentCompressor:
    """Train a ``LatentCompressor`` on first-level code maps (N, h, w) (Adam, cosine decay); returned in eval mode."""
    from paperzoo.metrics.probe import fit_random_batches

    return fit_random_batches(lambda: LatentCompressor(first_codes=first_codes, **options),
                              lambda m, idx: m.training_loss(codes[idx])[0], len(codes), steps=steps, batch=batch, lr=lr,
                              seed=seed, cosine=True)
