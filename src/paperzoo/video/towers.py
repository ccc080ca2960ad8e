"""The 2D towers of the two-stream family: CNN-M-2048 (Chatfield et al.'s Caffe geometry) and VGG-16,
split where the fusion papers cut them (``conv`` to the last conv's ReLU, ``pool``, ``fc``)."""

from __future__ import annotations

import torch
from torch import nn

# (out channels, kernel, stride, LRN after, max pool after); "M" in VGG lists is a pool
CNN_M_2048 = [(96, 7, 2, True, True), (256, 5, 2, True, True), (512, 3, 1, False, False), (512, 3, 1, False, False),
              (512, 3, 1, False, True)]
CNN_M_PAD = (0, 1, 1, 1, 1)  # Caffe's CNN-M geometry: 224 -> 109 -> 54 -> 26 -> 13 -> 13 -> 13 -> 6 (ceil-mode pools)
CNN_M_FC = (4096, 2048)
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG_FC = (4096, 4096)
TOWERS = ("cnn_m_2048", "vgg16")


def _lrn() -> nn.Module:
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)  # Krizhevsky et al.'s settings


class ConvTower(nn.Module):
    """A 2D ConvNet split where fusion happens: ``conv`` (to the last conv's ReLU), ``pool`` (its last
    max pool) and ``fc`` (fc6, fc7 with ReLU and dropout; ``with_fc=False`` leaves it out for a
    fusion net that brings its own). ``out_dim`` is fc7's width."""

    def __init__(self, kind: str, in_channels: int, crop: int, *, width: float = 1.0, dropout: float = 0.5,
                 second_lrn: bool = True, with_fc: bool = True):
        super().__init__()
        if kind not in TOWERS:
            raise ValueError(f"tower must be one of {', '.join(TOWERS)}, got {kind!r}")

        def w(c: int) -> int:
            return max(1, round(c * width))

        layers, cin = [], in_channels
        if kind == "cnn_m_2048":
            for i, (c, k, s, lrn, pool) in enumerate(CNN_M_2048):
                layers += [nn.Conv2d(cin, w(c), k, s, CNN_M_PAD[i]), nn.ReLU(inplace=True)]
                if lrn and (i == 0 or second_lrn):
                    layers.append(_lrn())
                if pool and i < len(CNN_M_2048) - 1:
                    layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
                cin = w(c)
            fc, self.pool_kernel, self.pool_stride = CNN_M_FC, 3, 2
        else:
            for c in VGG16[:-1]:
                if c == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(cin, w(c), 3, 1, 1), nn.ReLU(inplace=True)]
                    cin = w(c)
            fc, self.pool_kernel, self.pool_stride = VGG_FC, 2, 2
        self.conv = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(self.pool_kernel, self.pool_stride, ceil_mode=True)
        self.channels, self.fc_widths = cin, tuple(w(f) for f in fc)
        self.pooled_side = self.pool(torch.zeros(1, 1, *(self.conv_side(crop),) * 2, device="meta")).shape[-1]
        self.fc = fc_layers(cin * self.pooled_side**2, self.fc_widths, dropout) if with_fc else None
        self.out_dim = self.fc_widths[-1]

    def conv_side(self, crop: int) -> int:
        return self.conv(torch.zeros(1, self.conv[0].in_channels, crop, crop, device="meta")).shape[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> fc7 activations (B, out_dim)."""
        return self.fc(self.pool(self.conv(x)).flatten(1))


def fc_layers(in_dim: int, widths: tuple[int, ...], dropout: float) -> nn.Sequential:
    """fc6 -> ReLU -> dropout -> fc7 -> ReLU (fc7's dropout sits in the ``ClassifierHead``)."""
    layers, d = [], in_dim
    for i, f in enumerate(widths):
        layers += [nn.Linear(d, f), nn.ReLU(inplace=True)]
        if i < len(widths) - 1:
            layers.append(nn.Dropout(dropout))
        d = f
    return nn.Sequential(*layers)
