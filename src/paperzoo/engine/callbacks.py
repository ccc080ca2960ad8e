"""Lightning pieces: atomic checkpoint files, step checkpoints with a ``last.ckpt``, the validation-best
``best.ckpt``, RNG state in
checkpoints, throughput in the progress bar, and a CSV logger that appends on resume."""

from __future__ import annotations

import csv
import os
import random
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.plugins.io import TorchCheckpointIO

from paperzoo.errors import ConfigError
from paperzoo.io.atomic import atomic_path
from paperzoo.io.checkpoints import read_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename: a process killed at
    any moment leaves either the previous file or the complete new one, never a torn file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        # our checkpoints hold only tensors and plain containers: load them without unpickling code
        return read_checkpoint(path)


class StepCheckpoint(pl.Callback):
    """Writes ``checkpoints/step-NNNNNNN.ckpt`` every ``every`` steps and at the end of training,
    keeps the newest ``keep`` of them, and points ``checkpoints/last.ckpt`` (a hard link, replaced
    atomically) at the newest."""

    def __init__(self, dirpath: Path, every: int, keep: int):
        self.dirpath, self.every, self.keep = Path(dirpath), every, keep
        self._saved_step = -1

    def _save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step == self._saved_step or step == 0:
            return
        path = self.dirpath / f"step-{step:07d}.ckpt"
        trainer.save_checkpoint(path)  # collective under DDP; only global rank 0 writes
        if trainer.is_global_zero:
            link = self.dirpath / f".last.{os.getpid()}.tmp"
            link.unlink(missing_ok=True)
            os.link(path, link)
            os.replace(link, self.dirpath / "last.ckpt")
            for old in sorted(self.dirpath.glob("step-*.ckpt"))[: -self.keep]:
                old.unlink(missing_ok=True)
        trainer.paperzoo_last_checkpoint = str(self.dirpath / "last.ckpt")
        self._saved_step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_train_end(self, trainer, pl_module):
        self._save(trainer)


class BestCheckpoint(pl.Callback):
    """Keeps ``checkpoints/best.ckpt``: the checkpoint at the validation with the best ``metric`` so far
    (``mode`` max or min), for model selection on validation (``paperzoo evaluate --best``).
    The best value travels in the checkpoints, so a resumed run keeps comparing against it."""

    def __init__(self, dirpath: Path, metric: str, mode: str = "max"):
        self.path, self.metric, self.mode = Path(dirpath) / "best.ckpt", metric, mode
        self.best: float | None = None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        if self.metric not in trainer.callback_metrics:
            raise ConfigError(f"trainer.keep_best: {self.metric!r} is not a logged validation metric "
                              f"(logged: {', '.join(sorted(trainer.callback_metrics)) or 'none'})")
        value = float(trainer.callback_metrics[self.metric])
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best = value
            trainer.save_checkpoint(self.path)  # atomic (AtomicCheckpointIO); collective under DDP

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


class RNGState(pl.Callback):
    """Saves and restores the Python, NumPy and torch RNGs with each checkpoint (Lightning restores
    weights, optimiser, scheduler and loop counters, but not the generators)."""

    def state_dict(self):
        np_state = np.random.get_state()
        return {
            "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state):
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        torch.set_rng_state(state["torch"])


class Throughput(pl.Callback):
    """Logs training examples per second (shown in the progress bar)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        n = len(first) * trainer.world_size
        pl_module.log("samples_per_s", n / max(time.perf_counter() - self._t0, 1e-9), prog_bar=True)


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv here; a resumed run keeps its earlier rows and
        # extends the header if new metrics appear (Lightning rewrites the file then)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class AppendingCSVLogger(CSVLogger):
    """``metrics.csv`` in the run directory, appended to (never truncated) when a run resumes."""

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressLines(pl.Callback):
    """Without a terminal (CI, ``nohup``, a pipe): one line every ``every`` steps on rank 0 -
    ``step 200/2000  train/loss 0.4321  512.0 samples/s  ETA 3m12s`` - instead of a progress bar."""

    def __init__(self, every: int, max_steps: int, stream=None):
        import sys

        self.every, self.max_steps, self.stream = max(1, every), max_steps, stream or sys.stdout
        self._t0 = self._samples = None

    def on_train_start(self, trainer, pl_module):
        self._t0, self._samples, self._start_step = time.perf_counter(), 0, trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        self._samples += len(first) * trainer.world_size
        step = trainer.global_step
        if not trainer.is_global_zero or (step % self.every and step != self.max_steps):
            return
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        done = max(step - self._start_step, 1)
        losses = [(k, float(v)) for k, v in trainer.callback_metrics.items() if k.startswith("train/")][:2]
        loss_text = "  ".join(f"{k} {v:.4f}" for k, v in losses)
        eta = _format_seconds(elapsed / done * (self.max_steps - step))
        print(f"step {step}/{self.max_steps}  {loss_text}  {self._samples / elapsed:.1f} samples/s  ETA {eta}",
              file=self.stream, flush=True)
