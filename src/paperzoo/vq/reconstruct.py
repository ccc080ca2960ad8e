"""`paperzoo reconstruct`: encode images to codes and decode them back with a trained VQ-VAE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_dir
from paperzoo.report.figures import image_grid


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


def output_names(paths: list[Path]) -> list[str]:
    """``<stem>_reconstruction.png`` per input; inputs that share a stem get ``<stem>-<n>_...`` so none overwrites another."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        names.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    return [f"{n}_reconstruction.png" for n in names]


def reconstruct(images: list[str | Path], model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write OUT/<name>_reconstruction.png for each image and, when all have one size, OUT/grid.png
    (originals above reconstructions). All inputs are read and checked before anything is written."""
    from PIL import Image

    from paperzoo.vq.codes import load_codec

    codec = load_codec(model_dir)
    paths = [Path(p) for p in images]
    arrays = [read_rgb(p) for p in paths]
    for p, a in zip(paths, arrays):
        if a.shape[0] % 4 or a.shape[1] % 4:
            raise DataError(f"{p} is {a.shape[1]}x{a.shape[0]}; the VQ-VAE needs sides divisible by 4")
    recons = [(codec.reconstruct(torch.from_numpy(a)[None].permute(0, 3, 1, 2))[0].permute(1, 2, 0) * 255).round().byte().numpy()
              for a in arrays]
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for name, r in zip(output_names(paths), recons):
            Image.fromarray(r).save(tmp / name)
        if len({a.shape for a in arrays}) == 1:
            image_grid([np.stack(arrays), np.stack(recons)], tmp / "grid.png")
    return out_dir
