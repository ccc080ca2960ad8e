"""Model registry: name -> builder, like timm. ``paperzoo.create_model("margin_linear", in_features=30)``.

Builders are plain functions with keyword-only arguments whose defaults are the paper settings.
Every family module registers its models at import; ``_FAMILY_MODULES`` lists those modules so that
``list_models`` and ``create_model`` see everything without the caller importing each family.
"""

from __future__ import annotations

import importlib
import inspect
from fnmatch import fnmatch
from dataclasses import dataclass
from typing import Callable

from torch import nn

from paperzoo.errors import InvalidArgumentError

_FAMILY_MODULES = ("paperzoo.losses.linear", "paperzoo.vq.vqvae", "paperzoo.vq.vqvae2", "paperzoo.vq.vae", "paperzoo.vq.classifier", "paperzoo.priors.pixelcnn",
                   "paperzoo.priors.pixelsnail", "paperzoo.recsys.gin", "paperzoo.recsys.mf",
                   "paperzoo.separation.model", "paperzoo.video.c3d", "paperzoo.video.resnet3d", "paperzoo.video.inception",
                   "paperzoo.video.t3d", "paperzoo.video.slowfast", "paperzoo.video.x3d", "paperzoo.video.two_stream",
                   "paperzoo.video.fusion", "paperzoo.video.conv_fusion",
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


def families() -> list[str]:
    """The model families (one set everywhere: configs, ``paperzoo list``, packages)."""
    _load_families()
    return sorted({m.family for m in _MODELS.values()})


def list_models(pattern: str | None = None, *, family: str | None = None) -> list[ModelInfo]:
    """Registered models, like timm: ``list_models("*r3d*")`` (fnmatch), ``list_models(family="video")``.

    An unknown family is an error listing the families."""
    _load_families()
    if family is not None and family not in families():
        raise InvalidArgumentError(f"unknown family {family!r}; families: {', '.join(families())}")
    return sorted((m for m in _MODELS.values() if family in (None, m.family) and (pattern is None or fnmatch(m.name, pattern))),
                  key=lambda m: (m.family, m.name))


def model_family(name: str) -> str | None:
    _load_families()
    return _MODELS[name].family if name in _MODELS else None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unknown names and arguments are clear errors."""
    _load_families()
    if name not in _MODELS:
        raise InvalidArgumentError(f"unknown model {name!r}; `paperzoo list` shows the registered models")
    try:
        return _MODELS[name].builder(**kwargs)
    except TypeError as exc:  # an unknown or missing argument
        raise InvalidArgumentError(f"model {name!r}: {exc}") from None
