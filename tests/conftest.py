"""Shared test helpers: a tiny run config, and the CLI called in-process or as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paperzoo.cli import main


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
