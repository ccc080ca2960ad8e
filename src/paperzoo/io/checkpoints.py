"""Reading training checkpoints, and the shareable export format (safetensors + JSON).

An export directory holds ``model.safetensors`` (the bare model's state dict) and ``config.json``
(``{"model": name, "kwargs": {...}, "paperzoo_version": ..., "run_config": {...}}``). Loading
rebuilds the model through the registry and never unpickles anything.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from paperzoo.errors import CheckpointError
from paperzoo.io.atomic import atomic_dir


def last_checkpoint(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint in {run_dir} (expected {path})")
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


def export_run(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the run's last weights as ``OUT_DIR/model.safetensors`` + ``OUT_DIR/config.json``."""
    ckpt = read_checkpoint(last_checkpoint(run_dir))
    meta = ckpt.get("paperzoo")
    if not meta:
        raise CheckpointError(f"{run_dir}: checkpoint was not written by paperzoo (no model spec inside)")
    state = {k.removeprefix("model."): v.contiguous() for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    config = {
        "paperzoo_version": meta["version"],
        "model": meta["model"]["name"],
        "kwargs": meta["model"]["kwargs"],
        "global_step": ckpt.get("global_step"),
        "run_config": meta["config"],
    }
    with atomic_dir(out_dir) as tmp:
        save_file(state, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    return Path(out_dir)


def load_export(path: str | Path) -> torch.nn.Module:
    """Rebuild an exported model in eval mode; see ``export_run``."""
    from paperzoo.registry import create_model

    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text())
        state = load_file(str(path / "model.safetensors"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} is not a paperzoo export (missing {Path(exc.filename).name})") from None
    except (ValueError, OSError, SafetensorError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: unreadable export ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not (isinstance(config, dict) and isinstance(config.get("model"), str) and isinstance(config.get("kwargs", {}), dict)):
        raise CheckpointError(f"{path}: config.json must name the model and its kwargs (as paperzoo export writes it)")
    try:
        model = create_model(config["model"], **config.get("kwargs", {}))
    except ValueError as exc:  # a builder refusing the recorded arguments
        raise CheckpointError(f"{path}: config.json's model arguments are not valid ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the weights do not fit the model in config.json ({str(exc).splitlines()[0]})") from None
    return model.eval()


def load_model(path: str | Path) -> torch.nn.Module:
    """A model from an export directory (``paperzoo export``) or from a run directory's last
    checkpoint; eval mode. Nothing is unpickled in either case."""
    from paperzoo.registry import create_model

    path = Path(path)
    if (path / "config.json").is_file():
        return load_export(path)
    ckpt = read_checkpoint(last_checkpoint(path))
    meta = ckpt.get("paperzoo")
    if not meta:
        raise CheckpointError(f"{path}: checkpoint was not written by paperzoo (no model spec inside)")
    model = create_model(meta["model"]["name"], **meta["model"]["kwargs"])
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)
    return model.eval()
