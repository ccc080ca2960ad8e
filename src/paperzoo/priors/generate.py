"""`paperzoo sample`: draw code maps from a trained prior and decode them with its VQ-VAE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from paperzoo.errors import CheckpointError, InvalidArgumentError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.checkpoints import load_model
from paperzoo.priors.pixelcnn import GatedPixelCNN
from paperzoo.priors.pixelsnail import PixelSNAIL
from paperzoo.priors.samplers import sample_codes
from paperzoo.report.figures import image_grid, to_uint8_images
from paperzoo.vq.codes import load_vqvae


def _run_config(prior_dir: Path) -> dict:
    if (prior_dir / "config.json").is_file():  # an export
        return json.loads((prior_dir / "config.json").read_text())["run_config"]
    if (prior_dir / "config.yaml").is_file():
        return yaml.safe_load((prior_dir / "config.yaml").read_text())
    raise CheckpointError(f"{prior_dir} is neither a run directory nor an export of a prior")


def sample_images(prior_dir, out_dir, *, n: int = 64, label: int | None = None, temperature: float = 1.0,
                  top_k: int | None = None, seed: int = 0) -> Path:
    """Write OUT/samples.png (8 per row; one row per class when class-conditional and no label is
    given) and OUT/codes.npy. Returns OUT."""
    prior_dir = Path(prior_dir)
    prior = load_model(prior_dir)
    if not isinstance(prior, (GatedPixelCNN, PixelSNAIL)):
        raise InvalidArgumentError(f"{prior_dir} holds a {type(prior).__name__}, not a prior")
    if n < 1:
        raise InvalidArgumentError(f"--n must be >= 1, got {n}")
    cfg = _run_config(prior_dir)
    meta = json.loads((Path(cfg["data"]["codes_dir"]) / "meta.json").read_text())
    vq = load_vqvae(meta["vq_model"])
    labels, rows = None, None
    if prior.num_classes:
        if label is None:  # per-class grid: n // classes samples of each class
            per = max(1, n // prior.num_classes)
            labels = torch.arange(prior.num_classes).repeat_interleave(per)
            rows = prior.num_classes
        elif not 0 <= label < prior.num_classes:
            raise InvalidArgumentError(f"--class must be in 0..{prior.num_classes - 1}, got {label}")
        else:
            labels = torch.full((n,), label)
    elif label is not None:
        raise InvalidArgumentError("this prior is not class-conditional; drop --class")
    count = len(labels) if labels is not None else n
    codes = sample_codes(prior, tuple(meta["latent_shape"]), count, seed=seed, temperature=temperature,
                        top_k=top_k, labels=labels)
    with torch.no_grad():
        images = to_uint8_images(vq.decode_codes(codes))
    per_row = count // rows if rows else 8
    grid_rows = [images[i : i + per_row] for i in range(0, count - count % per_row or count, per_row)]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        image_grid([r for r in grid_rows if len(r) == per_row] or [images], tmp / "samples.png")
        np.save(tmp / "codes.npy", codes.numpy().astype(np.uint16))
    return out_dir
