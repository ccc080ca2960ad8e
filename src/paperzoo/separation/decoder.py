"""Spatial broadcast decoder with Fourier-feature positions (paper section 3, "Decoding").

Each source embedding s_i (d) is tiled over the F x T grid, the NeRF positional code of each
(frequency, time) coordinate is appended (e values per position), and one MLP shared by every
position and every slot maps the (d + e) vector to one spectrogram value::

    s (B, n, d) -> tile (B, n, F, T, d) ++ gamma(f, t) (F, T, e) -> MLP -> (B, n, F, T)

gamma(p) = [p, sin(2^k pi p), cos(2^k pi p) for k < L] for each of the two coordinates scaled to
[-1, 1] (Mildenhall et al. 2020), so e = 2 + 4L. The MLP depth and width are not given in the
paper; the defaults are NeRF's (8 layers of 256, ReLU) with L = 10.

The first layer never builds the tiled (d + e) tensor: W [s; gamma] = W_s s + W_g gamma, one term
per slot and one per position, broadcast-added. Same function, a fraction of the memory.

``film=True`` (not in the paper; measured in ``bench/audioslots_fsdd2mix.py --decoder-ablation``):
the slot also scales and shifts every hidden layer, h <- relu((1 + g_l(s)) * W_l h + b_l(s))
(FiLM, Perez et al. 2018), so the slot keeps its say after the first layer instead of having to
survive it through the position code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def fourier_features(size_f: int, size_t: int, num_bands: int, device=None) -> torch.Tensor:
    """(F*T, 2 + 4*num_bands) NeRF positional code of the grid coordinates in [-1, 1]."""
    f = torch.linspace(-1, 1, size_f, device=device)
    t = torch.linspace(-1, 1, size_t, device=device)
    grid = torch.stack(torch.meshgrid(f, t, indexing="ij"), -1).reshape(-1, 2)  # (F*T, 2)
    bands = (2.0 ** torch.arange(num_bands, device=device)) * math.pi
    angles = (grid[:, :, None] * bands).reshape(grid.shape[0], -1)
    return torch.cat([grid, angles.sin(), angles.cos()], 1)


class SpatialBroadcastDecoder(nn.Module):
    """(B, n, d) embeddings -> (B, n, F, T) spectrograms for an output grid of F x T."""

    def __init__(self, dim: int, *, hidden: int = 256, layers: int = 8, num_bands: int = 10, film: bool = False):
        super().__init__()
        if layers < 2:
            raise ValueError("the decoder MLP needs at least 2 layers")
        self.num_bands = num_bands
        self.from_slot = nn.Linear(dim, hidden)
        self.from_position = nn.Linear(2 + 4 * num_bands, hidden, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 2))
        # one (scale, shift) pair per hidden layer, zero-initialised: training starts from the plain decoder
        self.film = nn.Linear(dim, 2 * hidden * (layers - 2)) if film else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.out = nn.Linear(hidden, 1)

    def forward(self, slots: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, _ = slots.shape
        pos = fourier_features(*size, self.num_bands, slots.device).to(slots.dtype)
        h = F.relu(self.from_slot(slots)[:, :, None, :] + self.from_position(pos))  # (B, n, F*T, hidden)
        if self.film is None:
            for layer in self.hidden:
                h = F.relu(layer(h))
        else:
            scales_shifts = self.film(slots)[:, :, None, :].chunk(2 * len(self.hidden), -1)  # each (B, n, 1, hidden)
            for i, layer in enumerate(self.hidden):
                h = F.relu((1 + scales_shifts[2 * i]) * layer(h) + scales_shifts[2 * i + 1])
        return self.out(h).view(b, n, *size)
