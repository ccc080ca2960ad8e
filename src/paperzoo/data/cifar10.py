"""CIFAR-10 readers: the image-folder layout (``ROOT/{train,test}/<class>/*.jpg|png``, as in
``../shared/data/cifar10``) and the official ``cifar-10-batches-py`` release, with a decoded cache.

Decoding 60,000 JPEGs takes tens of seconds; the decoded uint8 arrays are cached under
``$PAPERZOO_CACHE`` (default ``~/.cache/paperzoo/decoded``), keyed by the folder's path and a
signature of its contents, so later runs load in well under a second. The cache is never written
into the data folder (which may be shared and read-only).

The official python release is a set of pickles. Unpickling can run arbitrary code, so they are
read with an unpickler that only admits the numpy array reconstruction they need.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

from paperzoo.data.images import load_image_folder
from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_path

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


def cache_dir() -> Path:
    if os.environ.get("PAPERZOO_CACHE"):
        return Path(os.environ["PAPERZOO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperzoo" / "decoded"


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name}: not a CIFAR-10 batch")


def read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``data_batch_N`` / ``test_batch`` pickle -> images (N, 32, 32, 3) uint8, labels (N,)."""
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    return np.ascontiguousarray(data), labels


def _python_release(root: Path) -> Path | None:
    for candidate in (root, root / "cifar-10-batches-py"):
        if (candidate / "data_batch_1").is_file():
            return candidate
    return None


def _signature(root: Path, split: str) -> str:
    """Path + per-class file counts and folder mtimes: a changed dataset gets a new cache entry."""
    h = hashlib.sha1(str(root.resolve()).encode() + split.encode())
    release = _python_release(root)
    if release is not None:
        for p in sorted(release.glob("*_batch*")):
            h.update(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}".encode())
    else:
        for d in sorted((root / split).iterdir()):
            if d.is_dir():
                h.update(f"{d.name}:{sum(1 for _ in d.iterdir())}:{d.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_cifar10(root: str | Path, split: str = "train", *, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train" or "test") -> images (N, 32, 32, 3) uint8 and labels (N,) int64
    (indices into ``CLASSES``), from image folders or the python release, through the cache."""
    root = Path(root)
    if split not in ("train", "test"):
        raise DataError(f"CIFAR-10 split must be train or test, got {split!r}")
    release = _python_release(root)
    if release is None and not (root / split).is_dir():
        raise DataError(f"{root} holds neither CIFAR-10 image folders ({split}/<class>/) nor cifar-10-batches-py")
    cache = cache_dir() / f"cifar10-{split}-{_signature(root, split)}.npz"
    if use_cache and cache.is_file():
        with np.load(cache) as saved:
            return saved["images"], saved["labels"]
    if release is not None:
        files = sorted(release.glob("data_batch_*")) if split == "train" else [release / "test_batch"]
        parts = [read_python_batch(f) for f in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    else:
        present = sorted(p.name for p in (root / split).iterdir() if p.is_dir())
        classes = [c for c in CLASSES if c in present] + [c for c in present if c not in CLASSES]
        images, labels = load_image_folder(root, split, classes)
        # labels index CLASSES when the folder names are the standard ones
        labels = np.asarray([CLASSES.index(classes[i]) if classes[i] in CLASSES else i for i in labels])
    if use_cache:
        with atomic_path(cache, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, images=images, labels=labels)
    return images, labels
