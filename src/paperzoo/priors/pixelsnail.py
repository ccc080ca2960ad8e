"""PixelSNAIL-style prior (Chen et al. 2018), the top-level prior of VQ-VAE-2 (post 000).

    codes --embed--> masked conv (A) --> [ gated residual blocks (mask B) --> causal self-attention ] x N --> logits

* Gated residual block: x + dropout(a * sigmoid(b)), [a, b] = conv(elu(conv(elu(x)))) + condition.
  Masked convolutions: position (r, s) sees rows above and the row's left part; the first one
  (mask A) excludes (r, s) itself, later ones (mask B) include it, so no feature at (r, s) ever
  depends on the code at (r, s).
* Causal multi-head self-attention over the raster sequence: keys and values carry the features
  and the input codes of each position, and the query at position t attends strictly earlier
  positions s < t (and a learned null key), with two coordinate channels appended. Attention
  reaches every earlier position, which removes the blind spot that stacked masked convolutions
  leave (tested); dropout on the attention weights.
* Conditioning: a class embedding and/or a spatial condition map (B, C_cond, H, W) (the top codes
  for a bottom prior) passed through a stack of residual 1x1 convolutions, added to every block.

Sampling: ``paperzoo.priors.snail_sampler.sample_pixelsnail_fast`` computes one position of every
layer per step from cached layer inputs (equal to ``sample_naive``, a full pass per position).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model


class MaskedConv2d(nn.Conv2d):
    """k x k convolution that sees rows above and the left part of the current row; ``include_center``
    distinguishes mask B (True) from mask A (False)."""

    def __init__(self, cin: int, cout: int, kernel: int, include_center: bool):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        mask = torch.ones(kernel, kernel)
        c = kernel // 2
        mask[c, c + (1 if include_center else 0) :] = 0
        mask[c + 1 :] = 0
        self.register_buffer("mask", mask[None, None])

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class GatedResBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dropout: float, cond_channels: int | None):
        super().__init__()
        self.conv1 = MaskedConv2d(channels, channels, kernel, include_center=True)
        self.conv2 = MaskedConv2d(channels, 2 * channels, kernel, include_center=True)
        self.cond = nn.Conv2d(cond_channels, 2 * channels, 1) if cond_channels else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, cond=None):
        out = self.conv2(F.elu(self.conv1(F.elu(x))))
        if self.cond is not None and cond is not None:
            out = out + self.cond(cond)
        a, b = out.chunk(2, dim=1)
        return x + self.dropout(a * torch.sigmoid(b))


class CausalAttention(nn.Module):
    """(B, C, H, W) features + (B, C, H, W) embedded inputs -> (B, C, H, W).

    Keys and values see the features *and the input codes* of earlier positions, so the query at
    position t attends strictly earlier positions s < t (plus a learned "null" key, so that t = 0
    has something to attend to). Queries see the features at t (which never depend on the code at
    t). Two coordinate channels are appended to both, as in PixelSNAIL."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(channels + 2, channels)
        self.kv = nn.Linear(2 * channels + 2, 2 * channels)
        self.null_kv = nn.Parameter(torch.zeros(1, 1, 2 * channels))
        self.out = nn.Linear(channels, channels)
        self.dropout = dropout

    def forward(self, x, inputs):
        b, c, h, w = x.shape
        n = h * w
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device), indexing="ij")
        coords = torch.stack([yy, xx]).to(x.dtype).expand(b, 2, h, w)
        q = self.q(torch.cat([x, coords], 1).flatten(2).transpose(1, 2))  # (B, N, C)
        kv = self.kv(torch.cat([x, inputs, coords], 1).flatten(2).transpose(1, 2))  # (B, N, 2C)
        k, v = torch.cat([self.null_kv.expand(b, 1, -1), kv], 1).chunk(2, dim=-1)  # (B, N+1, C) each
        allowed = torch.ones(n, n + 1, dtype=torch.bool, device=x.device).tril()  # key index s+1 <= t: s < t ...
        allowed[:, 0] = True  # ... and the null key
        split = lambda t: t.reshape(b, t.shape[1], self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        att = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=allowed,
                                             dropout_p=self.dropout if self.training else 0.0)
        att = att.transpose(1, 2).reshape(b, n, c)
        return x + self.out(att).transpose(1, 2).reshape(b, c, h, w)


class PixelSNAIL(nn.Module):
    """Codes (B, H, W) in [0, K) -> logits (B, K, H, W); same interface as GatedPixelCNN."""

    def __init__(self, num_codes: int = 512, channels: int = 128, blocks: int = 4, res_per_block: int = 2,
                 heads: int = 4, kernel: int = 3, dropout: float = 0.1, num_classes: int | None = None,
                 cond_channels: int | None = None, cond_res_blocks: int = 2):
        super().__init__()
        if channels % heads:
            raise ValueError("channels must be divisible by heads")
        self.num_codes, self.num_classes, self.cond_channels = num_codes, num_classes, cond_channels
        self.embed = nn.Embedding(num_codes, channels)
        self.first = MaskedConv2d(channels, channels, kernel, include_center=False)
        cond_width = channels if (cond_channels or num_classes) else None
        self.blocks = nn.ModuleList(
            nn.ModuleList([*(GatedResBlock(channels, kernel, dropout, cond_width) for _ in range(res_per_block)),
                           CausalAttention(channels, heads, dropout)])
            for _ in range(blocks)
        )
        self.class_embed = nn.Embedding(num_classes, channels) if num_classes else None
        if cond_channels:  # the residual 1x1-conv conditioning stack
            self.cond_in = nn.Conv2d(cond_channels, channels, 1)
            self.cond_stack = nn.ModuleList(
                nn.Sequential(nn.ELU(), nn.Conv2d(channels, channels, 1), nn.ELU(), nn.Conv2d(channels, channels, 1))
                for _ in range(cond_res_blocks)
            )
        self.head = nn.Sequential(nn.ELU(), nn.Conv2d(channels, num_codes, 1))

    def embed_codes(self, codes):
        return self.embed(codes).permute(0, 3, 1, 2)

    def _condition(self, x, labels, cond):
        c = None
        if self.cond_channels:
            c = self.cond_in(cond)
            for block in self.cond_stack:
                c = c + block(c)
        if self.class_embed is not None:
            e = self.class_embed(labels)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            c = e if c is None else c + e
        return c

    def forward_embedded(self, x, labels=None, cond=None):
        c = self._condition(x, labels, cond)
        h = self.first(x)
        for block in self.blocks:
            for layer in block[:-1]:
                h = layer(h, c)
            h = block[-1](h, x)
        return self.head(h)

    def forward(self, codes, labels=None, cond=None):
        return self.forward_embedded(self.embed_codes(codes), labels, cond)

    def nll(self, codes, labels=None, cond=None):
        return F.cross_entropy(self(codes, labels, cond), codes)


@register_model("pixelsnail", family="priors")
def pixelsnail(**kwargs) -> PixelSNAIL:
    """PixelSNAIL-style prior: gated residual masked convs + causal self-attention + conditioning stack."""
    return PixelSNAIL(**kwargs)
