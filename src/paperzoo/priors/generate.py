"""`paperzoo sample`: draw code maps from trained priors and decode them with their VQ-VAE.

One prior for a plain VQ-VAE; for a VQ-VAE-2 hierarchy one prior per level, given top-down: the
top prior samples the top codes, each lower prior is conditioned on the level above it.
"""

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
from paperzoo.tasks.prior import condition_map
from paperzoo.vq.codes import load_vqvae


def _run_config(prior_dir: Path) -> dict:
    if (prior_dir / "config.json").is_file():  # an export
        return json.loads((prior_dir / "config.json").read_text())["run_config"]
    if (prior_dir / "config.yaml").is_file():
        return yaml.safe_load((prior_dir / "config.yaml").read_text())
    raise CheckpointError(f"{prior_dir} is neither a run directory nor an export of a prior")


def _load_priors(prior_dirs):
    """[(model, data config)] ordered top level first, checked to form one chain over one code folder."""
    priors = []
    for d in map(Path, prior_dirs):
        model = load_model(d)
        if not isinstance(model, (GatedPixelCNN, PixelSNAIL)):
            raise InvalidArgumentError(f"{d} holds a {type(model).__name__}, not a prior")
        priors.append((model, _run_config(d)["data"]))
    priors.sort(key=lambda p: -p[1].get("level", 0))
    codes_dirs = {p[1]["codes_dir"] for p in priors}
    if len(codes_dirs) != 1:
        raise InvalidArgumentError("all priors must model the same extract-codes folder")
    meta = json.loads((Path(codes_dirs.pop()) / "meta.json").read_text())
    levels = [p[1].get("level", 0) for p in priors]
    if levels != list(reversed(range(meta["levels"]))):
        raise InvalidArgumentError(f"give one prior per level (levels 0..{meta['levels'] - 1}); got levels {sorted(levels)}")
    for upper, (_, data) in zip(levels, priors[1:]):
        if data.get("condition_level") != upper:
            raise InvalidArgumentError(f"the level-{data.get('level', 0)} prior must be conditioned on level {upper}")
    return priors, meta


def sample_images(prior_dirs, out_dir, *, n: int = 64, label: int | None = None, temperature: float = 1.0,
                  top_k: int | None = None, seed: int = 0) -> Path:
    """Write OUT/samples.png (8 per row; one row per class when class-conditional and no label is
    given) and OUT/codes_l{i}.npy. Returns OUT."""
    if isinstance(prior_dirs, (str, Path)):
        prior_dirs = [prior_dirs]
    if n < 1:
        raise InvalidArgumentError(f"--n must be >= 1, got {n}")
    priors, meta = _load_priors(prior_dirs)
    vq = load_vqvae(meta["vq_model"])
    num_classes = max(p.num_classes or 0 for p, _ in priors)
    labels, rows = None, None
    if num_classes:
        if label is None:  # per-class grid: n // classes samples of each class
            per = max(1, n // num_classes)
            labels, rows = torch.arange(num_classes).repeat_interleave(per), num_classes
        elif not 0 <= label < num_classes:
            raise InvalidArgumentError(f"--class must be in 0..{num_classes - 1}, got {label}")
        else:
            labels = torch.full((n,), label)
    elif label is not None:
        raise InvalidArgumentError("these priors are not class-conditional; drop --class")
    count = len(labels) if labels is not None else n

    codes = {}
    for prior, data in priors:  # top level first
        level, shape = data.get("level", 0), tuple(meta["latent_shapes"][data.get("level", 0)])
        cond = None
        if data.get("condition_level") is not None:
            cond = condition_map(codes[data["condition_level"]], meta["num_codes"], shape)
        codes[level] = sample_codes(prior, shape, count, seed=seed + level, temperature=temperature, top_k=top_k,
                                    labels=labels if prior.num_classes else None, cond=cond)
    ordered = [codes[i] for i in range(meta["levels"])]
    with torch.no_grad():
        images = to_uint8_images(vq.decode_codes(ordered if meta["levels"] > 1 else ordered[0]))
    per_row = count // rows if rows else 8
    grid_rows = [images[i : i + per_row] for i in range(0, count, per_row) if len(images[i : i + per_row]) == per_row]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        image_grid(grid_rows or [images], tmp / "samples.png")
        for i, c in enumerate(ordered):
            np.save(tmp / f"codes_l{i}.npy", c.numpy().astype(np.uint16))
    return out_dir
