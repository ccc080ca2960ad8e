"""Hidden Two-stream (Zhu, Lan, Newsam & Hauptmann, ACCV 2018): MotionNet learns optical flow
without ground truth and feeds it to the temporal stream, trained end to end.

MotionNet: a fully convolutional encoder-decoder (FlowNetSimple-like) that reads N = L + 1
consecutive RGB frames stacked on channels (3N) and predicts the L flow fields between them
(2L channels, (u1, v1, u2, v2, ...), pixels) at every decoder scale, the finest at full resolution.
Encoder level i: a 3x3 conv (stride 1 at level 0, 2 after) and a second 3x3 conv, widths 64, 128,
256, 512, 512, 1024 (paper network) with LeakyReLU(0.1); decoder: 4x4 stride-2 deconvolution,
concatenated with the encoder's skip and the upsampled coarser flow, a 3x3 conv, a 3x3 flow
prediction.

Unsupervised loss per scale and frame pair (I_t, I_t+1, flow V_t), on images downsampled to the
flow's size (de-normalised to [0, 1]):

    reconstruction  I'_t = warp(I_t+1, V_t),  I'_t(x) = I_t+1(x + V_t(x))  (bilinear, backward warping)
    pixel           mean rho(I'_t - I_t) over pixels whose source lies inside the frame
    smoothness      mean rho(dV/dx) + rho(dV/dy)
    SSIM            mean (1 - SSIM(I'_t, I_t)) / 2, 3x3 windows
    rho(x) = (x^2 + eps^2)^alpha, the generalised Charbonnier penalty, alpha = 0.4, eps = 1e-3

    L_motion = sum over scales (equal weights) of  w_pixel L_pixel + w_smooth L_smooth + w_ssim L_ssim

with w_pixel = 1, w_smooth = 0.1, w_ssim = 1 (our weights: the post gives none). The hidden temporal
stream is MotionNet followed by the temporal-stream ConvNet on the finest flows; its training loss
is cross-entropy + ``motion_weight`` (1) x L_motion, so the classifier's gradient also shapes the flow.

The paper first trains MotionNet alone on L_motion, then stacks it and fine-tunes end to end:
``motion_pretrain_steps`` > 0 does that inside one run: the training steps before it (the task's
global step, passed to ``training_loss``, so ``--resume`` continues the schedule) optimise L_motion only.
``classifier_grad`` scales the classification gradient that reaches MotionNet after that (1: end to
end, the paper; 0: MotionNet keeps learning from L_motion alone while the ConvNet learns on its flow).
Measured on moving shapes (CPU configs, 600 steps, bench/video_flow.py): end to end, the classifier's
gradient drove the flow to an end-point error worse than zero flow (0.747 vs 0.684 px on moving
pixels) and top-1 to 32.0%; with ``classifier_grad=0`` the flow stayed good (0.386 px) and top-1
reached 77.0% (71.0% for the same ConvNet on Farneback flow), so the CPU configs use 0.
Trained jointly from scratch on the generated shapes, the flow collapsed towards zero: on those
clips pixel + 0.1 x smoothness rates zero flow (0.031) better than Farneback's (0.035), so the
smoothness weight is an option too (``smooth_weight``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import KINETICS_MEAN, KINETICS_STD, InputSpec, VideoClassifier
from paperzoo.video.fusion import LateFusion
from paperzoo.video.two_stream import SpatialStream, TemporalStream

WIDTHS = (64, 128, 256, 512, 512, 1024)
CHARBONNIER_ALPHA, CHARBONNIER_EPS = 0.4, 1e-3


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping: out[y, x] = image[y + v, x + u] (bilinear; outside the frame: the border).

    image (B, C, H, W), flow (B, 2, H, W) in pixels. Exact for integer flows (no interpolation).
    """
    b, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def inside(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) 1 where x + V(x) falls inside the frame (the pixel can be reconstructed)."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device), torch.arange(w, device=flow.device), indexing="ij")
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).unsqueeze(1).to(flow.dtype)


def charbonnier(x: torch.Tensor, alpha: float = CHARBONNIER_ALPHA, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    return (x.square() + eps**2).pow(alpha)


def ssim(a: torch.Tensor, b: torch.Tensor, c1: float = 0.01**2, c2: float = 0.03**2) -> torch.Tensor:
    """Per-pixel SSIM of images in [0, 1] over 3x3 windows."""
    def pool(x):
        return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)

    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a**2
    var_b = pool(b * b) - mu_b**2
    cov = pool(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def motion_loss(frames: torch.Tensor, flows: list[torch.Tensor], *, pixel: float = 1.0, smooth: float = 0.1,
                structure: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """MotionNet's unsupervised loss. frames (B, 3, N, H, W) in [0, 1]; flows per scale (B, 2(N-1), h, w)."""
    n = frames.shape[2]
    terms = {"pixel": 0.0, "smooth": 0.0, "ssim": 0.0}
    for flow in flows:
        h, w = flow.shape[-2:]
        images = frames.transpose(1, 2).reshape(-1, 3, *frames.shape[-2:])
        if (h, w) != tuple(frames.shape[-2:]):
            images = F.interpolate(images, size=(h, w), mode="area")
        images = images.reshape(len(frames), n, 3, h, w)
        first = images[:, :-1].reshape(-1, 3, h, w)
        second = images[:, 1:].reshape(-1, 3, h, w)
        v = flow.reshape(len(frames), n - 1, 2, h, w).reshape(-1, 2, h, w)
        recon = warp(second, v)
        mask = inside(v)
        terms["pixel"] = terms["pixel"] + (charbonnier(recon - first) * mask).sum() / (3 * mask.sum()).clamp_min(1)
        terms["smooth"] = terms["smooth"] + charbonnier(v[..., :, 1:] - v[..., :, :-1]).mean() + charbonnier(v[..., 1:, :] - v[..., :-1, :]).mean()
        terms["ssim"] = terms["ssim"] + ((1 - ssim(recon, first)) / 2).mean()
    terms = {k: v / len(flows) for k, v in terms.items()}
    total = pixel * terms["pixel"] + smooth * terms["smooth"] + structure * terms["ssim"]
    return total, terms


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


class MotionNet(nn.Module):
    """Frames (B, 3, N, H, W) -> flows [finest (B, 2(N-1), H, W), ..., coarsest], in pixels of each scale."""

    def __init__(self, frames: int = 11, *, width: float = 1.0, levels: int = 6):
        super().__init__()
        if not 2 <= levels <= len(WIDTHS):
            raise ValueError(f"levels must be 2..{len(WIDTHS)}")
        self.frames, self.levels = frames, levels
        widths = [max(4, round(c * width)) for c in WIDTHS[:levels]]
        out = 2 * (frames - 1)
        cin = 3 * frames
        self.encoder = nn.ModuleList()
        for i, c in enumerate(widths):
            self.encoder.append(nn.Sequential(_conv(cin, c, 1 if i == 0 else 2), _conv(c, c)))
            cin = c
        self.predict = nn.ModuleList([nn.Conv2d(widths[-1], out, 3, 1, 1)])
        self.up, self.merge = nn.ModuleList(), nn.ModuleList()
        dec = widths[-1]
        for c in reversed(widths[:-1]):
            self.up.append(nn.Sequential(nn.ConvTranspose2d(dec, c // 2, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True)))
            self.merge.append(_conv(c + c // 2 + out, c))
            self.predict.append(nn.Conv2d(c, out, 3, 1, 1))
            dec = c
        for p in self.predict:  # start from zero flow: the identity reconstruction
            nn.init.zeros_(p.weight)
            nn.init.zeros_(p.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, c, n, h, w = x.shape
        if n != self.frames:
            raise ValueError(f"MotionNet was built for {self.frames} frames, got {n}")
        if h % 2 ** (self.levels - 1) or w % 2 ** (self.levels - 1):
            raise ValueError(f"MotionNet with {self.levels} levels needs sides divisible by {2 ** (self.levels - 1)}, got {h}x{w}")
        y = x.transpose(1, 2).reshape(b, c * n, h, w)
        skips = []
        for level in self.encoder:
            y = level(y)
            skips.append(y)
        flow = self.predict[0](y)
        flows = [flow]
        for up, merge, predict, skip in zip(self.up, self.merge, self.predict[1:], reversed(skips[:-1])):
            coarse = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False) * 2  # pixels double
            y = merge(torch.cat([skip, up(y), coarse], 1))
            flow = predict(y) + coarse  # refine the upsampled coarser flow
            flows.append(flow)
        return flows[::-1]


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Normalised RGB (B, 3, ...) back to [0, 1]."""
    shape = (1, 3) + (1,) * (x.dim() - 2)
    return x * torch.tensor(KINETICS_STD, device=x.device).view(shape) + torch.tensor(KINETICS_MEAN, device=x.device).view(shape)


class HiddenTemporalStream(VideoClassifier):
    """MotionNet stacked under the two-stream temporal ConvNet: RGB frames in, action scores out."""

    def __init__(self, *, num_classes: int, tower: str = "cnn_m_2048", width: float = 1.0, motion_width: float = 1.0,
                 levels: int = 6, crop: int = 224, length: int = 10, dropout: float = 0.9, motion_weight: float = 1.0,
                 smooth_weight: float = 0.1, motion_pretrain_steps: int = 0, classifier_grad: float = 1.0):
        super().__init__()
        if not 0.0 <= classifier_grad <= 1.0:
            raise ValueError("classifier_grad must be in [0, 1]")
        self.classifier_grad = classifier_grad
        self.input_spec = InputSpec(frames=length + 1, rate=1, crop=crop, test_short_side=256, test_crop=crop, clips=25, crops=1)
        self.motionnet = MotionNet(length + 1, width=motion_width, levels=levels)
        self.temporal = TemporalStream(num_classes=num_classes, tower=tower, width=width, crop=crop, length=length, dropout=dropout)
        self.feature_dim = self.temporal.feature_dim
        self.motion_weight, self.smooth_weight, self.motion_pretrain_steps = motion_weight, smooth_weight, motion_pretrain_steps

    def flow(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.motionnet(x)

    def _features(self, finest: torch.Tensor) -> torch.Tensor:
        b, c, h, w = finest.shape
        return self.temporal.forward_features(finest.reshape(b, c // 2, 2, h, w).transpose(1, 2))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(self.motionnet(x)[0])

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, *, step: int = 0):
        flows = self.motionnet(x)
        motion, terms = motion_loss(denormalize(x), flows, smooth=self.smooth_weight)
        if step < self.motion_pretrain_steps:  # MotionNet alone: the classifier sees detached flow and gets no gradient
            with torch.no_grad():
                ce = F.cross_entropy(self.head(self._features(flows[0])), y)
            return motion, {"ce": ce, "motion": motion.detach(), **{k: v.detach() for k, v in terms.items()}}
        finest = flows[0]
        if self.classifier_grad != 1.0:  # same values; the classifier's gradient into MotionNet scaled
            finest = finest.detach() + self.classifier_grad * (finest - finest.detach())
        ce = F.cross_entropy(self.head(self._features(finest)), y)
        return ce + self.motion_weight * motion, {"ce": ce.detach(), "motion": motion.detach(),
                                                   **{k: v.detach() for k, v in terms.items()}}

    def reset_head(self, num_classes: int, dropout: float | None = None) -> None:
        self.temporal.reset_head(num_classes, dropout)

    @property
    def head(self) -> nn.Module:  # the temporal ConvNet's head: one module, stored once in the state dict
        return self.temporal.head


@register_model("hidden_temporal", family="video")
def hidden_temporal(*, num_classes: int = 101, tower: str = "cnn_m_2048", width: float = 1.0, motion_width: float = 1.0,
                    levels: int = 6, crop: int = 224, length: int = 10, dropout: float = 0.9,
                    motion_weight: float = 1.0, smooth_weight: float = 0.1, motion_pretrain_steps: int = 0,
                    classifier_grad: float = 1.0) -> HiddenTemporalStream:
    """Hidden temporal stream: MotionNet (11 frames -> 10 flows) + the CNN-M temporal ConvNet, end to end."""
    return HiddenTemporalStream(num_classes=num_classes, tower=tower, width=width, motion_width=motion_width, levels=levels,
                                crop=crop, length=length, dropout=dropout, motion_weight=motion_weight,
                                smooth_weight=smooth_weight, motion_pretrain_steps=motion_pretrain_steps,
                                classifier_grad=classifier_grad)


@register_model("hidden_two_stream", family="video")
def hidden_two_stream(*, num_classes: int = 101, tower: str = "cnn_m_2048", width: float = 1.0, motion_width: float = 1.0,
                      levels: int = 6, crop: int = 224, length: int = 10, weights: tuple[float, float] = (1.0, 1.5),
                      motion_weight: float = 1.0, smooth_weight: float = 0.1, motion_pretrain_steps: int = 0,
                      classifier_grad: float = 1.0) -> LateFusion:
    """Hidden Two-stream: the spatial stream + the hidden temporal stream, scores fused (1 : 1.5);
    RGB frames only, no precomputed flow."""
    spatial = SpatialStream(num_classes=num_classes, tower=tower, width=width, crop=crop)
    temporal = hidden_temporal(num_classes=num_classes, tower=tower, width=width, motion_width=motion_width, levels=levels,
                               crop=crop, length=length, motion_weight=motion_weight, smooth_weight=smooth_weight,
                               motion_pretrain_steps=motion_pretrain_steps, classifier_grad=classifier_grad)
    return LateFusion({"spatial": spatial, "temporal": temporal}, tuple(weights))
