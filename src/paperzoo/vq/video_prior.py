"""Action-conditioned video generation in a VQ-VAE's latent space (paper section 4.4, at
moving-shapes scale).

Frames are encoded one by one by an image VQ-VAE into code maps z_t (h x w, K codes). The prior
factorises over frames and, inside a frame, over raster positions:

    p(z_1 .. z_T | a) = prod_t prod_(r, s) p(z_t[r, s] | z_t[< (r, s)], z_{t-1}, .., z_{t-C}, a)

one gated PixelCNN (``paperzoo.priors.pixelcnn``) with the action a as its class condition and the
C previous code maps (learned code embeddings, plus a "frame present" channel each: the first
frames of a clip have fewer predecessors) as its spatial condition. Generation never leaves the
latent space: given the first frames' codes, each following frame is sampled position by position
(the fast PixelCNN sampler), then appended to the context; the decoder turns the codes into pixels
once, deterministically, at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.priors.pixelcnn import GatedPixelCNN
from paperzoo.priors.samplers import sample_fast


class LatentVideoPrior(nn.Module):
    """Codes (B, T, h, w) and actions (B,) -> per-frame logits (B, T, K, h, w)."""

    def __init__(self, *, num_codes: int, actions: int, context: int = 2, embed: int = 32, channels: int = 64, layers: int = 8):
        super().__init__()
        self.num_codes, self.context = num_codes, context
        self.embed = nn.Embedding(num_codes, embed)
        self.pixelcnn = GatedPixelCNN(num_codes, channels, layers, num_classes=actions, cond_channels=context * (embed + 1))

    def condition(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w) -> (B, T, C (E + 1), h, w): for frame t the embedded codes of frames t-1 .. t-C
        and a channel of ones where that frame exists (zeros before the clip starts)."""
        b, t, h, w = codes.shape
        emb = self.embed(codes).permute(0, 1, 4, 2, 3)  # (B, T, E, h, w)
        emb = torch.cat([emb, torch.ones(b, t, 1, h, w, device=codes.device)], 2)
        parts = []
        for lag in range(1, self.context + 1):
            parts.append(F.pad(emb, (0, 0, 0, 0, 0, 0, lag, 0))[:, :t])  # frame t sees frame t - lag (zeros if t < lag)
        return torch.cat(parts, 2)

    def forward(self, codes: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        b, t, h, w = codes.shape
        cond = self.condition(codes).flatten(0, 1)
        logits = self.pixelcnn(codes.flatten(0, 1), actions.repeat_interleave(t), cond)
        return logits.reshape(b, t, self.num_codes, h, w)

    def nll(self, codes: torch.Tensor, actions: torch.Tensor, first: int = 0) -> torch.Tensor:
        """Mean negative log-likelihood (nats per code) of frames ``first`` .. T - 1."""
        logits = self(codes, actions)[:, first:]
        return F.cross_entropy(logits.flatten(0, 1), codes[:, first:].flatten(0, 1))

    @torch.no_grad()
    def continue_clip(self, given: torch.Tensor, actions: torch.Tensor, frames: int, *, seed: int = 0,
                      temperature: float = 1.0) -> torch.Tensor:
        """Given codes (B, G, h, w) of the first G frames, sample ``frames`` more: (B, G + frames, h, w)."""
        codes = given
        _, _, h, w = given.shape
        for i in range(frames):
            padded = torch.cat([codes, torch.zeros_like(codes[:, :1])], 1)  # the new frame's context = the last C frames
            cond = self.condition(padded)[:, -1]
            new = sample_fast(self.pixelcnn, (h, w), len(codes), seed=seed * 1000 + i, temperature=temperature,
                              labels=actions, cond=cond)
            codes = torch.cat([codes, new[:, None]], 1)
        return codes


def fit_video_prior(codes: torch.Tensor, actions: torch.Tensor, num_codes: int, num_actions: int, *, steps: int = 2000,
                    batch: int = 16, lr: float = 1e-3, seed: int = 0, **options) -> LatentVideoPrior:
    """Train a ``LatentVideoPrior`` on code clips (N, T, h, w) with actions (N,) by teacher forcing
    (Adam, cosine decay); returned in eval mode."""
    from paperzoo.metrics.probe import fit_random_batches

    return fit_random_batches(lambda: LatentVideoPrior(num_codes=num_codes, actions=num_actions, **options),
                              lambda m, idx: m.nll(codes[idx], actions[idx]), len(codes), steps=steps, batch=batch, lr=lr,
                              seed=seed, cosine=True)
