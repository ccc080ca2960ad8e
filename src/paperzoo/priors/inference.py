"""Sampling from a trained prior without the training stack: ``paperzoo.load(PRIOR).sample(16, class_label=3)``.

A prior's checkpoint carries the VQ-VAE whose codes it models (its spec and weights as assets,
taken when training started), so samples decode to images wherever the run or export is copied.
For a VQ-VAE-2 hierarchy, ``sample_chain`` takes one prior per level, top level first: the top
prior samples the top codes, each lower prior is conditioned on the level above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.bundle import Bundle, Pretrained, build_model
from paperzoo.priors.samplers import sample_codes
from paperzoo.priors.layout import codes_as_map, map_as_codes

VQVAE_PREFIX = "vqvae."


def condition_map(cond_codes: torch.Tensor, num_codes: int, size: tuple[int, int]) -> torch.Tensor:
    """Codes of the level above (B, h', w') -> one-hot (B, K, h, w), nearest-upsampled to ``size``."""
    one_hot = torch.nn.functional.one_hot(cond_codes, num_codes).permute(0, 3, 1, 2).float()
    return torch.nn.functional.interpolate(one_hot, size=size, mode="nearest")


@dataclass
class Samples:
    codes: list[torch.Tensor]  # one (n, h, w) int64 map per level, bottom level first
    labels: torch.Tensor | None  # (n,) class labels of class-conditional samples
    images: torch.Tensor | None  # (n, 3, H, W) in [0, 1], when the VQ-VAE is known


class PriorSampler(Pretrained):
    """A trained Gated PixelCNN / PixelSNAIL over one level of VQ-VAE codes, with its VQ-VAE (``.vqvae``)."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        info = bundle.info
        self.num_codes, self.levels = int(info["num_codes"]), int(info.get("levels", 1))
        self.level, self.condition_level = int(info.get("level", 0)), info.get("condition_level")
        self.latent_shape = tuple(info["latent_shape"])  # (h, w), or (G, h, w) with G latents per position
        self.groups = self.latent_shape[0] if len(self.latent_shape) == 3 else 1
        self.map_shape = self.latent_shape[-2:] if self.groups == 1 else (self.latent_shape[1] * self.groups, self.latent_shape[2])
        self.num_classes = self.model.num_classes or 0
        self.codes_source = info.get("codes_source")
        self.vqvae = None
        if info.get("vqvae"):
            state = {k.removeprefix(VQVAE_PREFIX): v for k, v in bundle.assets.items() if k.startswith(VQVAE_PREFIX)}
            self.vqvae = build_model(info["vqvae"]["name"], info["vqvae"]["kwargs"], state, f"{bundle.source} (its VQ-VAE)")

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "PriorSampler":
        return cls(bundle)

    def labels_for(self, n: int, class_label: int | None) -> torch.Tensor | None:
        if not self.num_classes:
            if class_label is not None:
                raise InvalidArgumentError("this prior is not class-conditional; drop the class label")
            return None
        if class_label is None:  # every class in turn, in sorted blocks (one grid row per class when n is a multiple)
            return torch.arange(n) * self.num_classes // n
        if not 0 <= class_label < self.num_classes:
            raise InvalidArgumentError(f"the class label must be in 0..{self.num_classes - 1}, got {class_label}")
        return torch.full((n,), class_label)

    @torch.no_grad()
    def sample_level(self, n: int, *, labels=None, cond_codes=None, temperature: float = 1.0, top_k: int | None = None,
                     seed: int = 0) -> torch.Tensor:
        """(n, h, w) codes of this prior's level, (n, G, h, w) with G latents per position (``cond_codes``: the
        level above, for a conditioned prior)."""
        if temperature <= 0:
            raise InvalidArgumentError(f"temperature must be > 0, got {temperature}")
        cond = None
        if self.condition_level is not None:
            if cond_codes is None:
                raise InvalidArgumentError(f"this prior is conditioned on level {self.condition_level}; sample it in a chain")
            cond = condition_map(cond_codes, self.num_codes, self.latent_shape)
        code_map = sample_codes(self.model, self.map_shape, n, seed=seed + self.level, temperature=temperature, top_k=top_k,
                                labels=labels, cond=cond)
        return code_map if self.groups == 1 else map_as_codes(code_map, self.groups)

    @torch.no_grad()
    def nll(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> float:
        """Mean negative log-likelihood in nats per code of an unconditioned prior's codes, (n, h, w) or
        (n, G, h, w) as the VQ-VAE's ``encode`` gives them (``labels`` for a class-conditional prior)."""
        if tuple(codes.shape[1:]) != self.latent_shape:
            raise InvalidArgumentError(f"this prior models codes of shape {self.latent_shape}, got {tuple(codes.shape[1:])}")
        if self.condition_level is not None:
            raise InvalidArgumentError(f"this prior is conditioned on level {self.condition_level}; score it with that level")
        return float(self.model.nll(codes if self.groups == 1 else codes_as_map(codes), labels if self.num_classes else None))

    def sample(self, n: int, class_label: int | None = None, temperature: float = 1.0, *, top_k: int | None = None,
               seed: int = 0) -> Samples:
        """``n`` samples (class-conditional priors without a label: the classes in turn)."""
        return sample_chain([self], n, class_label, temperature, top_k=top_k, seed=seed)

    @torch.no_grad()
    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        """Codes of every level (bottom first) -> (n, 3, H, W) images in [0, 1] through the VQ-VAE."""
        if self.vqvae is None:
            raise InvalidArgumentError("this prior was trained without a known VQ-VAE; it samples codes only")
        return (self.vqvae.decode_codes(codes if len(codes) > 1 else codes[0]) + 0.5).clamp(0, 1)


def sample_chain(priors: list[PriorSampler], n: int, class_label: int | None = None, temperature: float = 1.0, *,
                 top_k: int | None = None, seed: int = 0) -> Samples:
    """Sample a chain of priors over one VQ-VAE's levels (any order given; checked to be one per level)."""
    if n < 1:
        raise InvalidArgumentError(f"n must be >= 1, got {n}")
    if len({p.codes_source for p in priors}) != 1:
        raise InvalidArgumentError("all priors must model the codes of the same VQ-VAE")
    priors = sorted(priors, key=lambda p: -p.level)
    levels = priors[0].levels
    if [p.level for p in priors] != list(reversed(range(levels))):
        raise InvalidArgumentError(f"give one prior per level (levels 0..{levels - 1}); got levels {sorted(p.level for p in priors)}")
    for upper, prior in zip((p.level for p in priors), priors[1:]):
        if prior.condition_level != upper:
            raise InvalidArgumentError(f"the level-{prior.level} prior must be conditioned on level {upper}")
    conditional = [p for p in priors if p.num_classes]
    labels = conditional[0].labels_for(n, class_label) if conditional else priors[0].labels_for(n, class_label)
    codes: dict[int, torch.Tensor] = {}
    for prior in priors:  # top level first
        cond = codes[prior.condition_level] if prior.condition_level is not None else None
        codes[prior.level] = prior.sample_level(n, labels=labels if prior.num_classes else None, cond_codes=cond,
                                                temperature=temperature, top_k=top_k, seed=seed)
    ordered = [codes[i] for i in range(levels)]
    images = priors[-1].decode(ordered) if priors[-1].vqvae is not None else None
    return Samples(ordered, labels, images)
