"""Task: train AudioSlots (or its autoencoder variant) on two-source mixtures.

Data: fsdd2mix (built from FSDD on first use, see ``paperzoo.data.fsdd2mix``) or any LibriMix-style
metadata folder (``data.source=/path/to/Libri2Mix/wav16k/min`` with ``metadata/mixture_*_mix_clean.csv``,
``data.split`` naming the CSV's part, e.g. ``train-360``). Each step takes a random
``stft.chunk_seconds`` crop of every example (seeded by (seed, step)), computes the compressed
magnitude spectrograms of the mixture and of each source, and minimises the Hungarian-matched MSE.

``model.variant=autoencoder``: the paper's "Autoencoder" row - one slot, each source is its own
input and target (an upper bound on what the decoder can express).

Validation: matched MSE on the first chunk, and SI-SNR / SI-SNRi of whole examples separated chunk
by chunk with IBM masks and oracle chunk alignment (``val/si_snri``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from paperzoo.data.fsdd2mix import ensure_fsdd2mix, read_mixture_csv
from paperzoo.engine.config import OptimConfig, RunConfig
from paperzoo.errors import ConfigError
from paperzoo.io.audio import read_audio
from paperzoo.separation.augment import speed_perturb
from paperzoo.separation.matching import magnitude_weights, matched_mse_loss
from paperzoo.separation.inference import estimator_for, separation_info
from paperzoo.separation.separate import score_examples
from paperzoo.separation.spectral import STFTConfig, compress, stft
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule


@dataclass
class SepModelConfig:
    name: str = "audioslots"
    num_slots: int = 2
    slot_module: str = "transformer"  # transformer | slot_attention
    variant: str = "separation"  # separation | autoencoder
    options: Dict[str, Any] = field(default_factory=dict)  # other builder arguments, e.g. {dim: 256, depth: 2}


@dataclass
class SepDataConfig:
    source: str = "fsdd2mix"  # fsdd2mix, or a LibriMix-style folder with metadata/mixture_<part>_mix_clean.csv
    split: str = "seen"  # fsdd2mix: seen | unseen
    train_part: str = "train"
    val_part: str = "val"
    sample_rate: int = 8000
    location: Optional[str] = None  # where fsdd2mix is (built there if missing); default: the paperzoo cache
    batch_size: int = 64
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None
    speed_perturb: float = 0.0  # > 0: each training source at a speed factor uniform in 1 +- this (augment.py); 0: the paper


@dataclass
class LossSection:
    magnitude_weight: float = 0.0  # 0: the paper's MSE; > 0: bins weighted 1 + w * target / mean (matching.magnitude_weights)


@dataclass
class STFTSection:
    n_fft: Optional[int] = None  # default: the paper's 512 at 16 kHz, scaled to the sample rate
    hop: Optional[int] = None  # default: the paper's 125 at 16 kHz, scaled
    power: float = 0.3
    chunk_seconds: float = 0.5


@dataclass
class Config(RunConfig):
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4, schedule="cosine", warmup_steps=2500))
    model: SepModelConfig = field(default_factory=SepModelConfig)
    data: SepDataConfig = field(default_factory=SepDataConfig)
    stft: STFTSection = field(default_factory=STFTSection)
    loss: LossSection = field(default_factory=LossSection)

    def validate(self) -> None:
        super().validate()
        if self.model.variant not in ("separation", "autoencoder"):
            raise ConfigError(f"model.variant must be separation or autoencoder, got {self.model.variant!r}")
        if self.loss.magnitude_weight < 0:
            raise ConfigError(f"loss.magnitude_weight must be >= 0, got {self.loss.magnitude_weight}")
        if not 0 <= self.data.speed_perturb < 1:
            raise ConfigError(f"data.speed_perturb must be in [0, 1), got {self.data.speed_perturb}")
        if self.model.num_slots < 1 or self.data.sample_rate < 1000 or self.stft.chunk_seconds <= 0:
            raise ConfigError("model.num_slots >= 1, data.sample_rate >= 1000 and stft.chunk_seconds > 0 are required")

    def stft_config(self) -> STFTConfig:
        base = STFTConfig(power=self.stft.power, chunk_seconds=self.stft.chunk_seconds).scaled(self.data.sample_rate)
        return STFTConfig(self.data.sample_rate, self.stft.n_fft or base.n_fft, self.stft.hop or base.hop, self.stft.power,
                          self.stft.chunk_seconds)


def _metadata(cfg: Config, data_dir, part: str) -> Path:
    if cfg.data.source == "fsdd2mix":
        root = ensure_fsdd2mix(data_dir, cfg.data.sample_rate, cfg.data.location, (cfg.data.split,)) / cfg.data.split
    else:
        root = Path(cfg.data.source)
    return root / "metadata" / f"mixture_{part}_mix_clean.csv"


def load_mixtures(csv_path: Path, sample_rate: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L) mixtures and (N, m, L) sources, zero-padded to the longest example."""
    rows = read_mixture_csv(csv_path)[:limit]
    mixes, sources = [], []
    for _, mix_path, src_paths in rows:
        mixes.append(read_audio(mix_path, sample_rate, quiet=True)[0])
        sources.append([read_audio(p, sample_rate, quiet=True, allow_silent=True)[0] for p in src_paths])
    length = max(len(m) for m in mixes)
    mix = torch.zeros(len(mixes), length)
    src = torch.zeros(len(mixes), len(sources[0]), length)
    for i, (m, s) in enumerate(zip(mixes, sources)):
        mix[i, :len(m)] = torch.from_numpy(m)
        for j, w in enumerate(s):
            src[i, j, :min(len(w), length)] = torch.from_numpy(w[:length])
    return mix, src


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    train = load_mixtures(_metadata(cfg, data_dir, cfg.data.train_part), cfg.data.sample_rate, cfg.data.limit_train)
    val = load_mixtures(_metadata(cfg, data_dir, cfg.data.val_part), cfg.data.sample_rate, cfg.data.limit_val)
    if train[1].shape[1] > cfg.model.num_slots and cfg.model.variant == "separation":
        raise ConfigError(f"the mixtures have {train[1].shape[1]} sources but model.num_slots={cfg.model.num_slots}")
    return TensorDataModule(train, val, batch_size=cfg.data.batch_size, seed=cfg.seed)


def random_crops(mix: torch.Tensor, sources: torch.Tensor, size: int, rng: np.random.Generator, rank: int = 0, world: int = 1):
    """A random window of ``size`` samples from each example (the whole example, zero-padded, if shorter).

    The windows are drawn for the whole global batch and this process keeps rows ``rank::world`` (the
    rows ``StepBatches`` gave it), so W processes crop exactly what one process would."""
    length = mix.shape[-1]
    if length <= size:
        pad = size - length
        return torch.nn.functional.pad(mix, (0, pad)), torch.nn.functional.pad(sources, (0, pad))
    starts = torch.from_numpy(rng.integers(0, length - size + 1, len(mix) * world)[rank::world])
    idx = starts[:, None] + torch.arange(size)
    return torch.gather(mix, 1, idx), torch.gather(sources, 2, idx[:, None, :].expand(-1, sources.shape[1], -1))


class SeparationTask(BaseTask):
    def __init__(self, cfg: Config):
        super().__init__(cfg)
        slots = 1 if cfg.model.variant == "autoencoder" else cfg.model.num_slots
        self.build_model(cfg.model.name, num_slots=slots, slot_module=cfg.model.slot_module, **cfg.model.options)
        self.stft_cfg = cfg.stft_config()

    def spectra(self, wave: torch.Tensor) -> torch.Tensor:
        """(..., S) waveforms -> (..., F, T) compressed magnitudes."""
        return compress(stft(wave, self.stft_cfg).abs(), self.stft_cfg.power)

    def _inputs_and_targets(self, mix: torch.Tensor, sources: torch.Tensor):
        if self.cfg.model.variant == "autoencoder":
            flat = sources.flatten(0, 1)
            keep = flat.abs().amax(-1) > 0  # silent source crops teach nothing
            spec = self.spectra(flat[keep])
            return spec, spec.unsqueeze(1)
        return self.spectra(mix), self.spectra(sources)

    def training_step(self, batch, batch_idx):
        rng = np.random.default_rng([self.cfg.seed, self.global_step])
        mix, sources = batch
        if self.cfg.data.speed_perturb:
            mix, sources = speed_perturb(sources, self.cfg.data.speed_perturb, rng, self.global_rank, self.trainer.world_size)
        mix, sources = random_crops(mix, sources, self.stft_cfg.chunk_samples, rng, self.global_rank, self.trainer.world_size)
        inputs, targets = self._inputs_and_targets(mix, sources)
        pred = self.model(inputs)
        with torch.autocast(pred.device.type, enabled=False):  # matching and loss in float32 under bf16 training
            loss, _ = self.loss(pred.float(), targets)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def loss(self, pred: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        strength = self.cfg.loss.magnitude_weight
        return matched_mse_loss(pred, targets, magnitude_weights(targets, strength) if strength else None)

    def estimator(self):
        """The estimator used to separate whole examples (``paperzoo.separation.separate``)."""
        return estimator_for(self.model, self.stft_cfg, self.cfg.model.variant)

    def inference_info(self) -> dict:
        return separation_info(self.stft_cfg, self.cfg.model.variant)

    def validation_step(self, batch, batch_idx):
        mix, sources = batch
        size = self.stft_cfg.chunk_samples
        inputs, targets = self._inputs_and_targets(mix[..., :size], sources[..., :size])
        self.log("val/loss", self.loss(self.model(inputs), targets)[0], sync_dist=True)
        scores = score_examples(self.estimator(), mix, sources, self.stft_cfg, masks=("ibm",), aligns=("oracle",))
        self.log("val/si_snr", scores["ibm/oracle/si_snr"], sync_dist=True, batch_size=len(mix))
        self.log("val/si_snri", scores["ibm/oracle/si_snri"], sync_dist=True, prog_bar=True, batch_size=len(mix))


def build_task(cfg: Config, data: TensorDataModule) -> SeparationTask:
    return SeparationTask(cfg)
