"""Crash safety: a training process killed with SIGKILL (at random moments, and in the middle of a
checkpoint write) always leaves a loadable last checkpoint, and ``--resume`` then reaches exactly
the weights of an uninterrupted run (CPU)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import only_run_dir, run_process, write_config
from paperzoo.io.checkpoints import last_checkpoint, read_checkpoint
from test_engine import assert_same_weights, model_weights

HERE = Path(__file__).resolve().parent
STEPS = 240


def crash_config(tmp_path: Path, name: str, every: int) -> Path:
    return write_config(tmp_path / f"{name}.yaml", tmp_path / name, name="crash",
                        trainer={"max_steps": STEPS, "val_every": 120, "checkpoint_every": every, "log_every": 10},
                        data={"source": "blobs", "n_train": 4096, "n_val": 256, "dim": 16, "batch_size": 64})


def start(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *map(str, args)], env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (status {proc.returncode}) first: {proc.stderr.read()[-1500:]}")
        if time.monotonic() > deadline:
            kill(proc)
            raise AssertionError("timed out")
        time.sleep(0.02)


def newest_run(runs: Path) -> Path | None:
    found = sorted((runs / "crash").glob("*/checkpoints/last.ckpt"))
    return found[-1].parent.parent if found else None


def checkpoint_step(run: Path) -> int:
    return read_checkpoint(last_checkpoint(run))["global_step"]  # raises if torn or missing


def reference_weights(tmp_path: Path, every: int):
    done = run_process("train", crash_config(tmp_path, "straight", every))
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_run_dir(tmp_path / "straight", "crash")
    assert checkpoint_step(run) == STEPS
    return model_weights(run)


def test_killed_in_the_middle_of_a_checkpoint_write(tmp_path):
    expected = reference_weights(tmp_path, every=20)
    config, marker = crash_config(tmp_path, "killed", every=20), tmp_path / "in_write"
    # the 3rd torch.save is the checkpoint of step 60: killed when half of its bytes are on disk
    proc = start(HERE / "_slow_checkpoint_train.py", "train", config,
                 env={"PAPERZOO_TEST_PAUSE_AT": "3", "PAPERZOO_TEST_MARKER": str(marker)})
    wait_for(marker.is_file, proc)
    kill(proc)
    run = newest_run(tmp_path / "killed")
    torn = Path(marker.read_text())
    assert torn.is_file() and torn.name.startswith(".step-0000060.ckpt") and torn.parent == run / "checkpoints"
    assert checkpoint_step(run) == 40  # the previous checkpoint is untouched and loadable
    assert not (run / "checkpoints" / "step-0000060.ckpt").exists()
    done = run_process("train", "--resume", run)
    assert done.returncode == 0, done.stderr[-2000:]
    assert checkpoint_step(run) == STEPS
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the torn temporary was cleared on resume
    assert_same_weights(expected, model_weights(run))


@pytest.mark.slow
def test_random_sigkills_then_resume_reach_the_uninterrupted_weights(tmp_path):
    """Checkpoints every 2 steps, so random kills often land inside a write; 4 kills, then resume to the end."""
    expected = reference_weights(tmp_path, every=2)
    config, rng, seen_steps = crash_config(tmp_path, "killed", every=2), random.Random(0), []
    for attempt in range(5):
        run = newest_run(tmp_path / "killed")
        args = ("train", "--resume", run) if run else ("train", config)
        proc = start("-m", "paperzoo.cli", *args)
        if attempt == 4:  # the last one runs to the end
            assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
            break
        before = checkpoint_step(run) if run else 0
        # wait until this process has written a checkpoint of its own, then kill it at a random moment
        wait_for(lambda: newest_run(tmp_path / "killed") is not None and checkpoint_step(newest_run(tmp_path / "killed")) > before, proc)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is not None:
            raise AssertionError("training finished before it could be killed: make it longer")
        kill(proc)
        run = newest_run(tmp_path / "killed")
        seen_steps.append(checkpoint_step(run))  # loadable after every kill
        for ckpt in (run / "checkpoints").glob("step-*.ckpt"):
            read_checkpoint(ckpt)
    run = newest_run(tmp_path / "killed")
    assert len(list((tmp_path / "killed" / "crash").iterdir())) == 1  # every attempt continued the same run
    assert seen_steps == sorted(seen_steps) and seen_steps[-1] < STEPS, seen_steps
    assert checkpoint_step(run) == STEPS
    assert_same_weights(expected, model_weights(run))
