"""In-memory tensor data with step-indexed batches, so that a resumed or multi-process run sees
exactly the batches an uninterrupted single-process run sees."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from paperzoo.errors import ConfigError


class StepBatches(IterableDataset):
    """Infinite stream of mini-batches; batch ``s`` depends only on (seed, s).

    Epoch ``e`` is a permutation drawn from ``seed + e``; step ``s`` takes rows
    ``[k*B, (k+1)*B)`` of epoch ``s // steps_per_epoch`` (the last incomplete batch is dropped).
    ``B`` is the *global* batch: with W processes, rank r keeps rows r, r+W, ... of it, so DDP's
    gradient average equals the single-process gradient of the same global batch.
    ``start_step`` is read when iteration starts (after a checkpoint restore).
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, seed: int, start_step=lambda: 0):
        n = len(tensors[0])
        if batch_size > n:
            raise ConfigError(f"data.batch_size={batch_size} is larger than the training set ({n} examples)")
        self.tensors, self.batch_size, self.seed, self.start_step = tensors, batch_size, seed, start_step
        self.steps_per_epoch = n // batch_size

    def __iter__(self):
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        if self.batch_size % world:
            raise ConfigError(f"data.batch_size={self.batch_size} is not divisible by the {world} processes")
        step, epoch, order = self.start_step(), None, None
        while True:
            e, k = divmod(step, self.steps_per_epoch)
            if e != epoch:
                gen = torch.Generator().manual_seed(self.seed * 100_003 + e)
                epoch, order = e, torch.randperm(len(self.tensors[0]), generator=gen)
            rows = order[k * self.batch_size : (k + 1) * self.batch_size][rank::world]
            yield tuple(t[rows] for t in self.tensors)
            step += 1


def step_loader(module: pl.LightningDataModule, tensors: tuple, batch_size: int, seed: int) -> DataLoader:
    """``StepBatches`` over ``tensors`` that start at the module's trainer's global step (so a resumed
    run continues with the batches it would have seen)."""

    def start() -> int:
        return module.trainer.global_step if module.trainer is not None else 0

    return DataLoader(StepBatches(tensors, batch_size, seed, start), batch_size=None)


class TensorDataModule(pl.LightningDataModule):
    """Train tensors streamed by ``StepBatches``; validation tensors in order."""

    def __init__(self, train: tuple[torch.Tensor, ...], val: tuple[torch.Tensor, ...], *, batch_size: int, seed: int, info: dict | None = None):
        super().__init__()
        if batch_size > len(train[0]):  # checked here, before a run directory exists
            raise ConfigError(f"data.batch_size={batch_size} is larger than the training set ({len(train[0])} examples)")
        self.train_tensors, self.val_tensors = train, val
        self.batch_size, self.seed, self.info = batch_size, seed, info or {}

    def train_dataloader(self):
        return step_loader(self, self.train_tensors, self.batch_size, self.seed)

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.val_tensors), batch_size=max(self.batch_size, 1024), shuffle=False)
