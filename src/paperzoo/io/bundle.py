"""A trained model and everything inference needs, read from a run directory or an export.

Training checkpoints carry, beside the weights, ``paperzoo.inference`` (JSON-able facts a verb
needs: class names, sample rate and STFT, speaker names, user / item IDs, ...) and
``paperzoo.assets`` (tensors that belong with the model but are not its parameters: a
recommender's training interactions, a prior's VQ-VAE). ``paperzoo export`` writes them as::

    model.safetensors    the bare model's state dict
    assets.safetensors   the assets (only when there are any)
    card.json            the model card: family, task, architecture and its arguments, the
                         inference facts, training command / data / steps / seed, the run's
                         measured metrics, torch / paperzoo versions, sha256 of every file

``read_bundle`` reads either form; ``paperzoo.load`` turns a bundle into the family's inference
object (``paperzoo.io.bundle.load``). Nothing is unpickled; a run or export is relocatable: no
path inside it is needed to infer.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from paperzoo.errors import CheckpointError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.checkpoints import last_checkpoint, read_checkpoint
import paperzoo.zoo as zoo

CARD_FORMAT = "paperzoo-export/1"
# task name -> "module:class" of its inference object (imported on demand: io never imports a family)
INFERENCE = {
    "separation": "paperzoo.separation.inference:Separator",
    "video": "paperzoo.video.predict:VideoPredictor",
    "vqvae": "paperzoo.vq.inference:ImageCodec",
    "prior": "paperzoo.priors.inference:PriorSampler",
    "vqvae_audio": "paperzoo.vq.inference:VoiceConverter",
    "recommender": "paperzoo.recsys.inference:Recommender",
    "margin_classifier": "paperzoo.losses.inference:MarginPredictor",
}


@dataclass
class Bundle:
    """What ``read_bundle`` found: the model spec and weights, inference facts, assets and card."""

    source: Path
    model_name: str
    kwargs: dict
    state: dict[str, torch.Tensor]
    info: dict = field(default_factory=dict)
    assets: dict[str, torch.Tensor] = field(default_factory=dict)
    card: dict = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        return self.card.get("task")

    def build_model(self) -> nn.Module:
        """The bare model with its weights, eval mode."""
        return build_model(self.model_name, self.kwargs, self.state, self.source)


def build_model(name: str, kwargs: dict, state: dict, source) -> nn.Module:
    from paperzoo.registry import create_model

    try:
        model = create_model(name, **kwargs)
    except ValueError as exc:  # a builder refusing the recorded arguments
        raise CheckpointError(f"{source}: the recorded model arguments are not valid ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: the weights do not fit model {name!r} ({str(exc).splitlines()[0]})") from None
    return model.eval()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def last_metrics(run_dir: Path) -> dict[str, float]:
    """The last logged value of every metric in ``metrics.csv``, then ``eval.json``'s (prefixed ``eval/``)."""
    out: dict[str, float] = {}
    path = run_dir / "metrics.csv"
    if path.is_file():
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for key, value in row.items():
                    if key and key not in ("step", "epoch") and value not in ("", None):
                        out[key] = float(value)
    if (run_dir / "eval.json").is_file():
        try:
            out.update({f"eval/{k}": float(v) for k, v in json.loads((run_dir / "eval.json").read_text())["metrics"].items()})
        except (ValueError, KeyError, TypeError):
            pass
    return out


# overrides that say where and how a run is written, not what it learns: a card's command leaves them out
_INVOCATION_ONLY = ("out_dir=", "name=", "trainer.progress_bar=")


def reproducing_command(command: str) -> str:
    """The command that started a run, without the overrides that do not change its weights (a bench's
    temporary ``out_dir``, the run's ``name``, the progress bar)."""
    return shlex.join(word for word in shlex.split(command) if not word.startswith(_INVOCATION_ONLY))


def _run_card(run_dir: Path, ckpt: dict, meta: dict) -> dict:
    """The model card of a run's last checkpoint (without file hashes: ``export_run`` adds those)."""
    from paperzoo.registry import model_family

    cfg = meta.get("config", {})
    command_file = run_dir / "command.txt"
    return {
        "format": CARD_FORMAT,
        "family": model_family(meta["model"]["name"]),
        "task": cfg.get("task"),
        "architecture": meta["model"]["name"],
        "arguments": meta["model"]["kwargs"],
        "inference": meta.get("inference", {}),
        "training": {
            "command": reproducing_command(command_file.read_text()) if command_file.is_file()
            else f"paperzoo train {run_dir / 'config.yaml'}",
            "name": cfg.get("name"),
            "data": cfg.get("data"),
            "steps": ckpt.get("global_step"),
            "seed": cfg.get("seed"),
            "world_size": meta.get("world_size", 1),
            "config": cfg,
        },
        "metrics": last_metrics(run_dir),
        "versions": {"paperzoo": meta.get("version"), "torch": meta.get("torch", str(torch.__version__)),
                     "python": meta.get("python", platform.python_version())},
    }


def _meta_of(run_dir: Path, ckpt: dict) -> dict:
    meta = ckpt.get("paperzoo")
    if not meta:
        raise CheckpointError(f"{run_dir}: checkpoint was not written by paperzoo (no model spec inside)")
    return meta


def _read_run(run_dir: Path) -> Bundle:
    ckpt = read_checkpoint(last_checkpoint(run_dir))
    meta = _meta_of(run_dir, ckpt)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return Bundle(run_dir, meta["model"]["name"], meta["model"]["kwargs"], state, meta.get("inference", {}),
                  dict(meta.get("assets", {})), _run_card(run_dir, ckpt, meta))


def _read_safetensors(path: Path, expected: str | None) -> dict[str, torch.Tensor]:
    if expected is not None and sha256(path) != expected:
        raise CheckpointError(f"{path}: sha256 does not match the model card (damaged or replaced file)")
    return load_file(str(path))


def _read_export(path: Path) -> Bundle:
    try:
        card = json.loads((path / "card.json").read_text())
        if not (isinstance(card, dict) and isinstance(card.get("architecture"), str) and isinstance(card.get("arguments", {}), dict)):
            raise CheckpointError(f"{path}: card.json must name the architecture and its arguments (as paperzoo export writes it)")
        files = card.get("files", {})
        state = _read_safetensors(path / "model.safetensors", files.get("model.safetensors", {}).get("sha256"))
        assets = {}
        if "assets.safetensors" in files:
            assets = _read_safetensors(path / "assets.safetensors", files["assets.safetensors"].get("sha256"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} is not a paperzoo export (missing {Path(exc.filename).name})") from None
    except (ValueError, OSError, SafetensorError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: unreadable export ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return Bundle(path, card["architecture"], card.get("arguments", {}), state, card.get("inference", {}), assets, card)


def read_bundle(path: str | Path) -> Bundle:
    """A run directory (its last checkpoint), an export directory or a zoo entry (``zoo:NAME``)."""
    if zoo.is_zoo(path):
        return _read_export(zoo.entry_path(path))
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run or export directory")
    if (path / "card.json").is_file():
        return _read_export(path)
    if (path / "checkpoints").is_dir() or (path / "config.yaml").is_file():
        return _read_run(path)
    raise CheckpointError(f"{path} is neither a run directory (config.yaml, checkpoints/) nor an export (card.json)")


def export_run(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the run's last weights, assets and model card to ``out_dir`` (atomically, files 0644)."""
    bundle = _read_run(Path(run_dir))
    return write_export(out_dir, bundle.state, dict(bundle.card), bundle.assets)


def write_export(out_dir: str | Path, state: dict[str, torch.Tensor], card: dict, assets: dict[str, torch.Tensor] | None = None) -> Path:
    """An export folder: ``model.safetensors`` (+ ``assets.safetensors``) and ``card.json`` with the
    sha256 and size of every file; written atomically (nothing half-written is left), files 0644."""
    card = dict(card)
    with atomic_dir(out_dir) as tmp:
        files = {"model.safetensors": {k: v.contiguous() for k, v in state.items()}}
        if assets:
            files["assets.safetensors"] = {k: v.contiguous() for k, v in assets.items()}
        card["files"] = {}
        for name, tensors in files.items():
            save_file(tensors, str(tmp / name))
            card["files"][name] = {"sha256": sha256(tmp / name), "bytes": (tmp / name).stat().st_size}
        (tmp / "card.json").write_text(json.dumps(card, indent=2))
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
    return Path(out_dir)


class Pretrained(nn.Module):
    """Base of every family's inference object: ``.model`` (the bare network, eval mode), ``.card``
    and ``.info``. Subclasses add the verbs (``separate``, ``predict``, ``encode``, ``sample``, ...)."""

    def __init__(self, bundle: Bundle):
        super().__init__()
        self.model = bundle.build_model()
        self.card, self.info = bundle.card, bundle.info
        self.eval()

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"architecture={self.card.get('architecture')!r}, task={self.card.get('task')!r}"


def pretrained_model(name: str, **kwargs) -> nn.Module:
    """The bare network ``name`` with its zoo weights (eval mode), like timm's ``pretrained=True``.

    ``kwargs`` change the recorded builder arguments (e.g. a new ``num_classes`` to fine-tune):
    weights whose shape no longer fits (the new head) keep their fresh initialisation and a
    warning names them; any other mismatch is an error."""
    import warnings

    bundle = read_bundle(zoo.PREFIX + zoo.entry_for(name))
    if not kwargs:
        model = bundle.build_model()
        model.card = bundle.card
        return model
    from paperzoo.registry import create_model

    model = create_model(bundle.model_name, **{**bundle.kwargs, **kwargs})
    own = model.state_dict()
    fits = {k: v for k, v in bundle.state.items() if k in own and own[k].shape == v.shape}
    refitted = sorted(k for k in bundle.state if k in own and k not in fits)
    result = model.load_state_dict(fits, strict=False)
    missing = sorted(set(result.missing_keys) - set(refitted))
    if missing or result.unexpected_keys:
        raise CheckpointError(f"zoo weights of {name!r} do not fit {kwargs}: "
                              f"{(missing or result.unexpected_keys)[0]} {'missing' if missing else 'unexpected'}")
    if refitted:
        warnings.warn(f"{name}: {', '.join(refitted)} re-initialised (shape changed by {kwargs})", stacklevel=2)
    model.card = bundle.card
    return model.eval()


def load(path: str | Path) -> nn.Module:
    """A run or export as its family's inference object (the bare model, eval mode, for tasks without verbs)."""
    import importlib

    bundle = read_bundle(path)
    target = INFERENCE.get(bundle.task)
    if target is None:
        model = bundle.build_model()
        model.card = bundle.card
        return model
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name).from_bundle(bundle)
