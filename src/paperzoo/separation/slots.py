"""From encoder features to a set of source embeddings (paper section 3, "Encoding").

``SlotTransformer`` (the paper's module): n learned initial queries (DETR-like); each of the 4 layers
runs self-attention among the queries, then cross-attention from the queries to the encoder
features (keys = values = the features plus a 2-D sine position code), then an MLP; pre-norm
residual blocks. The paper gives the query dimension as 4096; the MLP width is not stated (we use
the query dimension) nor the head count (8).

``SlotAttention`` (Locatello et al. 2020), the alternative the paper's discussion compares:
slots drawn from a learned Gaussian compete for the features through a softmax over slots, are
updated by a GRU and an MLP, for 3 iterations.

Both map features (B, C, H, W) -> embeddings (B, n, dim).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_positions(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """(h*w, dim) 2-D sine/cosine position code (half the channels per axis, DETR style)."""
    quarter = max(1, dim // 4)
    freq = 1.0 / (10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter))
    y = torch.arange(h, device=device, dtype=torch.float32)[:, None].expand(h, w).reshape(-1, 1) * freq
    x = torch.arange(w, device=device, dtype=torch.float32)[None, :].expand(h, w).reshape(-1, 1) * freq
    code = torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], 1)
    return F.pad(code, (0, dim - code.shape[1]))


def _flatten_features(z: torch.Tensor, proj: nn.Module) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, dim) projected features plus the position code."""
    b, c, h, w = z.shape
    tokens = proj(z.flatten(2).transpose(1, 2))
    return tokens + sine_positions(h, w, tokens.shape[-1], z.device).to(tokens.dtype)


class SlotTransformerLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.norm_self, self.norm_cross, self.norm_mlp, self.norm_kv = (nn.LayerNorm(dim) for _ in range(4))
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        x = self.norm_self(q)
        q = q + self.self_attn(x, x, x, need_weights=False)[0]
        kv = self.norm_kv(kv)
        q = q + self.cross_attn(self.norm_cross(q), kv, kv, need_weights=False)[0]
        return q + self.mlp(self.norm_mlp(q))


class SlotTransformer(nn.Module):
    """(B, C, H, W) features -> (B, num_slots, dim) source embeddings."""

    def __init__(self, in_channels: int, *, num_slots: int = 2, dim: int = 4096, depth: int = 4, heads: int = 8,
                 mlp_dim: int | None = None):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_slots, dim) * dim ** -0.5)
        self.proj = nn.Linear(in_channels, dim)
        self.layers = nn.ModuleList(SlotTransformerLayer(dim, heads, mlp_dim or dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        kv = _flatten_features(z, self.proj)
        q = self.queries.unsqueeze(0).expand(z.shape[0], -1, -1)
        for layer in self.layers:
            q = layer(q, kv)
        return self.norm(q)


class SlotAttention(nn.Module):
    """Slot Attention (Locatello et al. 2020, algorithm 1): (B, C, H, W) -> (B, num_slots, dim).

    Slots start from N(mu, sigma^2) (learned), sampled with ``generator`` (else the global RNG), so
    they are exchangeable: pass a seeded generator for reproducible separation.
    """

    def __init__(self, in_channels: int, *, num_slots: int = 2, dim: int = 256, iterations: int = 3, mlp_dim: int | None = None):
        super().__init__()
        self.num_slots, self.iterations, self.scale = num_slots, iterations, dim ** -0.5
        self.mu = nn.Parameter(torch.randn(dim) * dim ** -0.5)
        self.log_sigma = nn.Parameter(torch.full((dim,), math.log(dim ** -0.5)))
        self.proj = nn.Linear(in_channels, dim)
        self.norm_inputs, self.norm_slots, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim or dim), nn.ReLU(), nn.Linear(mlp_dim or dim, dim))

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        inputs = self.norm_inputs(_flatten_features(z, self.proj))
        k, v = self.to_k(inputs), self.to_v(inputs)
        b, d = z.shape[0], self.mu.shape[0]
        noise = torch.randn(b, self.num_slots, d, generator=generator, device=z.device, dtype=z.dtype)
        slots = self.mu + self.log_sigma.exp() * noise
        for _ in range(self.iterations):
            q = self.to_q(self.norm_slots(slots))
            attn = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=1) + 1e-8  # softmax over slots
            attn = attn / attn.sum(-1, keepdim=True)  # weighted mean over inputs
            updates = attn @ v
            slots = self.gru(updates.reshape(-1, d), slots.reshape(-1, d)).view(b, self.num_slots, d)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots
