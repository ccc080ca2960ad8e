"""Task: the continuous VAE baseline (same data and encoder/decoder as the VQ-VAE task).

Loss: the negative ELBO (Gaussian decoder with a learned variance, or the per-pixel discretised
logistic with ``model.options.likelihood=logistic``; standard normal prior). With the
posterior mean at evaluation the reconstruction metrics are those of the VQ-VAE task; the bound
``val/bits_per_dim`` (single-sample ELBO, in bits per 0..255 pixel channel) is the paper's unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule
from paperzoo.vq.task import VQVAEDataConfig, to_model_pixels
from paperzoo.vq.task import build_data as build_image_data


@dataclass
class VAEModelConfig:
    name: str = "vae_sonnet_cifar10"  # vae_sonnet_cifar10 | vae_tiny
    options: dict = field(default_factory=dict)  # builder arguments


@dataclass
class Config(RunConfig):
    model: VAEModelConfig = field(default_factory=VAEModelConfig)
    data: VQVAEDataConfig = field(default_factory=VQVAEDataConfig)

    def validate(self) -> None:
        super().validate()
        if self.model.name not in ("vae_sonnet_cifar10", "vae_tiny"):
            raise ConfigError(f"model.name must be vae_sonnet_cifar10 or vae_tiny, got {self.model.name!r}")


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    return build_image_data(cfg, data_dir)


class VAETask(BaseTask):
    def __init__(self, cfg: Config, train_variance: float):
        super().__init__(cfg)
        self.build_model(cfg.model.name, **cfg.model.options)
        self.train_variance = train_variance

    def training_step(self, batch, batch_idx):
        out = self.model(to_model_pixels(batch[0]))
        self.log("train/loss", out.loss, prog_bar=True)
        self.log("train/kl", out.kl)
        return out.loss

    def on_validation_epoch_start(self):
        self._sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # sq err, elbo*n, kl*n, n

    def validation_step(self, batch, batch_idx):
        x = to_model_pixels(batch[0])
        self.model.train()  # a posterior sample for the ELBO ...
        sampled = self.model(x)
        self.model.eval()  # ... and the posterior mean for the reconstruction metrics
        mean = self.model(x)
        n = float(len(x))
        self._sums += torch.tensor([float(((mean.reconstruction - x) ** 2).mean()) * n, float(sampled.loss) * n,
                                    float(sampled.kl) * n, n], dtype=torch.float64, device=self.device)

    def on_validation_epoch_end(self):
        s = self.trainer.strategy.reduce(self._sums, reduce_op="sum")
        mse = float(s[0] / s[3])
        self.log("val/mse", mse)
        self.log("val/nmse", mse / self.train_variance, prog_bar=True)
        self.log("val/kl_bits_per_dim", float(s[2] / s[3]) / math.log(2))
        density_offset = math.log2(255.0) if self.model.likelihood == "mse" else 0.0  # logistic: already 0..255 bins
        self.log("val/bits_per_dim", float(s[1] / s[3]) / math.log(2) + density_offset)


def build_task(cfg: Config, data: TensorDataModule) -> VAETask:
    return VAETask(cfg, data.info["train_variance"])
