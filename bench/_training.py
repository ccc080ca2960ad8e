"""Shared by the bench scripts that train bundled configs: a run for a fixed number of steps, and
its logged metrics."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from paperzoo.engine.config import load_config
from paperzoo.engine.run import train


def train_steps(cfg_name: str, steps: int, out: Path, validations: int = 4):
    """Train ``cfg_name`` for ``steps`` steps into ``out`` (validating ``validations`` times, one checkpoint
    at the end). Returns (config, run directory, seconds)."""
    overrides = [f"trainer.max_steps={steps}", f"trainer.val_every={max(steps // validations, 1)}",
                 f"trainer.checkpoint_every={steps}", f"out_dir={out}"]
    cfg = load_config(cfg_name, overrides)
    start = time.perf_counter()
    run_dir = train(cfg_name, overrides)
    return cfg, run_dir, time.perf_counter() - start


def validation_summary(run_dir: Path) -> dict:
    """Last validation top-1 / top-5 / loss, the training loss at the end (mean of the last 5 logged
    values), mean training throughput and the top-1 curve from metrics.csv."""
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    val = [r for r in rows if r.get("val/top1")]
    rates = [float(r["samples_per_s"]) for r in rows if r.get("samples_per_s")]
    train = [float(r["train/loss"]) for r in rows if r.get("train/loss")][-5:]
    return {"top1": float(val[-1]["val/top1"]), "top5": float(val[-1]["val/top5"]), "val_loss": float(val[-1]["val/loss"]),
            "train_loss": sum(train) / len(train) if train else None,
            "train_clips_per_s": sum(rates) / len(rates) if rates else None,
            "curve": [(int(r["step"]) + 1, round(float(r["val/top1"]), 4)) for r in val]}
