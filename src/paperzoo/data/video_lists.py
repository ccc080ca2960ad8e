"""Annotation lists for action-recognition datasets.

    UCF101     ``classInd.txt`` ("1 ApplyEyeMakeup"), ``trainlist01.txt`` ("Class/v_x.avi 1", 1-based
               label) and ``testlist01.txt`` ("Class/v_x.avi", label from the folder name)
    Kinetics   CSV with a header ``label,youtube_id,time_start,time_end,split``; the clip file is
               ``<video_dir>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`` (the layout of the
               common download scripts) or the same name directly under ``video_dir``
    plain      "relative/path.mp4 label" lines with 0-based labels (the mmaction2 list format)

``read_video_list`` picks the reader from the file and returns a ``VideoList``. Malformed lines
are a one-line ``DataError`` naming the file and line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from paperzoo.errors import DataError


@dataclass(frozen=True)
class VideoList:
    paths: list[Path]
    labels: list[int]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def read_class_index(path: Path) -> list[str]:
    """UCF101 ``classInd.txt``: "index name" lines, 1-based and consecutive."""
    if not path.is_file():
        raise DataError(f"class index not found: {path}")
    classes = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise DataError(f"{path}:{n}: expected '{len(classes) + 1} <class name>', got {line!r}")
        classes.append(parts[1])
    if not classes:
        raise DataError(f"{path}: no classes")
    return classes


def read_ucf101(list_path: Path, class_index: Path | None = None, video_dir: Path | None = None) -> VideoList:
    list_path = Path(list_path)
    classes = read_class_index(class_index or list_path.with_name("classInd.txt"))
    lookup = {c: i for i, c in enumerate(classes)}
    root = Path(video_dir) if video_dir else list_path.parent / "videos"
    paths, labels = [], []
    for n, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        folder = parts[0].split("/")[0]
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
                raise DataError(f"{list_path}:{n}: label {parts[1]!r} is not in 1..{len(classes)}")
            label = int(parts[1]) - 1
        elif len(parts) == 1 and folder in lookup:
            label = lookup[folder]
        else:
            raise DataError(f"{list_path}:{n}: expected 'Class/video.avi [label]', got {line!r}")
        paths.append(root / parts[0])
        labels.append(label)
    if not paths:
        raise DataError(f"{list_path}: the list is empty")
    return VideoList(paths, labels, classes)


def read_kinetics_csv(csv_path: Path, video_dir: Path | None = None, classes: list[str] | None = None) -> VideoList:
    csv_path = Path(csv_path)
    root = Path(video_dir) if video_dir else csv_path.parent / csv_path.stem
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"label", "youtube_id", "time_start", "time_end"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise DataError(f"{csv_path}: a Kinetics list needs the columns {', '.join(sorted(need))}")
        rows = list(reader)
    if not rows:
        raise DataError(f"{csv_path}: the list is empty")
    classes = classes or sorted({r["label"] for r in rows})
    lookup = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for n, r in enumerate(rows, 2):
        try:
            name = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}.mp4"
        except ValueError:
            raise DataError(f"{csv_path}:{n}: time_start / time_end must be numbers") from None
        if r["label"] not in lookup:
            raise DataError(f"{csv_path}:{n}: label {r['label']!r} is not a known class")
        nested = root / r["label"] / name
        paths.append(nested if nested.exists() or not (root / name).exists() else root / name)
        labels.append(lookup[r["label"]])
    return VideoList(paths, labels, classes)


def read_plain_list(list_path: Path, video_dir: Path | None = None) -> VideoList:
    list_path = Path(list_path)
    root = Path(video_dir) if video_dir else list_path.parent
    paths, labels = [], []
    for n, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise DataError(f"{list_path}:{n}: expected '<path> <label>', got {line!r}")
        paths.append(root / parts[0])
        labels.append(int(parts[1]))
    if not paths:
        raise DataError(f"{list_path}: the list is empty")
    return VideoList(paths, labels, [str(i) for i in range(max(labels) + 1)])


def read_video_list(list_path: str | Path, video_dir: str | Path | None = None) -> VideoList:
    """Read any of the three formats: ``.csv`` is Kinetics, a ``classInd.txt`` beside it means UCF101."""
    list_path = Path(list_path)
    if not list_path.is_file():
        raise DataError(f"annotation list not found: {list_path}")
    if list_path.suffix == ".csv":
        return read_kinetics_csv(list_path, video_dir)
    if (list_path.parent / "classInd.txt").is_file():
        return read_ucf101(list_path, video_dir=video_dir)
    return read_plain_list(list_path, video_dir)
