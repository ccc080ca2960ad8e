"""Typed run configs: YAML file -> schema (dataclasses) -> dotted command-line overrides.

Layering, like RecBole: schema defaults < the YAML file < ``key.sub=value`` overrides. OmegaConf's
structured configs do the type checking; an unknown key, a wrong type or a missing required value
becomes a one-line ``ConfigError`` naming the key.

Every run config has the common sections below; a task adds its own ``model`` and ``data``
sections by subclassing ``RunConfig`` (each family's ``task.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from paperzoo.errors import ConfigError

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    # end this invocation at this step (checkpoint written) while schedules still span max_steps;
    # `paperzoo train --resume` continues to max_steps. For time-sliced / preemptible jobs.
    stop_at_step: Optional[int] = None
    val_every: int = 100
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    # a logged validation metric (e.g. valid/ndcg@20): also keep checkpoints/best.ckpt, the checkpoint
    # where it was best (best_mode max or min); `paperzoo evaluate --best` reads it
    keep_best: Optional[str] = None
    best_mode: str = "max"
    log_every: int = 10
    accelerator: str = "cpu"
    devices: Union[int, str] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    sync_batchnorm: bool = True  # with several processes: batch-norm statistics over the global batch (engine/batchnorm.py)
    precision: str = "32-true"  # Lightning precision, e.g. bf16-mixed (quantiser distances stay float32)
    gradient_clip: Optional[float] = None  # clip the global gradient norm to this value
    compile: bool = False  # torch.compile the task's compile_targets() (long runs; ~30 s to compile)
    deterministic: bool = True
    progress_bar: Optional[bool] = None  # None: only when the console is a terminal
    progress_every: Optional[int] = None  # without a progress bar: a progress line every N steps (default: max_steps / 10)
    # fine-tuning: a run directory, export or zoo:ENTRY whose model weights start this run (the optimiser and
    # schedule start fresh; the model options may differ where they add no weights, e.g. a training-only noise)
    init_from: Optional[str] = None


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9
    schedule: str = "constant"  # constant | cosine (to 0 at trainer.max_steps)
    warmup_steps: int = 0


@dataclass
class RunConfig:
    task: str = MISSING
    name: str = MISSING
    seed: int = 0
    out_dir: str = "runs"
    data_dir: Optional[str] = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    model: Any = None
    data: Any = None

    def validate(self) -> None:
        """Checks beyond types; tasks extend it."""
        t, o = self.trainer, self.optim
        _require(t.max_steps > 0, "trainer.max_steps must be > 0")
        _require(t.gradient_clip is None or t.gradient_clip > 0, "trainer.gradient_clip must be > 0 (or null)")
        _require(t.stop_at_step is None or 0 < t.stop_at_step <= t.max_steps, "trainer.stop_at_step must be in 1..max_steps")
        _require(t.progress_every is None or t.progress_every > 0, "trainer.progress_every must be > 0 (or null)")
        _require(t.best_mode in ("max", "min"), f"trainer.best_mode must be max or min, got {t.best_mode!r}")
        for key in ("val_every", "checkpoint_every", "keep_checkpoints", "log_every", "num_nodes"):
            _require(getattr(t, key) > 0, f"trainer.{key} must be > 0")
        _require(o.name in ("adam", "adamw", "sgd"), f"optim.name must be adam, adamw or sgd, got {o.name!r}")
        _require(o.schedule in ("constant", "cosine"), f"optim.schedule must be constant or cosine, got {o.schedule!r}")
        _require(o.lr > 0, "optim.lr must be > 0")
        _require(len(o.betas) == 2, "optim.betas must have two values")
        for section in ("data", "model"):
            part = getattr(self, section)
            for f in dataclasses.fields(part) if dataclasses.is_dataclass(part) else ():
                value = getattr(part, f.name)
                if f.name in POSITIVE_SIZES and isinstance(value, int) and not isinstance(value, bool):
                    _require(value > 0, f"{section}.{f.name} must be > 0, got {value}")


# sizes that only make sense above zero, wherever a task's data / model section has them
POSITIVE_SIZES = {"batch_size", "crop", "short_side", "frames", "rate", "segments", "n_train", "n_val", "limit_train",
                  "limit_val", "limit_per_class", "val_nodes", "max_nodes", "num_slots", "sample_rate", "hidden", "dim",
                  "out_dim", "num_layers", "layers", "heads", "blocks", "channels", "width", "queue_size", "walk_steps",
                  "views", "n_fft", "hop", "shapes_frames", "shapes_size", "shapes_train", "shapes_test", "grid_images",
                  "eig_dim", "degree_dim", "max_degree", "kernel", "res_per_block"}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def resolve_config_path(spec: str | Path) -> Path:
    """A path to a YAML file, or a bundled config name such as ``losses/margin_blobs``."""
    path = Path(spec)
    candidates = [path, CONFIG_ROOT / path, CONFIG_ROOT / f"{spec}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"config file not found: {spec} (`paperzoo list` shows the bundled configs)")


def bundled_configs() -> list[str]:
    return sorted(str(p.relative_to(CONFIG_ROOT).with_suffix("")) for p in CONFIG_ROOT.rglob("*.yaml"))


def _one_line(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None) or "?"
    if isinstance(exc, ConfigKeyError):
        return f"unknown config key '{key}'"
    msg = str(getattr(exc, "msg", exc)).splitlines()[0]
    return f"config key '{key}': {msg}"


def parse_overrides(overrides: list[str]) -> dict:
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"bad override: {_one_line(exc)}") from None
    except yaml.YAMLError:  # the value part is parsed as YAML
        bad = next((o for o in overrides if not _parses(o.split("=", 1)[1])), overrides[0])
        raise ConfigError(f"override {bad!r}: the value is not valid YAML (quote it)") from None


def _parses(text: str) -> bool:
    try:
        yaml.safe_load(text)
        return True
    except yaml.YAMLError:
        return False


# the ``task:`` key of a run config -> the module that defines it (a family's task module). Looked up by
# name, like the model registry, so the schemas here never import the tasks built on them. A task module
# provides ``Config`` (a ``RunConfig`` subclass with its ``model`` and ``data`` sections),
# ``build_data(cfg, data_root) -> TensorDataModule`` and ``build_task(cfg, data) -> BaseTask``.
TASKS = {
    "margin_classifier": "paperzoo.losses.task",
    "vqvae": "paperzoo.vq.task",
    "prior": "paperzoo.priors.task",
    "vae": "paperzoo.vq.vae_task",
    "classifier": "paperzoo.vq.classifier_task",
    "graph_pretrain": "paperzoo.recsys.pretrain_task",
    "recommender": "paperzoo.recsys.task",
    "separation": "paperzoo.separation.task",
    "video": "paperzoo.video.task",
    "vqvae_audio": "paperzoo.vq.audio_task",
}


def task_module(name: str):
    import importlib

    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])


def task_schema(name: str):
    return task_module(name).Config


def build_config(raw: dict, overrides: list[str] | None = None, source: str = "config"):
    """Merge ``raw`` (from YAML) and overrides onto the task's schema; return the dataclass object."""

    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a YAML mapping of keys to values")
    extra = parse_overrides(overrides or [])
    task = extra.get("task", raw.get("task"))
    if task is None:
        raise ConfigError(f"{source} has no 'task' key")
    schema = task_schema(task)
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), raw, extra)
    except OmegaConfBaseException as exc:
        raise ConfigError(_one_line(exc)) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"config key '{missing[0]}' is required but not set")
    obj = OmegaConf.to_object(cfg)
    obj.validate()
    return obj


def load_config(spec: str | Path, overrides: list[str] | None = None):
    """Read a YAML config (path or bundled name) and apply ``key.sub=value`` overrides."""
    path = resolve_config_path(spec)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    return build_config(raw, overrides, source=str(path))


def to_yaml(cfg) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg))
