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

from dataclasses import dataclass, field, replace
from typing import Any, Dict

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from paperzoo.data.video_lists import VideoList
from paperzoo.engine.config import RunConfig
from paperzoo.engine.data import step_loader
from paperzoo.engine.task import BaseTask
from paperzoo.errors import ConfigError
from paperzoo.registry import create_model
from paperzoo.video.base import InputSpec
from paperzoo.video.data import ClipReader, TrainClips, ValClips, VideoDataConfig, load_lists, prepare_flow, readable
from paperzoo.video.predict import predictor_info


@dataclass
class VideoModelConfig:
    name: str = "r3d_18"
    options: Dict[str, Any] = field(default_factory=dict)  # builder arguments, e.g. {width: 16, frames: 8, crop: 56}
    # 3D conv weights and clips stored channels-last (N, T, H, W, C): the same model up to float rounding, 1.3-1.5x
    # faster R3D training on a 2-core CPU (oneDNN's 3D convolutions prefer it)
    channels_last: bool = True


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


class VideoDataModule(pl.LightningDataModule):
    def __init__(self, cfg: Config, train: VideoList, val: VideoList, view: InputSpec):
        super().__init__()
        d = cfg.data
        tp, tl, tn, skipped_train = readable(train, d.limit_train, "training")
        vp, vl, vn, skipped_val = readable(val, d.limit_val, "validation")
        if d.batch_size > len(tp):
            raise ConfigError(f"data.batch_size={d.batch_size} is larger than the training set ({len(tp)} videos)")
        flip = (d.source != "moving_shapes") if d.flip is None else d.flip
        flows = prepare_flow(tp + vp, d, view)
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


def view_for(cfg: Config, model_spec: InputSpec) -> InputSpec:
    """The model's input spec with the view training uses: ``data.short_side`` (default crop x 8/7), centre crop."""
    short = cfg.data.short_side or round(model_spec.crop * 8 / 7)
    if short < model_spec.crop:
        raise ConfigError(f"data.short_side={short} is smaller than the crop {model_spec.crop}")
    try:
        model_spec.flow_kind
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return replace(model_spec, test_short_side=short, test_crop=model_spec.crop)


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
        loss, parts = self.model.training_loss(x, y, step=self.global_step)  # the task owns schedules (MotionNet first)
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
