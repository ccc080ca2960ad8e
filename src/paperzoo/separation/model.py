"""AudioSlots (Reddy et al. 2023): mixture spectrogram -> a set of source spectrograms.

    compressed mixture magnitude (B, F, T)
      -> ResNet-34 encoder (reduced root stride)      (B, 512, F/8, T/8)     e.g. 257x65 -> 32x8
      -> slot module (4-layer query transformer)      (B, n, d)              n source embeddings
      -> spatial broadcast decoder (Fourier features) (B, n, F, T)           compressed source magnitudes

Trained with the Hungarian-matched MSE (``paperzoo.separation.matching``). The autoencoder variant
of the paper's Table 1 is the same network with one slot, trained to reconstruct each source from
itself.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.separation.decoder import SpatialBroadcastDecoder
from paperzoo.separation.encoder import ResNetEncoder
from paperzoo.separation.slots import SlotAttention, SlotTransformer


class AudioSlots(nn.Module):
    """(B, F, T) compressed magnitudes -> (B, num_slots, F, T) compressed source magnitudes."""

    def __init__(self, *, num_slots: int = 2, blocks=(3, 4, 6, 3), widths=(64, 128, 256, 512), slot_module: str = "transformer",
                 dim: int = 4096, depth: int = 4, heads: int = 8, mlp_dim: int | None = None, decoder_hidden: int = 256,
                 decoder_layers: int = 8, num_bands: int = 10, decoder_film: bool = False):
        super().__init__()
        self.num_slots = num_slots
        self.encoder = ResNetEncoder(blocks=tuple(blocks), widths=tuple(widths))
        if slot_module == "transformer":
            self.slots = SlotTransformer(self.encoder.out_channels, num_slots=num_slots, dim=dim, depth=depth, heads=heads,
                                         mlp_dim=mlp_dim)
        elif slot_module == "slot_attention":
            self.slots = SlotAttention(self.encoder.out_channels, num_slots=num_slots, dim=dim, iterations=depth, mlp_dim=mlp_dim)
        else:
            raise ValueError(f"slot_module must be 'transformer' or 'slot_attention', got {slot_module!r}")
        self.decoder = SpatialBroadcastDecoder(dim, hidden=decoder_hidden, layers=decoder_layers, num_bands=num_bands,
                                               film=decoder_film)

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, F, T) -> (B, num_slots, d) source embeddings."""
        return self.slots(self.encoder(spec.unsqueeze(1)))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.embed(spec), tuple(spec.shape[-2:]))


@register_model("audioslots", family="separation")
def audioslots(*, num_slots: int = 2, slot_module: str = "transformer", dim: int = 4096, depth: int = 4, heads: int = 8,
               mlp_dim: int | None = None, decoder_hidden: int = 256, decoder_layers: int = 8, num_bands: int = 10,
               decoder_film: bool = False) -> AudioSlots:
    """AudioSlots, paper setting: ResNet-34 (3-4-6-3), 4-layer query transformer of width 4096, NeRF-style decoder."""
    return AudioSlots(num_slots=num_slots, slot_module=slot_module, dim=dim, depth=depth, heads=heads, mlp_dim=mlp_dim,
                      decoder_hidden=decoder_hidden, decoder_layers=decoder_layers, num_bands=num_bands,
                      decoder_film=decoder_film)


@register_model("audioslots_small", family="separation")
def audioslots_small(*, num_slots: int = 2, slot_module: str = "transformer", dim: int = 128, depth: int = 2, heads: int = 4,
                     mlp_dim: int | None = 256, decoder_hidden: int = 64, decoder_layers: int = 3, num_bands: int = 6,
                     widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), decoder_film: bool = False) -> AudioSlots:
    """AudioSlots CPU setting: the same design with one block per stage, width-128 slots, a 3-layer decoder of 64."""
    return AudioSlots(num_slots=num_slots, blocks=blocks, widths=widths, slot_module=slot_module, dim=dim, depth=depth,
                      heads=heads, mlp_dim=mlp_dim, decoder_hidden=decoder_hidden, decoder_layers=decoder_layers,
                      num_bands=num_bands, decoder_film=decoder_film)
