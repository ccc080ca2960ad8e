"""`paperzoo extract-codes`: encode a dataset once with a trained VQ-VAE, so that prior training never
re-runs the encoder.

Output folder (written atomically)::

    codes_{train,test}_l{i}.npy   (N, h_i, w_i) uint16 code maps of level i (0 = bottom; a plain
                                  VQ-VAE has level 0 only), (N, G, h, w) for a VQ-VAE with G
                                  latents per position
    labels_{train,test}.npy       (N,) int64 class labels (-1 when the data has none)
    meta.json                     the VQ-VAE it came from, K, levels, each level's map shape, the
                                  number of classes, and each split's reconstruction MSE on [0, 1]
                                  pixels (the decoder term of the image-level bits/dim bound)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import paperzoo.zoo as zoo
from paperzoo.errors import DataError, InvalidArgumentError
from paperzoo.io.atomic import atomic_dir


def dataset_images(source: str, split: str, *, data_dir=None, n: int | None = None, seed: int = 0):
    """(N, 32, 32, 3) uint8 images and (N,) labels (-1 when unlabelled) of a named source."""
    if source == "cifar10":
        from paperzoo.data.cifar10 import load_cifar10
        from paperzoo.data.registry import require_dataset

        images, labels = load_cifar10(require_dataset("cifar10", data_dir), split)
        return images[:n], labels[:n]
    if source == "shapes":
        from paperzoo.data.synthetic import shapes_images

        count = n or (4096 if split == "train" else 512)
        images = shapes_images(count, seed=seed + (0 if split == "train" else 1)).numpy()
        return images, np.full(count, -1, dtype=np.int64)
    raise DataError(f"unknown data source {source!r}; choose cifar10 or shapes")


def load_vqvae(model_dir):
    """The bare VQ-VAE / VQ-VAE-2 network of a run or export (eval mode)."""
    return load_codec(model_dir).model


def load_codec(model_dir):
    from paperzoo.io.bundle import load
    from paperzoo.vq.inference import ImageCodec

    codec = load(model_dir)
    if not isinstance(codec, ImageCodec):
        raise InvalidArgumentError(f"{model_dir} holds a {type(getattr(codec, 'model', codec)).__name__}, not a VQ-VAE")
    return codec


def _as_levels(codes) -> list[torch.Tensor]:
    return codes if isinstance(codes, list) else [codes]


@torch.no_grad()
def extract_codes(model_dir, out_dir, *, source: str = "cifar10", data_dir=None, limit: int | None = None,
                  batch_size: int = 256, seed: int = 0) -> Path:
    model = load_vqvae(model_dir)
    num_codes = model.quantizers[0].num_codes
    if any(q.num_codes > 65536 for q in model.quantizers):
        raise InvalidArgumentError("codes are stored as uint16: K must be <= 65536")
    source_model = model_dir if zoo.is_zoo(model_dir) else str(Path(model_dir).resolve())
    meta = {"vq_model": source_model, "num_codes": num_codes, "levels": len(model.quantizers),
            "source": source, "recon_mse": {}, "counts": {}}
    arrays = {}
    for split in ("train", "test"):
        images, labels = dataset_images(source, split, data_dir=data_dir, n=limit, seed=seed)
        codes, sq_err = [[] for _ in model.quantizers], 0.0
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).float().div(255).sub(0.5)
            c = model.encode(x)
            sq_err += float(((model.decode_codes(c) - x) ** 2).sum())
            for level, level_codes in enumerate(_as_levels(c)):
                codes[level].append(level_codes.to(torch.int32).numpy().astype(np.uint16))
        arrays[split] = ([np.concatenate(c) for c in codes], labels.astype(np.int64))
        meta["recon_mse"][split] = sq_err / images.size
        meta["counts"][split] = len(images)
    meta["latent_shapes"] = [list(c.shape[1:]) for c in arrays["train"][0]]
    meta["num_classes"] = int(arrays["train"][1].max()) + 1 if arrays["train"][1].min() >= 0 else 0
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for split, (codes, labels) in arrays.items():
            for level, level_codes in enumerate(codes):
                np.save(tmp / f"codes_{split}_l{level}.npy", level_codes)
            np.save(tmp / f"labels_{split}.npy", labels)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    return out_dir


def read_codes(codes_dir, split: str, level: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(codes of ``level`` (N, h, w) int64, labels (N,) int64, meta) of an extract-codes folder."""
    codes_dir = Path(codes_dir)
    try:
        meta = json.loads((codes_dir / "meta.json").read_text())
        if not 0 <= level < meta["levels"]:
            raise DataError(f"{codes_dir} has levels 0..{meta['levels'] - 1}, not {level}")
        codes = np.load(codes_dir / f"codes_{split}_l{level}.npy", allow_pickle=False)
        labels = np.load(codes_dir / f"labels_{split}.npy", allow_pickle=False)
    except FileNotFoundError as exc:
        raise DataError(f"{codes_dir} is not an extract-codes folder (missing {Path(exc.filename).name}); "
                        "make one with `paperzoo extract-codes`") from None
    except ValueError as exc:
        raise DataError(f"{codes_dir}: unreadable codes ({exc})") from None
    return torch.from_numpy(codes.astype(np.int64)), torch.from_numpy(labels), meta
