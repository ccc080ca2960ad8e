"""Two-stream ConvNets (Simonyan & Zisserman, NIPS 2014): the spatial and the temporal stream, fused
late (``paperzoo.video.fusion``). Conv fusion is ``paperzoo.video.conv_fusion``; the CNN-M / VGG-16
towers are ``paperzoo.video.towers``.

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
"""

from __future__ import annotations

import torch

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier
from paperzoo.video.fusion import LateFusion
from paperzoo.video.towers import ConvTower


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
