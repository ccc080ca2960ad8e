"""A small CIFAR-10 classifier: the feature extractor for sample metrics (Inception weights cannot
be downloaded here) and the judge for classifier-based rejection sampling (VQ-VAE-2 section 3.3).

    x (B, 3, 32, 32) in [-0.5, 0.5] -> 3 x [conv3x3-BN-ReLU x 2, max-pool] -> global average pool
      -> features (B, 256) -> linear -> logits (B, classes)

Every reported FID-style number names this extractor ("paperzoo cifar_classifier features").
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.registry import register_model


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


class ImageClassifier(nn.Module):
    def __init__(self, *, num_classes: int = 10, width: int = 64, in_channels: int = 3):
        super().__init__()
        self.body = nn.Sequential(_block(in_channels, width), _block(width, 2 * width), _block(2 * width, 4 * width),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 4 * width) penultimate features."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@register_model("cifar_classifier", family="vq")
def cifar_classifier(**overrides) -> ImageClassifier:
    """Small CIFAR-10 CNN (6 convs, 256-d features): sample-metric features and rejection-sampling judge."""
    return ImageClassifier(**{**dict(num_classes=10, width=64), **overrides})
