"""Image-folder datasets (``ROOT/split/class/*.jpg|png``), e.g. CIFAR-10 in the shared layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paperzoo.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def load_image_folder(root: Path, split: str, classes: list[str] | None = None, limit_per_class: int | None = None):
    """Read ``root/split/<class>/*`` into ``images`` (N, H, W, 3) uint8 and ``labels`` (N,) int64.

    ``classes`` picks (and orders) the classes; labels are indices into it. Files are read in
    sorted order, so the result is the same on every machine.
    """
    from PIL import Image, UnidentifiedImageError

    split_dir = root / split
    available = sorted(p.name for p in split_dir.iterdir() if p.is_dir()) if split_dir.is_dir() else []
    classes = classes or available
    unknown = [c for c in classes if c not in available]
    if unknown:
        raise DataError(f"class(es) {unknown} not in {split_dir} (available: {', '.join(available) or 'none'})")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (split_dir / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files[:limit_per_class]:
            try:
                with Image.open(path) as img:
                    images.append(np.asarray(img.convert("RGB")))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cannot read image {path}: {exc}") from None
            labels.append(label)
    if not images:
        raise DataError(f"no images found under {split_dir}")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DataError(f"images under {split_dir} have different sizes: {sorted(shapes)[:3]}")
    return np.stack(images), np.asarray(labels, dtype=np.int64)
