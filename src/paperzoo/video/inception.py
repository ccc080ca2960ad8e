"""Inception-V1 video nets: I3D (Carreira & Zisserman 2017), S3D and S3D-G (Xie et al. 2018),
and the 2D Inception-V1 whose weights I3D inflates.

Input ``(B, 3, 64, 224, 224)`` for I3D (64-frame training clips; the whole video at test),
``(B, 3, 64, 224, 224)`` for S3D(-G). Layout (channels for the 224 input, T = 64):

    conv1   7x7x7, 64, stride 2       (S3D: 1x7x7 then 7x1x1, separable)     -> 64 x 32 x 112^2
    pool    1x3x3, stride 1x2x2                                              -> 64 x 32 x 56^2
    conv2   1x1x1, 64; conv3 3x3x3, 192 (S3D: separable)                     -> 192 x 32 x 56^2
    pool    1x3x3, stride 1x2x2                                              -> 192 x 32 x 28^2
    Mixed_3b, 3c                                                             -> 480 x 32 x 28^2
    pool    3x3x3, stride 2                                                  -> 480 x 16 x 14^2
    Mixed_4b ... 4f                                                          -> 832 x 16 x 14^2
    pool    2x2x2, stride 2                                                  -> 832 x  8 x  7^2
    Mixed_5b, 5c                                                             -> 1024 x 8 x  7^2
    AvgPool3d 2x7x7 (stride 1), dropout, linear (the released models' 1x1x1 logits conv), averaged
    over the pooled windows (``head_pool="global"``: one global average instead)

An Inception block has four branches concatenated: 1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3 (the 2D
net's 5x5 is 3x3 in I3D, as in the released model); 3x3x3 max-pool -> 1x1x1. S3D makes each 3x3x3
conv separable (1x3x3 -> BN -> ReLU -> 3x1x1); S3D-G adds feature gating
``y = sigmoid(W mean(x) + b) * x`` on each branch output. Batch norm eps 1e-3 as in the TF models.
I3D pads like the released TensorFlow model ('SAME': the stride-2 Conv_1a and pools put the odd
pixel at the end; ``padding="symmetric"`` is PyTorch's); S3D pads symmetrically as torchvision's.

Inflation (I3D sec. 2.3): a 2D k x k kernel becomes t x k x k by repeating it t times and dividing
by t, so a temporally constant ("boring") video gives the 2D net's activations at every frame.
With zero temporal padding that holds away from the clip's ends; ``temporal_padding="replicate"``
makes it hold everywhere (the test uses it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.errors import CheckpointError
from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, window_pool

# (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) per Mixed block, from GoogLeNet
BLOCKS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64), "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64), "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128), "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
BN_EPS = 1e-3


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one dimension: output ceil(size / stride), the odd
    pixel at the end (the released I3D's Conv_1a and stride-2 pools pad 2 / 3 at 224, not 3 / 3)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padded(x: torch.Tensor, kernel, stride, symmetric, same: bool, temporal: str, value: float = 0.0) -> torch.Tensor:
    """``x`` (B, C, T, H, W) padded for a valid conv / pool: TF 'SAME' or symmetric; the temporal
    padding by ``temporal`` ('zeros' or 'replicate'), the spatial one by ``value``."""
    pads = [same_padding(n, k, s) if same else (p, p) for n, k, s, p in zip(x.shape[2:], kernel, stride, symmetric)]
    (tb, ta), (hb, ha), (wb, wa) = pads
    x = F.pad(x, (wb, wa, hb, ha, 0, 0), value=value) if hb or ha or wb or wa else x
    if tb or ta:
        x = F.pad(x, (0, 0, 0, 0, tb, ta), mode="replicate") if temporal == "replicate" else F.pad(x, (0, 0, 0, 0, tb, ta), value=value)
    return x


class PadConv3d(nn.Conv3d):
    """Conv3d with explicit padding: symmetric (PyTorch's) or TF 'SAME' (``same=True``), and temporal
    padding with zeros (default) or replicate; spatial padding is zeros."""

    def __init__(self, *args, temporal_padding: str = "zeros", same: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.temporal_padding, self.same = temporal_padding, same
        self.explicit = same or temporal_padding == "replicate"
        if self.explicit:
            self.symmetric, self.padding = self.padding, (0, 0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.explicit:
            x = _padded(x, self.kernel_size, self.stride, self.symmetric, self.same, self.temporal_padding)
        return super().forward(x)


class SameMaxPool3d(nn.MaxPool3d):
    """MaxPool3d with TF 'SAME' padding (by -inf: the released model pads zeros after a ReLU, the same)."""

    def __init__(self, kernel, stride):
        super().__init__(kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_padded(x, self.kernel_size, self.stride, (0, 0, 0), True, "zeros", float("-inf")))


class Unit(nn.Sequential):
    """conv (no bias) -> BN -> ReLU, in 2D or 3D; kernel given as (t, k) and ``t`` ignored in 2D."""

    def __init__(self, cin: int, cout: int, t: int, k: int, stride=(1, 1), *, dims: int, temporal_padding: str = "zeros",
                 same: bool = False):
        if dims == 2:
            conv = nn.Conv2d(cin, cout, k, stride[1], k // 2, bias=False)
            bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        else:
            conv = PadConv3d(cin, cout, (t, k, k), (stride[0], stride[1], stride[1]), (t // 2, k // 2, k // 2), bias=False,
                             temporal_padding=temporal_padding, same=same)
            bn = nn.BatchNorm3d(cout, eps=BN_EPS)
        super().__init__(conv, bn, nn.ReLU(inplace=True))


class SepUnit(nn.Sequential):
    """S3D's separable conv: 1 x k x k -> BN -> ReLU -> t x 1 x 1 -> BN -> ReLU."""

    def __init__(self, cin: int, cout: int, t: int, k: int, stride=(1, 1)):
        super().__init__(Unit(cin, cout, 1, k, (1, stride[1]), dims=3), Unit(cout, cout, t, 1, (stride[0], 1), dims=3))


class SelfGating(nn.Module):
    """S3D-G feature gating: channel weights from the spatio-temporal mean, y = sigmoid(W x_bar + b) * x."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * w[:, :, None, None, None]


def _pool(dims: int, t: int, k: int, stride_t: int, stride: int, pad_t: int, pad: int, same: bool = False):
    if dims == 2:
        return nn.MaxPool2d(k, stride, pad)
    if same:
        return SameMaxPool3d((t, k, k), (stride_t, stride, stride))
    return nn.MaxPool3d((t, k, k), (stride_t, stride, stride), (pad_t, pad, pad))


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, widths: tuple[int, ...], *, dims: int, separable: bool, gating: bool, temporal_padding: str,
                 same: bool = False):
        super().__init__()
        c0, c1r, c1, c2r, c2, c3 = widths

        def unit(a, b, t, k):
            if separable and t > 1:
                return SepUnit(a, b, t, k)
            return Unit(a, b, t, k, dims=dims, temporal_padding=temporal_padding, same=same)

        self.branch0 = unit(cin, c0, 1, 1)
        self.branch1 = nn.Sequential(unit(cin, c1r, 1, 1), unit(c1r, c1, 3, 3))
        self.branch2 = nn.Sequential(unit(cin, c2r, 1, 1), unit(c2r, c2, 3, 3))
        self.branch3 = nn.Sequential(_pool(dims, 3, 3, 1, 1, 1, 1), unit(cin, c3, 1, 1))
        self.gates = nn.ModuleList(SelfGating(c) for c in (c0, c1, c2, c3)) if gating else None
        self.out_channels = c0 + c1 + c2 + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        if self.gates is not None:
            outs = [g(o) for g, o in zip(self.gates, outs)]
        return torch.cat(outs, 1)


class InceptionNet(VideoClassifier):
    """Inception-V1 in 2D (``dims=2``, input (B, 3, H, W)) or 3D (I3D / S3D / S3D-G)."""

    def __init__(self, *, num_classes: int, dims: int = 3, separable: bool = False, gating: bool = False, width: float = 1.0,
                 dropout: float = 0.5, temporal_padding: str = "zeros", padding: str = "symmetric", head_pool: str = "window",
                 input_spec: InputSpec | None = None, in_channels: int | None = None):
        super().__init__()
        if temporal_padding not in ("zeros", "replicate"):
            raise ValueError("temporal_padding must be 'zeros' or 'replicate'")
        if padding not in ("symmetric", "tf_same") or (padding == "tf_same" and (dims == 2 or separable)):
            raise ValueError("padding must be 'symmetric' or (3D I3D only) 'tf_same'")
        if head_pool not in ("window", "global"):
            raise ValueError("head_pool must be 'window' or 'global'")
        same = padding == "tf_same"
        self.dims, self.input_spec, self.head_pool = dims, input_spec, head_pool
        # 3 for RGB; a 3D net takes its input spec's channels (2 for a flow I3D), a 2D one ``in_channels``
        self.in_channels = in_channels or (input_spec.channels if input_spec is not None else 3)

        def w(c: int) -> int:
            return max(1, round(c * width))

        def unit(a, b, t, k, stride=(1, 1)):
            if separable:
                return SepUnit(a, b, t, k, stride)
            return Unit(a, b, t, k, stride, dims=dims, temporal_padding=temporal_padding, same=same)

        layers = {
            "Conv_1a": unit(self.in_channels, w(64), 7, 7, (2, 2)),
            "MaxPool_2a": _pool(dims, 1, 3, 1, 2, 0, 1, same),
            "Conv_2b": Unit(w(64), w(64), 1, 1, dims=dims),
            "Conv_2c": unit(w(64), w(192), 3, 3),
            "MaxPool_3a": _pool(dims, 1, 3, 1, 2, 0, 1, same),
        }
        cin = w(192)
        for name, widths in BLOCKS.items():
            if name == "Mixed_4b":
                layers["MaxPool_4a"] = _pool(dims, 3, 3, 2, 2, 1, 1, same)
            if name == "Mixed_5b":
                layers["MaxPool_5a"] = _pool(dims, 2, 2, 2, 2, 0, 0, same)
            block = InceptionBlock(cin, tuple(w(c) for c in widths), dims=dims, separable=separable, gating=gating,
                                   temporal_padding=temporal_padding, same=same)
            layers[name], cin = block, block.out_channels
        self.features = nn.Sequential()
        for name, layer in layers.items():
            self.features.add_module(name, layer)
        self.feature_dim = cin
        self.head = ClassifierHead(cin, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        if self.dims == 3 and self.head_pool == "window":
            y = window_pool(y, (2, 7, 7))  # the released models: AvgPool3d(2x7x7, stride 1), logits averaged over time
        return y.flatten(2).mean(2)

    def example_input(self, batch: int = 1, spec: InputSpec | None = None) -> torch.Tensor:
        if self.dims == 2:
            return torch.zeros(batch, self.in_channels, 224, 224)
        return super().example_input(batch, spec)


def inflate_state_dict(state_2d: dict[str, torch.Tensor], net3d: nn.Module) -> dict[str, torch.Tensor]:
    """I3D inflation: each 2D conv kernel (O, I, k, k) -> (O, I, t, k, k), repeated over t and divided by t.

    Batch-norm and linear tensors are copied. Every 3D tensor must have a 2D counterpart with the
    same name (the 2D Inception-V1 here uses the same module names), else a ``CheckpointError``.
    """
    target = net3d.state_dict()
    missing = sorted(set(target) - set(state_2d))
    if missing:
        raise CheckpointError(f"the 2D state dict lacks {len(missing)} tensors the 3D net needs, e.g. {missing[0]!r}")
    out = {}
    for name, ref in target.items():
        w = state_2d[name]
        if ref.dim() == 5 and w.dim() == 4:
            t = ref.shape[2]
            w = w.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
        if w.shape != ref.shape:
            raise CheckpointError(f"{name}: 2D shape {tuple(w.shape)} cannot become 3D shape {tuple(ref.shape)}")
        out[name] = w.clone()
    return out


def _i3d_spec(frames: int, rate: int, crop: int, inputs: tuple[str, ...] = ("rgb",)) -> InputSpec:
    return InputSpec(frames=frames, rate=rate, crop=crop, test_short_side=256, test_crop=crop, clips=1, crops=1, inputs=tuple(inputs))


@register_model("inception_v1_2d", family="video")
def inception_v1_2d(*, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.4, in_channels: int = 3) -> InceptionNet:
    """2D Inception-V1 with batch norm (input (B, 3, 224, 224)): the network I3D inflates, and TSN's base."""
    return InceptionNet(num_classes=num_classes, dims=2, width=width, dropout=dropout, in_channels=in_channels)


@register_model("i3d", family="video")
def i3d(*, num_classes: int = 400, width: float = 1.0, frames: int = 64, rate: int = 1, crop: int = 224, dropout: float = 0.5,
        temporal_padding: str = "zeros", padding: str = "tf_same", head_pool: str = "window", inflate_from: dict | None = None,
        inputs: tuple[str, ...] = ("rgb",)) -> InceptionNet:
    """I3D: Inception-V1 inflated to 3D; input 64x224x224 RGB (``inputs=("flow",)``: the flow stream,
    2 channels); TF 'SAME' padding as the released model; ``inflate_from`` a 2D state dict."""
    net = InceptionNet(num_classes=num_classes, width=width, dropout=dropout, temporal_padding=temporal_padding, padding=padding,
                       head_pool=head_pool, input_spec=_i3d_spec(frames, rate, crop, inputs))
    if inflate_from is not None:
        net.load_state_dict(inflate_state_dict(inflate_from, net))
    return net


@register_model("s3d", family="video")
def s3d(*, num_classes: int = 400, width: float = 1.0, frames: int = 64, rate: int = 1, crop: int = 224, dropout: float = 0.5,
        head_pool: str = "window") -> InceptionNet:
    """S3D: I3D with every 3x3x3 conv separable (1x3x3 then 3x1x1); 8.32M params with 400 classes."""
    return InceptionNet(num_classes=num_classes, separable=True, width=width, dropout=dropout, head_pool=head_pool,
                        input_spec=_i3d_spec(frames, rate, crop))


@register_model("s3d_g", family="video")
def s3d_g(*, num_classes: int = 400, width: float = 1.0, frames: int = 64, rate: int = 1, crop: int = 224, dropout: float = 0.5,
          head_pool: str = "window") -> InceptionNet:
    """S3D-G: S3D plus feature gating on every Inception branch."""
    return InceptionNet(num_classes=num_classes, separable=True, gating=True, width=width, dropout=dropout, head_pool=head_pool,
                        input_spec=_i3d_spec(frames, rate, crop))
