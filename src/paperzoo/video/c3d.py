"""C3D (Tran et al. 2015, "Learning Spatiotemporal Features with 3D Convolutional Networks").

Input ``(B, 3, 16, 112, 112)``: 16-frame clips, 112 x 112 crops of frames resized to 128 x 171.
Eight 3x3x3 convs (stride 1, 'same' padding, ReLU, no batch norm as in the paper) and five pools:

    conv1a 64   pool1 1x2x2   -> 64  x 16 x 56 x 56   (pool1 keeps time: "not to merge too early")
    conv2a 128  pool2 2x2x2   -> 128 x  8 x 28 x 28
    conv3a/b 256 pool3 2x2x2  -> 256 x  4 x 14 x 14
    conv4a/b 512 pool4 2x2x2  -> 512 x  2 x  7 x  7
    conv5a/b 512 pool5 2x2x2  -> 512 x  1 x  4 x  4   (spatial padding 1, as in the released model)
    fc6 4096, fc7 4096 (ReLU, dropout 0.5), fc8 num_classes

fc6's input size follows from the input spec, so smaller CPU configs (fewer frames, smaller crops,
narrower layers) build without edits.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.registry import register_model
from paperzoo.video.base import ClassifierHead, InputSpec, VideoClassifier


class C3D(VideoClassifier):
    def __init__(self, *, num_classes: int, width: int = 64, fc_dim: int = 4096, dropout: float = 0.5, input_spec: InputSpec):
        super().__init__()
        self.input_spec = input_spec
        w = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers, cin = [], 3
        for stage, (cout, convs) in enumerate(zip(w, (1, 1, 2, 2, 2))):
            for _ in range(convs):
                layers += [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
            kernel = (1, 2, 2) if stage == 0 else (2, 2, 2)
            layers.append(nn.MaxPool3d(kernel, kernel, padding=(0, 1, 1) if stage == 4 else 0))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(self.example_input()).numel()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, fc_dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True))
        self.feature_dim = fc_dim
        self.head = ClassifierHead(fc_dim, num_classes, dropout)
        # He init: without batch norm, PyTorch's default init shrinks the signal through the 10
        # weight layers and training from scratch stalls at chance (seen on moving shapes)
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """fc7 activations, the "C3D features" of the paper."""
        return self.fc(self.features(x))


@register_model("c3d", family="video")
def c3d(*, num_classes: int = 400, width: int = 64, fc_dim: int = 4096, frames: int = 16, rate: int = 1, crop: int = 112, dropout: float = 0.5) -> C3D:
    """C3D: 8 3x3x3 convs, 5 pools, fc6/fc7 of 4096; input 16x112x112."""
    spec = InputSpec(frames=frames, rate=rate, crop=crop, test_short_side=128, test_crop=crop, clips=10, crops=1)
    return C3D(num_classes=num_classes, width=width, fc_dim=fc_dim, dropout=dropout, input_spec=spec)
