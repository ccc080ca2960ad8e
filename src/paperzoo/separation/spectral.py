"""Spectrogram front end and masks of AudioSlots (paper section 3, "Preprocessing" and "Source separation").

Paper setting: 16 kHz audio, 0.5 s crops (8,000 samples), STFT with a 512-sample Hann window and
hop 125 (``center=True``), so a crop becomes F x T = 257 x 65 bins; the magnitude is compressed
as ``|X| ** 0.3`` to emphasise low values, and predictions are expanded back with ``** (1 / 0.3)``.

Masks turn estimated source magnitudes ``S_i`` (n, F, T) into complex source estimates
``M_i * X`` of the mixture STFT ``X``:
  * ideal binary mask (IBM): ``M_i = 1`` where source i has the largest estimate, else 0;
  * Wiener-like ratio mask: ``M_i = S_i^2 / sum_j S_j^2`` (0 where every estimate is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from paperzoo.errors import InvalidArgumentError


@dataclass(frozen=True)
class STFTConfig:
    sample_rate: int = 16_000
    n_fft: int = 512
    hop: int = 125
    power: float = 0.3  # magnitude compression exponent
    chunk_seconds: float = 0.5

    @property
    def chunk_samples(self) -> int:
        return round(self.chunk_seconds * self.sample_rate)

    @property
    def bins(self) -> tuple[int, int]:
        """(F, T) of one chunk."""
        return self.n_fft // 2 + 1, self.chunk_samples // self.hop + 1

    def scaled(self, sample_rate: int) -> "STFTConfig":
        """The same time/frequency resolution in seconds and Hz at another sample rate (e.g. FSDD's 8 kHz:
        window 256, hop 62.5 -> 62), for data that is not resampled."""
        ratio = sample_rate / self.sample_rate
        return STFTConfig(sample_rate, max(2, round(self.n_fft * ratio)), max(1, round(self.hop * ratio)), self.power,
                          self.chunk_seconds)


def stft(wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """(..., L) real -> (..., F, T) complex, Hann window, centred frames."""
    shape = wave.shape
    window = torch.hann_window(cfg.n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave.reshape(-1, shape[-1]), cfg.n_fft, cfg.hop, window=window, center=True, return_complex=True)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, cfg: STFTConfig, length: int) -> torch.Tensor:
    """(..., F, T) complex -> (..., length) real; inverse of ``stft``."""
    shape = spec.shape
    window = torch.hann_window(cfg.n_fft, device=spec.device, dtype=spec.real.dtype)
    wave = torch.istft(spec.reshape(-1, *shape[-2:]), cfg.n_fft, cfg.hop, window=window, center=True, length=length)
    return wave.reshape(*shape[:-2], length)


def compress(magnitude: torch.Tensor, power: float = 0.3) -> torch.Tensor:
    return magnitude.clamp_min(0) ** power


def expand(compressed: torch.Tensor, power: float = 0.3) -> torch.Tensor:
    """Undo ``compress`` (negative network outputs count as 0)."""
    return compressed.clamp_min(0) ** (1.0 / power)


def ideal_binary_mask(estimates: torch.Tensor) -> torch.Tensor:
    """(..., n, F, T) magnitudes -> one-hot masks along the source axis (argmax; ties to the first)."""
    return torch.nn.functional.one_hot(estimates.argmax(-3), estimates.shape[-3]).movedim(-1, -3).to(estimates.dtype)


def wiener_mask(estimates: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(..., n, F, T) magnitudes -> S_i^2 / sum_j S_j^2 (sums to 1 where any estimate is non-zero)."""
    power = estimates.clamp_min(0) ** 2
    return power / power.sum(-3, keepdim=True).clamp_min(eps)


def apply_masks(mixture_spec: torch.Tensor, estimates: torch.Tensor, kind: str = "ibm") -> torch.Tensor:
    """Complex mixture STFT (..., F, T) and source magnitudes (..., n, F, T) -> complex sources (..., n, F, T)."""
    if kind == "ibm":
        masks = ideal_binary_mask(estimates)
    elif kind == "wiener":
        masks = wiener_mask(estimates)
    else:
        raise InvalidArgumentError(f"mask must be 'ibm' or 'wiener', got {kind!r}")
    return masks * mixture_spec.unsqueeze(-3)
