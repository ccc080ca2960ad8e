"""T3D (Diba et al. 2017, "Temporal 3D ConvNets"): DenseNet3D-121 with Temporal Transition Layers,
and the paper's 2D -> 3D supervision transfer.

Input ``(B, 3, 32, 224, 224)`` (32 RGB frames). Table 1 (growth rate k = 32, BN-ReLU-Conv order):

    conv1   7x7x7, 64, stride 2; max-pool 3x3x3, stride 2        -> 64 x 8 x 56^2
    dense1  [1x1x1, 4k / 3x3x3, k] x 6      TTL1                  -> C/2 x 4 x 28^2
    dense2  [1x1x1, 4k / 3x3x3, k] x 12     TTL2                  -> 2 x 14^2
    dense3  [1x1x1, 4k / 3x3x3, k] x 24     TTL3                  -> 1 x 7^2
    dense4  [1x1x1, 4k / 3x3x3, k] x 16; BN-ReLU; global average pool; fc

A TTL replaces DenseNet's transition: BN-ReLU, then parallel 3D convs of several temporal depths
(1x1x1, 3x3x3 and 6x3x3, the paper's "variable temporal depths"), concatenated, then 2x2x2
average pooling. The paper does not list the branch widths; here they share the transition's
compressed width C/2 equally (our choice).

Transfer (sec. 3.2): a frozen pre-trained 2D net sees a frame, the 3D net a clip; their pooled
features are concatenated and two fc layers (512, 128) plus a binary classifier decide whether the
frame comes from the same video as the clip. Only the 3D net and the fc layers learn, so the 3D
net is driven to encode what the 2D net knows ("mid-level feature supervision").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, global_pool


def _bn_relu_conv(cin: int, cout: int, kernel, padding) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm3d(cin), nn.ReLU(inplace=True), nn.Conv3d(cin, cout, kernel, 1, padding, bias=False))


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int = 4):
        super().__init__()
        self.body = nn.Sequential(_bn_relu_conv(cin, bn_size * growth, 1, 0), _bn_relu_conv(bn_size * growth, growth, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class TemporalTransition(nn.Module):
    """Parallel convs with temporal depths ``depths`` (3x3 spatially, 1x1 for depth 1), concat, 2x2x2 avg-pool."""

    def __init__(self, cin: int, cout: int, depths=(1, 3, 6)):
        super().__init__()
        widths = [cout // len(depths) + (1 if i < cout % len(depths) else 0) for i in range(len(depths))]
        self.pre = nn.Sequential(nn.BatchNorm3d(cin), nn.ReLU(inplace=True))
        self.depths = depths
        self.branches = nn.ModuleList(
            nn.Conv3d(cin, w, (d, 1, 1) if d == 1 else (d, 3, 3), 1, 0 if d == 1 else (0, 1, 1), bias=False) for d, w in zip(depths, widths)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        outs = []
        for d, conv in zip(self.depths, self.branches):
            # 'same' temporal padding, also for even depths: (d-1)//2 before, d//2 after
            outs.append(conv(F.pad(x, (0, 0, 0, 0, (d - 1) // 2, d // 2))))
        y = torch.cat(outs, 1)
        kernel = tuple(min(2, n) for n in y.shape[2:])  # an axis already down to 1 (short clips) stays 1
        return F.avg_pool3d(y, kernel, kernel, ceil_mode=True)


class T3D(VideoClassifier):
    def __init__(self, *, num_classes: int, blocks=(6, 12, 24, 16), growth: int = 32, stem: int = 64, ttl_depths=(1, 3, 6),
                 dropout: float = 0.0, input_spec: InputSpec):
        super().__init__()
        self.input_spec = input_spec
        layers = [nn.Conv3d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm3d(stem), nn.ReLU(inplace=True), nn.MaxPool3d(3, 2, 1)]
        c = stem
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth))
                c += growth
            if i < len(blocks) - 1:
                layers.append(TemporalTransition(c, c // 2, tuple(ttl_depths)))
                c //= 2
        layers += [nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.feature_dim = c
        self.head = ClassifierHead(c, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.features(x))


@register_model("t3d", family="video")
def t3d(*, num_classes: int = 400, blocks: tuple = (6, 12, 24, 16), growth: int = 32, stem: int = 64, ttl_depths: tuple = (1, 3, 6),
        frames: int = 32, rate: int = 1, crop: int = 224, dropout: float = 0.0) -> T3D:
    """T3D: DenseNet3D-121 with Temporal Transition Layers (temporal depths 1, 3, 6); input 32x224x224."""
    spec = InputSpec(frames=frames, rate=rate, crop=crop, test_short_side=256, test_crop=crop, clips=1, crops=1)
    return T3D(num_classes=num_classes, blocks=tuple(blocks), growth=growth, stem=stem, ttl_depths=tuple(ttl_depths),
               dropout=dropout, input_spec=spec)


class FrameClipCorrespondence(nn.Module):
    """T3D's 2D -> 3D transfer: is ``frame`` from the same video as ``clip``? Only the 3D side learns.

    ``net2d(frames (B, 3, H, W)) -> (B, D2)`` features (frozen, kept in eval mode);
    ``net3d.forward_features(clips (B, 3, T, H, W)) -> (B, D3)``.
    """

    def __init__(self, net2d: nn.Module, net3d: VideoClassifier, dim2d: int, hidden=(512, 128)):
        super().__init__()
        self.net2d, self.net3d = net2d, net3d
        for p in self.net2d.parameters():
            p.requires_grad_(False)
        self.classifier = nn.Sequential(nn.Linear(dim2d + net3d.feature_dim, hidden[0]), nn.ReLU(inplace=True),
                                        nn.Linear(hidden[0], hidden[1]), nn.ReLU(inplace=True), nn.Linear(hidden[1], 2))

    def train(self, mode: bool = True):
        super().train(mode)
        self.net2d.eval()  # frozen teacher: batch-norm statistics stay fixed
        return self

    def forward(self, frames: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f2 = self.net2d(frames)
        return self.classifier(torch.cat([f2, self.net3d.forward_features(clips)], 1))

    @staticmethod
    def make_pairs(clips: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From clips (B, 3, T, H, W), B >= 2: frames (2B, 3, H, W), clips (2B, ...), labels (2B,).

        Each clip is paired once with one of its own frames (label 1) and once with a frame of
        another clip of the batch (label 0); frame times are random.
        """
        b, t = clips.shape[0], clips.shape[2]
        if b < 2:
            raise ValueError("correspondence pairs need a batch of at least 2 clips")
        times = torch.randint(t, (2 * b,), generator=generator)
        other = (torch.arange(b) + torch.randint(1, b, (b,), generator=generator)) % b
        source = torch.cat([torch.arange(b), other])
        frames = clips[source, :, times]
        return frames, torch.cat([clips, clips]), torch.cat([torch.ones(b), torch.zeros(b)]).long()
