"""Task: supervised action recognition with any registered video model.

Data: ``data.source=moving_shapes`` (the generated motion dataset, built on first use in the
paperzoo cache or at ``data.location``), or an annotation list (UCF101 ``trainlist01.txt``,
Kinetics ``train.csv`` or a plain "path label" list; see ``paperzoo.data.video_lists``) with
``data.val_list`` beside it. The view protocol comes from the model's ``input_spec`` (frames,
sampling rate, crop; ``model.options`` changes it): training takes one random clip, short side
resized to ``data.short_side`` (default crop x 8/7, i.e. 128 for a 112 crop), a random crop and
(for real data) a random horizontal flip. Flips are off for moving shapes: they would turn
"right" into "left". Validation: one centre clip, centre crop; ``val/top1``, ``val/top5``.

Models whose ``input_spec.inputs`` include ``flow`` or ``warped_flow`` (two-stream, TSN flow,
two-stream I3D) read optical flow from a disk cache computed once per dataset with
``data.flow_method`` (farneback, dis, tvl1) in ``data.flow_format`` (jpeg: the 8-bit convention;
npy: float16), under ``data.flow_dir`` (default: the paperzoo cache). The cache is built at setup,
resuming where a stopped build left off; ``paperzoo data flow`` builds it ahead of time.

Videos that cannot be opened are skipped with one warning line and counted (``info["skipped"]``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from paperzoo.data.moving_shapes import ensure_shapes_folder
from paperzoo.data.video_lists import VideoList, read_video_list
from paperzoo.engine.config import RunConfig
from paperzoo.errors import ConfigError, DataError
from paperzoo.io.video import read_video, video_info
from paperzoo.registry import create_model
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import step_loader
from paperzoo.video.flow import build_flow_cache, cache_folders, flow_fields, flow_root, read_flow_cache
from paperzoo.video.predict import ViewSpec, predictor_info
from paperzoo.video.transforms import eval_views, multi_view_scores, sample_view, train_view


@dataclass
class VideoModelConfig:
    name: str = "r3d_18"
    options: Dict[str, Any] = field(default_factory=dict)  # builder arguments, e.g. {width: 16, frames: 8, crop: 56}
    # 3D conv weights and clips stored channels-last (N, T, H, W, C): the same model up to float rounding, 1.3-1.5x
    # faster R3D training on a 2-core CPU (oneDNN's 3D convolutions prefer it)
    channels_last: bool = True


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


@dataclass
class Config(RunConfig):
    model: VideoModelConfig = field(default_factory=VideoModelConfig)
    data: VideoDataConfig = field(default_factory=VideoDataConfig)

    def validate(self) -> None:
        super().validate()
        if self.data.source != "moving_shapes" and not self.data.val_list:
            raise ConfigError("data.val_list is required when data.source is an annotation list")
        if self.data.batch_size < 1:
            raise ConfigError("data.batch_size must be >= 1")
        from paperzoo.video.flow import FORMATS, METHODS

        if self.data.flow_method not in METHODS:
            raise ConfigError(f"data.flow_method must be one of {', '.join(METHODS)}, got {self.data.flow_method!r}")
        if self.data.flow_format not in FORMATS:
            raise ConfigError(f"data.flow_format must be one of {', '.join(FORMATS)}, got {self.data.flow_format!r}")


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

    def __init__(self, reader: ClipReader, view: ViewSpec, flip: bool, seed: int):
        self.reader, self.view, self.flip, self.seed = reader, view, flip, seed

    def __len__(self) -> int:
        return len(self.reader.paths)

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, *rows.tolist()])
        v, out = self.view, []
        for r in rows.tolist():
            idx = sample_view(self.reader.lengths[r], v.frames, v.rate, v.segments, "random", rng=rng)[0]
            rgb, flow = self.reader(r, idx)
            out.append(train_view(rgb, v.crop, v.short_side, rng, self.flip, flow=flow))
        return torch.stack(out)


class ValClips(Dataset):
    """One centre clip (or the segments' centre snippets), centre crop per video."""

    def __init__(self, reader: ClipReader, labels: list[int], view: ViewSpec):
        self.reader, self.labels, self.view = reader, labels, view

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        v = self.view
        idx = sample_view(self.reader.lengths[i], v.frames, v.rate, v.segments, "uniform")[0]
        rgb, flow = self.reader(i, idx)
        return eval_views(rgb, v.crop, v.short_side, 1, flow=flow)[0], self.labels[i]


def flow_kind(inputs: tuple[str, ...]) -> str | None:
    kinds = [i for i in inputs if i in ("flow", "warped_flow")]
    if len(kinds) > 1:
        raise ConfigError("a model reads at most one kind of flow")
    return kinds[0] if kinds else None


def prepare_flow(paths: list[Path], d: VideoDataConfig, inputs: tuple[str, ...]) -> list[Path] | None:
    """The flow cache folders of ``paths``, computing what is missing (resumable)."""
    kind = flow_kind(inputs)
    if kind is None:
        return None
    folders = cache_folders(paths, flow_root(d.flow_dir), method=d.flow_method, fmt=d.flow_format, warped=kind == "warped_flow")
    build_flow_cache(paths, folders, method=d.flow_method, warped=kind == "warped_flow", fmt=d.flow_format)
    return folders


class VideoDataModule(pl.LightningDataModule):
    def __init__(self, cfg: Config, train: VideoList, val: VideoList, view: ViewSpec):
        super().__init__()
        d = cfg.data
        tp, tl, tn, skipped_train = readable(train, d.limit_train, "training")
        vp, vl, vn, skipped_val = readable(val, d.limit_val, "validation")
        if d.batch_size > len(tp):
            raise ConfigError(f"data.batch_size={d.batch_size} is larger than the training set ({len(tp)} videos)")
        flip = (d.source != "moving_shapes") if d.flip is None else d.flip
        flows = prepare_flow(tp + vp, d, view.inputs)
        self.train_clips = TrainClips(ClipReader(tp, tn, view.inputs, flows and flows[: len(tp)], d.cache_mb), view, flip, cfg.seed)
        self.train_labels = torch.tensor(tl)
        self.val_set = ValClips(ClipReader(vp, vn, view.inputs, flows and flows[len(tp) :], d.cache_mb), vl, view)
        self.batch_size, self.seed = d.batch_size, cfg.seed
        self.info = {"num_classes": len(train.classes), "classes": list(train.classes), "skipped": skipped_train + skipped_val,
                     "view": view}

    def train_dataloader(self):
        return step_loader(self, (self.train_clips, self.train_labels), self.batch_size, self.seed)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size)


def view_for(cfg: Config, model_spec) -> ViewSpec:
    short = cfg.data.short_side or round(model_spec.crop * 8 / 7)
    if short < model_spec.crop:
        raise ConfigError(f"data.short_side={short} is smaller than the crop {model_spec.crop}")
    return ViewSpec(model_spec.frames, model_spec.rate, model_spec.crop, short, model_spec.segments, tuple(model_spec.inputs))


def build_data(cfg: Config, data_dir=None) -> VideoDataModule:
    probe = create_model(cfg.model.name, num_classes=2, **cfg.model.options)  # for its input spec only
    if getattr(probe, "input_spec", None) is None:
        raise ConfigError(f"model {cfg.model.name!r} is not a video classifier")
    train, val = load_lists(cfg.data)
    return VideoDataModule(cfg, train, val, view_for(cfg, probe.input_spec))


class VideoClassificationTask(BaseTask):
    def __init__(self, cfg: Config, num_classes: int, classes: list[str]):
        super().__init__(cfg)
        self.classes = classes
        self.build_model(cfg.model.name, num_classes=num_classes, **cfg.model.options)
        if cfg.model.channels_last:
            for p in self.model.parameters():
                if p.dim() == 5:
                    p.data = p.data.contiguous(memory_format=torch.channels_last_3d)

    def _clip_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last_3d) if self.cfg.model.channels_last and x.dim() == 5 else x

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self._clip_format(x)
        loss, parts = self.model.training_loss(x, y)
        self.log("train/loss", loss, prog_bar=True)
        for name, value in parts.items():
            self.log(f"train/{name}", value)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(self._clip_format(x))
        top5 = logits.topk(min(5, logits.shape[1]), 1).indices
        self.log("val/top1", (top5[:, 0] == y).float().mean(), sync_dist=True, prog_bar=True, batch_size=len(y))
        self.log("val/top5", (top5 == y[:, None]).any(1).float().mean(), sync_dist=True, batch_size=len(y))
        self.log("val/loss", F.cross_entropy(logits, y), sync_dist=True, batch_size=len(y))

    def inference_info(self) -> dict:
        d = self.cfg.data
        return predictor_info(self.classes, view_for(self.cfg, self.model.input_spec), d.flow_method, d.flow_format)


def build_task(cfg: Config, data: VideoDataModule) -> VideoClassificationTask:
    return VideoClassificationTask(cfg, data.info["num_classes"], data.info["classes"])
