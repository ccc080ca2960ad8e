"""Task: a linear classifier trained with any margin loss (the proof model of the engine).

    x (B, D) --standardise--> Linear(D, 1) --> f (B,)      loss = mean psi(y f) + l2/2 ||w||^2

Data: generated Gaussian blobs (default) or two classes of CIFAR-10 as raw pixels (real data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from paperzoo.data.images import load_image_folder
from paperzoo.data.registry import require_dataset
from paperzoo.data.synthetic import gaussian_blobs
from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError, InvalidArgumentError
from paperzoo.losses.margin import get_margin_loss
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule


@dataclass
class MarginModelConfig:
    loss: str = "L1HingeLoss"  # any name in paperzoo.losses.MARGIN_LOSSES
    loss_params: dict = field(default_factory=dict)  # gamma (SmoothedL1Hinge), q (DWDMargin)
    l2: float = 1e-4  # alpha in alpha/2 ||w||^2 (scikit-learn's SGDClassifier scaling)


@dataclass
class MarginDataConfig:
    source: str = "blobs"  # blobs | cifar10
    batch_size: int = 256  # global batch (split across DDP processes)
    standardize: bool = True  # z-score features with training-set statistics (stored in the model)
    # blobs
    n_train: int = 20000
    n_val: int = 5000
    dim: int = 20
    separation: float = 2.0
    label_noise: float = 0.0
    # cifar10: the first class is -1, the second +1; pixels in [0, 1], flattened (3072 features)
    classes: list = field(default_factory=lambda: ["airplane", "automobile"])
    limit_per_class: Optional[int] = None


@dataclass
class Config(RunConfig):
    model: MarginModelConfig = field(default_factory=MarginModelConfig)
    data: MarginDataConfig = field(default_factory=MarginDataConfig)

    def validate(self) -> None:
        super().validate()
        try:
            get_margin_loss(self.model.loss, **self.model.loss_params)
        except InvalidArgumentError as exc:
            raise ConfigError(f"model.loss: {exc}") from None
        d = self.data
        if d.source not in ("blobs", "cifar10"):
            raise ConfigError(f"data.source must be blobs or cifar10, got {d.source!r}")
        if d.batch_size < 1 or d.n_train < 1 or d.n_val < 1 or d.dim < 1:
            raise ConfigError("data.batch_size, n_train, n_val and dim must be >= 1")
        if d.source == "cifar10" and len(d.classes) != 2:
            raise ConfigError(f"data.classes must name exactly two classes, got {list(d.classes)}")


def _cifar10_pair(cfg: Config, split: str, data_dir):
    root = require_dataset("cifar10", data_dir)
    images, labels = load_image_folder(root, split, list(cfg.data.classes), cfg.data.limit_per_class)
    X = torch.from_numpy(images).float().div_(255).flatten(1)
    return X, torch.from_numpy(labels).float().mul_(2).sub_(1)


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    d = cfg.data
    if d.source == "blobs":
        X, y = gaussian_blobs(d.n_train + d.n_val, d.dim, separation=d.separation, label_noise=d.label_noise, seed=cfg.seed)
        train, val = (X[: d.n_train], y[: d.n_train]), (X[d.n_train :], y[d.n_train :])
    else:
        train, val = _cifar10_pair(cfg, "train", data_dir), _cifar10_pair(cfg, "test", data_dir)
    info = {"in_features": train[0].shape[1], "n_train": len(train[0]), "n_val": len(val[0])}
    return TensorDataModule(train, val, batch_size=d.batch_size, seed=cfg.seed, info=info)


class MarginClassificationTask(BaseTask):
    def __init__(self, cfg: Config, in_features: int, mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
        super().__init__(cfg)
        model = self.build_model("margin_linear", in_features=in_features)
        if mean is not None:
            model.set_standardization(mean, std)
        self.loss_fn = get_margin_loss(cfg.model.loss, **cfg.model.loss_params)

    def _penalty(self) -> torch.Tensor:
        return 0.5 * self.cfg.model.l2 * self.model.linear.weight.pow(2).sum()

    def training_step(self, batch, batch_idx):
        x, y = batch
        risk = self.loss_fn(self.model(x), y)
        loss = risk + self._penalty()
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/risk", risk)
        return loss

    def inference_info(self) -> dict:
        return {"classes": list(self.cfg.data.classes)} if self.cfg.data.source == "cifar10" else {}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        f = self.model(x)
        self.log("val/risk", self.loss_fn(f, y), sync_dist=True)
        self.log("val/accuracy", (torch.where(f > 0, 1.0, -1.0) == y).float().mean(), sync_dist=True, prog_bar=True)


def build_task(cfg: Config, data: TensorDataModule) -> MarginClassificationTask:
    X = data.train_tensors[0]
    mean, std = (X.mean(0), X.std(0).clamp_min(1e-6)) if cfg.data.standardize else (None, None)
    return MarginClassificationTask(cfg, data.info["in_features"], mean, std)
