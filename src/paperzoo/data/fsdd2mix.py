"""fsdd2mix: two-speaker mixtures built from the Free Spoken Digit Dataset, in LibriMix's layout.

Each mixture is 1 s long: two utterances of two different speakers placed at random offsets in the
window (an utterance longer than the window is cropped at random). The offsets are redrawn until
the two utterances overlap by at least half of the shorter one: FSDD utterances are short (median
0.42 s), and without overlap a chunk-wise oracle alignment separates them trivially. Each source
is normalised to the same RMS,
the second scaled by a relative gain uniform in [-5, 5] dB, then both scaled together so the
mixture peaks at 0.9 at most. Sources and mixture are written as 16-bit WAV; the mixture file is
the sum of the two source files' samples up to rounding.

Two splits with fixed seeds:
  * ``seen``: every speaker everywhere; takes 5-44 -> train, 45-49 -> val, 0-4 -> test (FSDD's
    official test takes);
  * ``unseen``: speakers other than ``UNSEEN_TEST_SPEAKERS`` -> train (takes 5-49) and val (0-4);
    the two held-out speakers -> test (all takes).
Layout (LibriMix style)::

    ROOT/fsdd2mix/<split>/<part>/{mix_clean,s1,s2}/<mixture_ID>.wav
    ROOT/fsdd2mix/<split>/metadata/mixture_<part>_mix_clean.csv
        mixture_ID,mixture_path,source_1_path,source_2_path,length   (paths relative to <split>/)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.audio import read_audio, write_audio

UNSEEN_TEST_SPEAKERS = ("nicolas", "yweweler")
SPLITS = ("seen", "unseen")
PARTS = {"train": 0, "val": 1, "test": 2}
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def fsdd_recordings(fsdd_root: Path) -> list[tuple[Path, int, str, int]]:
    """(path, digit, speaker, take) of every recording in ``FSDD/recordings``."""
    files = sorted((fsdd_root / "recordings").glob("*.wav"))
    out = [(p, int(m[1]), m[2], int(m[3])) for p in files if (m := _NAME.match(p.name))]
    if not out:
        raise DataError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) under {fsdd_root / 'recordings'}")
    return out


def _pools(recs, split: str) -> dict[str, list]:
    if split == "seen":
        return {"train": [r for r in recs if 5 <= r[3] <= 44], "val": [r for r in recs if r[3] >= 45],
                "test": [r for r in recs if r[3] <= 4]}
    if split == "unseen":
        train = [r for r in recs if r[2] not in UNSEEN_TEST_SPEAKERS]
        return {"train": [r for r in train if r[3] >= 5], "val": [r for r in train if r[3] <= 4],
                "test": [r for r in recs if r[2] in UNSEEN_TEST_SPEAKERS]}
    raise DataError(f"fsdd2mix split must be 'seen' or 'unseen', got {split!r}")


def _crop(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(wave) <= length:
        return wave
    start = int(rng.integers(0, len(wave) - length + 1))
    return wave[start:start + length]


def _offsets(la: int, lb: int, length: int, rng: np.random.Generator, min_overlap: float = 0.5) -> tuple[int, int]:
    need = min_overlap * min(la, lb)
    for _ in range(1000):
        oa, ob = int(rng.integers(0, length - la + 1)), int(rng.integers(0, length - lb + 1))
        if min(oa + la, ob + lb) - max(oa, ob) >= need:
            break
    return oa, ob


def make_mixture(a: np.ndarray, b: np.ndarray, length: int, rng: np.random.Generator, gain_db: float = 5.0):
    """Two utterances -> (mixture, (2, length) sources) as described in the module doc."""
    a, b = _crop(a, length, rng), _crop(b, length, rng)
    sources = []
    for wave, offset in zip((a, b), _offsets(len(a), len(b), length, rng)):
        placed = np.zeros(length, np.float32)
        placed[offset:offset + len(wave)] = wave
        sources.append(placed / max(float(np.sqrt(np.mean(placed ** 2))), 1e-8) * 0.05)
    sources[1] *= 10 ** (rng.uniform(-gain_db, gain_db) / 20)
    sources = np.stack(sources)
    peak = np.abs(sources.sum(0)).max()
    if peak > 0.9:
        sources *= 0.9 / peak
    return sources.sum(0), sources


def build_fsdd2mix(fsdd_root: str | Path, out_root: str | Path, *, splits=("seen", "unseen"), sample_rate: int = 8000,
                   counts: dict[str, int] | None = None, seconds: float = 1.0, seed: int = 0) -> Path:
    """Write the fsdd2mix dataset under ``out_root`` (replaced atomically); returns ``out_root``."""
    counts = {"train": 2000, "val": 200, "test": 300, **(counts or {})}
    recs = fsdd_recordings(Path(fsdd_root))
    cache: dict[Path, np.ndarray] = {}

    def load(path: Path) -> np.ndarray:
        if path not in cache:
            cache[path] = read_audio(path, sample_rate, quiet=True, allow_silent=True)[0]
        return cache[path]

    length = round(seconds * sample_rate)
    with atomic_dir(out_root) as tmp:
        for split in splits:
            s = SPLITS.index(split) if split in SPLITS else len(SPLITS)  # seeds by name: a split's mixtures do not depend on which others are built
            for part, pool in _pools(recs, split).items():
                if len({r[2] for r in pool}) < 2:
                    raise DataError(f"fsdd2mix {split}/{part} needs recordings of at least two speakers, found "
                                    f"{len({r[2] for r in pool})} among {len(pool)} (takes: train 5-44, val 45+, test 0-4)")
                rng = np.random.default_rng([seed, s, PARTS[part]])
                rows = []
                for k in range(counts[part]):
                    i = int(rng.integers(len(pool)))
                    j = int(rng.integers(len(pool)))
                    while pool[j][2] == pool[i][2]:  # two different speakers
                        j = int(rng.integers(len(pool)))
                    mix, sources = make_mixture(load(pool[i][0]), load(pool[j][0]), length, rng)
                    mid = f"{k:05d}_{pool[i][0].stem}_{pool[j][0].stem}"
                    paths = [f"{part}/{d}/{mid}.wav" for d in ("mix_clean", "s1", "s2")]
                    for rel, wave in zip(paths, (mix, *sources)):
                        write_audio(tmp / split / rel, wave, sample_rate)
                    rows.append([mid, *paths, length])
                meta = tmp / split / "metadata" / f"mixture_{part}_mix_clean.csv"
                meta.parent.mkdir(parents=True, exist_ok=True)
                with open(meta, "w", newline="") as f:
                    csv.writer(f).writerows([["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"], *rows])
    return Path(out_root)


def read_mixture_csv(csv_path: str | Path) -> list[tuple[str, Path, list[Path]]]:
    """A LibriMix / fsdd2mix metadata CSV -> [(mixture_ID, mixture path, source paths)].

    Relative paths are resolved against the CSV's parent's parent (the split folder); LibriMix's
    absolute paths are used as they are.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"mixture metadata not found: {csv_path}")
    base = csv_path.parent.parent
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path}: not a readable CSV ({exc})") from None
    if not rows or not {"mixture_ID", "mixture_path"} <= set(rows[0]):
        raise DataError(f"{csv_path}: not a LibriMix-style metadata CSV (needs mixture_ID, mixture_path, source_*_path)")
    source_cols = sorted((c for c in rows[0] if c and re.fullmatch(r"source_\d+_path", c)), key=lambda c: int(c.split("_")[1]))
    if not source_cols:
        raise DataError(f"{csv_path}: no source_N_path columns")
    needed = ["mixture_ID", "mixture_path", *source_cols]
    bad = next((i for i, r in enumerate(rows) if None in r or any(not r.get(c) for c in needed)), None)
    if bad is not None:
        raise DataError(f"{csv_path}: line {bad + 2} does not have one non-empty value per column")
    resolve = lambda p: Path(p) if Path(p).is_absolute() else base / p  # noqa: E731
    return [(r["mixture_ID"], resolve(r["mixture_path"]), [resolve(r[c]) for c in source_cols]) for r in rows]


def default_location(sample_rate: int = 8000) -> Path:
    """Where a derived fsdd2mix lives unless told otherwise: the paperzoo cache ($PAPERZOO_CACHE, else
    ~/.cache/paperzoo/decoded), since the data root may be read-only."""
    from paperzoo.data.cifar10 import cache_dir

    return cache_dir() / f"fsdd2mix-{sample_rate}hz"


def ensure_fsdd2mix(data_dir=None, sample_rate: int = 8000, location: str | Path | None = None,
                    splits=("seen", "unseen")) -> Path:
    """The fsdd2mix folder holding ``splits``, built from FSDD in the data root on first use (same
    seeds: same data)."""
    from paperzoo.data.registry import require_dataset

    out = Path(location) if location else default_location(sample_rate)
    if all((out / s / "metadata" / f"mixture_{p}_mix_clean.csv").is_file() for s in splits for p in PARTS):
        return out
    fsdd = require_dataset("fsdd", data_dir)
    print(f"building fsdd2mix ({sample_rate} Hz) from {fsdd} into {out} (once)", flush=True)
    return build_fsdd2mix(fsdd, out, sample_rate=sample_rate)
