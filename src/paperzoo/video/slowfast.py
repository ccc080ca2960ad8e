"""SlowFast (Feichtenhofer et al. 2019), R50 backbone, and its Slow-only / Fast-only ablations.

The model takes one tensor of the Fast pathway's frames ``(B, 3, alpha*T, 224, 224)`` (4x16
R50: T = 4, alpha = 8, so 32 frames sampled every 2 raw frames) and gives the Slow pathway T of
them, ``linspace(0, alpha*T - 1, T)`` rounded down as the released models were trained (SlowFast's
``pack_pathway_output``, pytorchvideo's ``PackPathway``: frames 0, 10, 20, 31 of 32 for alpha 8;
``slow_frames="stride"``: every alpha-th, 0, 8, 16, 24). Table 1 of the paper, T = 4, alpha = 8, beta = 1/8:

    stage   Slow (C)                        Fast (beta C)                     out (Slow | Fast)
    conv1   1x7x7, 64, stride 1x2x2         5x7x7, 8, stride 1x2x2            4x112^2 | 32x112^2
    pool1   1x3x3 max, stride 1x2x2         same                              4x56^2  | 32x56^2
    res2    [1x1, 64 / 1x3^2, 64 / 1^2, 256] x3   [3x1^2, 8 / 1x3^2, 8 / 1^2, 32] x3
    res3    [1x1, 128 / ... / 512] x4             [3x1^2, 16 / ... / 64] x4         28^2
    res4    [3x1^2, 256 / ... / 1024] x6          [3x1^2, 32 / ... / 128] x6        14^2
    res5    [3x1^2, 512 / ... / 2048] x3          [3x1^2, 64 / ... / 256] x3        7^2
    global average pool each pathway, concatenate (2048 + 256), dropout 0.5, fc

Lateral connections (after pool1, res2, res3, res4) go Fast -> Slow: a time-strided convolution
(kernel 5x1x1, stride alpha x 1 x 1, 2 beta C outputs, BN, ReLU) whose output is concatenated to
the Slow features ("time-strided convolution" fusion, the paper's default). Spatial strides sit on
the first 1x3x3 conv of res3-res5. Head: each pathway average-pooled over its training clip's final
map (T x crop/32 x crop/32, stride 1; global at the training size), concatenated, dropout, fc, the
windows averaged (the released models' head). ``slowfast_r50_8x8`` / ``slowfast_r101_8x8`` are the
pytorchvideo hub settings (T = 8, alpha = 4, fusion kernel 7 / 5; R101: [3, 4, 23, 3] blocks). ``pathways="slow"`` / ``"fast"`` build the Slow-only / Fast-only
ablations (no laterals; Fast-only reads all frames at beta width).
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier, conv_bn_act, window_pool

R50_DEPTHS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """1x1 (temporal kernel t) -> 1x3x3 (spatial stride) -> 1x1x1 expansion, projection shortcut when needed."""

    def __init__(self, cin: int, inner: int, cout: int, t: int, stride: int):
        super().__init__()
        self.branch = nn.Sequential(
            conv_bn_act(cin, inner, (t, 1, 1)),
            conv_bn_act(inner, inner, (1, 3, 3), (1, stride, stride)),
            conv_bn_act(inner, cout, 1, act=False),
        )
        self.shortcut = nn.Identity() if cin == cout and stride == 1 else conv_bn_act(cin, cout, 1, (1, stride, stride), act=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class Pathway(nn.Module):
    """Stem + res2..res5 of one pathway; ``extra_in[i]`` channels are fused into stage i's input."""

    def __init__(self, width: int, stem_t: int, stage_t: tuple[int, ...], extra_in: tuple[int, ...], depths=R50_DEPTHS):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_act(3, width, (stem_t, 7, 7), (1, 2, 2)), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        self.stages = nn.ModuleList()
        cin = width
        for i, (n, t) in enumerate(zip(depths, stage_t)):
            inner, cout = width * 2**i, width * 4 * 2**i
            blocks = [Bottleneck(cin + extra_in[i] if j == 0 else cout, inner, cout, t, 2 if (j == 0 and i > 0) else 1) for j in range(n)]
            self.stages.append(nn.Sequential(*blocks))
            cin = cout
        self.out_channels = cin


class SlowFast(VideoClassifier):
    def __init__(self, *, num_classes: int, alpha: int = 8, beta_inv: int = 8, width: int = 64, fusion_kernel: int = 5,
                 pathways: str = "both", dropout: float = 0.5, depths=R50_DEPTHS, slow_frames: str = "linspace",
                 input_spec: InputSpec):
        super().__init__()
        if pathways not in ("both", "slow", "fast"):
            raise ValueError("pathways must be 'both', 'slow' or 'fast'")
        if slow_frames not in ("linspace", "stride"):
            raise ValueError("slow_frames must be 'linspace' or 'stride'")
        self.alpha, self.pathways, self.input_spec, self.slow_frames = alpha, pathways, input_spec, slow_frames
        side = -(-input_spec.crop // 32)
        self.pool_kernels = {"slow": (max(1, input_spec.frames // alpha), side, side), "fast": (input_spec.frames, side, side)}
        fast_w = width // beta_inv
        slow_t, fast_t = (1, 1, 3, 3), (3, 3, 3, 3)  # Slow uses temporal kernels only in res4 and res5
        lateral = pathways == "both"
        # lateral i carries 2 * beta * C_i channels, C_i = the fast pathway's channels entering stage i
        fast_channels = [fast_w] + [fast_w * 4 * 2**i for i in range(3)]
        extra = tuple(2 * c for c in fast_channels) if lateral else (0, 0, 0, 0)
        self.slow = Pathway(width, 1, slow_t, extra, depths) if pathways in ("both", "slow") else None
        self.fast = Pathway(fast_w, 5, fast_t, (0, 0, 0, 0), depths) if pathways in ("both", "fast") else None
        self.laterals = nn.ModuleList(
            conv_bn_act(c, 2 * c, (fusion_kernel, 1, 1), (alpha, 1, 1), (fusion_kernel // 2, 0, 0)) for c in fast_channels
        ) if lateral else None
        self.feature_dim = sum(p.out_channels for p in (self.slow, self.fast) if p is not None)
        self.head = ClassifierHead(self.feature_dim, num_classes, dropout)

    def slow_input(self, x: torch.Tensor) -> torch.Tensor:
        """The Slow pathway's T = frames // alpha frames of the Fast pathway's clip (B, C, alpha T, H, W)."""
        if self.slow_frames == "stride":
            return x[:, :, :: self.alpha]
        n = x.shape[2]
        index = torch.linspace(0, n - 1, max(1, n // self.alpha), device=x.device).long()
        return x.index_select(2, index)

    def _pool(self, y: torch.Tensor, pathway: str) -> torch.Tensor:
        return window_pool(y, self.pool_kernels[pathway]).flatten(2)  # (B, C, windows)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.pathways == "fast":
            f = self.fast.stem(x)
            for stage in self.fast.stages:
                f = stage(f)
            return self._pool(f, "fast").mean(2)
        s = self.slow.stem(self.slow_input(x))
        if self.pathways == "slow":
            for stage in self.slow.stages:
                s = stage(s)
            return self._pool(s, "slow").mean(2)
        f = self.fast.stem(x)
        for i in range(4):
            s = torch.cat([s, self.laterals[i](f)], 1)  # Fast -> Slow fusion before stage i
            s, f = self.slow.stages[i](s), self.fast.stages[i](f)
        # the head's fc is linear, so fc(concat of each pathway's window mean) is the mean of its per-window scores
        return torch.cat([self._pool(s, "slow").mean(2), self._pool(f, "fast").mean(2)], 1)


def _spec(frames: int, rate: int, crop: int) -> InputSpec:
    return InputSpec(frames=frames, rate=rate, crop=crop, test_short_side=256, test_crop=256, clips=10, crops=3)


@register_model("slowfast_r50", family="video")
def slowfast_r50(*, num_classes: int = 400, alpha: int = 8, beta_inv: int = 8, width: int = 64, fusion_kernel: int = 5,
                 frames: int = 32, rate: int = 2, crop: int = 224, dropout: float = 0.5, depths: tuple = R50_DEPTHS) -> SlowFast:
    """SlowFast 4x16 R50 (alpha 8, beta 1/8), 34.48M params; input the Fast frames 32x224x224, rate 2."""
    return SlowFast(num_classes=num_classes, alpha=alpha, beta_inv=beta_inv, width=width, fusion_kernel=fusion_kernel,
                    dropout=dropout, depths=tuple(depths), input_spec=_spec(frames, rate, crop))


@register_model("slowfast_r50_8x8", family="video")
def slowfast_r50_8x8(*, num_classes: int = 400, width: int = 64, frames: int = 32, rate: int = 2, crop: int = 224, dropout: float = 0.5,
                     depths: tuple = R50_DEPTHS) -> SlowFast:
    """SlowFast 8x8 R50 (alpha 4, beta 1/8, fusion kernel 7: the pytorchvideo hub model); input 32x224x224, rate 2."""
    return SlowFast(num_classes=num_classes, alpha=4, beta_inv=8, width=width, fusion_kernel=7, dropout=dropout,
                    depths=tuple(depths), input_spec=_spec(frames, rate, crop))


@register_model("slowfast_r101_8x8", family="video")
def slowfast_r101_8x8(*, num_classes: int = 400, width: int = 64, frames: int = 32, rate: int = 2, crop: int = 224,
                      dropout: float = 0.5) -> SlowFast:
    """SlowFast 8x8 R101 (alpha 4, beta 1/8, fusion kernel 5, [3, 4, 23, 3] blocks: the pytorchvideo hub model)."""
    return SlowFast(num_classes=num_classes, alpha=4, beta_inv=8, width=width, fusion_kernel=5, dropout=dropout,
                    depths=(3, 4, 23, 3), input_spec=_spec(frames, rate, crop))


@register_model("slow_only_r50", family="video")
def slow_only_r50(*, num_classes: int = 400, alpha: int = 8, width: int = 64, frames: int = 32, rate: int = 2, crop: int = 224,
                  dropout: float = 0.5, depths: tuple = R50_DEPTHS) -> SlowFast:
    """Slow-only 4x16 R50 ablation: the Slow pathway alone (reads every alpha-th input frame)."""
    return SlowFast(num_classes=num_classes, alpha=alpha, width=width, pathways="slow", dropout=dropout, depths=tuple(depths),
                    input_spec=_spec(frames, rate, crop))


@register_model("fast_only_r50", family="video")
def fast_only_r50(*, num_classes: int = 400, beta_inv: int = 8, width: int = 64, frames: int = 32, rate: int = 2, crop: int = 224,
                  dropout: float = 0.5, depths: tuple = R50_DEPTHS) -> SlowFast:
    """Fast-only R50 ablation: the Fast pathway alone (beta C channels, all 32 frames)."""
    return SlowFast(num_classes=num_classes, beta_inv=beta_inv, width=width, pathways="fast", dropout=dropout, depths=tuple(depths),
                    input_spec=_spec(frames, rate, crop))
