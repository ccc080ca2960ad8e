"""Late fusion of streams trained side by side (two-stream, TSN, Hidden Two-stream, two-stream I3D):
a weighted average of the streams' softmax scores, or the two-stream paper's linear classifier on the
stacked L2-normalised scores (``fit_score_fusion``; the paper's SVM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import InputSpec, VideoClassifier, split_inputs


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

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, *, step: int = 0):
        total, parts = 0.0, {}
        for name, s in self.streams.items():
            loss, extra = s.training_loss(self._stream_input(x, s), y, step=step)
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


@register_model("two_stream_i3d", family="video")
def two_stream_i3d(*, num_classes: int = 400, width: float = 1.0, frames: int = 64, crop: int = 224,
                   dropout: float = 0.5, weights: tuple[float, float] = (1.0, 1.0)) -> LateFusion:
    """Two-stream I3D (Carreira & Zisserman 2017): an RGB I3D and a flow I3D (2 input channels),
    trained separately, softmax scores averaged."""
    from paperzoo.video.inception import i3d

    rgb = i3d(num_classes=num_classes, width=width, frames=frames, crop=crop, dropout=dropout)
    flow = i3d(num_classes=num_classes, width=width, frames=frames, crop=crop, dropout=dropout, inputs=("flow",))
    return LateFusion({"rgb": rgb, "flow": flow}, tuple(weights))
