"""Faster CPU inference for the video classifiers, same outputs: batch norm folded into the preceding
convolution, channels-last 3D memory layout, optionally bfloat16.

    fast = optimize_for_inference(model)                       # float32: logits equal to 1e-4
    fast = optimize_for_inference(model, dtype=torch.bfloat16)  # where the CPU has bf16 units (AMX / AVX-512 BF16)

Eval mode only: a folded model cannot train (its batch norms are gone). ``bench/video_weights.py``
measures the speed-up against the reference implementations.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _last_conv(module: nn.Module) -> tuple[nn.Module, str, nn.Conv3d] | None:
    """(parent, name, conv) of the conv whose output ``module`` ends with: itself, or the last child of a Sequential."""
    if isinstance(module, nn.Conv3d):
        return None  # the caller handles a direct conv
    if isinstance(module, nn.Sequential) and len(module):
        name = list(module._modules)[-1]
        child = module._modules[name]
        if isinstance(child, nn.Conv3d):
            return module, name, child
        return _last_conv(child)
    return None


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every BatchNorm3d that directly follows a Conv3d in an ``nn.Sequential`` (also a conv that
    ends a nested Sequential, as R(2+1)D's factorised conv) into that conv, in place; returns how many."""
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for prev, name in zip(names, names[1:]):
            bn, before = seq._modules[name], seq._modules[prev]
            if not isinstance(bn, nn.BatchNorm3d) or not bn.track_running_stats:
                continue
            if isinstance(before, nn.Conv3d):
                seq._modules[prev] = fuse_conv_bn_eval(before, bn)
            elif (found := _last_conv(before)) is not None:
                parent, leaf, conv = found
                parent._modules[leaf] = fuse_conv_bn_eval(conv, bn)
            else:
                continue
            seq._modules[name] = nn.Identity()
            folded += 1
    return folded


class _Cast(nn.Module):
    """Runs ``model`` on a channels-last (and optionally lower-precision) copy of the input; float32 logits out."""

    def __init__(self, model: nn.Module, dtype: torch.dtype | None):
        super().__init__()
        self.model, self.dtype = model, dtype
        self.input_spec = getattr(model, "input_spec", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        if self.dtype is None:
            return self.model(x)
        with torch.autocast("cpu", dtype=self.dtype):
            return self.model(x).float()


def optimize_for_inference(model: nn.Module, *, channels_last: bool = True, dtype: torch.dtype | None = None) -> nn.Module:
    """An eval-mode copy of ``model`` with batch norms folded, channels-last weights and inputs, and
    (``dtype=torch.bfloat16``) autocast; the original is untouched."""
    fast = copy.deepcopy(model).eval()
    fold_batch_norms(fast)
    for p in fast.parameters():
        p.requires_grad_(False)
    if channels_last:  # 5D weights only (a 2D base, as TSN's, keeps its layout)
        for p in fast.parameters():
            if p.dim() == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return _Cast(fast, dtype) if channels_last or dtype is not None else fast
