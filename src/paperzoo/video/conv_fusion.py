"""Conv fusion (Feichtenhofer, Pinz & Zisserman, CVPR 2016). The two towers (VGG-16 in the paper,
CNN-M-2048 as an option) run on T snippets (one RGB frame + L flow fields each; paper: T = 5 at
tau = 10 frames apart, L = 10) up to their last conv layer (ReLU5_3). There the maps are fused:

    sum / max           element-wise
    concat              stacked channels (2D)
    conv                stack, then a 1x1x1 conv 2D -> D initialised as [I I] (= sum at start)
    conv3d (the paper's best)  stack, then a 3x3x3 conv 2D -> D over (time, space), centre tap [I I]

followed by 3D max pooling over all T snippets and 2x2 space (replacing pool5) and the spatial
tower's fc layers. As in the paper the temporal tower is kept (its own 3D pooling and fc layers)
and the prediction averages the fused and the temporal softmax. Both heads are trained end to end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier
from paperzoo.video.fusion import fuse_scores
from paperzoo.video.towers import ConvTower, fc_layers
from paperzoo.video.two_stream import middle_frame, stack_flow


class ConvFusionTwoStream(VideoClassifier):
    """Feichtenhofer et al.'s fusion at the last conv layer with 3D pooling (see the module docstring).

    Input: ``segments`` snippets of ``length`` frames; per snippet the RGB stream reads the middle
    frame and the flow stream the ``length`` flow fields.
    """

    FUSIONS = ("sum", "max", "concat", "conv", "conv3d")

    def __init__(self, *, num_classes: int, tower: str = "vgg16", width: float = 1.0, crop: int = 224, segments: int = 5,
                 length: int = 10, fusion: str = "conv3d", dropout: float = 0.85, subtract_mean: bool = True):
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(self.FUSIONS)}, got {fusion!r}")
        self.input_spec = InputSpec(frames=length, rate=1, crop=crop, test_short_side=256, test_crop=crop, clips=1, crops=1,
                                    inputs=("rgb", "flow"), segments=segments)
        self.fusion, self.subtract_mean, self.segments, self.length = fusion, subtract_mean, segments, length
        self.rgb = ConvTower(tower, 3, crop, width=width, dropout=dropout, with_fc=False)
        self.flow = ConvTower(tower, 2 * length, crop, width=width, dropout=dropout, second_lrn=False, with_fc=False)
        d = self.rgb.channels
        fused_channels = 2 * d if fusion == "concat" else d
        if fusion in ("conv", "conv3d"):
            k = 1 if fusion == "conv" else 3
            self.fuse = nn.Conv3d(2 * d, d, k, padding=k // 2)
            with torch.no_grad():  # [I I] at the centre tap: starts as the sum of the two streams
                self.fuse.weight.zero_()
                eye = torch.eye(d)
                self.fuse.weight[:, :d, k // 2, k // 2, k // 2] = eye
                self.fuse.weight[:, d:, k // 2, k // 2, k // 2] = eye
                self.fuse.bias.zero_()
        # 3D pooling: all T snippets in time, the tower's pool5 geometry in space
        t = self.rgb
        self.pool3d = nn.MaxPool3d((segments, t.pool_kernel, t.pool_kernel), (segments, t.pool_stride, t.pool_stride), ceil_mode=True)
        area, fc_widths = t.pooled_side**2, t.fc_widths
        self.fused_fc = fc_layers(fused_channels * area, fc_widths, dropout)
        self.flow_fc = fc_layers(d * area, fc_widths, dropout)
        self.feature_dim = fc_widths[-1]
        self.head = ClassifierHead(self.feature_dim, num_classes, dropout)
        self.flow_head = ClassifierHead(self.feature_dim, num_classes, dropout)

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Last-conv maps of both towers, (B, D, T, h, w) each."""
        b, _, _, h, w = x.shape
        snippets = x.reshape(b, x.shape[1], self.segments, self.length, h, w).transpose(1, 2)  # (B, T, C, L, H, W)
        snippets = snippets.reshape(b * self.segments, x.shape[1], self.length, h, w)
        rgb = self.rgb.conv(middle_frame(snippets[:, :3]))
        flow = self.flow.conv(stack_flow(snippets[:, 3:5], self.subtract_mean))

        def to_3d(m: torch.Tensor) -> torch.Tensor:
            return m.reshape(b, self.segments, *m.shape[1:]).transpose(1, 2)

        return to_3d(rgb), to_3d(flow)

    def _fused(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        if self.fusion == "sum":
            return rgb + flow
        if self.fusion == "max":
            return torch.maximum(rgb, flow)
        stacked = torch.cat([rgb, flow], 1)
        return stacked if self.fusion == "concat" else F.relu(self.fuse(stacked))

    def _both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, flow = self._maps(x)
        fused = self.fused_fc(self.pool3d(self._fused(rgb, flow)).flatten(1))
        return self.head(fused), self.flow_head(self.flow_fc(self.pool3d(flow).flatten(1)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        rgb, flow = self._maps(x)
        return self.fused_fc(self.pool3d(self._fused(rgb, flow)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fuse_scores(list(self._both(x)), (1.0, 1.0)).log()

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, *, step: int = 0):
        fused, flow = self._both(x)
        lf, lt = F.cross_entropy(fused, y), F.cross_entropy(flow, y)
        return lf + lt, {"fused_loss": lf.detach(), "temporal_loss": lt.detach()}

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        p = self.head.dropout.p if dropout is None else dropout
        self.head = ClassifierHead(self.feature_dim, num_classes, p)
        self.flow_head = ClassifierHead(self.feature_dim, num_classes, p)


@register_model("conv_fusion", family="video")
def conv_fusion(*, num_classes: int = 101, tower: str = "vgg16", width: float = 1.0, crop: int = 224, segments: int = 5,
                length: int = 10, fusion: str = "conv3d", dropout: float = 0.85, subtract_mean: bool = True) -> ConvFusionTwoStream:
    """Feichtenhofer et al.'s convolutional two-stream fusion: VGG-16 towers fused after conv5_3 by a
    3x3x3 conv, 3D max pooling over T = 5 snippets, temporal tower kept; ``fusion`` picks the ablation."""
    return ConvFusionTwoStream(num_classes=num_classes, tower=tower, width=width, crop=crop, segments=segments, length=length,
                               fusion=fusion, dropout=dropout, subtract_mean=subtract_mean)
