"""Video classification without the training stack: ``paperzoo.load(RUN_OR_EXPORT).predict("clip.mp4")``.

The class names, the view protocol (frames, sampling rate, crop, short side, segments, input
modalities) and the optical-flow method the model was trained on travel with the model, so the
scores come from exactly the views training validated on: clips uniformly spaced over the video,
1 centre or 3 crops each, softmax averaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.bundle import Bundle, Pretrained
from paperzoo.video.base import InputSpec
from paperzoo.io.video import read_video, video_info
from paperzoo.video.speed import optimize_for_inference
from paperzoo.video.flow import compute_flow, dequantize, quantize
from paperzoo.video.transforms import multi_view_scores, sample_view


def flow_as_trained(frames: np.ndarray, kind: str, method: str, fmt: str) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T - 1, H, W, 2) flow as the training cache stored it (8-bit round trip for jpeg)."""
    flow = compute_flow(frames, method, warped=kind == "warped_flow")
    return dequantize(quantize(flow)) if fmt == "jpeg" else flow.astype(np.float16).astype(np.float32)


class VideoPredictor(Pretrained):
    """A trained video classifier. ``predict(path_or_frames, clips=3, crops=1, k=5) -> [(class, probability)]``.

    ``path_or_frames``: a video file (mp4 / avi / webm), an ``img_00001.jpg`` frame folder, or uint8
    frames (T, H, W, 3)."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        info = bundle.info
        self.classes: list[str] = list(info["classes"])
        self.view = self.model.input_spec = InputSpec.from_dict(info["view"])  # the view the weights expect
        self.flow_method, self.flow_format = info.get("flow_method", "farneback"), info.get("flow_format", "jpeg")
        # batch norm folded, channels-last: same scores, 1.4-3.7x faster on CPU (bench/video_weights.py)
        self.fast = optimize_for_inference(self.model)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "VideoPredictor":
        return cls(bundle)

    @torch.no_grad()
    def scores(self, path_or_frames, *, clips: int = 3, crops: int = 1) -> torch.Tensor:
        """(num_classes,) probabilities averaged over ``clips`` x ``crops`` views."""
        if clips < 1 or crops not in (1, 3):
            raise InvalidArgumentError(f"clips must be >= 1 and crops 1 or 3, got {clips} and {crops}")
        view = self.view
        if isinstance(path_or_frames, (str, Path)):
            total = video_info(path_or_frames).num_frames
        else:
            frames = np.asarray(path_or_frames)
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
                raise InvalidArgumentError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
            total = len(frames)
        if view.flow_kind is not None and total < 2:
            raise InvalidArgumentError("a flow model needs at least 2 frames")
        # only the frames the views use are read, and the flow only of the pairs they use (each flow field
        # depends on its two frames alone): a long video costs decoding time, not memory
        clips_at = sample_view(total, view.frames, view.rate, view.segments, "uniform", num_clips=clips)
        used = np.unique(np.concatenate(clips_at))
        pairs = np.minimum(used, total - 2) if view.flow_kind is not None else np.array([], np.int64)
        needed = np.unique(np.concatenate([used if "rgb" in view.inputs else [], pairs, pairs + 1]).astype(np.int64))
        at = {int(f): k for k, f in enumerate(needed)}
        loaded = read_video(path_or_frames, needed) if isinstance(path_or_frames, (str, Path)) else frames[needed]
        flow = {int(p): flow_as_trained(loaded[[at[int(p)], at[int(p) + 1]]], view.flow_kind, self.flow_method,
                                        self.flow_format)[0] for p in np.unique(pairs)}

        def read(idx):
            return (loaded[[at[int(i)] for i in idx]] if "rgb" in view.inputs else None,
                    np.stack([flow[min(int(i), total - 2)] for i in idx]) if flow else None)

        return multi_view_scores(self.fast, read, total, frames=view.frames, rate=view.rate, crop_size=view.crop,
                                 short_side=view.short_side, clips=clips, crops=crops, segments=view.segments,
                                 **view.normalization)

    def predict(self, path_or_frames, *, clips: int = 3, crops: int = 1, k: int = 5,
                views: tuple[int, int] | None = None) -> list[tuple[str, float]]:
        """Top-``k`` (class name, probability); ``views=(clips, crops)`` is a shorthand."""
        if views is not None:
            clips, crops = views
        if k < 1:
            raise InvalidArgumentError(f"k must be >= 1, got {k}")
        probs = self.scores(path_or_frames, clips=clips, crops=crops)
        top = probs.topk(min(k, len(probs)))
        return [(self.classes[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]


def predictor_info(classes: list[str], view: InputSpec, flow_method: str, flow_format: str) -> dict:
    """What ``VideoPredictor`` needs: class names, the trained view (an ``InputSpec``), the flow method."""
    return {"classes": list(classes), "view": view.as_dict(), "flow_method": flow_method, "flow_format": flow_format}
