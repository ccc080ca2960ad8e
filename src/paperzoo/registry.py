"""Model registry: name -> builder, like timm. ``paperzoo.create_model("margin_linear", in_features=30)``.

Builders are plain functions with keyword-only arguments whose defaults are the paper settings.
Every family module registers its models at import; ``_FAMILY_MODULES`` lists those modules so that
``list_models`` and ``create_model`` see everything without the caller importing each family.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from torch import nn

from paperzoo.errors import InvalidArgumentError

_FAMILY_MODULES = ("paperzoo.losses.linear", "paperzoo.vq.vqvae", "paperzoo.vq.vqvae2", "paperzoo.vq.vae", "paperzoo.vq.classifier", "paperzoo.priors.pixelcnn",
                   "paperzoo.priors.pixelsnail", "paperzoo.recsys.gin", "paperzoo.recsys.mf",
                   "paperzoo.separation.model", "paperzoo.video.c3d", "paperzoo.video.resnet3d", "paperzoo.video.inception",
                   "paperzoo.video.t3d", "paperzoo.video.slowfast", "paperzoo.video.x3d", "paperzoo.video.two_stream",
                   "paperzoo.video.tsn", "paperzoo.video.motionnet", "paperzoo.vq.audio")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    summary: str


_MODELS: dict[str, ModelInfo] = {}


def register_model(name: str, *, family: str):
    """Decorator: ``@register_model("x3d_xs", family="video")`` on a builder function."""

    def wrap(builder):
        if name in _MODELS and _MODELS[name].builder is not builder:
            raise RuntimeError(f"model {name!r} registered twice")
        summary = (inspect.getdoc(builder) or "").split("\n")[0]
        _MODELS[name] = ModelInfo(name, family, builder, summary)
        return builder

    return wrap


def _load_families() -> None:
    for module in _FAMILY_MODULES:
        importlib.import_module(module)


def list_models(family: str | None = None) -> list[ModelInfo]:
    _load_families()
    return sorted((m for m in _MODELS.values() if family in (None, m.family)), key=lambda m: (m.family, m.name))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unknown names and arguments are clear errors."""
    _load_families()
    if name not in _MODELS:
        raise InvalidArgumentError(f"unknown model {name!r}; `paperzoo list` shows the registered models")
    try:
        return _MODELS[name].builder(**kwargs)
    except TypeError as exc:  # an unknown or missing argument
        raise InvalidArgumentError(f"model {name!r}: {exc}") from None
