"""Declare the schemas of torchvision's compiled ops so that the CUDA wheel of torchvision 0.28 imports
on the CPU torch (its video model definitions never call these ops). Tests and benchmarks only."""

import torch

_LIBRARY = None


def install() -> None:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = torch.library.Library("torchvision", "DEF")  # kept alive for the process
        for schema in ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                       "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"):
            _LIBRARY.define(schema)
