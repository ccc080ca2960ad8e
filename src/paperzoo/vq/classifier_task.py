"""Task: train the CIFAR-10 classifier used for sample metrics and rejection sampling.

Data: CIFAR-10 (train split for training, test split for validation), pixels in [-0.5, 0.5],
random horizontal flips. Metric: ``val/accuracy`` (top-1 on the test split, single centre view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from paperzoo.data.cifar10 import load_cifar10
from paperzoo.data.registry import require_dataset
from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule
from paperzoo.vq.task import to_model_pixels


@dataclass
class ClassifierModelConfig:
    name: str = "cifar_classifier"
    width: int = 64


@dataclass
class ClassifierDataConfig:
    source: str = "cifar10"
    batch_size: int = 128
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None
    flip: bool = True


@dataclass
class Config(RunConfig):
    model: ClassifierModelConfig = field(default_factory=ClassifierModelConfig)
    data: ClassifierDataConfig = field(default_factory=ClassifierDataConfig)

    def validate(self) -> None:
        super().validate()
        if self.data.source != "cifar10":
            raise ConfigError("the classifier trains on labelled images: data.source must be cifar10")
        if self.model.width < 1:
            raise ConfigError("model.width must be >= 1")


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    root = require_dataset("cifar10", data_dir)
    (xtr, ytr), (xva, yva) = load_cifar10(root, "train"), load_cifar10(root, "test")
    n, m = cfg.data.limit_train, cfg.data.limit_val
    num_classes = int(max(ytr.max(), yva.max())) + 1
    return TensorDataModule((torch.from_numpy(xtr[:n]), torch.from_numpy(ytr[:n])),
                            (torch.from_numpy(xva[:m]), torch.from_numpy(np.asarray(yva[:m]))),
                            batch_size=cfg.data.batch_size, seed=cfg.seed, info={"num_classes": max(num_classes, 10)})


class ClassifierTask(BaseTask):
    def __init__(self, cfg: Config, num_classes: int):
        super().__init__(cfg)
        self.build_model(cfg.model.name, num_classes=num_classes, width=cfg.model.width)

    def training_step(self, batch, batch_idx):
        x, y = to_model_pixels(batch[0]), batch[1]
        if self.cfg.data.flip:  # a random half of the batch mirrored (deterministic under the seed)
            flip = torch.rand(len(x), generator=torch.Generator().manual_seed(self.cfg.seed + self.global_step)) < 0.5
            x = torch.where(flip[:, None, None, None].to(x.device), x.flip(3), x)
        loss = F.cross_entropy(self.model(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        logits = self.model(to_model_pixels(batch[0]))
        self.log("val/accuracy", (logits.argmax(1) == batch[1]).float().mean(), sync_dist=True, prog_bar=True)
        self.log("val/loss", F.cross_entropy(logits, batch[1]), sync_dist=True)


def build_task(cfg: Config, data: TensorDataModule) -> ClassifierTask:
    return ClassifierTask(cfg, data.info["num_classes"])
