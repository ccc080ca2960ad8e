"""Batch norm over the global batch under DDP, on any device (CPU/gloo included).

With W processes each holding ``batch_size / W`` samples, plain BatchNorm normalises with each
process's own half-batch statistics, so a 2-process run is not the 1-process run of the same
global batch. ``torch.nn.SyncBatchNorm`` fixes that on GPUs only; ``GlobalBatchNorm`` does it
everywhere: per channel it all-reduces the count, sum and sum of squares (with autograd, so the
backward pass sums the statistics' gradients across processes exactly as one process would get
them), then normalises with

    mean = S / n,   var = Q / n - mean^2   (biased, for normalising; the running variance gets
    the unbiased var * n / (n - 1), as nn.BatchNorm does)

Outside training, or without an initialised process group of two or more, it is plain BatchNorm.
Its state dict is BatchNorm's, so checkpoints load into the unconverted model.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class GlobalBatchNorm(_BatchNorm):
    """Drop-in for BatchNorm1d/2d/3d (any ``(N, C, ...)`` input) that normalises over all processes' samples."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # differentiable all-reduce

        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        count = torch.full((1,), x.numel() / x.shape[1], dtype=torch.float32, device=x.device)
        stats = all_reduce(torch.cat([count, xf.sum(dims), (xf * xf).sum(dims)]))
        n = stats[0]
        mean = stats[1 : 1 + x.shape[1]] / n
        var = (stats[1 + x.shape[1] :] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm{1,2,3}d in ``module`` by a GlobalBatchNorm with the same parameters and buffers."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        if module.affine:  # a frozen BN stays frozen (e.g. a momentum encoder's): DDP rejects unused trainable parameters
            new.weight.requires_grad_(module.weight.requires_grad)
            new.bias.requires_grad_(module.bias.requires_grad)
        return new.to(module.running_mean.device if module.running_mean is not None else "cpu").train(module.training)
    for name, child in module.named_children():
        setattr(module, name, convert_batchnorm(child))
    return module

