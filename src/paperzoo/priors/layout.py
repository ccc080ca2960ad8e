"""How a 2-D prior models the codes of a VQ-VAE with G latents per position: one (h*G, w) map."""

from __future__ import annotations

import torch

from paperzoo.errors import InvalidArgumentError


def codes_as_map(codes: torch.Tensor) -> torch.Tensor:
    """G latents per position (B, G, h, w) -> one 2-D map (B, h*G, w) that a 2-D prior models: map row
    i*G + g holds latent g of image row i. Its raster order is an autoregressive order over all latents
    (image row by image row; within a row, latent 0 of every position, then latent 1, ...), and latent
    g of a position sits right below latent g-1 of the same position, where the vertical stack sees it."""
    b, g, h, w = codes.shape
    return codes.transpose(1, 2).reshape(b, h * g, w)


def map_as_codes(code_map: torch.Tensor, groups: int) -> torch.Tensor:
    """The inverse of ``codes_as_map``: (B, h*G, w) -> (B, G, h, w)."""
    b, hg, w = code_map.shape
    if hg % groups:
        raise InvalidArgumentError(f"a map of {hg} rows does not hold {groups} latents per position")
    return code_map.reshape(b, hg // groups, groups, w).transpose(1, 2)
