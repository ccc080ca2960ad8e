"""Measuring the raw-audio VQ-VAE (paper section 4.3, at FSDD scale).

* ``LogMelCNN``: a small ConvNet on log-mel spectrograms; trained on real recordings it is the
  judge of converted audio (does a digit classifier still hear the digit? does a speaker classifier
  hear the target speaker?). ``train_judge`` trains it with white noise added, so that the WaveNet's
  sampling noise alone does not fool it.
* ``teacher_forced``: audio drawn sample by sample from the decoder given the *true* past; beside
  free-running generation it tells a weak decoder (both bad) from a generation bug (only free-running).
* ``code_histograms``: the analogue of the paper's phoneme probe - an utterance's discrete latents
  as a normalised bag of codes, for a linear classifier of the spoken digit (chance 10%).
* ``fit_code_prior`` / ``code_prior_bits``: a WaveNet over code sequences (K classes, conditioned on
  the speaker), the prior the paper samples audio from; its test log-loss in bits per code against
  the uniform log2 K.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.metrics.probe import fit_random_batches
from paperzoo.vq.wavenet import WaveNet, mu_law_decode


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters equally spaced on the HTK mel scale."""
    fmax = fmax or sample_rate / 2

    def mel(f):
        return 2595 * math.log10(1 + f / 700)

    points = torch.linspace(mel(fmin), mel(fmax), n_mels + 2)
    hz = 700 * (10 ** (points / 2595) - 1)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0)


def log_mel(wave: torch.Tensor, sample_rate: int = 8000, n_mels: int = 40) -> torch.Tensor:
    """(B, T) waveforms -> (B, 1, n_mels, frames) log-mel spectrograms (32 ms windows, 8 ms hop at 8 kHz)."""
    n_fft, hop = 256 * sample_rate // 8000, 64 * sample_rate // 8000
    spec = torch.stft(wave, n_fft, hop, window=torch.hann_window(n_fft, device=wave.device), return_complex=True).abs() ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels).to(wave.device) @ spec
    return torch.log(mel + 1e-6).unsqueeze(1)


class LogMelCNN(nn.Module):
    """Waveforms (B, T) -> logits: log-mel, 3 conv blocks (conv 3x3, BN, ReLU, 2x2 max pool), global
    average pool, linear. Input normalised per utterance (mean / std of its log-mel)."""

    def __init__(self, classes: int, width: int = 32, sample_rate: int = 8000):
        super().__init__()
        self.sample_rate = sample_rate
        layers, cin = [], 1
        for c in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = log_mel(wave, self.sample_rate)
        x = (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 1e-5)
        return self.fc(self.features(x).mean((2, 3)))


def train_judge(waves: torch.Tensor, labels: torch.Tensor, classes: int, *, steps: int, seed: int = 0,
                snr_db: tuple[float, float] = (0.0, 30.0), sample_rate: int = 8000, width: int = 32) -> LogMelCNN:
    """A ``LogMelCNN`` trained on real recordings (B, T), half of each batch with white noise at an SNR
    drawn uniformly from ``snr_db``: a clean-trained judge hears white noise as one digit, so sampling
    noise alone would pass for lost content. Adam 2e-3 on a cosine, batches of 32."""
    gen = torch.Generator().manual_seed(seed + 1)

    def loss_of(model, idx):
        x = waves[idx]
        snr = torch.empty(len(x), 1).uniform_(*snr_db, generator=gen)
        noisy = (torch.rand(len(x), 1, generator=gen) < 0.5).float()
        rms = x.square().mean(1, keepdim=True).sqrt()
        noise = torch.randn(x.shape, generator=gen) * rms * 10 ** (-snr / 20)
        return F.cross_entropy(model(x + noisy * noise), labels[idx])

    return fit_random_batches(lambda: LogMelCNN(classes, width, sample_rate), loss_of, len(waves), steps=steps, batch=32,
                              lr=2e-3, seed=seed, cosine=True)


@torch.no_grad()
def teacher_forced(model, wave: torch.Tensor, speaker: torch.Tensor, *, temperature: float = 1.0,
                   generator: torch.Generator | None = None, batch: int = 8) -> torch.Tensor:
    """(B, T) -> (B, T): each sample drawn from p(x_t | the true x_<t, the codes, the speaker) of an
    ``AudioVQVAE``: the decoder's sampling noise without the drift of free-running generation."""
    out = []
    for i in range(0, len(wave), batch):
        logits, _ = model(wave[i : i + batch], speaker[i : i + batch])  # (b, 256, T)
        probs = torch.softmax(logits / temperature, 1).transpose(1, 2)
        drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:2])
        out.append(mu_law_decode(drawn))
    return torch.cat(out)


def code_histograms(codes: list[torch.Tensor], num_codes: int) -> torch.Tensor:
    """(N, K): each utterance's codes as a normalised histogram (a bag of discrete latents)."""
    return torch.stack([torch.bincount(c.flatten(), minlength=num_codes).float() / c.numel() for c in codes])


def fit_code_prior(sequences: list[torch.Tensor], speakers: torch.Tensor, num_codes: int, num_speakers: int, *, steps: int = 1000,
                   batch: int = 16, lr: float = 1e-3, seed: int = 0, **wavenet) -> WaveNet:
    """A WaveNet prior p(codes | speaker) trained by teacher forcing on code sequences (padded
    sequences are cut to a common random window of at most the shortest length in the batch)."""
    options = dict(residual=64, skip=128, layers=6, cycles=2) | wavenet

    def loss_of(prior, idx):
        length = min(len(sequences[i]) for i in idx.tolist())
        x = torch.stack([sequences[i][:length] for i in idx.tolist()])
        return F.cross_entropy(prior(x, g=speakers[idx]), x)

    return fit_random_batches(lambda: WaveNet(classes=num_codes, global_classes=num_speakers, start=0, **options), loss_of,
                              len(sequences), steps=steps, batch=batch, lr=lr, seed=seed)


@torch.no_grad()
def code_prior_bits(prior: WaveNet, sequences: list[torch.Tensor], speakers: torch.Tensor) -> float:
    """Mean negative log-likelihood of the sequences under the prior, in bits per code."""
    total, count = 0.0, 0
    for seq, speaker in zip(sequences, speakers.tolist()):
        logits = prior(seq[None], g=torch.tensor([speaker]))
        total += float(F.cross_entropy(logits, seq[None], reduction="sum"))
        count += len(seq)
    return total / count / math.log(2)
