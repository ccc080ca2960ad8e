"""One LightningModule per trainable system; each wires a model, its loss and its metrics.

``TASKS`` maps the ``task:`` key of a run config to the module that defines it. A task module
provides ``Config`` (a ``RunConfig`` subclass with its ``model`` and ``data`` sections),
``build_data(cfg, data_root) -> TensorDataModule`` and ``build_task(cfg, data) -> BaseTask``.
"""

from __future__ import annotations

import importlib

from paperzoo.errors import ConfigError

TASKS = {
    "margin_classifier": "paperzoo.tasks.margin",
    "vqvae": "paperzoo.tasks.vqvae",
    "prior": "paperzoo.tasks.prior",
    "vae": "paperzoo.tasks.vae",
    "classifier": "paperzoo.tasks.classifier",
    "graph_pretrain": "paperzoo.tasks.graph_pretrain",
    "recommender": "paperzoo.tasks.recommender",
    "separation": "paperzoo.tasks.separation",
    "video": "paperzoo.tasks.video",
    "vqvae_audio": "paperzoo.tasks.vqvae_audio",
}


def task_module(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])


def task_schema(name: str):
    return task_module(name).Config
