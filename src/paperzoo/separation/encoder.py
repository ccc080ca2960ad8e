"""ResNet-34 spectrogram encoder of AudioSlots (paper section 3, "Encoding").

Basic residual blocks 3-4-6-3 with widths 64-128-256-512 (He et al. 2016). The root block keeps
its resolution ("reduced stride in the root block"): a 3x3 stride-1 convolution and no max-pool,
so only stages 2-4 halve the grid and the total stride is 8. The input is cropped to multiples
of 8 first (the Nyquist bin and the last frame of a 257 x 65 spectrogram), which gives exactly
the paper's 32 x 8 feature grid::

    (B, 1, 257, 65) -> crop (B, 1, 256, 64) -> root (B, 64, 256, 64)
      -> stage1 (B, 64, 256, 64) -> stage2 (B, 128, 128, 32) -> stage3 (B, 256, 64, 16)
      -> stage4 (B, 512, 32, 8)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """(B, 1, F, T) compressed magnitudes -> (B, widths[-1], F // 8, T // 8) features."""

    def __init__(self, *, blocks=(3, 4, 6, 3), widths=(64, 128, 256, 512)):
        super().__init__()
        self.root = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else w, w, stride if j == 0 else 1) for j in range(n)]))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.stride = 2 ** (len(blocks) - 1)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, t = x.shape[-2] // self.stride * self.stride, x.shape[-1] // self.stride * self.stride
        if f == 0 or t == 0:
            raise ValueError(f"spectrogram {tuple(x.shape[-2:])} is smaller than the encoder stride {self.stride}")
        return self.stages(self.root(x[..., :f, :t]))
