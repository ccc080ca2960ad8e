"""Clip sampling and video transforms on tensors, and multi-view testing.

Frames come from the readers as uint8 ``(T, H, W, 3)``; ``to_tensor`` makes float ``(3, T, H, W)``
in [0, 1]; the spatial transforms work on ``(3, T, H, W)`` (or a batch ``(B, 3, T, H, W)``).

Clip samplers return frame indices for clips of ``frames`` frames taken every ``rate`` frames
(span ``(frames - 1) * rate + 1``); a video shorter than the span repeats its last frame:

    random   one clip at a uniformly random start (training)
    uniform  ``num_clips`` clips with evenly spaced starts, first at 0 and last at the end (testing)
    dense    consecutive non-overlapping clips covering the video
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from paperzoo.errors import InvalidArgumentError

KINETICS_MEAN = (0.45, 0.45, 0.45)  # the SlowFast / X3D / pytorchvideo convention
KINETICS_STD = (0.225, 0.225, 0.225)


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


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255)


def short_side_scale(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (C, T, H, W) so the shorter side is ``size`` (bilinear, aspect kept)."""
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    nh, nw = (size, max(1, round(w * size / h))) if h <= w else (max(1, round(h * size / w)), size)
    y = F.interpolate(x.transpose(0, 1), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    return y.transpose(0, 1)


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


def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def normalize(x: torch.Tensor, mean=KINETICS_MEAN, std=KINETICS_STD) -> torch.Tensor:
    shape = (-1,) + (1,) * (x.dim() - 1) if x.dim() == 4 else (1, -1, 1, 1, 1)
    return (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


def train_view(frames: np.ndarray, crop_size: int, short_side: int, rng: np.random.Generator, flip: bool = True) -> torch.Tensor:
    """Training augmentation: short side to ``short_side``, random square crop, random flip, normalise."""
    x = random_crop(short_side_scale(to_tensor(frames), short_side), crop_size, rng)
    if flip and rng.random() < 0.5:
        x = horizontal_flip(x)
    return normalize(x)


def eval_views(frames: np.ndarray, crop_size: int, short_side: int, crops: int = 1) -> torch.Tensor:
    """(crops, 3, T, S, S): short side to ``short_side`` then 1 centre crop or 3 crops."""
    x = short_side_scale(to_tensor(frames), short_side)
    if crops == 1:
        views = [center_crop(x, crop_size)]
    elif crops == 3:
        views = three_crops(x, crop_size)
    else:
        raise InvalidArgumentError("crops must be 1 or 3")
    return normalize(torch.stack(views))


@torch.no_grad()
def multi_view_scores(model: Callable[[torch.Tensor], torch.Tensor], read: Callable[[np.ndarray], np.ndarray], num_frames: int, *,
                      frames: int, rate: int, crop_size: int, short_side: int, clips: int = 10, crops: int = 3,
                      batch: int = 8) -> torch.Tensor:
    """Video-level class probabilities: softmax scores averaged over ``clips`` x ``crops`` views.

    ``read(indices)`` returns uint8 frames (T, H, W, 3) of one clip.
    """
    views = torch.cat([eval_views(read(idx), crop_size, short_side, crops)
                       for idx in sample_clips(num_frames, frames, rate, "uniform", num_clips=clips)])
    probs = torch.cat([model(views[i : i + batch]).softmax(-1) for i in range(0, len(views), batch)])
    return probs.mean(0)
