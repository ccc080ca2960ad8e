"""Two-stream networks: Simonyan & Zisserman 2014 (late fusion), Feichtenhofer et al. 2016
(convolutional fusion), and the late-fusion wrapper shared with two-stream I3D, TSN and Hidden
Two-stream.

Two-stream (Simonyan & Zisserman, NIPS 2014). Both streams are the CNN-M-2048 ConvNet:

    conv1 7x7, 96, stride 2, ReLU, LRN, 3x3/2 max pool
    conv2 5x5, 256, stride 2, ReLU, LRN (spatial stream only: the temporal net drops it), 3x3/2 max pool
    conv3 / conv4 / conv5 3x3, 512, stride 1, ReLU; 3x3/2 max pool after conv5
    fc6 4096, ReLU, dropout; fc7 2048, ReLU, dropout; fc8 (classes), softmax

Geometry as in Chatfield et al.'s Caffe CNN-M (conv1 unpadded, conv2-5 padded by 1, 3x3/2 pools in
ceil mode): a 224 input ends in a 6x6x512 map; 90.6M parameters with 101 classes.
The spatial stream sees one RGB frame (224x224x3). The temporal stream sees optical flow
stacking: the horizontal and vertical flow of L = 10 consecutive frame pairs, 2L = 20 channels
ordered (u1, v1, u2, v2, ...), each field minus its own mean (the paper's simple camera-motion
compensation). Dropout: 0.5 spatial (the paper's ImageNet-initialised net), 0.9 temporal.
The streams are trained separately and fused by averaging their softmax scores (weights
configurable; TSN uses 1 : 1.5) or by a linear classifier on the stacked L2-normalised scores
(the paper's SVM; here multinomial logistic regression, ``fit_score_fusion``).

Conv fusion (Feichtenhofer, Pinz & Zisserman, CVPR 2016). The two towers (VGG-16 in the paper,
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
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, split_inputs

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


def stack_flow(flow: torch.Tensor, subtract_mean: bool = True) -> torch.Tensor:
    """(B, 2, L, H, W) flow -> (B, 2L, H, W) ordered (u1, v1, u2, v2, ...); optionally each field
    minus its spatial mean (the two-stream paper's camera-motion compensation)."""
    if subtract_mean:
        flow = flow - flow.mean(dim=(3, 4), keepdim=True)
    b, _, length, h, w = flow.shape
    return flow.transpose(1, 2).reshape(b, 2 * length, h, w)


def middle_frame(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, 3, H, W): the frame in the middle of the clip."""
    return rgb[:, :, rgb.shape[2] // 2]


class SpatialStream(VideoClassifier):
    """Appearance from one RGB frame (the middle one of the clip it is given)."""

    def __init__(self, *, num_classes: int, tower: str = "cnn_m_2048", width: float = 1.0, crop: int = 224,
                 dropout: float = 0.5, frames: int = 1):
        super().__init__()
        self.input_spec = InputSpec(frames=frames, rate=1, crop=crop, test_short_side=256, test_crop=crop, clips=25, crops=1)
        self.tower = ConvTower(tower, 3, crop, width=width, dropout=dropout)
        self.feature_dim = self.tower.out_dim
        self.head = ClassifierHead(self.feature_dim, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(middle_frame(x[:, :3]))


class TemporalStream(VideoClassifier):
    """Motion from L stacked optical-flow fields (2L input channels)."""

    def __init__(self, *, num_classes: int, tower: str = "cnn_m_2048", width: float = 1.0, crop: int = 224,
                 length: int = 10, dropout: float = 0.9, subtract_mean: bool = True, flow: str = "flow"):
        super().__init__()
        self.input_spec = InputSpec(frames=length, rate=1, crop=crop, test_short_side=256, test_crop=crop, clips=25, crops=1,
                                    inputs=(flow,))
        self.subtract_mean = subtract_mean
        self.tower = ConvTower(tower, 2 * length, crop, width=width, dropout=dropout, second_lrn=False)
        self.feature_dim = self.tower.out_dim
        self.head = ClassifierHead(self.feature_dim, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(stack_flow(x, self.subtract_mean))


class LateFusion(VideoClassifier):
    """Streams trained side by side (each with its own loss, as if trained separately) and fused
    by a weighted average of their softmax scores. ``forward`` returns log fused probabilities,
    so argmax / softmax / cross-entropy read it like logits.

    ``streams`` maps a name to a ``VideoClassifier``; the fused input is the union of the streams'
    inputs (``rgb`` first), each stream gets its own channels and the centre part of the clip.
    """

    def __init__(self, streams: dict[str, VideoClassifier], weights: tuple[float, ...] | None = None):
        super().__init__()
        self.streams = nn.ModuleDict(streams)
        self.feature_dim = sum(s.feature_dim for s in streams.values())  # forward_features concatenates the streams'
        weights = tuple(weights or (1.0,) * len(streams))
        if len(weights) != len(streams) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"need one non-negative fusion weight per stream ({len(streams)}), got {weights}")
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32) / sum(weights), persistent=False)
        specs = [s.input_spec for s in streams.values()]
        inputs = tuple(dict.fromkeys(i for name in ("rgb", "flow", "warped_flow") for s in specs for i in s.inputs if i == name))
        first = specs[0]
        if len({s.segments for s in specs}) != 1 or len({s.crop for s in specs}) != 1:
            raise ValueError("fused streams need the same crop and number of segments")
        self.input_spec = InputSpec(frames=max(s.frames for s in specs), rate=first.rate, crop=first.crop,
                                    test_short_side=first.test_short_side, test_crop=first.test_crop, clips=first.clips,
                                    crops=first.crops, inputs=inputs, segments=first.segments)

    def _stream_input(self, x: torch.Tensor, stream: VideoClassifier) -> torch.Tensor:
        parts = split_inputs(x, self.input_spec)
        spec = stream.input_spec
        y = torch.cat([parts[i] for i in spec.inputs], 1)
        full = self.input_spec.frames
        if spec.frames < full:  # the centre frames of each snippet (of the clip when there is one)
            b, c, _, h, w = y.shape
            start = (full - spec.frames) // 2
            y = y.reshape(b, c, spec.segments, full, h, w)[:, :, :, start : start + spec.frames]
            y = y.reshape(b, c, spec.segments * spec.frames, h, w)
        return y

    def stream_logits(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: s(self._stream_input(x, s)) for name, s in self.streams.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fuse_scores(list(self.stream_logits(x).values()), self.weights).log()

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        total, parts = 0.0, {}
        for name, s in self.streams.items():
            loss, extra = s.training_loss(self._stream_input(x, s), y)
            total = total + loss
            parts[f"{name}_loss"] = loss.detach()
            parts.update({f"{name}_{k}": v for k, v in extra.items()})
        return total, parts

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([s.forward_features(self._stream_input(x, s)) for s in self.streams.values()], 1)

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        for s in self.streams.values():
            s.reset_head(num_classes, dropout)


def fuse_scores(logits: list[torch.Tensor], weights: torch.Tensor | tuple[float, ...]) -> torch.Tensor:
    """Weighted average of the streams' softmax scores (weights normalised to sum 1)."""
    w = torch.as_tensor(weights, dtype=logits[0].dtype, device=logits[0].device)
    w = w / w.sum()
    return sum(wi * li.softmax(-1) for wi, li in zip(w, logits)).clamp_min(1e-12)


def fit_score_fusion(scores: list[torch.Tensor], labels: torch.Tensor, *, l2: float = 1e-3, steps: int = 100) -> nn.Linear:
    """The two-stream paper's second fusion: a linear classifier on the stacked, L2-normalised
    softmax scores of the streams (multinomial logistic regression with L2 penalty, L-BFGS)."""
    from paperzoo.metrics.probe import fit_logistic_regression

    return fit_logistic_regression(stacked_scores(scores), labels, classes=scores[0].shape[1], l2=l2, steps=steps)


def stacked_scores(scores: list[torch.Tensor]) -> torch.Tensor:
    """Softmax scores per stream, each row L2-normalised, side by side: (N, streams x classes)."""
    return torch.cat([F.normalize(s.float(), dim=1) for s in scores], 1)


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

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        fused, flow = self._both(x)
        lf, lt = F.cross_entropy(fused, y), F.cross_entropy(flow, y)
        return lf + lt, {"fused_loss": lf.detach(), "temporal_loss": lt.detach()}

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        p = self.head.dropout.p if dropout is None else dropout
        self.head = ClassifierHead(self.feature_dim, num_classes, p)
        self.flow_head = ClassifierHead(self.feature_dim, num_classes, p)


@register_model("two_stream_spatial", family="video")
def two_stream_spatial(*, num_classes: int = 101, tower: str = "cnn_m_2048", width: float = 1.0, crop: int = 224,
                       dropout: float = 0.5) -> SpatialStream:
    """Two-stream spatial stream: CNN-M-2048 on one RGB frame (224x224)."""
    return SpatialStream(num_classes=num_classes, tower=tower, width=width, crop=crop, dropout=dropout)


@register_model("two_stream_temporal", family="video")
def two_stream_temporal(*, num_classes: int = 101, tower: str = "cnn_m_2048", width: float = 1.0, crop: int = 224,
                        length: int = 10, dropout: float = 0.9, subtract_mean: bool = True) -> TemporalStream:
    """Two-stream temporal stream: CNN-M-2048 (no second LRN) on L = 10 stacked flow fields (20 channels)."""
    return TemporalStream(num_classes=num_classes, tower=tower, width=width, crop=crop, length=length, dropout=dropout,
                          subtract_mean=subtract_mean)


@register_model("two_stream", family="video")
def two_stream(*, num_classes: int = 101, tower: str = "cnn_m_2048", width: float = 1.0, crop: int = 224, length: int = 10,
               weights: tuple[float, float] = (1.0, 1.0), spatial_dropout: float = 0.5, temporal_dropout: float = 0.9,
               subtract_mean: bool = True) -> LateFusion:
    """Simonyan & Zisserman's two-stream ConvNet: spatial + temporal streams, softmax scores averaged
    with ``weights`` (spatial, temporal); each stream trained on its own loss."""
    spatial = SpatialStream(num_classes=num_classes, tower=tower, width=width, crop=crop, dropout=spatial_dropout)
    temporal = TemporalStream(num_classes=num_classes, tower=tower, width=width, crop=crop, length=length,
                              dropout=temporal_dropout, subtract_mean=subtract_mean)
    return LateFusion({"spatial": spatial, "temporal": temporal}, tuple(weights))


@register_model("conv_fusion", family="video")
def conv_fusion(*, num_classes: int = 101, tower: str = "vgg16", width: float = 1.0, crop: int = 224, segments: int = 5,
                length: int = 10, fusion: str = "conv3d", dropout: float = 0.85, subtract_mean: bool = True) -> ConvFusionTwoStream:
    """Feichtenhofer et al.'s convolutional two-stream fusion: VGG-16 towers fused after conv5_3 by a
    3x3x3 conv, 3D max pooling over T = 5 snippets, temporal tower kept; ``fusion`` picks the ablation."""
    return ConvFusionTwoStream(num_classes=num_classes, tower=tower, width=width, crop=crop, segments=segments, length=length,
                               fusion=fusion, dropout=dropout, subtract_mean=subtract_mean)


@register_model("two_stream_i3d", family="video")
def two_stream_i3d(*, num_classes: int = 400, width: float = 1.0, frames: int = 64, crop: int = 224,
                   dropout: float = 0.5, weights: tuple[float, float] = (1.0, 1.0)) -> LateFusion:
    """Two-stream I3D (Carreira & Zisserman 2017): an RGB I3D and a flow I3D (2 input channels),
    trained separately, softmax scores averaged."""
    from paperzoo.video.inception import i3d

    rgb = i3d(num_classes=num_classes, width=width, frames=frames, crop=crop, dropout=dropout)
    flow = i3d(num_classes=num_classes, width=width, frames=frames, crop=crop, dropout=dropout, inputs=("flow",))
    return LateFusion({"rgb": rgb, "flow": flow}, tuple(weights))

