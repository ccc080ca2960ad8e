"""Shared test helpers: a tiny run config, and the CLI called in-process or as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paperzoo.cli import main

# tests/reference needs torchvision and pytorchvideo on the path: `make test` runs it in its own process
collect_ignore = [] if os.environ.get("PAPERZOO_REFERENCE_TESTS") else ["reference"]


def write_config(path: Path, out_dir: Path, **sections) -> Path:
    """A margin-classifier config small enough to train in about a second."""
    cfg = {
        "task": "margin_classifier",
        "name": "tiny",
        "seed": 0,
        "out_dir": str(out_dir),
        "trainer": {"max_steps": 20, "val_every": 10, "checkpoint_every": 10, "log_every": 5, "progress_bar": False},
        "optim": {"name": "adam", "lr": 0.05, "schedule": "cosine"},
        "model": {"loss": "LogitMarginLoss", "l2": 1e-3},
        "data": {"source": "blobs", "n_train": 512, "n_val": 128, "dim": 5, "batch_size": 64},
    }
    if sections.get("task", "margin_classifier") != "margin_classifier":
        del cfg["model"], cfg["data"]  # another task: its own model and data sections
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Decoded-dataset caches go to a per-test folder, never to the user's ~/.cache."""
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def tiny(tmp_path):
    """(config path, runs dir) in a fresh temporary folder."""
    runs = tmp_path / "runs"
    return write_config(tmp_path / "tiny.yaml", runs), runs


@pytest.fixture
def cli(capsys):
    """Run ``paperzoo ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_process(*args, cwd=None, env=None, timeout=300):
    """Run ``python -m paperzoo.cli ARGS`` as a real process (exit codes, tracebacks, DDP)."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run([sys.executable, "-m", "paperzoo.cli", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def only_run_dir(runs: Path, name: str = "tiny") -> Path:
    dirs = sorted((runs / name).iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]


TINY_TRAINER = {"max_steps": 2, "val_every": 2, "checkpoint_every": 2, "log_every": 1, "progress_bar": False}


def train_tiny(tmp: Path, name: str, **sections) -> Path:
    """Train a two-step run of any task (sections as in a YAML config); returns its run directory."""
    config = write_config(tmp / f"{name}.yaml", tmp / "runs", name=name, trainer=TINY_TRAINER, **sections)
    code = main(["train", str(config)])
    assert code == 0, f"training {name} failed"
    return only_run_dir(tmp / "runs", name)


@pytest.fixture(scope="session")
def family_runs(tmp_path_factory):
    """{kind: run dir} of one tiny trained run per inference family (margin, vqvae, prior, separation,
    audio, video, recommender), plus the generated data they came from ("shapes", "fsdd", "root")."""
    from paperzoo.data.fsdd2mix import build_fsdd2mix
    from paperzoo.data.moving_shapes import build_moving_shapes
    from paperzoo.data.synthetic import clustered_interactions, synthetic_fsdd

    tmp = tmp_path_factory.mktemp("family_runs")
    fsdd = synthetic_fsdd(tmp / "fsdd", speakers=("anna", "bob"), digits=2, takes=(0, 1, 5, 6, 45))
    mixtures = build_fsdd2mix(fsdd, tmp / "fsdd2mix", splits=("seen",), counts={"train": 8, "val": 2, "test": 2})
    shapes = build_moving_shapes(tmp / "shapes", train=10, test=4, frames=8, size=32)
    interactions = clustered_interactions(tmp / "target.csv", [f"u{i}" for i in range(30)], [f"i{i}" for i in range(20)], n=300, seed=0)
    vqvae = train_tiny(tmp, "vqvae", task="vqvae", model={"name": "vqvae_tiny"},
                       data={"source": "shapes", "n_train": 64, "n_val": 16, "batch_size": 16})
    assert main(["extract-codes", "--model", str(vqvae), "-o", str(tmp / "codes"), "--data", "shapes", "--limit", "32"]) == 0
    return {
        "margin": train_tiny(tmp, "margin"),
        "vqvae": vqvae,
        "prior": train_tiny(tmp, "prior", task="prior", model={"name": "gated_pixelcnn", "channels": 8, "layers": 2},
                            data={"codes_dir": str(tmp / "codes"), "batch_size": 8}),
        "separation": train_tiny(tmp, "sep", task="separation", optim={"name": "adam", "lr": 1e-3},
                                 model={"name": "audioslots_small", "options": {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 16,
                                        "decoder_hidden": 16, "decoder_layers": 2, "num_bands": 2, "widths": [4, 8, 8, 8]}},
                                 data={"location": str(mixtures), "batch_size": 2, "limit_val": 1}),
        "audio": train_tiny(tmp, "audio", task="vqvae_audio",
                            model={"name": "vqvae_audio", "options": {"hidden": 16, "residual": 8, "skip": 16, "layers": 4, "cycles": 1,
                                                                      "num_codes": 32, "dim": 8}},
                            data={"location": str(fsdd), "crop": 512, "batch_size": 2, "test_takes": 2}),
        "video": train_tiny(tmp, "video", task="video", model={"name": "r3d_18", "options": {"width": 4, "frames": 4, "rate": 2, "crop": 32}},
                            data={"source": "moving_shapes", "location": str(shapes), "batch_size": 2, "short_side": 32}),
        "recommender": train_tiny(tmp, "rec", task="recommender", optim={"name": "adam", "lr": 0.01}, model={"name": "bpr_mf", "dim": 4},
                                  data={"target": str(interactions), "k_core": 0, "batch_size": 32}),
        "shapes": shapes,
        "fsdd": fsdd,
        "root": tmp,
    }
