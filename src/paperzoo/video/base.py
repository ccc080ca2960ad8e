"""What every video classifier shares: the input spec (view protocol), features without the head,
a swappable head, and FLOP counting.

Every model maps a clip ``(B, C, T, H, W)`` to logits ``(B, num_classes)``; ``forward_features``
returns the pooled ``(B, feature_dim)`` vector the head reads. The channels are the model's
``input_spec.inputs`` stacked in order: ``rgb`` (3, normalised), ``flow`` / ``warped_flow`` (2: u, v
in pixels, field t is frame t -> t + 1). Segment models (TSN, conv fusion) read
``segments`` snippets of ``frames`` frames each, one after the other along T.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

KINETICS_MEAN = (0.45, 0.45, 0.45)  # the SlowFast / X3D / pytorchvideo convention
KINETICS_STD = (0.225, 0.225, 0.225)
INPUT_CHANNELS = {"rgb": 3, "flow": 2, "warped_flow": 2}


@dataclass(frozen=True)
class InputSpec:
    """One view as the paper feeds it: ``frames`` sampled every ``rate`` raw frames, ``crop`` x ``crop``.

    ``test_crop`` / ``test_short_side`` are the paper's test-time protocol (short side resized,
    then crops); ``clips`` x ``crops`` views are averaged at test time. ``mean`` / ``std`` normalise
    the RGB channels (pixels in [0, 1]; the SlowFast / X3D / pytorchvideo convention by default;
    imported weights carry their own, e.g. torchvision's Kinetics statistics or C3D's raw 0-255
    pixels as mean 0, std 1/255) and ``flow_scale`` multiplies the flow channels (pixels; the
    reference I3D flow stream reads flow / 20).
    """

    frames: int
    rate: int
    crop: int
    test_short_side: int | None = None
    test_crop: int | None = None
    clips: int = 10
    crops: int = 3
    inputs: tuple[str, ...] = ("rgb",)
    segments: int = 1
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    flow_scale: float = 1.0

    def __post_init__(self):
        unknown = set(self.inputs) - set(INPUT_CHANNELS)
        if unknown or not self.inputs:
            raise ValueError(f"inputs must be some of {', '.join(INPUT_CHANNELS)}, got {self.inputs}")

    @property
    def channels(self) -> int:
        return sum(INPUT_CHANNELS[i] for i in self.inputs)

    @property
    def total_frames(self) -> int:
        return self.frames * self.segments

    @property
    def flow_kind(self) -> str | None:
        """``flow`` or ``warped_flow`` when the model reads one (never both), else None."""
        kinds = [i for i in self.inputs if i in ("flow", "warped_flow")]
        if len(kinds) > 1:
            raise ValueError(f"a model reads at most one kind of flow, got {self.inputs}")
        return kinds[0] if kinds else None

    @property
    def short_side(self) -> int:
        """The short side clips are resized to before cropping (crop x 8/7 when the paper gives none)."""
        return self.test_short_side or round(self.crop * 8 / 7)

    @property
    def normalization(self) -> dict:
        """Keyword arguments of the transforms' normalisation (``mean``, ``std``, ``flow_scale``)."""
        return {"mean": self.mean, "std": self.std, "flow_scale": self.flow_scale}

    def as_dict(self) -> dict:
        return {**asdict(self), "inputs": list(self.inputs), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        """Also reads specs written before ``mean`` / ``std`` / ``flow_scale`` existed (the defaults)."""
        out = {**d, "inputs": tuple(d["inputs"])}
        for key in ("mean", "std"):
            if key in out:
                out[key] = tuple(out[key])
        return cls(**out)




def split_inputs(x: torch.Tensor, spec: InputSpec) -> dict[str, torch.Tensor]:
    """The model input ``(B, C, T, H, W)`` cut into its named parts (``rgb``, ``flow``, ...)."""
    out, start = {}, 0
    for name in spec.inputs:
        out[name] = x[:, start : start + INPUT_CHANNELS[name]]
        start += INPUT_CHANNELS[name]
    return out


class ClassifierHead(nn.Module):
    """Dropout then a linear layer on the pooled features."""

    def __init__(self, dim: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))


class VideoClassifier(nn.Module):
    """Subclasses define ``forward_features``; ``self.head`` is a ``ClassifierHead``."""

    input_spec: InputSpec
    feature_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, *, step: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss the video task minimises, and extra terms to log; cross-entropy unless a model
        trains several heads (two-stream) or has an auxiliary loss (MotionNet). ``step``: the task's
        global step, for models whose objective follows a schedule (Hidden Two-stream)."""
        return F.cross_entropy(self(x), y), {}

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        """Replace the classifier (e.g. to fine-tune a Kinetics model on a new label set)."""
        p = self.head.dropout.p if dropout is None else dropout
        self.head = ClassifierHead(self.feature_dim, num_classes, p)

    def example_input(self, batch: int = 1, spec: InputSpec | None = None) -> torch.Tensor:
        s = spec or self.input_spec
        return torch.zeros(batch, s.channels, s.total_frames, s.crop, s.crop)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C): average over time and space."""
    return x.mean(dim=(2, 3, 4))


def window_pool(x: torch.Tensor, kernel: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T', H', W'): ``AvgPool3d(kernel, stride=1)`` as the released models' heads
    pool (I3D / S3D: 2x7x7; SlowFast, X3D: the training clip's final map), the kernel clipped to the
    map. Averaging the windows afterwards equals a global mean only at the training size: at larger
    test crops the border positions count less, as in the reference implementations."""
    k = tuple(min(a, b) for a, b in zip(kernel, x.shape[2:]))
    return F.avg_pool3d(x, k, stride=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def multiply_adds(model: nn.Module, x: torch.Tensor | None = None, *, copy: bool = True) -> int:
    """Multiply-adds of one forward pass (one view) via ``torch.utils.flop_counter`` (FLOPs / 2).

    Counted on a meta-device copy: shapes only, no arithmetic, so paper-size inputs cost nothing.
    ``copy=False`` counts on ``model`` itself (a throwaway meta model), which loses its batch norms.
    """
    import copy as copying

    from torch.utils.flop_counter import FlopCounterMode

    shadow = (copying.deepcopy(model) if copy else model).to("meta").eval()
    for name, module in list(shadow.named_modules()):
        # the counter counts no batch norm, but decomposes it op by op on meta tensors (9 of the 16 s of
        # `list --flops`): an identity of the same shape gives the same count
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and name:
            parent, _, leaf = name.rpartition(".")
            setattr(shadow.get_submodule(parent) if parent else shadow, leaf, nn.Identity())
    x = (shadow.example_input() if x is None else x).to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        shadow(x)
    return counter.get_total_flops() // 2


def conv_bn_act(cin: int, cout: int, kernel, stride=1, padding=None, *, groups: int = 1, act: bool = True,
                bn_eps: float = 1e-5) -> nn.Sequential:
    """Conv3d (no bias) -> BatchNorm3d -> ReLU; 'same' padding for odd kernels by default."""
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    padding = tuple(k // 2 for k in kernel) if padding is None else padding
    layers = [nn.Conv3d(cin, cout, kernel, stride, padding, groups=groups, bias=False), nn.BatchNorm3d(cout, eps=bn_eps)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
