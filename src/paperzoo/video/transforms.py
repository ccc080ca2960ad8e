"""Clip sampling and video transforms on tensors, and multi-view testing.

Frames come from the readers as uint8 ``(T, H, W, 3)``; ``to_tensor`` makes float ``(3, T, H, W)``
in [0, 1]; the spatial transforms work on ``(3, T, H, W)`` (or a batch ``(B, 3, T, H, W)``).

Clip samplers return frame indices for clips of ``frames`` frames taken every ``rate`` frames
(span ``(frames - 1) * rate + 1``); a video shorter than the span repeats its last frame:

    random   one clip at a uniformly random start (training)
    uniform  ``num_clips`` clips with evenly spaced starts, first at 0 and last at the end (testing)
    dense    consecutive non-overlapping clips covering the video

``sample_segments`` is TSN's sparse sampling: the video is cut into K equal segments and one
snippet of ``length`` consecutive frames is taken from each (random position when training, the
segment's centre - or ``num_clips`` evenly spaced positions - when testing).

Optical flow rides along as extra channels after the RGB ones (see ``paperzoo.video.base``): the
spatial transforms move it with the pixels and fix its values (resizing scales the displacement,
a horizontal flip negates u); the RGB channels are normalised with the model's mean / std and the
flow channels multiplied by its ``flow_scale`` (``InputSpec.normalization``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from paperzoo.errors import InvalidArgumentError
from paperzoo.video.base import KINETICS_MEAN, KINETICS_STD


def clip_span(frames: int, rate: int) -> int:
    return (frames - 1) * rate + 1


def sample_clips(num_frames: int, frames: int, rate: int, mode: str, *, num_clips: int = 1,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """(num_clips, frames) int64 frame indices into a video of ``num_frames`` frames."""
    if num_frames < 1 or frames < 1 or rate < 1 or num_clips < 1:
        raise InvalidArgumentError("num_frames, frames, rate and num_clips must be positive")
    span = clip_span(frames, rate)
    room = max(0, num_frames - span)
    if mode == "random":
        starts = (rng or np.random.default_rng()).integers(0, room + 1, size=num_clips)
    elif mode == "uniform":
        starts = np.round(np.linspace(0, room, num_clips)).astype(np.int64) if num_clips > 1 else np.array([room // 2])
    elif mode == "dense":
        starts = np.arange(0, max(1, num_frames - span + 1), span)
    else:
        raise InvalidArgumentError(f"unknown clip sampling {mode!r}; use random, uniform or dense")
    idx = starts[:, None] + rate * np.arange(frames)[None, :]
    return np.minimum(idx, num_frames - 1).astype(np.int64)


def sample_segments(num_frames: int, segments: int, length: int, mode: str, *, num_clips: int = 1,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """(num_clips, segments * length) frame indices: one ``length``-frame snippet per equal segment."""
    if num_frames < 1 or segments < 1 or length < 1 or num_clips < 1:
        raise InvalidArgumentError("num_frames, segments, length and num_clips must be positive")
    starts_room = max(num_frames - length + 1, 1)  # snippet start positions available
    bounds = np.linspace(0, starts_room, segments + 1)
    seg = bounds[1:] - bounds[:-1]
    if mode == "random":
        starts = (bounds[:-1] + (rng or np.random.default_rng()).random(segments) * seg)[None]
    elif mode == "uniform":
        where = (np.arange(num_clips) + 0.5) / num_clips  # fraction of the way into each segment
        starts = bounds[None, :-1] + where[:, None] * seg[None]
    else:
        raise InvalidArgumentError(f"unknown segment sampling {mode!r}; use random or uniform")
    starts = np.minimum(np.floor(starts).astype(np.int64), starts_room - 1)
    idx = starts[..., None] + np.arange(length)
    return np.minimum(idx.reshape(len(starts), -1), num_frames - 1).astype(np.int64)


def sample_view(num_frames: int, frames: int, rate: int, segments: int, mode: str, *, num_clips: int = 1,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices for a model's view: a clip (``segments == 1``) or TSN-style segment snippets."""
    if segments == 1:
        return sample_clips(num_frames, frames, rate, mode, num_clips=num_clips, rng=rng)
    if rate != 1:
        raise InvalidArgumentError("segment snippets are consecutive frames (rate 1)")
    return sample_segments(num_frames, segments, frames, mode, num_clips=num_clips, rng=rng)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255)


def to_clip(frames: np.ndarray | None, flow: np.ndarray | None = None) -> torch.Tensor:
    """(C, T, H, W): RGB in [0, 1] (uint8 (T, H, W, 3)) then flow in pixels ((T, H, W, 2)), either may be None."""
    parts = []
    if frames is not None:
        parts.append(to_tensor(frames))
    if flow is not None:
        parts.append(torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(3, 0, 1, 2))
    return torch.cat(parts)


def short_side_scale(x: torch.Tensor, size: int, *, flow: bool = False) -> torch.Tensor:
    """Resize (C, T, H, W) so the shorter side is ``size`` (bilinear, aspect kept).

    ``flow``: the last two channels are (u, v) displacements, scaled with the image.
    """
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    nh, nw = (size, max(1, round(w * size / h))) if h <= w else (max(1, round(h * size / w)), size)
    y = F.interpolate(x.transpose(0, 1), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    y = y.transpose(0, 1)
    if flow:
        y = torch.cat([y[:-2], y[-2:-1] * (nw / w), y[-1:] * (nh / h)])
    return y


def crop(x: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return x[..., top : top + size, left : left + size]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return crop(x, (h - size) // 2, (w - size) // 2, size)


def random_crop(x: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    return crop(x, int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)), size)


def three_crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Left/top, centre, right/bottom squares along the longer side (the SlowFast test protocol)."""
    h, w = x.shape[-2:]
    if w >= h:
        return [crop(x, (h - size) // 2, left, size) for left in (0, (w - size) // 2, w - size)]
    return [crop(x, top, (w - size) // 2, size) for top in (0, (h - size) // 2, h - size)]


def horizontal_flip(x: torch.Tensor, *, flow: bool = False) -> torch.Tensor:
    """Mirror left-right; ``flow``: the last two channels are (u, v), and u changes sign."""
    y = x.flip(-1)
    if flow:
        y = torch.cat([y[:-2], -y[-2:-1], y[-1:]])
    return y


def normalize(x: torch.Tensor, mean=KINETICS_MEAN, std=KINETICS_STD) -> torch.Tensor:
    shape = (-1,) + (1,) * (x.dim() - 1) if x.dim() == 4 else (1, -1, 1, 1, 1)
    return (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


def normalize_input(x: torch.Tensor, rgb: bool, *, mean=KINETICS_MEAN, std=KINETICS_STD, flow_scale: float = 1.0) -> torch.Tensor:
    """(C, T, H, W) or (B, C, T, H, W): channels 0-2 normalised when they are RGB, the rest (flow,
    pixels) multiplied by ``flow_scale``."""
    c = 0 if x.dim() == 4 else 1
    start = 3 if rgb else 0
    parts = [normalize(x.narrow(c, 0, 3), mean, std)] if rgb else []
    if x.shape[c] > start:
        rest = x.narrow(c, start, x.shape[c] - start)
        parts.append(rest * flow_scale if flow_scale != 1.0 else rest)
    return torch.cat(parts, c)


def train_view(frames: np.ndarray | None, crop_size: int, short_side: int, rng: np.random.Generator, flip: bool = True,
               flow: np.ndarray | None = None, **normalization) -> torch.Tensor:
    """Training augmentation: short side to ``short_side``, random square crop, random flip, normalise
    (``normalization``: ``InputSpec.normalization``)."""
    has_flow = flow is not None
    x = random_crop(short_side_scale(to_clip(frames, flow), short_side, flow=has_flow), crop_size, rng)
    if flip and rng.random() < 0.5:
        x = horizontal_flip(x, flow=has_flow)
    return normalize_input(x, frames is not None, **normalization)


def eval_views(frames: np.ndarray | None, crop_size: int, short_side: int, crops: int = 1,
               flow: np.ndarray | None = None, **normalization) -> torch.Tensor:
    """(crops, C, T, S, S): short side to ``short_side`` then 1 centre crop or 3 crops, normalised."""
    x = short_side_scale(to_clip(frames, flow), short_side, flow=flow is not None)
    if crops == 1:
        views = [center_crop(x, crop_size)]
    elif crops == 3:
        views = three_crops(x, crop_size)
    else:
        raise InvalidArgumentError("crops must be 1 or 3")
    return normalize_input(torch.stack(views), frames is not None, **normalization)


@torch.no_grad()
def multi_view_scores(model: Callable[[torch.Tensor], torch.Tensor], read: Callable[[np.ndarray], tuple], num_frames: int, *,
                      frames: int, rate: int, crop_size: int, short_side: int, clips: int = 10, crops: int = 3,
                      batch: int = 8, segments: int = 1, **normalization) -> torch.Tensor:
    """Video-level class probabilities: softmax scores averaged over ``clips`` x ``crops`` views.

    ``read(indices)`` returns ``(frames, flow)`` of one view: uint8 (T, H, W, 3) or None, and
    (T, H, W, 2) flow or None.
    """
    views = []
    for idx in sample_view(num_frames, frames, rate, segments, "uniform", num_clips=clips):
        rgb, flow = read(idx)
        views.append(eval_views(rgb, crop_size, short_side, crops, flow=flow, **normalization))
    views = torch.cat(views)
    probs = torch.cat([model(views[i : i + batch]).softmax(-1) for i in range(0, len(views), batch)])
    return probs.mean(0)
