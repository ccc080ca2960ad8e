"""VQ-VAE inference without the training stack.

* ``ImageCodec`` (image VQ-VAE / VQ-VAE-2): ``encode(images) -> codes``, ``decode(codes) -> images``,
  ``reconstruct(images)``; images are (B, 3, H, W) floats in [0, 1] (the network sees them minus 0.5,
  as in training).
* ``VoiceConverter`` (raw-audio VQ-VAE, paper 4.3): ``convert(waveform, sample_rate, to_speaker)``
  encodes the utterance and decodes its codes with another speaker's embedding, at the input's rate.
"""

from __future__ import annotations

import numpy as np
import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.bundle import Bundle, Pretrained

PIXEL_SHIFT = 0.5  # the networks see pixels in [-0.5, 0.5]


def check_images(images: torch.Tensor, multiple: int = 4) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] % multiple or images.shape[-2] % multiple:
        raise InvalidArgumentError(f"images must be (B, 3, H, W) with H and W divisible by {multiple}, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    return images.float()


class ImageCodec(Pretrained):
    """A trained image VQ-VAE (any number of levels)."""

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "ImageCodec":
        return cls(bundle)

    @property
    def levels(self) -> int:
        return len(self.model.quantizers)

    @torch.no_grad()
    def encode(self, images: torch.Tensor):
        """(B, 3, H, W) in [0, 1] (or uint8) -> (B, h, w) int64 codes; a list, bottom level first, for VQ-VAE-2."""
        return self.model.encode(check_images(images) - PIXEL_SHIFT)

    @torch.no_grad()
    def decode(self, codes) -> torch.Tensor:
        """Codes (as ``encode`` returns them) -> (B, 3, H, W) images in [0, 1]."""
        return (self.model.decode_codes(codes) + PIXEL_SHIFT).clamp(0, 1)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


class VoiceConverter(Pretrained):
    """A trained raw-audio VQ-VAE with its speakers (``.speakers``) and sample rate."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        self.speakers: list[str] = list(bundle.info["speakers"])
        self.sample_rate: int = int(bundle.info["sample_rate"])
        self.peak: float = float(bundle.info.get("peak", 0.5))

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "VoiceConverter":
        return cls(bundle)

    def speaker_index(self, name: str) -> int:
        if name not in self.speakers:
            raise InvalidArgumentError(f"unknown speaker {name!r}; this model knows {', '.join(self.speakers)}")
        return self.speakers.index(name)

    @torch.no_grad()
    def convert(self, waveform, sample_rate: int, to_speaker: str, *, temperature: float = 1.0, seed: int = 0,
                progress: bool = False) -> torch.Tensor:
        """(samples,) or (channels, samples) at ``sample_rate`` -> (samples,) the same words in ``to_speaker``'s voice.

        The input is peak-normalised as in training (``peak``); the output keeps that level. ``progress``:
        a progress bar of the sample-by-sample generation on a terminal."""
        from paperzoo.io.audio import as_mono, resample
        from paperzoo.vq.audio import pad_to_hop

        target = self.speaker_index(to_speaker)
        if temperature <= 0:
            raise InvalidArgumentError("temperature must be > 0")
        mono, _ = as_mono(waveform)
        wave = resample(mono.numpy(), sample_rate, self.sample_rate)
        if not np.any(wave):
            raise InvalidArgumentError("the waveform is all silence")
        length = len(wave)
        x = pad_to_hop(torch.from_numpy(wave * (self.peak / np.abs(wave).max())).float()[None], self.model.hop)
        out = self.model.convert(x, torch.tensor([target]), temperature=temperature,
                                 generator=torch.Generator().manual_seed(seed), progress=progress)[0, :length].numpy()
        out = resample(out, self.sample_rate, sample_rate)
        return torch.from_numpy(np.ascontiguousarray(out[: len(mono)]))
