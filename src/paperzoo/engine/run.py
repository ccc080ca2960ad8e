"""Train, resume, evaluate and export runs.

A run directory ``OUT_DIR/<name>/<YYYYmmdd-HHMMSS>/`` holds::

    config.yaml            the resolved config (schema defaults + YAML + overrides)
    metrics.csv            every logged metric (appended on resume)
    tensorboard/           the same metrics for TensorBoard
    plots/metrics.png      every metric against the step
    checkpoints/           step-NNNNNNN.ckpt (newest few) and last.ckpt
    eval.json              written by `paperzoo evaluate`

Everything that can fail because of the user's input (config, data) is checked before the run
directory is created, so a failed start leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import yaml
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from paperzoo.engine.callbacks import (AppendingCSVLogger, AtomicCheckpointIO, BestCheckpoint, ProgressLines, RNGState, StepCheckpoint,
                                      Throughput)
from paperzoo.engine.config import build_config, load_config, to_yaml
from paperzoo.engine.batchnorm import convert_batchnorm
from paperzoo.report.curves import plot_metrics
from paperzoo.errors import CheckpointError, ConfigError, PaperzooError
from paperzoo.io.atomic import atomic_write_text
from paperzoo.io.checkpoints import last_checkpoint
from paperzoo.engine.config import task_module

RUN_DIR_ENV = "PAPERZOO_RUN_DIR"  # rank 0 hands its run directory to the DDP processes it launches


def quiet_lightning() -> None:
    """Keep the console to our own one-line messages and the progress bar."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _saved_config(run_dir: Path, overrides: list[str], *, resuming: bool):
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    raw = yaml.safe_load(path.read_text())
    if resuming:
        raw.setdefault("trainer", {})["stop_at_step"] = None  # the earlier stop point is done
    return build_config(raw, overrides, source=str(path))


def latest_run(out_dir: str, name: str) -> Path:
    runs = sorted(p.parent.parent for p in Path(out_dir, name).glob("*/checkpoints/last.ckpt"))
    if not runs:
        raise CheckpointError(f"nothing to resume: no run of {name!r} with a checkpoint under {Path(out_dir, name)}")
    return runs[-1]


def _new_run_dir(cfg) -> Path:
    if os.environ.get(RUN_DIR_ENV) and rank_zero_only.rank != 0:
        return Path(os.environ[RUN_DIR_ENV])
    base = Path(cfg.out_dir) / cfg.name / time.strftime("%Y%m%d-%H%M%S")
    run_dir, i = base, 1
    while run_dir.exists():
        run_dir, i = base.with_name(f"{base.name}-{i}"), i + 1
    return run_dir


def make_trainer(cfg, run_dir: Path | None, *, for_training: bool = True) -> pl.Trainer:
    t = cfg.trainer
    show_bar = sys.stderr.isatty() if t.progress_bar is None else t.progress_bar
    callbacks, loggers = [], False
    if for_training:
        callbacks = [StepCheckpoint(run_dir / "checkpoints", t.checkpoint_every, t.keep_checkpoints), RNGState(), Throughput()]
        if t.keep_best:
            callbacks.append(BestCheckpoint(run_dir / "checkpoints", t.keep_best, t.best_mode))
        end = t.stop_at_step or t.max_steps
        if show_bar:
            callbacks.append(TQDMProgressBar(refresh_rate=t.log_every))
        else:
            callbacks.append(ProgressLines(t.progress_every or max(1, -(-end // 10)), end))
        loggers = [AppendingCSVLogger(run_dir, name="", version=""), TensorBoardLogger(run_dir, name="tensorboard", version="")]
    return pl.Trainer(
        max_steps=t.stop_at_step or t.max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        gradient_clip_val=t.gradient_clip,
        deterministic=t.deterministic,
        logger=loggers,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
        val_check_interval=t.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=t.log_every,
        enable_model_summary=False,
        enable_progress_bar=show_bar and for_training,
        default_root_dir=run_dir,
    )


def _prepare(cfg, data_dir):
    if data_dir is not None:
        cfg.data_dir = str(data_dir)
    module = task_module(cfg.task)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    data = module.build_data(cfg, cfg.data_dir)
    task = module.build_task(cfg, data)
    if cfg.trainer.compile:
        for target in task.compile_targets():
            target.compile()
    return data, task


def _finish(trainer: pl.Trainer, task, data, cfg, run_dir: Path, started: float, first_step: int) -> None:
    """After ``fit``: validate the last step if the schedule missed it, then (rank 0) the curves, the
    timing file, TensorBoard hparams and images, and a one-paragraph metrics summary on stdout."""
    t, step = cfg.trainer, trainer.global_step
    if step % t.val_every and not trainer.interrupted:  # every run ends with its final validation
        trainer.validate(task, datamodule=data, verbose=False)
    if not trainer.is_global_zero:
        return
    from paperzoo.io.bundle import last_metrics

    seconds = time.time() - started
    steps = step - first_step
    timing = {"wall_seconds": round(seconds, 3), "steps": steps, "global_step": step,
              "steps_per_s": round(steps / seconds, 4) if seconds > 0 else None}
    samples = [v for k, v in last_metrics(run_dir).items() if k == "samples_per_s"]
    if samples:
        timing["samples_per_s"] = samples[0]
    atomic_write_text(run_dir / "timing.json", json.dumps(timing, indent=2))
    plot_metrics(run_dir)
    final = {k: v for k, v in last_metrics(run_dir).items() if k != "samples_per_s"}
    _tensorboard_summary(trainer, cfg, final, run_dir, step)
    shown = "  ".join(f"{k} {v:.4g}" for k, v in sorted(final.items()) if not k.startswith("train/") or k.endswith("loss"))
    print(f"finished step {step}/{t.max_steps} in {seconds:.1f} s: {shown}", flush=True)


def _tensorboard_summary(trainer: pl.Trainer, cfg, final: dict, run_dir: Path, step: int) -> None:
    """hparams (the flat config with the final metrics) and the run's images in TensorBoard."""
    import numpy as np
    from PIL import Image

    from paperzoo.engine.config import to_dict

    board = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
    if board is None:
        return

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v if isinstance(v, (int, float, str, bool)) else str(v)

    board.log_hyperparams(dict(flat(to_dict(cfg))), metrics={f"final/{k}": v for k, v in final.items()})
    for path in sorted(run_dir.rglob("*.png"))[:20]:
        with Image.open(path) as img:
            board.experiment.add_image(path.relative_to(run_dir).as_posix(), np.asarray(img.convert("RGB")), step,
                                       dataformats="HWC")
    board.experiment.flush()


def train(config: str | None, overrides: list[str] = (), *, resume: str | bool | None = None, data_dir=None) -> Path:
    """Train from a config (path or bundled name), or resume a run; returns the run directory.

    ``resume``: a run directory, or True for the newest run of the config's ``name``. Without a
    terminal, progress is one line every ``trainer.progress_every`` steps; every run ends with a
    validation of its last step and a metrics summary on stdout.
    """
    import shlex
    quiet_lightning()
    overrides = list(overrides)
    if resume:
        if resume is True:
            if config is None:
                raise ConfigError("--resume without a run directory needs the config, to find the newest run")
            cfg0 = load_config(config, overrides)
            resume = latest_run(cfg0.out_dir, cfg0.name)
        run_dir = Path(resume)
        ckpt = last_checkpoint(run_dir)
        cfg = _saved_config(run_dir, overrides, resuming=True)
    else:
        if config is None:
            raise ConfigError("give a config file (or --resume RUN_DIR)")
        cfg, ckpt = load_config(config, overrides), None
    data, task = _prepare(cfg, data_dir)
    if cfg.trainer.init_from and not resume:  # a resumed run's checkpoint holds its weights already
        _init_weights(task, cfg.trainer.init_from)
    if cfg.trainer.sync_batchnorm and (str(cfg.trainer.devices) != "1" or cfg.trainer.num_nodes > 1):
        convert_batchnorm(task)  # BN over the global batch, so W processes train as one would

    if not resume:
        run_dir = _new_run_dir(cfg)
    if rank_zero_only.rank == 0:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        for stale in (run_dir / "checkpoints").glob(".*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
        if not (run_dir / "command.txt").is_file():  # the command that started the run (the model card shows it)
            atomic_write_text(run_dir / "command.txt", shlex.join(["paperzoo", "train", str(config), *overrides]) + "\n")
        os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
        end = cfg.trainer.stop_at_step or cfg.trainer.max_steps
        if cfg.trainer.val_every > end:
            print(f"note: trainer.val_every={cfg.trainer.val_every} exceeds the {end} steps of this run; "
                  "validation runs once, at the last step", flush=True)
    trainer = make_trainer(cfg, run_dir)
    started, first_step = time.time(), _checkpoint_step(ckpt)
    trainer.fit(task, datamodule=data, ckpt_path=str(ckpt) if ckpt else None)
    _finish(trainer, task, data, cfg, run_dir, started, first_step)
    return run_dir


def _init_weights(task, source: str) -> None:
    """``trainer.init_from``: the model weights of a run, export or zoo entry, which must fit this model exactly."""
    from paperzoo.io.bundle import read_bundle

    try:
        weights = read_bundle(source).state  # the model's state dict; no need to build the source model
    except PaperzooError as err:
        raise ConfigError(f"trainer.init_from: {err}") from None
    try:
        task.model.load_state_dict(weights)
    except RuntimeError as err:  # torch's first line names the class, the second what does not fit
        detail = str(err).splitlines()[1:2] or [str(err)]
        raise ConfigError(f"trainer.init_from={source}: its weights do not fit this model ({detail[0].strip()})") from None


def _checkpoint_step(ckpt) -> int:
    if ckpt is None:
        return 0
    from paperzoo.io.checkpoints import read_checkpoint

    return int(read_checkpoint(ckpt).get("global_step", 0))


def evaluate(run_dir: str | Path, overrides: list[str] = (), *, data_dir=None, checkpoint: str = "last") -> dict:
    """Validation metrics of the run's ``last`` (or validation-``best``) checkpoint; also written to RUN_DIR/eval.json."""
    quiet_lightning()
    run_dir = Path(run_dir)
    ckpt = last_checkpoint(run_dir, checkpoint)
    cfg = _saved_config(run_dir, list(overrides), resuming=False)
    cfg.trainer.devices, cfg.trainer.strategy, cfg.trainer.num_nodes = 1, "auto", 1
    data, task = _prepare(cfg, data_dir)
    trainer = make_trainer(cfg, run_dir, for_training=False)
    (metrics,) = trainer.validate(task, datamodule=data, ckpt_path=str(ckpt), verbose=False)
    result = {"run_dir": str(run_dir), "checkpoint": str(ckpt), "metrics": {k: float(v) for k, v in metrics.items()}}
    atomic_write_text(run_dir / "eval.json", json.dumps(result, indent=2))
    return result
