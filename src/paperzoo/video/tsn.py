"""Temporal Segment Networks (Wang et al., ECCV 2016).

A video is cut into K = 3 equal segments; one short snippet is sampled from each (randomly when
training, the centre when testing) and the same 2D ConvNet scores every snippet; the segmental
consensus (average of the snippet scores) is the video's prediction and the loss is taken on it:

    TSN(T1, ..., TK) = H(G(F(T1; W), ..., F(TK; W)))     G = average, H = softmax

Modalities (what one snippet is):

    rgb          one frame, 3 channels
    rgb_diff     5 consecutive frames -> their 4 consecutive differences stacked, 12 channels
    flow         5 consecutive flow fields (u, v), 10 channels
    warped_flow  the same on warped flow (camera motion removed; ``paperzoo.video.flow``)

Base network: Inception with batch norm (the paper's BN-Inception; here the 2D Inception-V1 with
BN of ``paperzoo.video.inception``, which differs from BN-Inception in keeping 5x5 branches).
Good practices: cross-modality initialisation (``cross_modality_init``: the flow / RGB-difference
net's first conv is the RGB weights averaged over the 3 input channels and replicated to the new
channel count; every other tensor copied); partial BN (every batch-norm layer but the first keeps
its ImageNet statistics and affine parameters frozen while training; only sensible when starting
from a pre-trained net, so the CPU configs from scratch turn it off); dropout before the classifier
(0.8 for RGB, 0.7 for the other modalities). Two-stream TSN fuses RGB and flow scores 1 : 1.5.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.errors import CheckpointError
from paperzoo.registry import register_model
from paperzoo.video.base import InputSpec, VideoClassifier
from paperzoo.video.inception import InceptionNet
from paperzoo.video.fusion import LateFusion
from paperzoo.video.two_stream import stack_flow

MODALITIES = {"rgb": ("rgb", 1, 3), "rgb_diff": ("rgb", 5, 12), "flow": ("flow", 5, 10), "warped_flow": ("warped_flow", 5, 10)}
DROPOUT = {"rgb": 0.8, "rgb_diff": 0.7, "flow": 0.7, "warped_flow": 0.7}


def rgb_difference(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, L, H, W) frames -> (N, 3 (L - 1), H, W): consecutive differences, stacked per difference."""
    diff = rgb[:, :, 1:] - rgb[:, :, :-1]
    n, c, l, h, w = diff.shape
    return diff.transpose(1, 2).reshape(n, c * l, h, w)


class TSN(VideoClassifier):
    """K segments -> one snippet each -> shared 2D ConvNet -> average consensus of the class scores."""

    def __init__(self, *, num_classes: int, modality: str = "rgb", segments: int = 3, width: float = 1.0, crop: int = 224,
                 dropout: float | None = None, partial_bn: bool = True, consensus: str = "avg"):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
        if consensus not in ("avg", "max"):
            raise ValueError("consensus must be 'avg' or 'max'")
        source, length, channels = MODALITIES[modality]
        self.modality, self.segments, self.length, self.partial_bn, self.consensus = modality, segments, length, partial_bn, consensus
        self.input_spec = InputSpec(frames=length, rate=1, crop=crop, test_short_side=256, test_crop=crop, clips=25 // segments or 1,
                                    crops=1, inputs=(source,), segments=segments)
        self.base = InceptionNet(num_classes=num_classes, dims=2, width=width, in_channels=channels,
                                 dropout=DROPOUT[modality] if dropout is None else dropout)
        self.feature_dim = self.base.feature_dim

    def snippets(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, K * L, H, W) -> (B * K, channels, H, W), the 2D net's input per snippet."""
        b, c, _, h, w = x.shape
        s = x.reshape(b, c, self.segments, self.length, h, w).transpose(1, 2).reshape(b * self.segments, c, self.length, h, w)
        if self.modality == "rgb":
            return s[:, :, 0]
        if self.modality == "rgb_diff":
            return rgb_difference(s)
        return stack_flow(s, subtract_mean=False)

    def snippet_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.forward_features(self.snippets(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.snippet_features(x).reshape(len(x), self.segments, -1).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.head(self.snippet_features(x)).reshape(len(x), self.segments, -1)
        return scores.mean(1) if self.consensus == "avg" else scores.amax(1)

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        self.base.reset_head(num_classes, dropout)

    @property
    def head(self) -> nn.Module:  # the base net's head: one module, stored once in the state dict
        return self.base.head

    def train(self, mode: bool = True):
        """Partial BN: in training, every BN layer after the first stays in eval mode with frozen affine."""
        super().train(mode)
        if mode and self.partial_bn:
            bns = [m for m in self.base.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]  # GlobalBatchNorm too
            for bn in bns[1:]:
                bn.eval()
                bn.weight.requires_grad_(False)
                bn.bias.requires_grad_(False)
        return self


def cross_modality_init(rgb_state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """TSN's cross-modality pre-training: a state dict for ``target`` (flow / RGB-difference net) from
    an RGB net's: first conv averaged over its 3 input channels and replicated to the target's
    channel count; every other tensor copied (shapes must match)."""
    wanted = target.state_dict()
    out, first = {}, None
    for name, ref in wanted.items():
        if name not in rgb_state:
            raise CheckpointError(f"the RGB state dict lacks {name!r}")
        w = rgb_state[name]
        if first is None and ref.dim() == 4 and w.dim() == 4 and w.shape[1] == 3 and ref.shape[1] != 3:
            first = name
            w = w.mean(1, keepdim=True).expand(-1, ref.shape[1], -1, -1)
        if w.shape != ref.shape:
            raise CheckpointError(f"{name}: RGB shape {tuple(w.shape)} does not fit {tuple(ref.shape)}")
        out[name] = w.clone()
    return out


@register_model("tsn", family="video")
def tsn(*, num_classes: int = 101, modality: str = "rgb", segments: int = 3, width: float = 1.0, crop: int = 224,
        dropout: float | None = None, partial_bn: bool = True, consensus: str = "avg", rgb_run: str | None = None) -> TSN:
    """TSN on one modality (rgb, rgb_diff, flow, warped_flow): K = 3 segments, BN-Inception-style base.
    ``rgb_run``: a trained RGB TSN (run or export directory) to start from by cross-modality initialisation."""
    net = TSN(num_classes=num_classes, modality=modality, segments=segments, width=width, crop=crop, dropout=dropout,
              partial_bn=partial_bn, consensus=consensus)
    if rgb_run is not None:
        from paperzoo.io.checkpoints import load_model

        rgb = load_model(rgb_run)
        if not isinstance(rgb, TSN) or rgb.modality != "rgb":
            raise CheckpointError(f"{rgb_run} does not hold an RGB TSN")
        net.load_state_dict(cross_modality_init(rgb.state_dict(), net))
    return net


@register_model("tsn_two_stream", family="video")
def tsn_two_stream(*, num_classes: int = 101, temporal: str = "flow", segments: int = 3, width: float = 1.0, crop: int = 224,
                   partial_bn: bool = True, weights: tuple[float, float] = (1.0, 1.5)) -> LateFusion:
    """Two-stream TSN: an RGB TSN and a ``temporal`` (flow / warped_flow / rgb_diff) TSN, scores fused 1 : 1.5."""
    rgb = TSN(num_classes=num_classes, modality="rgb", segments=segments, width=width, crop=crop, partial_bn=partial_bn)
    other = TSN(num_classes=num_classes, modality=temporal, segments=segments, width=width, crop=crop, partial_bn=partial_bn)
    return LateFusion({"rgb": rgb, temporal: other}, tuple(weights))
