"""3D ResNets: R3D (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions"), R(2+1)D
(same paper) and the single-frame R2D baseline, as one stem -> 4 stages -> pool -> head net.

Input ``(B, 3, L, 112, 112)`` (paper: L = 16 frames for R3D-18 / R(2+1)D-18 clips on Kinetics,
single centre crop 112; 10 clips at test). Data flow (R3D-18, L = 16):

    stem   3x7x7 conv, 64, stride 1x2x2         -> 64  x 16 x 56 x 56
    conv2  [3x3x3, 64]  x 2 blocks               -> 64  x 16 x 56 x 56
    conv3  [3x3x3, 128] x 2, first stride 2x2x2  -> 128 x  8 x 28 x 28
    conv4  [3x3x3, 256] x 2, first stride 2x2x2  -> 256 x  4 x 14 x 14
    conv5  [3x3x3, 512] x 2, first stride 2x2x2  -> 512 x  2 x  7 x  7
    global average pool, fc                      -> num_classes

R(2+1)D replaces every t x d x d conv by a 1 x d x d spatial conv to M channels, BN, ReLU, and a
t x 1 x 1 temporal conv, with M chosen so the parameter count matches the 3D conv (paper eq. 5):

    M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out))

MC3 (mixed convolutions, same paper): 3D convs in conv1 and conv2_x, 2D (1x3x3) convs and no
temporal striding from conv3_x on ("3D early, 2D late").

``mid_channels="paper"`` applies the rule to every conv (stem included); ``"torchvision"``
reproduces torchvision's layout (stem M = 45; a block's second conv reuses its first conv's M) so
its weights load. Stage depths: 18 -> [2, 2, 2, 2], 34 -> [3, 4, 6, 3] basic blocks.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, conv_bn_act, global_pool

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def mid_channels(cin: int, cout: int, t: int = 3, d: int = 3) -> int:
    """R(2+1)D parameter-matching width M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out))."""
    return (t * d * d * cin * cout) // (d * d * cin + t * cout)


class Conv2Plus1d(nn.Sequential):
    """1 x d x d conv (cin -> mid) -> BN -> ReLU -> t x 1 x 1 conv (mid -> cout); stride split the same way."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int = 1, t: int = 3, d: int = 3, t_stride: int | None = None):
        ts = stride if t_stride is None else t_stride
        super().__init__(
            nn.Conv3d(cin, mid, (1, d, d), (1, stride, stride), (0, d // 2, d // 2), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, cout, (t, 1, 1), (ts, 1, 1), (t // 2, 0, 0), bias=False),
        )


class BasicBlock(nn.Module):
    """Two convs with BN, identity (or 1x1x1 projection) shortcut, ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int, make_conv: Callable[[int, int, int, int], nn.Module], t_stride: int):
        super().__init__()
        self.conv1 = nn.Sequential(make_conv(cin, cout, stride, cin), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(make_conv(cout, cout, 1, cin), nn.BatchNorm3d(cout))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, (t_stride, stride, stride), bias=False), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet3d(VideoClassifier):
    """Generic R3D / MC3 / R(2+1)D / R2D network; ``kind`` in {"3d", "mc3", "2plus1d", "2d"}."""

    def __init__(self, *, depth: int, kind: str, num_classes: int, width: int = 64, dropout: float = 0.0,
                 mid_channels_rule: str = "paper", temporal_stride: bool = True, input_spec: InputSpec):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}")
        if mid_channels_rule not in ("paper", "torchvision"):
            raise ValueError("mid_channels must be 'paper' or 'torchvision'")
        self.input_spec = input_spec
        widths = [width * 2**i for i in range(4)]
        if kind not in ("3d", "mc3", "2plus1d", "2d"):
            raise ValueError("kind must be '3d', 'mc3', '2plus1d' or '2d'")
        t_str = 2 if temporal_stride and kind not in ("2d", "mc3") else 1
        if kind in ("3d", "mc3"):
            self.stem = conv_bn_act(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3))
        elif kind == "2d":
            self.stem = conv_bn_act(3, width, (1, 7, 7), (1, 2, 2), (0, 3, 3))
        else:
            m = mid_channels(3, width, 3, 7) if mid_channels_rule == "paper" else 45 * width // 64
            self.stem = nn.Sequential(conv_bn_act(3, m, (1, 7, 7), (1, 2, 2), (0, 3, 3)), conv_bn_act(m, width, (3, 1, 1), 1, (1, 0, 0)))

        stages, cin = [], width
        for i, (n, cout) in enumerate(zip(DEPTHS[depth], widths)):
            stride = 1 if i == 0 else 2
            ts = 1 if i == 0 else t_str

            def make_conv(a, b, s, block_in, ts=ts, stage=i):
                if kind == "3d" or (kind == "mc3" and stage == 0):
                    return nn.Conv3d(a, b, 3, (ts if s > 1 else 1, s, s), 1, bias=False)
                if kind in ("2d", "mc3"):
                    return nn.Conv3d(a, b, (1, 3, 3), (1, s, s), (0, 1, 1), bias=False)
                # torchvision's rule: both convs of a block use M(block input, block output)
                mid = mid_channels(block_in, b) if mid_channels_rule == "torchvision" else mid_channels(a, b)
                return Conv2Plus1d(a, b, mid, s, t_stride=ts if s > 1 else 1)

            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(cin, cout, stride if j == 0 else 1, make_conv, ts))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.feature_dim = cin
        self.head = ClassifierHead(cin, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.stages(self.stem(x)))


def _r3d_spec(frames: int, rate: int, crop: int) -> InputSpec:
    return InputSpec(frames=frames, rate=rate, crop=crop, test_short_side=128, test_crop=crop, clips=10, crops=1)


@register_model("r3d_18", family="video")
def r3d_18(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0) -> ResNet3d:
    """R3D-18 (Tran et al. 2018): 3x3x3 residual net, 33.37M params with 400 classes; input 16x112x112."""
    return ResNet3d(depth=18, kind="3d", num_classes=num_classes, width=width, dropout=dropout, input_spec=_r3d_spec(frames, rate, crop))


@register_model("r3d_34", family="video")
def r3d_34(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0) -> ResNet3d:
    """R3D-34 (Tran et al. 2018): [3, 4, 6, 3] basic 3x3x3 blocks; input 16x112x112."""
    return ResNet3d(depth=34, kind="3d", num_classes=num_classes, width=width, dropout=dropout, input_spec=_r3d_spec(frames, rate, crop))


@register_model("mc3_18", family="video")
def mc3_18(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0) -> ResNet3d:
    """MC3-18 (Tran et al. 2018): 3D convs in conv1 and conv2_x, 2D convs above; 11.7M params; input 16x112x112."""
    return ResNet3d(depth=18, kind="mc3", num_classes=num_classes, width=width, dropout=dropout, input_spec=_r3d_spec(frames, rate, crop))


@register_model("r2plus1d_18", family="video")
def r2plus1d_18(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0,
                mid_channels: str = "paper") -> ResNet3d:
    """R(2+1)D-18: (2+1)D convs with parameter matching, about R3D-18's 33.4M params; input 16x112x112."""
    return ResNet3d(depth=18, kind="2plus1d", num_classes=num_classes, width=width, dropout=dropout,
                    mid_channels_rule=mid_channels, input_spec=_r3d_spec(frames, rate, crop))


@register_model("r2plus1d_34", family="video")
def r2plus1d_34(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0,
                mid_channels: str = "paper") -> ResNet3d:
    """R(2+1)D-34: [3, 4, 6, 3] blocks of (2+1)D convs; input 16x112x112 (paper: 8 or 32 frames also)."""
    return ResNet3d(depth=34, kind="2plus1d", num_classes=num_classes, width=width, dropout=dropout,
                    mid_channels_rule=mid_channels, input_spec=_r3d_spec(frames, rate, crop))


class SingleFrame(VideoClassifier):
    """Wrap a 2D net so it sees only the clip's middle frame: the no-motion baseline."""

    def __init__(self, net: ResNet3d):
        super().__init__()
        self.net, self.input_spec, self.feature_dim = net, net.input_spec, net.feature_dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        middle = x.shape[2] // 2
        return self.net.forward_features(x[:, :, middle : middle + 1])

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        self.net.reset_head(num_classes, dropout)

    @property
    def head(self) -> nn.Module:  # the 2D net's head: one module, stored once in the state dict
        return self.net.head


@register_model("single_frame_r2d_18", family="video")
def single_frame_r2d_18(*, num_classes: int = 400, width: int = 64, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.0) -> SingleFrame:
    """Baseline: a 2D ResNet-18 on the clip's middle frame only (cannot see motion)."""
    return SingleFrame(ResNet3d(depth=18, kind="2d", num_classes=num_classes, width=width, dropout=dropout,
                                input_spec=_r3d_spec(frames, rate, crop)))
