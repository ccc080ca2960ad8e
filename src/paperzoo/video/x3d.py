"""X3D (Feichtenhofer 2020, "X3D: Expanding Architectures for Efficient Video Recognition").

A tiny 2D base (X2D) expanded along six axes; the expansion factors give the net:

    gamma_tau  frame rate (1 / temporal sampling stride)   gamma_t  frames per clip
    gamma_s    spatial resolution                           gamma_d  depth (blocks per stage)
    gamma_w    width (channels of every layer)              gamma_b  bottleneck (inner) width

Table 1 of the paper (X3D-M shown, T x S^2 = 16 x 224^2):

    conv1   1x3^2 conv, 3 -> 24 (stride 1x2^2), then 5x1^2 depthwise      -> 24  x 16 x 112^2
    res2    [1x1^2, 54 / 3x3^2 dw, 54 / 1x1^2, 24]  x 3                  -> 24  x 16 x 56^2
    res3    [1x1^2, 108 / 3x3^2 dw, 108 / 1x1^2, 48] x 5                 -> 48  x 16 x 28^2
    res4    [1x1^2, 216 / 3x3^2 dw, 216 / 1x1^2, 96] x 11                -> 96  x 16 x 14^2
    res5    [1x1^2, 432 / 3x3^2 dw, 432 / 1x1^2, 192] x 7                -> 192 x 16 x 7^2
    conv5   1x1^2, 432; pool; fc1 1x1^2, 2048 (no BN); dropout; fc2 num_classes

Each block: 1x1x1 conv, BN, ReLU; 3x3x3 depthwise conv (spatial stride on a stage's first block),
BN, squeeze-excitation (ratio 1/16, every other block), swish; 1x1x1 conv, BN; residual; ReLU. A
stage's first block has a 1x1x1 projection shortcut, followed by BN only when it changes the width
(res2 keeps 24 channels: a bare strided conv), as in the released models (pytorchvideo, SlowFast).
Head: conv5, then ``AvgPool3d`` over the training clip's final map (frames x crop/32 x crop/32,
stride 1), fc1 with ReLU per pooled window, and the windows averaged (one window at the training
size; the released models' test-time behaviour at larger crops); ``head_pool="global"`` pools once.
Widths: stage base widths 24 * 2^i (X2D: 12 ...) times gamma_w = 2, rounded to multiples of 8;
inner width = gamma_b (2.25) x out; depth = ceil(gamma_d x [1, 2, 5, 3]). X3D-XS / S / M share the
network (3.79M parameters with 400 classes) and differ in input: frames x rate x crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, conv_bn_act, window_pool

BASE_DEPTHS = (1, 2, 5, 3)


def round_width(width: float, multiplier: float, divisor: int = 8) -> int:
    """Channels scaled by ``multiplier`` and rounded to a multiple of ``divisor`` (never below 90%)."""
    width *= multiplier
    new = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * width else new)


@dataclass(frozen=True)
class X3DSpec:
    """Expansion state: input (frames, rate, crop) and network factors (depth, width, bottleneck)."""

    frames: int
    rate: int
    crop: int
    depth: float = 2.2
    width: float = 2.0
    bottleneck: float = 2.25
    stem_width: int = 12  # X2D's base width, multiplied by ``width``

    def stage_depths(self) -> list[int]:
        return [math.ceil(self.depth * d) for d in BASE_DEPTHS]

    def stage_widths(self) -> list[int]:
        base, widths = self.stem_width, []
        for i in range(4):
            widths.append(round_width(base, self.width))
            base = round_width(base, 2.0)
        return widths


# Paper models (training views; test: 10 clips x 3 crops at the test crop, short side = test crop)
SPECS = {
    "x3d_xs": X3DSpec(frames=4, rate=12, crop=160),
    "x3d_s": X3DSpec(frames=13, rate=6, crop=160),
    "x3d_m": X3DSpec(frames=16, rate=5, crop=224),
    "x3d_l": X3DSpec(frames=16, rate=5, crop=312, depth=5.0),
}
TEST_CROPS = {"x3d_xs": 182, "x3d_s": 182, "x3d_m": 256, "x3d_l": 356}


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: float = 1 / 16):
        super().__init__()
        hidden = round_width(channels, ratio)
        self.fc = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv3d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3, 4), keepdim=True))


class X3DBlock(nn.Module):
    def __init__(self, cin: int, inner: int, cout: int, stride: int, use_se: bool):
        super().__init__()
        self.conv_a = conv_bn_act(cin, inner, 1)
        self.conv_b = conv_bn_act(inner, inner, 3, (1, stride, stride), groups=inner, act=False)
        self.se = SqueezeExcite(inner) if use_se else nn.Identity()
        self.swish = nn.SiLU()
        self.conv_c = conv_bn_act(inner, cout, 1, act=False)
        self.shortcut = nn.Identity()
        if cin != cout:
            self.shortcut = conv_bn_act(cin, cout, 1, (1, stride, stride), act=False)
        elif stride != 1:  # a strided projection without BN (the released models' res2)
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, (1, stride, stride), bias=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_c(self.swish(self.se(self.conv_b(self.conv_a(x)))))
        return self.relu(y + self.shortcut(x))


class X3D(VideoClassifier):
    def __init__(self, spec: X3DSpec, *, num_classes: int, head_dim: int = 2048, dropout: float = 0.5, test_crop: int | None = None,
                 head_pool: str = "window"):
        super().__init__()
        if head_pool not in ("window", "global"):
            raise ValueError("head_pool must be 'window' or 'global'")
        self.spec, self.head_pool = spec, head_pool
        side = math.ceil(spec.crop / 32)
        self.pool_kernel = (spec.frames, side, side)
        self.input_spec = InputSpec(frames=spec.frames, rate=spec.rate, crop=spec.crop, test_short_side=test_crop or spec.crop,
                                    test_crop=test_crop or spec.crop, clips=10, crops=3)
        stem_out = round_width(spec.stem_width, spec.width)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_out, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False),
            nn.Conv3d(stem_out, stem_out, (5, 1, 1), 1, (2, 0, 0), groups=stem_out, bias=False),
            nn.BatchNorm3d(stem_out), nn.ReLU(inplace=True))
        stages, cin = [], stem_out
        for depth, cout in zip(spec.stage_depths(), spec.stage_widths()):
            inner = int(spec.bottleneck * cout)
            stages.append(nn.Sequential(*[X3DBlock(cin if j == 0 else cout, inner, cout, 2 if j == 0 else 1, use_se=j % 2 == 0)
                                          for j in range(depth)]))
            cin = cout
        self.stages = nn.Sequential(*stages)
        inner = int(spec.bottleneck * cin)
        self.conv5 = conv_bn_act(cin, inner, 1)
        self.fc1 = nn.Sequential(nn.Linear(inner, head_dim, bias=False), nn.ReLU(inplace=True))
        self.feature_dim = head_dim
        self.head = ClassifierHead(head_dim, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv5(self.stages(self.stem(x)))
        if self.head_pool == "global":
            return self.fc1(y.mean(dim=(2, 3, 4)))
        windows = window_pool(y, self.pool_kernel)  # (B, C, t, h, w)
        return self.fc1(windows.permute(0, 2, 3, 4, 1)).mean(dim=(1, 2, 3))


def x3d_from_spec(spec: X3DSpec, *, num_classes: int, dropout: float = 0.5, head_dim: int = 2048, test_crop: int | None = None,
                  head_pool: str = "window") -> X3D:
    return X3D(spec, num_classes=num_classes, dropout=dropout, head_dim=head_dim, test_crop=test_crop, head_pool=head_pool)


def _builder(name: str):
    def build(*, num_classes: int = 400, frames: int | None = None, rate: int | None = None, crop: int | None = None,
              depth: float | None = None, width: float | None = None, bottleneck: float | None = None,
              stem_width: int | None = None, head_dim: int = 2048, dropout: float = 0.5, head_pool: str = "window") -> X3D:
        changes = {k: v for k, v in dict(frames=frames, rate=rate, crop=crop, depth=depth, width=width, bottleneck=bottleneck,
                                         stem_width=stem_width).items() if v is not None}
        spec = replace(SPECS[name], **changes)
        return x3d_from_spec(spec, num_classes=num_classes, dropout=dropout, head_dim=head_dim,
                             test_crop=None if changes else TEST_CROPS[name], head_pool=head_pool)

    s = SPECS[name]
    build.__doc__ = (f"{name.upper().replace('_', '-')}: {s.frames} frames x rate {s.rate} x {s.crop}^2 crop, "
                     f"depth factor {s.depth}, width 2.0, bottleneck 2.25.")
    build.__name__ = name
    return register_model(name, family="video")(build)


for _name in SPECS:
    globals()[_name] = _builder(_name)
