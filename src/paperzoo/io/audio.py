"""Reading and writing audio: any sample rate, mono or multichannel, integer or float WAV/FLAC/OGG.

``read_audio`` returns float32 mono in [-1, 1] at the requested rate: multichannel input is
averaged, other rates are resampled with a polyphase filter (``scipy.signal.resample_poly``) and a
one-line notice on stderr. Unreadable, truncated (a WAV holding fewer sample bytes than its header
declares: libsndfile would quietly return the part that is there), empty, non-finite or all-silent
input is a ``DataError`` with a one-line message. ``write_audio`` writes 16-bit PCM through a temporary file and a rename.
"""

from __future__ import annotations

import struct
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_path


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(..., L) float -> (..., L * target / rate) by polyphase resampling."""
    if rate == target:
        return wave
    ratio = Fraction(target, rate).limit_denominator(1000)
    return resample_poly(wave, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) sample bytes of a RIFF WAV whose data chunk is cut short; None when the
    file is complete, is not a RIFF WAV, or declares no size (a streamed WAV: 0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        while len(chunk := f.read(8)) == 8:
            size = struct.unpack("<I", chunk[4:])[0]
            if chunk[:4] == b"data":
                present = path.stat().st_size - f.tell()
                return (size, present) if 0 < size < 0xFFFFFFFF and present < size else None
            f.seek(size + (size & 1), 1)
    return None


def read_audio(path: str | Path, sample_rate: int | None = None, *, allow_silent: bool = False, quiet: bool = False) -> tuple[np.ndarray, int]:
    """(float32 mono waveform, sample rate). ``sample_rate`` set: resampled to it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    try:
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a readable audio file ({str(exc).splitlines()[0]})") from None
    if (short := wav_shortfall(path)) is not None:
        raise DataError(f"{path}: truncated WAV (its header declares {short[0]} bytes of samples, the file holds {short[1]})")
    if wave.size == 0:
        raise DataError(f"{path}: the audio is empty (0 samples)")
    if not np.isfinite(wave).all():
        raise DataError(f"{path}: the audio contains NaN or Inf samples")
    wave = wave.mean(1)  # downmix
    if not allow_silent and not np.any(wave):
        raise DataError(f"{path}: the audio is all silence")
    if sample_rate is not None and rate != sample_rate:
        if not quiet:
            print(f"note: {path.name} is {rate} Hz; resampled to {sample_rate} Hz", file=sys.stderr)
        wave, rate = resample(wave, rate, sample_rate), sample_rate
    return np.ascontiguousarray(wave, dtype=np.float32), rate


def write_audio(path: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio as 16-bit PCM WAV, atomically (clipped to [-1, 1])."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(np.asarray(wave, dtype=np.float32), -1, 1), sample_rate, subtype="PCM_16", format="WAV")
    return path


def as_mono(waveform) -> tuple[torch.Tensor, bool]:
    """(samples,) or (channels, samples) array / tensor -> ((samples,) float32, whether it was downmixed)."""
    wave = torch.as_tensor(np.asarray(waveform, dtype=np.float32) if not torch.is_tensor(waveform) else waveform).float()
    if wave.dim() == 2 and min(wave.shape) > 0:
        return wave.mean(0), wave.shape[0] > 1
    if wave.dim() != 1 or wave.numel() == 0:
        raise DataError(f"a waveform must be (samples,) or (channels, samples), got shape {tuple(wave.shape)}")
    return wave, False
