"""One LightningModule per trainable system; each wires a model, its loss and its metrics.

``TASKS`` maps the ``task:`` key of a run config to the module that defines it. A task module
provides ``Config`` (a ``RunConfig`` subclass with its ``model`` and ``data`` sections),
``build_data(cfg, data_root) -> TensorDataModule`` and ``build_task(cfg, data) -> BaseTask``.
"""

from __future__ import annotations

from paperzoo.engine.config import TASKS, task_module, task_schema

__all__ = ["TASKS", "task_module", "task_schema"]
