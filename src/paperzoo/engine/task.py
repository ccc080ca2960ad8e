"""What every task shares: optimiser and schedule from the config, the NaN/Inf guard, and the
model spec stored in each checkpoint so that ``paperzoo export`` can rebuild the bare model."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch

from paperzoo.errors import TrainingDivergedError
from paperzoo.registry import create_model


class BaseTask(pl.LightningModule):
    """Subclasses set ``self.model`` through ``build_model`` and implement the steps."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def build_model(self, name: str, **kwargs) -> torch.nn.Module:
        self.model_spec = {"name": name, "kwargs": kwargs}
        self.model = create_model(name, **kwargs)
        return self.model

    def compile_targets(self) -> list[torch.nn.Module]:
        """Modules compiled with torch.compile when ``trainer.compile`` is set (state_dict keys unchanged)."""
        return [self.model]

    # --- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self):
        o, max_steps = self.cfg.optim, self.cfg.trainer.max_steps
        params = [p for p in self.parameters() if p.requires_grad]
        if o.name == "sgd":
            opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        else:
            cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
            opt = cls(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

        def factor(step: int) -> float:
            if step < o.warmup_steps:
                return (step + 1) / o.warmup_steps
            if o.schedule == "cosine":
                progress = (step - o.warmup_steps) / max(1, max_steps - o.warmup_steps)
                return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
            return 1.0

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- guards and checkpoint metadata ----------------------------------------------------------
    def on_before_backward(self, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        # every DDP rank must take the same decision, or the healthy ones wait forever
        if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            last = getattr(self.trainer, "paperzoo_last_checkpoint", None)
            kept = f"last good checkpoint kept: {last}" if last else "no checkpoint was written yet"
            raise TrainingDivergedError(
                f"loss became NaN/Inf at step {self.global_step}; stopped before the update ({kept}); "
                "lower optim.lr or check the data"
            )

    # --- what inference needs besides the weights (``paperzoo.io.bundle``) ------------------------
    def inference_info(self) -> dict:
        """JSON-able facts the family's inference object needs (class names, sample rate, ...)."""
        return {}

    def inference_assets(self) -> dict[str, torch.Tensor]:
        """Tensors that go with the model but are not its parameters (exported as assets.safetensors)."""
        return {}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        import platform

        from paperzoo.version import __version__
        from paperzoo.engine.config import to_dict

        checkpoint["paperzoo"] = {"version": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
                                  "model": self.model_spec, "config": to_dict(self.cfg), "world_size": self.trainer.world_size,
                                  "inference": self.inference_info(), "assets": self.inference_assets()}


def load_run_config(run_dir, task_name: str, overrides=(), purpose: str = "this command"):
    """The saved config of a run directory, checked to be a ``task_name`` run."""
    from pathlib import Path

    import yaml

    from paperzoo.engine.config import build_config
    from paperzoo.errors import CheckpointError

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    raw = yaml.safe_load(path.read_text()) or {}
    if raw.get("task") != task_name:
        raise CheckpointError(f"{run_dir} is a {raw.get('task')} run; {purpose} needs a {task_name} run")
    return build_config(raw, list(overrides), source=str(path))


def load_run_weights(task: BaseTask, run_dir, checkpoint: dict | None = None) -> BaseTask:
    """Load the run's last checkpoint (or ``checkpoint``, already read from it) into ``task`` (strict),
    and switch it to eval mode."""
    from paperzoo.errors import CheckpointError
    from paperzoo.io.checkpoints import last_checkpoint, read_checkpoint

    try:
        ckpt = checkpoint if checkpoint is not None else read_checkpoint(last_checkpoint(run_dir))
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{run_dir}: checkpoint does not fit this run's config ({str(exc).splitlines()[0]})") from None
    return task.eval()
