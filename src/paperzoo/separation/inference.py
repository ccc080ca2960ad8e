"""AudioSlots inference without the training stack: ``paperzoo.load(RUN_OR_EXPORT).separate(wave, rate)``.

The STFT settings, the model's sample rate and the variant travel with the model (its card's
``inference`` section), so a copied run or export separates on any machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.audio import as_mono
from paperzoo.io.bundle import Bundle, Pretrained
from paperzoo.separation.separate import Estimator, model_estimator, separate_with
from paperzoo.separation.spectral import STFTConfig, compress, expand, stft


def autoencoder_estimator(model: torch.nn.Module, cfg: STFTConfig) -> Estimator:
    """The paper's "Autoencoder" row: each reference chunk through the one-slot model."""

    def estimate(mix, ref):
        c, m = ref.shape[:2]
        out = expand(model(compress(stft(ref.flatten(0, 1), cfg).abs(), cfg.power)), cfg.power)
        return out.view(c, m, *out.shape[-2:])

    return estimate


def estimator_for(model: torch.nn.Module, cfg: STFTConfig, variant: str) -> Estimator:
    return autoencoder_estimator(model, cfg) if variant == "autoencoder" else model_estimator(model, cfg)


class Separator(Pretrained):
    """A trained AudioSlots model. ``separate((samples,) or (channels, samples), rate) -> (n_sources, samples)``
    at the input's rate: resampled to the model's rate, cut into ``chunk_seconds`` chunks, masked (IBM or
    Wiener), aligned across chunks without references (``overlap``), resampled back."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        self.stft_cfg = STFTConfig(**bundle.info["stft"])
        self.variant = bundle.info.get("variant", "separation")

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "Separator":
        return cls(bundle)

    @property
    def sample_rate(self) -> int:
        return self.stft_cfg.sample_rate

    def estimator(self) -> Estimator:
        return estimator_for(self.model, self.stft_cfg, self.variant)

    @torch.no_grad()
    def separate(self, waveform, sample_rate: int, *, mask: str = "ibm", align: str = "overlap",
                 references=None) -> torch.Tensor:
        """``align="oracle"`` needs ``references`` (m, samples) at the same rate (the paper's protocol)."""
        from paperzoo.io.audio import resample

        if self.variant == "autoencoder" and references is None:
            raise InvalidArgumentError("an autoencoder-variant model needs the true sources; it cannot separate a mixture")
        if sample_rate < 1:
            raise InvalidArgumentError(f"sample_rate must be positive, got {sample_rate}")
        mono, _ = as_mono(waveform)
        length, rate = mono.shape[0], self.sample_rate
        mix = torch.from_numpy(resample(mono.numpy(), sample_rate, rate))
        refs = None
        if references is not None:
            refs = torch.from_numpy(resample(torch.as_tensor(references).float().numpy(), sample_rate, rate))
        out = separate_with(self.estimator(), mix, self.stft_cfg, mask=mask, align=align, references=refs).numpy()
        out = resample(out, rate, sample_rate)
        if out.shape[-1] < length:
            out = np.pad(out, ((0, 0), (0, length - out.shape[-1])))
        return torch.from_numpy(np.ascontiguousarray(out[:, :length]))


def separation_info(cfg: STFTConfig, variant: str) -> dict:
    return {"stft": dataclasses.asdict(cfg), "variant": variant}
