"""The linear margin classifier as an ``nn.Module`` (the model the training engine trains)."""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.registry import register_model


class LinearMarginModel(nn.Module):
    """f(x) = ((x - mean) / std) . w + b.   (B, in_features) -> (B,) signed scores.

    sign(f) is the predicted class. ``mean``/``std`` are buffers (identity by default) so that an
    exported model carries the training-set standardisation with it.
    """

    def __init__(self, in_features: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, 1, bias=bias)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std).squeeze(-1)


@register_model("margin_linear", family="losses")
def margin_linear(*, in_features: int, bias: bool = True) -> LinearMarginModel:
    """Linear binary classifier f(x) = x.w + b, trained with any margin loss (paperzoo.losses)."""
    return LinearMarginModel(in_features, bias)
