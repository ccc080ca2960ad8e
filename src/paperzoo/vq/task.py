"""Task: train an image VQ-VAE (paper section 4.1 / the Sonnet example).

Pixels go into the model in [-0.5, 0.5] (Sonnet). The objective is eq. 3 with a Gaussian decoder::

    loss = mse(x^, x) / var(train pixels) + vq.loss

(the reconstruction term divided by the training-set variance, as in the Sonnet example, so its
scale does not depend on the pixel range). A model built with ``likelihood="logistic"`` replaces that
term by the per-pixel discretised logistic NLL in nats per dimension, and validation adds
``val/decoder_bits_per_dim`` (its -log2 p(x | z_q) on the 0..255 pixels, the bits/dim decoder term). Validation reports, over the whole validation split:
MSE on [0, 1] pixels, PSNR, normalised MSE, mean per-batch perplexity, dataset-level code usage,
entropy and perplexity, and the uniform-prior bits/dim bound; and writes
``plots/reconstructions.png`` (originals above reconstructions) and ``plots/code_usage.png``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from paperzoo.data.cifar10 import load_cifar10
from paperzoo.data.registry import require_dataset
from paperzoo.data.synthetic import shapes_images
from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError
from paperzoo.metrics.codebook import CodeUsage
from paperzoo.metrics.image import gaussian_bits_per_dim
from paperzoo.registry import list_models
from paperzoo.vq.vqvae import logistic_nll
from paperzoo.report.figures import code_usage_histogram, image_grid, to_uint8_images
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule


@dataclass
class VQVAEModelConfig:
    name: str = "vqvae_sonnet_cifar10"  # any vq-family model: vqvae_* or vqvae2_* (hierarchical)
    options: dict = field(default_factory=dict)  # builder arguments, e.g. {num_codes: 256, restart_after: 100}


@dataclass
class VQVAEDataConfig:
    source: str = "cifar10"  # cifar10 (data root) | shapes (generated) | moving_shapes (frames of the generated videos)
    batch_size: int = 32
    limit_train: Optional[int] = None  # first N training images (CPU-scale runs)
    limit_val: Optional[int] = None
    n_train: int = 4096  # shapes only
    n_val: int = 512
    grid_images: int = 8  # images in plots/reconstructions.png


@dataclass
class Config(RunConfig):
    model: VQVAEModelConfig = field(default_factory=VQVAEModelConfig)
    data: VQVAEDataConfig = field(default_factory=VQVAEDataConfig)

    def validate(self) -> None:
        super().validate()
        names = [m.name for m in list_models(family="vq") if m.name.startswith("vqvae")]
        if self.model.name not in names:
            raise ConfigError(f"model.name must be one of {', '.join(names)}, got {self.model.name!r}")
        d = self.data
        if d.source not in ("cifar10", "shapes", "moving_shapes"):
            raise ConfigError(f"data.source must be cifar10, shapes or moving_shapes, got {d.source!r}")
        for key in ("batch_size", "n_train", "n_val", "grid_images"):
            if getattr(d, key) < 1:
                raise ConfigError(f"data.{key} must be >= 1")
        for key in ("limit_train", "limit_val"):
            if getattr(d, key) is not None and getattr(d, key) < 1:
                raise ConfigError(f"data.{key} must be >= 1 or null")


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    d = cfg.data
    if d.source == "cifar10":
        root = require_dataset("cifar10", data_dir)
        train = torch.from_numpy(load_cifar10(root, "train")[0][: d.limit_train])
        val = torch.from_numpy(load_cifar10(root, "test")[0][: d.limit_val])
    elif d.source == "moving_shapes":  # every frame of the clips (limit_*: clips, not frames)
        from paperzoo.data.moving_shapes import clip_frames

        train = torch.from_numpy(clip_frames("train", d.limit_train)).flatten(0, 1)
        val = torch.from_numpy(clip_frames("test", d.limit_val)).flatten(0, 1)
    else:
        images = shapes_images(d.n_train + d.n_val, seed=cfg.seed)
        train, val = images[: d.n_train], images[d.n_train :]
    variance = float(train.double().div(255).var())
    info = {"train_variance": variance, "n_train": len(train), "n_val": len(val)}
    return TensorDataModule((train,), (val,), batch_size=d.batch_size, seed=cfg.seed, info=info)


def to_model_pixels(images_uint8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [-0.5, 0.5]."""
    return images_uint8.permute(0, 3, 1, 2).float().div(255).sub(0.5)


class VQVAETask(BaseTask):
    def __init__(self, cfg: Config, train_variance: float):
        super().__init__(cfg)
        self.build_model(cfg.model.name, **cfg.model.options)
        self.train_variance = train_variance

    def compile_targets(self):
        # the quantisers stay eager: their EMA / restart code is data-dependent Python
        if hasattr(self.model, "encoder"):
            return [self.model.encoder, self.model.decoder]
        return [*self.model.encoders, *self.model.cond_decoders, self.model.decoder]

    def training_step(self, batch, batch_idx):
        x = to_model_pixels(batch[0])
        out = self.model(x)
        nmse = F.mse_loss(out.reconstruction.float(), x) / self.train_variance
        log_scale = getattr(out, "log_scale", None)
        recon = nmse if log_scale is None else logistic_nll(x, out.reconstruction, log_scale)
        loss = recon + out.vq_loss
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/nmse", nmse.detach())
        if log_scale is not None:
            self.log("train/nll", recon.detach())
        self.log("train/vq_loss", out.vq_loss)
        for i, level in enumerate(out.levels):
            self.log("train/perplexity" + (f"_l{i}" if i else ""), level.perplexity, prog_bar=i == 0)
        return loss

    # --- validation: accumulate over the whole split, reduce across processes -------------------------
    def on_validation_epoch_start(self):
        self._sums = torch.zeros(5, dtype=torch.float64, device=self.device)  # sq err, psnr, images, batches, logistic nll
        quantizers = self.model.quantizers
        self._perplexity = torch.zeros(len(quantizers), dtype=torch.float64, device=self.device)
        self._usage = [CodeUsage(q.num_codes) for q in quantizers]
        self._grid = None
        self._latents_per_image = [1] * len(quantizers)

    def validation_step(self, batch, batch_idx):
        x = to_model_pixels(batch[0])
        self._dims = x[0].numel()
        out = self.model(x)
        per_image = ((out.reconstruction.float() - x) ** 2).flatten(1).mean(1)  # [0,1]-scale MSE per image
        log_scale = getattr(out, "log_scale", None)
        nll = logistic_nll(x, out.reconstruction, log_scale).double() * len(x) if log_scale is not None else per_image.new_zeros(()).double()
        self._sums += torch.stack([per_image.sum().double(), (10 * torch.log10(1 / per_image.clamp_min(1e-10))).sum().double(),
                                   torch.tensor(float(len(x)), dtype=torch.float64, device=self.device),
                                   torch.tensor(1.0, dtype=torch.float64, device=self.device), nll])
        for i, level in enumerate(out.levels):
            self._perplexity[i] += level.perplexity.double()
            self._usage[i].update(level.indices)
            self._latents_per_image[i] = math.prod(level.indices.shape[1:])
        if self._grid is None:
            k = min(self.cfg.data.grid_images, len(x))
            self._grid = (to_uint8_images(x[:k]), to_uint8_images(out.reconstruction[:k]))

    def on_validation_epoch_end(self):
        reduce = self.trainer.strategy.reduce
        sums = reduce(self._sums, reduce_op="sum")
        perplexity = reduce(self._perplexity, reduce_op="sum") / sums[3]
        mse01 = float(sums[0] / sums[2])
        metrics = {"val/mse": mse01, "val/psnr": float(sums[1] / sums[2]), "val/nmse": mse01 / self.train_variance}
        # uniform-prior KL: log2(K) bits for every latent of every level
        kl_bits = sum(n * math.log2(u.num_codes) for n, u in zip(self._latents_per_image, self._usage))
        decoder_bits = gaussian_bits_per_dim(mse01)
        if getattr(self.model, "likelihood", "mse") == "logistic":
            decoder_bits = float(sums[4] / sums[2]) / math.log(2)
            metrics["val/decoder_bits_per_dim"] = decoder_bits
        metrics["val/bits_per_dim_uniform"] = decoder_bits + kl_bits / self._dims
        all_counts = []
        for i, usage in enumerate(self._usage):
            usage.counts = reduce(usage.counts.to(self.device), reduce_op="sum").cpu().long()
            stats, suffix = usage.compute(), f"_l{i}" if i else ""
            metrics.update({f"val/perplexity_batch{suffix}": float(perplexity[i]), f"val/code_usage{suffix}": stats["usage"],
                            f"val/code_perplexity{suffix}": stats["perplexity"], f"val/code_entropy_bits{suffix}": stats["entropy_bits"]})
            all_counts.append(usage.counts.numpy())
        for key, value in metrics.items():
            self.log(key, value, prog_bar=key in ("val/nmse", "val/code_usage"))
        if self.trainer.is_global_zero and self.trainer.default_root_dir and self._grid is not None:
            plots = Path(self.trainer.default_root_dir) / "plots"
            image_grid(list(self._grid), plots / "reconstructions.png")
            for i, counts in enumerate(all_counts):
                code_usage_histogram(counts, plots / ("code_usage.png" if i == 0 else f"code_usage_l{i}.png"))


def build_task(cfg: Config, data: TensorDataModule) -> VQVAETask:
    return VQVAETask(cfg, data.info["train_variance"])
