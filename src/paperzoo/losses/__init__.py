"""Margin-based classification losses (the "Margin-based Loss" post) and a linear classifier."""

from paperzoo.losses.classifier import MarginClassifier
from paperzoo.losses.margin import (
    MARGIN_LOSSES,
    DWDMarginLoss,
    ExpLoss,
    L1HingeLoss,
    L2HingeLoss,
    L2MarginLoss,
    LogitMarginLoss,
    MarginLoss,
    ModifiedHuberLoss,
    PerceptronLoss,
    SigmoidLoss,
    SmoothedL1HingeLoss,
    ZeroOneLoss,
    get_margin_loss,
)

__all__ = [
    "MARGIN_LOSSES",
    "DWDMarginLoss",
    "ExpLoss",
    "L1HingeLoss",
    "L2HingeLoss",
    "L2MarginLoss",
    "LogitMarginLoss",
    "MarginClassifier",
    "MarginLoss",
    "ModifiedHuberLoss",
    "PerceptronLoss",
    "SigmoidLoss",
    "SmoothedL1HingeLoss",
    "ZeroOneLoss",
    "get_margin_loss",
]
