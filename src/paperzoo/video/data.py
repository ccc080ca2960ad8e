"""The video data pipeline (no Lightning): annotation lists, readable-video probing, clip readers
with an in-memory cache of decoded videos, training clips (seeded augmentation), validation views and
the optical-flow cache a flow model reads. ``paperzoo.video.task`` wraps it in a LightningDataModule."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from paperzoo.data.moving_shapes import ensure_shapes_folder
from paperzoo.data.video_lists import VideoList, read_video_list
from paperzoo.errors import DataError
from paperzoo.io.video import read_video, video_info
from paperzoo.video.flow import build_flow_cache, cache_folders, flow_fields, flow_root, read_flow_cache
from paperzoo.video.base import InputSpec
from paperzoo.video.transforms import eval_views, sample_view, train_view


@dataclass
class VideoDataConfig:
    source: str = "moving_shapes"  # moving_shapes, or a training annotation list
    val_list: Optional[str] = None  # validation annotation list (required with a list source)
    video_dir: Optional[str] = None  # where the list's paths are relative to (default: per format)
    location: Optional[str] = None  # moving_shapes folder (built there if missing); default: the cache
    shapes_train: int = 2000
    shapes_test: int = 500
    shapes_frames: int = 16
    shapes_size: int = 32
    shapes_seed: int = 0
    short_side: Optional[int] = None  # default: round(crop * 8 / 7)
    flip: Optional[bool] = None  # default: on for real data, off for moving shapes
    flow_method: str = "farneback"  # for models that read optical flow: farneback, dis, tvl1
    flow_format: str = "jpeg"  # jpeg (8-bit, +/-20 px) or npy (float16)
    flow_dir: Optional[str] = None  # flow cache root; default: the paperzoo cache
    batch_size: int = 16
    cache_mb: int = 1024  # decoded videos kept in memory, up to this many MiB per split (0: decode every time)
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None


def ensure_moving_shapes(d: VideoDataConfig) -> Path:
    """The moving-shapes folder this config reads (built once, on first use)."""
    return ensure_shapes_folder(d.location, train=d.shapes_train, test=d.shapes_test, frames=d.shapes_frames, size=d.shapes_size,
                                seed=d.shapes_seed)


def load_lists(d: VideoDataConfig) -> tuple[VideoList, VideoList]:
    if d.source == "moving_shapes":
        root = ensure_moving_shapes(d)
        return read_video_list(root / "trainlist01.txt"), read_video_list(root / "testlist01.txt")
    return read_video_list(d.source, d.video_dir), read_video_list(d.val_list, d.video_dir)


def readable(videos: VideoList, limit: int | None, what: str) -> tuple[list[Path], list[int], list[int], int]:
    """Probe each video (header and frame count); unreadable ones are skipped with one warning line."""
    paths, labels, lengths, bad = [], [], [], []
    for path, label in list(zip(videos.paths, videos.labels))[:limit]:
        try:
            lengths.append(video_info(path).num_frames)
        except DataError as exc:
            bad.append(str(exc))
            continue
        paths.append(path)
        labels.append(label)
    if bad:
        print(f"warning: skipped {len(bad)} of {len(bad) + len(paths)} {what} videos that cannot be read (first: {bad[0]})",
              file=sys.stderr)
    if not paths:
        raise DataError(f"no readable {what} videos")
    return paths, labels, lengths, len(bad)


class ClipReader:
    """Reads what a model's inputs need for frame indices of one video: (RGB frames or None, flow or None).

    With ``cache_mb`` > 0, whole decoded videos (and flow fields) are kept in memory until that many
    MiB are used: a small dataset is decoded once instead of once per epoch (the same arrays either way).
    """

    def __init__(self, paths: list[Path], lengths: list[int], inputs: tuple[str, ...], flows: list[Path] | None,
                 cache_mb: int = 0):
        self.paths, self.lengths, self.inputs, self.flows = paths, lengths, inputs, flows
        self.fields = [flow_fields(f) for f in flows] if flows is not None else None
        self._cache: dict[Path, np.ndarray] = {}  # keyed by video file or flow folder
        self._room = cache_mb * 2**20

    def _read(self, read, path: Path, idx: np.ndarray) -> np.ndarray:
        """``read(path, idx)`` (read_video or read_flow_cache), from the whole decoded array when cached."""
        whole = self._cache.get(path)
        if whole is None:
            if self._room <= 0:
                return read(path, idx)
            whole = read(path)
            if whole.nbytes > self._room:
                self._room = 0  # full: from now on decode only the frames asked for
            else:
                self._cache[path] = whole
                self._room -= whole.nbytes
        return whole[np.minimum(idx, len(whole) - 1)]  # as read_video: indices past the last decodable frame clamp

    def __call__(self, i: int, idx: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        idx = np.asarray(idx)
        rgb = self._read(read_video, self.paths[i], idx) if "rgb" in self.inputs else None
        flow = None
        if self.flows is not None:  # field t is frame t -> t + 1; frames past the last field reuse it
            flow = self._read(read_flow_cache, self.flows[i], np.minimum(idx, max(self.fields[i] - 1, 0)))
        return rgb, flow


class TrainClips:
    """Indexable like a tensor for ``StepBatches``: ``clips[rows]`` decodes and augments those videos.

    The augmentation of a batch is seeded by (seed, rows), so a resumed run sees the same batches.
    """

    def __init__(self, reader: ClipReader, view: InputSpec, flip: bool, seed: int):
        self.reader, self.view, self.flip, self.seed = reader, view, flip, seed

    def __len__(self) -> int:
        return len(self.reader.paths)

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, *rows.tolist()])
        v, out = self.view, []
        for r in rows.tolist():
            idx = sample_view(self.reader.lengths[r], v.frames, v.rate, v.segments, "random", rng=rng)[0]
            rgb, flow = self.reader(r, idx)
            out.append(train_view(rgb, v.crop, v.short_side, rng, self.flip, flow=flow, **v.normalization))
        return torch.stack(out)


class ValClips(Dataset):
    """One centre clip (or the segments' centre snippets), centre crop per video."""

    def __init__(self, reader: ClipReader, labels: list[int], view: InputSpec):
        self.reader, self.labels, self.view = reader, labels, view

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        v = self.view
        idx = sample_view(self.reader.lengths[i], v.frames, v.rate, v.segments, "uniform")[0]
        rgb, flow = self.reader(i, idx)
        return eval_views(rgb, v.crop, v.short_side, 1, flow=flow, **v.normalization)[0], self.labels[i]


def prepare_flow(paths: list[Path], d: VideoDataConfig, view: InputSpec) -> list[Path] | None:
    """The flow cache folders of ``paths``, computing what is missing (resumable)."""
    kind = view.flow_kind
    if kind is None:
        return None
    folders = cache_folders(paths, flow_root(d.flow_dir), method=d.flow_method, fmt=d.flow_format, warped=kind == "warped_flow")
    build_flow_cache(paths, folders, method=d.flow_method, warped=kind == "warped_flow", fmt=d.flow_format)
    return folders
