"""Task: train the raw-audio VQ-VAE (paper section 4.3) on the Free Spoken Digit Dataset.

Data: FSDD from the data root (``fsdd``: 6 speakers x 10 digits x 50 takes, 8 kHz); the official
split holds takes 0-4 out for testing (``data.test_takes``). Each recording is peak-normalised to
``data.peak`` (0.5; the recordings' levels differ a lot and speaker identity should not be loudness).
Training takes a random ``data.crop``-sample window of every recording in the batch (zero-padded
when shorter; seeded by (seed, rows), so a resumed run sees the same batches); validation the first
``data.crop`` samples of each test recording.

Objective: the WaveNet's cross-entropy on 8-bit mu-law samples + the quantiser's terms. Logged:
``train/ce``, ``val/ce`` (nats per sample), ``val/bits_per_sample`` (ce / ln 2; 8 = uniform over
256 levels), ``val/perplexity`` (codebook use). Checkpoints carry the speaker names and the sample
rate, which ``paperzoo convert-speaker`` reads.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.data.fsdd2mix import fsdd_recordings
from paperzoo.data.registry import require_dataset
from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError, DataError
from paperzoo.io.audio import read_audio
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import step_loader
from paperzoo.vq.audio import AudioVQVAE


@dataclass
class AudioModelConfig:
    name: str = "vqvae_audio"
    options: Dict[str, Any] = field(default_factory=dict)  # builder arguments, e.g. {residual: 32, cycles: 2}


@dataclass
class AudioDataConfig:
    source: str = "fsdd"  # the FSDD folder in the data root (recordings/<digit>_<speaker>_<take>.wav)
    location: Optional[str] = None  # an FSDD folder elsewhere
    sample_rate: int = 8000
    test_takes: int = 5  # takes 0 .. test_takes - 1 are the test split (FSDD's official split: 5)
    crop: int = 4096  # samples per training window (a multiple of the encoder's hop, 2^downsamplings: 64)
    peak: float = 0.5
    batch_size: int = 8
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None


@dataclass
class Config(RunConfig):
    model: AudioModelConfig = field(default_factory=AudioModelConfig)
    data: AudioDataConfig = field(default_factory=AudioDataConfig)

    def validate(self) -> None:
        super().validate()
        d = self.data
        default = inspect.signature(AudioVQVAE).parameters["downsamplings"].default  # one source for the 64x default
        downsamplings = self.model.options.get("downsamplings", default)
        if isinstance(downsamplings, bool) or not isinstance(downsamplings, int) or not 1 <= downsamplings <= 10:
            raise ConfigError(f"model.options.downsamplings (stride-2 encoder convolutions) must be an integer in 1..10, "
                              f"got {downsamplings!r}")
        hop = 2**downsamplings  # samples per latent: training windows hold whole latents
        if d.crop < hop or d.crop % hop:
            raise ConfigError(f"data.crop must be a positive multiple of {hop} samples (2^downsamplings, the encoder's hop), "
                              f"got {d.crop}")
        if not 0 < d.peak <= 1 or d.batch_size < 1 or d.sample_rate < 1000 or not 0 < d.test_takes < 50:
            raise ConfigError("data.peak in (0, 1], data.batch_size >= 1, data.sample_rate >= 1000 and 0 < data.test_takes < 50")


@dataclass
class Utterances:
    """Recordings of one split: padded waveforms (N, L), true lengths, speaker ids, digits."""

    waves: torch.Tensor
    lengths: torch.Tensor
    speakers: torch.Tensor
    digits: torch.Tensor
    names: list[str]


def fsdd_root(d: AudioDataConfig, data_dir=None) -> Path:
    return Path(d.location) if d.location else require_dataset(d.source, data_dir)


def load_fsdd(d: AudioDataConfig, data_dir=None) -> tuple[Utterances, Utterances, list[str]]:
    """(train, test, speaker names) of FSDD, peak-normalised, at ``d.sample_rate``."""
    recs = fsdd_recordings(fsdd_root(d, data_dir))
    speakers = sorted({r[2] for r in recs})

    def load(rows, limit):
        rows = rows[:limit]
        if not rows:
            raise DataError("no FSDD recordings in this split")
        waves = []
        for path, *_ in rows:
            w, _ = read_audio(path, d.sample_rate, quiet=True)
            waves.append(w * (d.peak / np.abs(w).max()))
        length = max(len(w) for w in waves)
        padded = torch.zeros(len(waves), length)
        for i, w in enumerate(waves):
            padded[i, : len(w)] = torch.from_numpy(w)
        return Utterances(padded, torch.tensor([len(w) for w in waves]), torch.tensor([speakers.index(r[2]) for r in rows]),
                          torch.tensor([r[1] for r in rows]), [p.name for p, *_ in rows])

    train = load([r for r in recs if r[3] >= d.test_takes], d.limit_train)
    test = load([r for r in recs if r[3] < d.test_takes], d.limit_val)
    return train, test, speakers


class TrainWindows:
    """Indexable like a tensor for ``StepBatches``: ``windows[rows]`` -> (B, crop) random windows."""

    def __init__(self, utt: Utterances, crop: int, seed: int):
        self.utt, self.crop, self.seed = utt, crop, seed

    def __len__(self) -> int:
        return len(self.utt.waves)

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, *rows.tolist()])
        out = torch.zeros(len(rows), self.crop)
        for i, r in enumerate(rows.tolist()):
            n = int(self.utt.lengths[r])
            start = int(rng.integers(0, max(n - self.crop, 0) + 1))
            piece = self.utt.waves[r, start : start + min(self.crop, n)]
            out[i, : len(piece)] = piece
        return out


class AudioDataModule(pl.LightningDataModule):
    def __init__(self, cfg: Config, train: Utterances, test: Utterances, speakers: list[str]):
        super().__init__()
        if cfg.data.batch_size > len(train.waves):
            raise ConfigError(f"data.batch_size={cfg.data.batch_size} is larger than the training set ({len(train.waves)})")
        self.train, self.test, self.cfg = train, test, cfg
        self.windows = TrainWindows(train, cfg.data.crop, cfg.seed)
        crop = cfg.data.crop
        val = torch.nn.functional.pad(test.waves, (0, max(crop - test.waves.shape[1], 0)))[:, :crop]
        self.val_set = TensorDataset(val, test.speakers)
        self.info = {"speakers": speakers, "sample_rate": cfg.data.sample_rate}

    def train_dataloader(self):
        return step_loader(self, (self.windows, self.train.speakers), self.cfg.data.batch_size, self.cfg.seed)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.cfg.data.batch_size)


def build_data(cfg: Config, data_dir=None) -> AudioDataModule:
    return AudioDataModule(cfg, *load_fsdd(cfg.data, data_dir))


class AudioVQVAETask(BaseTask):
    def __init__(self, cfg: Config, speakers: list[str], sample_rate: int):
        super().__init__(cfg)
        self.speakers, self.sample_rate = speakers, sample_rate
        self.build_model(cfg.model.name, speakers=len(speakers), **cfg.model.options)

    def training_step(self, batch, batch_idx):
        wave, speaker = batch
        loss, parts = self.model.training_loss(wave, speaker)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/ce", parts["ce"])
        self.log("train/perplexity", parts["perplexity"])
        return loss

    def validation_step(self, batch, batch_idx):
        wave, speaker = batch
        loss, parts = self.model.training_loss(wave, speaker)
        n = len(wave)
        self.log("val/loss", loss, sync_dist=True, batch_size=n)
        self.log("val/ce", parts["ce"], sync_dist=True, batch_size=n, prog_bar=True)
        self.log("val/bits_per_sample", parts["ce"] / math.log(2), sync_dist=True, batch_size=n)
        self.log("val/perplexity", parts["perplexity"], sync_dist=True, batch_size=n)

    def inference_info(self) -> dict:
        return {"speakers": list(self.speakers), "sample_rate": self.sample_rate, "peak": self.cfg.data.peak}


def build_task(cfg: Config, data: AudioDataModule) -> AudioVQVAETask:
    return AudioVQVAETask(cfg, data.info["speakers"], data.info["sample_rate"])
