"""Where datasets live, how to check them, and how to get them (download or import).

The data root is ``--data-dir``, else ``$PAPERZOO_DATA``, else ``$XDG_CACHE_HOME/paperzoo``
(``~/.cache/paperzoo``). Dataset ``NAME`` lives in ``ROOT/NAME`` in the layout its spec checks.
Benchmarks point the root at the project's shared copy: ``PAPERZOO_DATA=../shared/data``.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_dir


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("PAPERZOO_DATA"):
        return Path(os.environ["PAPERZOO_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "paperzoo"


def _root_source(data_dir) -> str:
    if data_dir:
        return "--data-dir / data_dir"
    return "$PAPERZOO_DATA" if os.environ.get("PAPERZOO_DATA") else "the default cache (set $PAPERZOO_DATA or --data-dir)"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    homepage: str
    required: tuple[str, ...]  # paths (globs) relative to ROOT/NAME that must exist
    urls: tuple[str, ...] = ()  # official direct downloads; empty: import only
    # turns an extracted download/import into the expected layout (default: find the folder that
    # holds the required files and move it into place)
    convert: Callable[[Path, Path], None] | None = field(default=None, compare=False)

    def is_present(self, root: Path) -> bool:
        base = root / self.name
        return all(any(base.glob(pattern)) for pattern in self.required)


def _cifar10_from_binary(src: Path, dest: Path) -> None:
    """A CIFAR-10 release -> PNG image folders: the binary release (data_batch_*.bin: 1 label byte +
    3072 CHW bytes) or the python release (cifar-10-batches-py pickles, read safely)."""
    import numpy as np
    from PIL import Image

    bins = sorted(src.rglob("*_batch*.bin"))
    pickles = sorted(src.rglob("data_batch_1"))
    if pickles:  # the python release: read with the restricted unpickler, write image folders
        from paperzoo.data.cifar10 import CLASSES, load_cifar10

        for split in ("train", "test"):
            images, labels = load_cifar10(pickles[0].parent, split, use_cache=False)
            for i, (img, label) in enumerate(zip(images, labels)):
                folder = dest / split / CLASSES[label]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(folder / f"{i:05d}.png")
        return
    if not bins:
        if any(src.rglob("*.jpg")) or any(src.rglob("*.png")):
            return _move_layout(src, dest, DATASETS["cifar10"])
        raise DataError(f"{src} holds neither a CIFAR-10 release (binary or python) nor image folders")
    names = next(src.rglob("batches.meta.txt")).read_text().split()
    for path in bins:
        split = "test" if "test" in path.name else "train"
        records = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
        for label in range(10):
            (dest / split / names[label]).mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(records):
            img = row[1:].reshape(3, 32, 32).transpose(1, 2, 0)
            Image.fromarray(img).save(dest / split / names[row[0]] / f"{path.stem}_{i:05d}.png")


def _move_layout(src: Path, dest: Path, spec: "DatasetSpec") -> None:
    """Find the folder under ``src`` that satisfies ``spec.required`` and copy its content to ``dest``."""
    for candidate in [src, *sorted(p for p in src.rglob("*") if p.is_dir())]:
        if all(any(candidate.glob(pattern)) for pattern in spec.required):
            shutil.copytree(candidate, dest, dirs_exist_ok=True)
            return
    raise DataError(f"{src} does not contain the layout of {spec.name} (expected {', '.join(spec.required)})")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "cifar10",
            "CIFAR-10: 50k train + 10k test 32x32 RGB images, 10 classes (image-folder layout)",
            "https://www.cs.toronto.edu/~kriz/cifar.html",
            ("train/*/*", "test/*/*"),
            ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
            convert=_cifar10_from_binary,
        ),
        DatasetSpec(
            "fsdd",
            "Free Spoken Digit Dataset: 3,000 8 kHz recordings, 6 speakers, digits 0-9",
            "https://github.com/Jakobovski/free-spoken-digit-dataset",
            ("recordings/*.wav",),
            ("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip",),
        ),
        DatasetSpec(
            "recsys",
            "Recommendation data: MovieLens-100k (RecBole atomic files), Amazon 2014/2018 5-core subsets",
            "https://grouplens.org/datasets/movielens/100k/",
            ("*/*",),
        ),
        DatasetSpec(
            "video",
            "Short real video clips and frame/flow folders for the video pipeline",
            "https://github.com/open-mmlab/mmaction2",
            ("*.mp4",),
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (`paperzoo data info`)")
    return DATASETS[name]


def require_dataset(name: str, data_dir=None) -> Path:
    """Return ``ROOT/NAME`` or raise a one-line ``DataError`` saying where we looked and what to do."""
    spec, root = get_spec(name), data_root(data_dir)
    if spec.is_present(root):
        return root / name
    how = f"`paperzoo data download {name}` or " if spec.urls else ""
    raise DataError(
        f"dataset {name!r} not found in {root / name} (data root from {_root_source(data_dir)}); "
        f"get it with {how}`paperzoo data import {name} PATH`"
    )


def info(data_dir=None) -> list[dict]:
    root = data_root(data_dir)
    return [
        {"name": s.name, "present": s.is_present(root), "path": str(root / s.name), "description": s.description,
         "download": bool(s.urls), "homepage": s.homepage}
        for s in DATASETS.values()
    ]


def _extract(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")
    else:
        raise DataError(f"{archive} is neither a zip nor a tar archive")


def import_dataset(name: str, path: str | os.PathLike, data_dir=None) -> Path:
    """Install a dataset from a folder or archive a user already has. Atomic: on any failure
    nothing is left in the data root."""
    spec, root = get_spec(name), data_root(data_dir)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix=f"paperzoo-{name}-") as staging:
        src = path
        if path.is_file():
            src = Path(staging) / "extracted"
            _extract(path, src)
        with atomic_dir(root / name) as dest:
            (spec.convert or (lambda s, d: _move_layout(s, d, spec)))(src, dest)
            if not all(any(dest.glob(p)) for p in spec.required):
                raise DataError(f"{path} does not contain the layout of {name} (expected {', '.join(spec.required)})")
    return root / name


def download_dataset(name: str, data_dir=None, timeout: float = 30.0) -> Path:
    """Download the official release and import it. Offline: a one-line error saying what to do."""
    spec = get_spec(name)
    if not spec.urls:
        raise DataError(
            f"{name} has no single official download; get it from {spec.homepage} and run `paperzoo data import {name} PATH`"
        )
    with tempfile.TemporaryDirectory(prefix=f"paperzoo-dl-{name}-") as tmp:
        url = spec.urls[0]
        target = Path(tmp) / url.rsplit("/", 1)[-1]
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"could not download {url} ({reason}); if this machine is offline, fetch the file elsewhere "
                f"and run `paperzoo data import {name} FILE`"
            ) from None
        return import_dataset(name, target, data_dir)
