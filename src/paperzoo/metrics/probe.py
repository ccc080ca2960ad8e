"""Classifiers used as measuring instruments: a small network trained on (x, y) tensors, its
accuracy, and multinomial logistic regression (linear probes, score fusion); ``fit_random_batches``,
the one Adam loop the package's small fits share (judges, latent priors, the 27-bit compressor)."""

from __future__ import annotations

import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def fit_random_batches(make_model: Callable[[], nn.Module], loss_of: Callable[[nn.Module, torch.Tensor], torch.Tensor], rows: int,
                       *, steps: int, batch: int, lr: float, seed: int = 0, cosine: bool = False,
                       log_every: int = 0) -> nn.Module:
    """A fresh ``make_model()`` (built after seeding torch with ``seed``) trained with Adam for ``steps``
    mini-batches of random row indices in 0..rows-1: ``loss_of(model, idx)`` is the batch's loss; the
    learning rate decays to 0 on a cosine when ``cosine``; ``log_every`` > 0 prints the mean loss of
    every that many steps to stderr (long fits show progress and their learning curve). Returned in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = make_model().train()
    opt = torch.optim.Adam(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    start, losses = time.perf_counter(), []
    for step in range(steps):
        loss = loss_of(model, torch.randint(0, rows, (min(batch, rows),), generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if log_every > 0:
            losses.append(loss.item())
            if (step + 1) % log_every == 0 or step + 1 == steps:
                elapsed = time.perf_counter() - start
                print(f"step {step + 1}/{steps}  loss {sum(losses) / len(losses):.4f}  {elapsed:.0f} s, "
                      f"ETA {elapsed / (step + 1) * (steps - step - 1):.0f} s", file=sys.stderr, flush=True)
                losses = []
    return model.eval()


def train_classifier(x: torch.Tensor, y: torch.Tensor, make_model: Callable[[], nn.Module], *, steps: int = 500, batch: int = 128,
                     lr: float = 2e-3, seed: int = 0) -> nn.Module:
    """A fresh ``make_model()`` trained with Adam on random mini-batches of (x, y); returned in eval mode."""
    return fit_random_batches(make_model, lambda m, idx: F.cross_entropy(m(x[idx]), y[idx]), len(x), steps=steps, batch=batch,
                              lr=lr, seed=seed)


@torch.no_grad()
def predict(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """argmax class of every row of ``x``."""
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def accuracy(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x) == y).float().mean())


def fit_logistic_regression(x: torch.Tensor, y: torch.Tensor, *, classes: int | None = None, l2: float = 1e-3,
                            steps: int = 100) -> nn.Linear:
    """Multinomial logistic regression with an L2 penalty on the weights, fitted by L-BFGS."""
    x = x.float()
    layer = nn.Linear(x.shape[1], classes or int(y.max()) + 1)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(layer(x), y) + l2 * layer.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return layer.requires_grad_(False)
