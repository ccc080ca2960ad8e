"""AudioSlots end to end on a tiny generated FSDD-like folder: fsdd2mix build, training, evaluation,
`paperzoo separate`, and audio input handling."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from conftest import only_run_dir, write_config

from paperzoo.data.fsdd2mix import build_fsdd2mix, read_mixture_csv
from paperzoo.errors import DataError
from paperzoo.io.audio import read_audio

SPEAKERS = ("george", "jackson", "nicolas", "yweweler")
TINY_MODEL = {"name": "audioslots_small", "options": {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 16, "decoder_hidden": 16,
                                                      "decoder_layers": 2, "num_bands": 2, "widths": [4, 8, 8, 8]}}


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory):
    """A fake FSDD: per speaker a different pitch, 0.3 s tones with an envelope, 8 kHz int16."""
    root = tmp_path_factory.mktemp("fsdd")
    rec = root / "recordings"
    rec.mkdir()
    t = np.arange(2400) / 8000
    for s, speaker in enumerate(SPEAKERS):
        for digit in range(2):
            for take in (0, 1, 5, 6, 45, 46):
                tone = np.sin(2 * np.pi * (200 + 150 * s + 40 * digit) * t) * np.hanning(len(t)) * 0.5
                sf.write(rec / f"{digit}_{speaker}_{take}.wav", (tone * 32767).astype(np.int16), 8000, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def mixtures(fsdd, tmp_path_factory):
    out = tmp_path_factory.mktemp("mix") / "fsdd2mix"
    return build_fsdd2mix(fsdd, out, counts={"train": 24, "val": 4, "test": 4})


def test_fsdd2mix_layout_sums_gains_overlap_and_speakers(mixtures):
    for split in ("seen", "unseen"):
        for part in ("train", "val", "test"):
            rows = read_mixture_csv(mixtures / split / "metadata" / f"mixture_{part}_mix_clean.csv")
            assert len(rows) == {"train": 24, "val": 4, "test": 4}[part]
            for mid, mix_path, sources in rows[:4]:
                mix, rate = read_audio(mix_path)
                s1, s2 = (read_audio(p, allow_silent=True)[0] for p in sources)
                assert rate == 8000 and len(mix) == 8000
                np.testing.assert_allclose(mix, s1 + s2, atol=2 / 32768)  # the sum, up to 16-bit rounding
                a, b = np.flatnonzero(np.abs(s1) > 1e-4), np.flatnonzero(np.abs(s2) > 1e-4)
                overlap = min(a[-1], b[-1]) - max(a[0], b[0])
                assert overlap >= 0.4 * min(a[-1] - a[0], b[-1] - b[0])  # the utterances overlap
                gain = 20 * np.log10(np.sqrt(np.mean(s2 ** 2)) / np.sqrt(np.mean(s1 ** 2)))
                assert -5.1 <= gain <= 5.1
                spk = mid.split("_")[2], mid.split("_")[5]
                assert spk[0] != spk[1]
                takes = int(mid.split("_")[3]), int(mid.split("_")[6])
                if split == "seen":
                    assert all((t <= 4) == (part == "test") for t in takes)
                else:
                    assert all((s in ("nicolas", "yweweler")) == (part == "test") for s in spk)


def separation_config(tmp_path, mixtures, data=None, **model):
    return write_config(tmp_path / "sep.yaml", tmp_path / "runs", task="separation", name="sep",
                        trainer={"max_steps": 6, "val_every": 3, "checkpoint_every": 3, "log_every": 1, "progress_bar": False},
                        optim={"name": "adam", "lr": 1e-3},
                        model={**TINY_MODEL, **model}, data={"location": str(mixtures), "batch_size": 4, "limit_val": 2, **(data or {})})


@pytest.mark.parametrize("variant, data", [("separation", None), ("autoencoder", None), ("separation", {"speed_perturb": 0.15})])
def test_training_logs_si_snri_and_separate_writes_one_file_per_slot(mixtures, tmp_path, cli, variant, data):
    code, _, err = cli("train", separation_config(tmp_path, mixtures, data, variant=variant))
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "sep")
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "val/si_snri" in header and "train/loss" in header
    mix = next((mixtures / "seen" / "test" / "mix_clean").glob("*.wav"))
    code, out, err = cli("separate", mix, "--model", run, "-o", tmp_path / "out")
    if variant == "autoencoder":
        assert code == 2 and "needs the true sources" in err
        return
    assert code == 0, err
    files = sorted((tmp_path / "out").glob("*.wav"))
    assert [f.name for f in files] == ["source_1.wav", "source_2.wav"]
    assert all(sf.info(f).frames == 8000 and sf.info(f).samplerate == 8000 for f in files)


def test_separate_resamples_downmixes_and_rejects_bad_audio(mixtures, tmp_path, cli):
    code, _, err = cli("train", separation_config(tmp_path, mixtures))
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "sep")
    stereo = tmp_path / "stereo44k.wav"
    sf.write(stereo, np.random.default_rng(0).normal(0, 0.1, (22050, 2)).astype(np.float32), 44100, subtype="FLOAT")
    code, out, err = cli("separate", stereo, "--model", run, "-o", tmp_path / "o1")
    assert code == 0 and "resampled to 8000 Hz" in err and "downmixed" in err
    assert sf.info(tmp_path / "o1" / "source_1.wav").frames == 22050  # written at the input's rate by default
    code, out, err = cli("separate", stereo, "--model", run, "-o", tmp_path / "o8k", "--rate", "8000")
    assert code == 0 and sf.info(tmp_path / "o8k" / "source_1.wav").frames == 4000
    bad = {"empty.wav": lambda p: sf.write(p, np.zeros((0,), np.int16), 8000),
           "silent.wav": lambda p: sf.write(p, np.zeros(800, np.int16), 8000),
           "corrupt.wav": lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")}
    for name, make in bad.items():
        make(tmp_path / name)
        code, _, err = cli("separate", tmp_path / name, "--model", run, "-o", tmp_path / "o2")
        assert code == 2 and len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / "o2").exists()


def test_read_audio_formats(tmp_path):
    wave = np.sin(np.arange(1600) / 5.0).astype(np.float32) * 0.5
    for subtype in ("PCM_16", "PCM_24", "FLOAT"):
        sf.write(tmp_path / f"{subtype}.wav", wave, 16000, subtype=subtype)
        got, rate = read_audio(tmp_path / f"{subtype}.wav", 8000, quiet=True)
        assert rate == 8000 and len(got) == 800
    nan = wave.copy()
    nan[5] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 8000, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN"):
        read_audio(tmp_path / "nan.wav")


def test_data_build_cli(fsdd, tmp_path, cli):
    counts = ("--train", 4, "--val", 2, "--test", 2)
    code, out, err = cli("data", "--data-dir", fsdd.parent, "build", "fsdd2mix", "--out", tmp_path / "built", *counts)
    assert code == 2 and "fsdd" in err  # the data root holds no 'fsdd' folder: a clear error
    link = tmp_path / "root"
    link.mkdir()
    (link / "fsdd").symlink_to(fsdd)
    code, out, err = cli("data", "--data-dir", link, "build", "fsdd2mix", "--out", tmp_path / "built", *counts)
    assert code == 0, err
    with open(tmp_path / "built" / "seen" / "metadata" / "mixture_test_mix_clean.csv") as f:
        assert next(csv.reader(f)) == ["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"]


def _peak_rss_mb(args) -> float:
    """Peak resident memory (MB) of `paperzoo ARGS` run in a fresh child process."""
    import subprocess
    import sys

    code = ("import resource, subprocess, sys; "
            "r = subprocess.run([sys.executable, '-m', 'paperzoo.cli', *sys.argv[1:]], capture_output=True, text=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600).stdout.split()
    assert out[0] == "0", out
    return int(out[1]) / 1024


def test_separating_a_ten_minute_file_keeps_memory_bounded(mixtures, tmp_path, cli):
    code, _, err = cli("train", separation_config(tmp_path, mixtures))
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "sep")
    rng = np.random.default_rng(0)
    for name, seconds in (("short.wav", 1), ("long.wav", 600)):
        sf.write(tmp_path / name, rng.normal(0, 0.1, seconds * 8000).astype(np.float32), 8000, subtype="PCM_16")
    short = _peak_rss_mb(["separate", tmp_path / "short.wav", "--model", run, "-o", tmp_path / "a"])
    long = _peak_rss_mb(["separate", tmp_path / "long.wav", "--model", run, "-o", tmp_path / "b"])
    assert sf.info(tmp_path / "b" / "source_1.wav").frames == 600 * 8000
    print(f"peak RSS: 1 s file {short:.0f} MB, 10 min file {long:.0f} MB")
    assert long - short < 300, (short, long)  # a few hundred MB at most on top of the interpreter and torch
