"""Gated PixelCNN over discrete codes (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders"), the prior of VQ-VAE section 3.3 / 4.2.

    p(c) = prod_{(r, s) in raster order} p(c[r, s] | c[< (r, s)], class, spatial condition)

Two stacks remove the blind spot of the original masked PixelCNN:

* the vertical stack sees every row above (and, inside the stack, the current row; it reaches the
  output only after a one-row down-shift, so position (r, s) gets vertical information from rows < r);
* the horizontal stack sees the current row to the left (the first layer excludes the current
  position: "mask A"; later layers include it: "mask B").

Each layer is gated, y = tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h), with a residual
connection on the horizontal stack. h is an optional class embedding (class-conditional prior) and
an optional spatial condition map (B, C_cond, H, W), e.g. the top-level codes for the bottom prior
of VQ-VAE-2, added through 1x1 convolutions.

The forward pass is split into a vertical pass and a horizontal pass so that the fast sampler can
run them incrementally: when row r is sampled, the vertical stack is computed once on rows < r and
only the horizontal stack is recomputed, on one row, for each position (see ``samplers.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model


class GatedLayer(nn.Module):
    """One gated layer of both stacks. Shapes: v, h (B, C, H', W) -> v', h' of the same shape."""

    def __init__(self, channels: int, kernel: int, *, first: bool, num_classes: int | None, cond_channels: int | None):
        super().__init__()
        self.first, self.k = first, kernel
        half = kernel // 2
        # vertical: rows r-half..r, all columns s-half..s+half
        self.v_conv = nn.Conv2d(channels, 2 * channels, (half + 1, kernel))
        # horizontal: columns s-half..s (mask B) or s-half..s-1 (mask A, the first layer)
        self.h_conv = nn.Conv2d(channels, 2 * channels, (1, half if first else half + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.class_bias = nn.Embedding(num_classes, 4 * channels) if num_classes else None
        self.cond_proj = nn.Conv2d(cond_channels, 4 * channels, 1) if cond_channels else None

    def _conditioning(self, labels, cond, rows: slice | None):
        """(B, 4C, H, W)-broadcastable bias, split later into vertical and horizontal halves."""
        bias = 0
        if self.class_bias is not None:
            bias = self.class_bias(labels)[:, :, None, None]
        if self.cond_proj is not None:
            c = cond if rows is None else cond[:, :, rows]
            bias = bias + self.cond_proj(c)
        return bias

    @staticmethod
    def _gate(x):
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def vertical(self, v, labels=None, cond=None, rows: slice | None = None):
        """v (B, C, R, W) -> (new v (B, C, R, W), contribution to h (B, 2C, R, W) for the row *below*)."""
        half = self.k // 2
        pre = self.v_conv(F.pad(v, (half, half, half, 0)))
        bias = self._conditioning(labels, cond, rows)
        if torch.is_tensor(bias):
            pre = pre + bias[:, : pre.shape[1]]
        return self._gate(pre), self.v_to_h(pre)

    def horizontal(self, h, v_contrib_shifted, labels=None, cond=None, rows: slice | None = None):
        """h (B, C, R, W) with v_contrib_shifted (B, 2C, R, W) from the rows above -> new h."""
        half = self.k // 2
        if self.first:  # mask A: shift right by one so column s sees s-half..s-1
            pre = self.h_conv(F.pad(h, (half, 0, 0, 0))[..., :-1]) if half > 0 else torch.zeros_like(v_contrib_shifted)
        else:
            pre = self.h_conv(F.pad(h, (half, 0, 0, 0)))
        pre = pre + v_contrib_shifted
        bias = self._conditioning(labels, cond, rows)
        if torch.is_tensor(bias):
            pre = pre + bias[:, pre.shape[1] :]
        out = self.h_out(self._gate(pre))
        return out if self.first else h + out


def shift_down(x):
    """(B, C, H, W) -> row r holds row r-1 (row 0 holds zeros)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedPixelCNN(nn.Module):
    """Codes (B, H, W) int64 in [0, K) -> logits (B, K, H, W) of p(c[r, s] | earlier codes, condition).

    Args: num_codes K; channels C; layers L (>= 2); kernel (odd); num_classes for a class-conditional
    prior; cond_channels for a spatial condition map (B, cond_channels, H, W).
    """

    def __init__(self, num_codes: int = 512, channels: int = 128, layers: int = 15, kernel: int = 3,
                 num_classes: int | None = None, cond_channels: int | None = None):
        super().__init__()
        if layers < 2 or kernel % 2 == 0 or kernel < 3:
            raise ValueError("GatedPixelCNN needs layers >= 2 and an odd kernel >= 3")
        self.num_codes, self.num_classes, self.cond_channels = num_codes, num_classes, cond_channels
        self.embed = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(
            GatedLayer(channels, kernel, first=i == 0, num_classes=num_classes, cond_channels=cond_channels)
            for i in range(layers)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, num_codes, 1))

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.embed(codes).permute(0, 3, 1, 2)

    # --- the two passes --------------------------------------------------------------------------------
    def vertical_pass(self, x, labels=None, cond=None, rows: slice | None = None, shift: bool = True) -> list[torch.Tensor]:
        """Embedded codes (B, C, R, W) of rows ``rows`` (the first R rows) -> per layer the
        contribution (B, 2C, R, W) of the vertical stack to the horizontal one. With ``shift`` row r
        holds what row r receives (computed from rows < r); without, what row r passes down."""
        contribs, v = [], x
        for layer in self.layers:
            v, to_h = layer.vertical(v, labels, cond, rows)
            contribs.append(shift_down(to_h) if shift else to_h)
        return contribs

    def horizontal_pass(self, x, contribs, labels=None, cond=None, rows: slice | None = None) -> torch.Tensor:
        h = x
        for layer, contrib in zip(self.layers, contribs):
            h = layer.horizontal(h, contrib, labels, cond, rows)
        return self.head(h)

    def forward_embedded(self, x, labels=None, cond=None) -> torch.Tensor:
        """Embedded input (B, C, H, W) -> logits; differentiable in x (used by the causality tests)."""
        return self.horizontal_pass(x, self.vertical_pass(x, labels, cond), labels, cond)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None, cond: torch.Tensor | None = None):
        return self.forward_embedded(self.embed_codes(codes), labels, cond)

    def nll(self, codes, labels=None, cond=None) -> torch.Tensor:
        """Mean negative log-likelihood in nats per code (the training loss)."""
        return F.cross_entropy(self(codes, labels, cond), codes)


@register_model("gated_pixelcnn", family="priors")
def gated_pixelcnn(**kwargs) -> GatedPixelCNN:
    """Gated PixelCNN prior over VQ codes (van den Oord et al. 2016); K=512, 128 channels, 15 layers."""
    return GatedPixelCNN(**kwargs)
