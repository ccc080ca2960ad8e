"""Reading training checkpoints (``torch.load`` with ``weights_only``: nothing is unpickled).

The shareable export format (safetensors + model card) is ``paperzoo.io.bundle``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from paperzoo.errors import CheckpointError


def last_checkpoint(run_dir: str | Path, which: str = "last") -> Path:
    """The run's ``last`` checkpoint, or its ``best`` (kept when trained with ``trainer.keep_best``)."""
    if which not in ("last", "best"):
        raise CheckpointError(f"checkpoint must be last or best, got {which!r}")
    path = Path(run_dir) / "checkpoints" / f"{which}.ckpt"
    if not path.is_file():
        hint = " (the run was trained without trainer.keep_best)" if which == "best" else ""
        raise CheckpointError(f"no {which} checkpoint in {run_dir} (expected {path}){hint}")
    return path


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only."""
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning would spill over the one-line error
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say which, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {first}") from None


def load_model(path: str | Path) -> torch.nn.Module:
    """The bare model of an export directory (``paperzoo export``) or of a run directory's last
    checkpoint; eval mode. Nothing is unpickled in either case. ``paperzoo.load`` gives the family's
    inference object instead."""
    from paperzoo.io.bundle import read_bundle

    return read_bundle(path).build_model()
