"""`paperzoo reconstruct`: encode images to codes and decode them back with a trained VQ-VAE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from paperzoo.errors import DataError, InvalidArgumentError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.checkpoints import load_model
from paperzoo.report.figures import image_grid, to_uint8_images


def read_rgb(path: Path) -> np.ndarray:
    """Any Pillow-readable image -> (H, W, 3) uint8 (grayscale and RGBA are converted to RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return np.array(img.convert("RGB"))  # a writable copy
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def reconstruct(images: list[str | Path], model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write OUT/<name>_reconstruction.png for each image and, when all have one size, OUT/grid.png
    (originals above reconstructions). All inputs are read and checked before anything is written."""
    from paperzoo.vq.vqvae import VQVAE
    from paperzoo.vq.vqvae2 import VQVAE2

    model = load_model(model_dir)
    if not isinstance(model, (VQVAE, VQVAE2)):
        raise InvalidArgumentError(f"{model_dir} holds a {type(model).__name__}, not a VQ-VAE")
    paths = [Path(p) for p in images]
    arrays = [read_rgb(p) for p in paths]
    for p, a in zip(paths, arrays):
        if a.shape[0] % 4 or a.shape[1] % 4:
            raise DataError(f"{p} is {a.shape[1]}x{a.shape[0]}; the VQ-VAE needs sides divisible by 4")
    recons = []
    with torch.no_grad():
        for a in arrays:
            x = torch.from_numpy(a)[None].permute(0, 3, 1, 2).float().div(255).sub(0.5)
            recons.append(to_uint8_images(model.decode_codes(model.encode(x)))[0])
    from PIL import Image

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for p, r in zip(paths, recons):
            Image.fromarray(r).save(tmp / f"{p.stem}_reconstruction.png")
        if len({a.shape for a in arrays}) == 1:
            image_grid([np.stack(arrays), np.stack(recons)], tmp / "grid.png")
    return out_dir
