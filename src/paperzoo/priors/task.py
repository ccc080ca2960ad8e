"""Task: fit an autoregressive prior to VQ-VAE codes (VQ-VAE section 3.3; PixelCNN prior of 4.2).

Data: a folder written by `paperzoo extract-codes` (uint16 code maps, labels, meta.json). For a
VQ-VAE-2 hierarchy, ``data.level`` picks the level to model and ``data.condition_level`` the level
above it that conditions it (one-hot codes, nearest-upsampled to this level's grid, through the
prior's spatial condition input): the top prior has none, the bottom prior is conditioned on the top.
Codes with G latents per position (a VQ-VAE with ``latents_per_position`` = G, shape (G, h, w)) are
modelled as one (h*G, w) map (``paperzoo.priors.layout.codes_as_map``); sampling returns them as (G, h, w).
Loss: mean negative log-likelihood of each code given the earlier ones (and the class label when
``model.class_conditional``). Validation on the test codes reports:

* ``val/nll_bits_per_code``: prior NLL in bits per latent,
* ``val/bits_per_dim``: the image-level bound of the VQ-VAE with this learned prior,
  (latents per image * bits per latent + Gaussian decoder term from the VQ-VAE's test MSE) / 3072,
  the quantity of paper section 4.1 (VAE 4.51, VQ-VAE 4.67, VIMCO 5.14 bits/dim on CIFAR-10; our
  decoder term is a fixed-variance Gaussian, so our numbers are an upper bound of the same kind).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch

from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError
from paperzoo.metrics.image import gaussian_bits_per_dim
from paperzoo.priors.inference import VQVAE_PREFIX, condition_map
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule
from paperzoo.priors.layout import codes_as_map
from paperzoo.vq.codes import read_codes


@dataclass
class PriorModelConfig:
    name: str = "gated_pixelcnn"  # gated_pixelcnn | pixelsnail
    channels: int = 128
    kernel: int = 3
    class_conditional: bool = False
    layers: int = 15  # gated_pixelcnn
    blocks: int = 4  # pixelsnail: blocks of res_per_block gated residual convs + one attention layer
    res_per_block: int = 2
    heads: int = 4
    dropout: float = 0.1


@dataclass
class PriorDataConfig:
    codes_dir: str = ""  # an extract-codes folder (required)
    level: int = 0  # which level of a hierarchy (0 = bottom)
    condition_level: Optional[int] = None  # the level above that conditions this one (VQ-VAE-2 bottom prior)
    batch_size: int = 64
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None


@dataclass
class Config(RunConfig):
    model: PriorModelConfig = field(default_factory=PriorModelConfig)
    data: PriorDataConfig = field(default_factory=PriorDataConfig)

    def validate(self) -> None:
        super().validate()
        if not self.data.codes_dir:
            raise ConfigError("data.codes_dir is required: an extract-codes folder (`paperzoo extract-codes`)")
        m = self.model
        if m.name not in ("gated_pixelcnn", "pixelsnail"):
            raise ConfigError(f"model.name must be gated_pixelcnn or pixelsnail, got {m.name!r}")
        if m.channels < 1 or m.layers < 2 or m.kernel % 2 == 0 or m.blocks < 1 or m.heads < 1 or m.channels % m.heads:
            raise ConfigError("model needs channels >= 1 (divisible by heads), layers >= 2, blocks >= 1 and an odd kernel")
        if not 0 <= m.dropout < 1:
            raise ConfigError("model.dropout must be in [0, 1)")
        d = self.data
        if d.level < 0 or (d.condition_level is not None and d.condition_level <= d.level):
            raise ConfigError("data.level must be >= 0 and data.condition_level a coarser level above it")


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    d = cfg.data
    train, train_labels, meta = read_codes(d.codes_dir, "train", d.level)
    val, val_labels, _ = read_codes(d.codes_dir, "test", d.level)
    if train.ndim == 4:  # G latents per position: one (h*G, w) map each (``codes_as_map``)
        if d.condition_level is not None:
            raise ConfigError("a conditioned (VQ-VAE-2) prior takes one latent per position; these codes have "
                              f"shape {tuple(train.shape[1:])}")
        train, val = codes_as_map(train), codes_as_map(val)
    elif train.ndim != 3:
        raise ConfigError(f"the prior models 2-D code maps (or G maps of a VQ-VAE with G latents per position); "
                          f"these codes have shape {tuple(train.shape[1:])}")
    if cfg.model.class_conditional and meta["num_classes"] < 1:
        raise ConfigError("model.class_conditional needs labelled codes; this data has no labels")
    n, m = d.limit_train, d.limit_val
    train_t, val_t = (train[:n], train_labels[:n]), (val[:m], val_labels[:m])
    if d.condition_level is not None:
        train_t += (read_codes(d.codes_dir, "train", d.condition_level)[0][:n],)
        val_t += (read_codes(d.codes_dir, "test", d.condition_level)[0][:m],)
    return TensorDataModule(train_t, val_t, batch_size=d.batch_size, seed=cfg.seed, info={"meta": meta})


def vqvae_of(meta: dict) -> tuple[dict | None, dict]:
    """The spec and weights of the VQ-VAE that wrote the codes (kept with the prior, so its samples decode to
    images wherever the run is copied); (None, {}) with a warning when that VQ-VAE is no longer there."""
    import sys

    from paperzoo.errors import PaperzooError
    from paperzoo.io.bundle import read_bundle

    try:
        bundle = read_bundle(meta["vq_model"])
    except (PaperzooError, KeyError) as exc:
        print(f"warning: the codes' VQ-VAE cannot be read ({exc}); this prior will sample codes only", file=sys.stderr)
        return None, {}
    return {"name": bundle.model_name, "kwargs": bundle.kwargs}, bundle.state


class PriorTask(BaseTask):
    def __init__(self, cfg: Config, meta: dict):
        super().__init__(cfg)
        m = cfg.model
        self.meta = meta
        common = dict(num_codes=meta["num_codes"], channels=m.channels, kernel=m.kernel,
                      num_classes=meta["num_classes"] if m.class_conditional else None,
                      cond_channels=meta["num_codes"] if cfg.data.condition_level is not None else None)
        if m.name == "gated_pixelcnn":
            self.build_model(m.name, layers=m.layers, **common)
        else:
            self.build_model(m.name, blocks=m.blocks, res_per_block=m.res_per_block, heads=m.heads, dropout=m.dropout, **common)
        self.vqvae_spec, self.vqvae_state = vqvae_of(meta)

    def inference_info(self) -> dict:
        d = self.cfg.data
        return {"num_codes": self.meta["num_codes"], "levels": self.meta["levels"], "level": d.level,
                "condition_level": d.condition_level, "latent_shape": list(self.meta["latent_shapes"][d.level]),
                "codes_source": self.meta.get("vq_model"), "vqvae": self.vqvae_spec}

    def inference_assets(self) -> dict[str, torch.Tensor]:
        return {VQVAE_PREFIX + k: v for k, v in self.vqvae_state.items()}

    def _nll(self, batch):
        codes, labels = batch[:2]
        cond = condition_map(batch[2], self.meta["num_codes"], tuple(codes.shape[1:])) if len(batch) > 2 else None
        return self.model.nll(codes, labels if self.cfg.model.class_conditional else None, cond)

    def training_step(self, batch, batch_idx):
        loss = self._nll(batch)
        self.log("train/nll", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self):
        self._sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # summed NLL, number of codes

    def validation_step(self, batch, batch_idx):
        codes = batch[0]
        self._sums += torch.stack([self._nll(batch).double() * codes.numel(),
                                   torch.tensor(float(codes.numel()), dtype=torch.float64, device=self.device)])

    def on_validation_epoch_end(self):
        sums = self.trainer.strategy.reduce(self._sums, reduce_op="sum")
        nll = float(sums[0] / sums[1])
        bits = nll / math.log(2)
        latents = math.prod(self.meta["latent_shapes"][self.cfg.data.level])
        self.log("val/nll", nll)
        self.log("val/nll_bits_per_code", bits)
        if self.meta["levels"] == 1:
            decoder = gaussian_bits_per_dim(self.meta["recon_mse"]["test"])  # from the VQ-VAE's test MSE
            self.log("val/bits_per_dim", decoder + latents * bits / (3 * 32 * 32))
        else:  # this level's share of the bound; add the other levels' and the decoder term
            self.log("val/level_bits_per_dim", latents * bits / (3 * 32 * 32))


def build_task(cfg: Config, data: TensorDataModule) -> PriorTask:
    return PriorTask(cfg, data.info["meta"])
