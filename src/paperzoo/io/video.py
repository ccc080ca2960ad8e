"""Reading and writing video: containers through PyAV (mp4 / avi / webm / mkv), frame folders.

Frames are ``uint8`` arrays ``(T, H, W, 3)`` in RGB order. ``read_video`` decodes only up to the
last frame it is asked for, so sampling a clip from the start of a long video is cheap.
A missing, empty or undecodable file is a ``DataError`` with a one-line message.

Frame folders follow the mmaction2 / denseflow convention: ``img_00001.jpg``, ``img_00002.jpg``,
... (1-based, five digits); optical flow beside them as ``x_00001.jpg`` / ``y_00001.jpg``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np
from PIL import Image

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_path

FRAME_PATTERN = "img_{:05d}.jpg"


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _open(path: Path):
    if not path.is_file():
        raise DataError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable video ({_first_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: the file has no video stream")
    return container


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, frame rate and size; counts by decoding when the container does not say."""
    path = Path(path)
    if path.is_dir():
        frames = frame_folder_length(path)
        with Image.open(path / FRAME_PATTERN.format(1)) as im:
            return VideoInfo(frames, 0.0, im.height, im.width)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        count = stream.frames or sum(1 for _ in container.decode(video=0))
        fps = float(stream.average_rate or 0.0)
        height, width = stream.codec_context.height, stream.codec_context.width
    except av.error.FFmpegError as exc:
        raise DataError(f"{path}: cannot decode ({_first_line(exc)})") from None
    finally:
        container.close()
    if count == 0:
        raise DataError(f"{path}: the video has no frames")
    return VideoInfo(int(count), fps, int(height), int(width))


def read_video(path: str | Path, indices: Sequence[int] | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames: all of them, or those at ``indices`` (any order, repeats allowed).

    With ``indices`` only the wanted frames are converted and kept while decoding (a long video costs
    decoding time, not memory), and decoding stops after the last one. Indices past the last decodable
    frame are clamped to it (a container's frame count can be one or two more than what decodes).
    """
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path, indices)
    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    if wanted is not None and (wanted.size == 0 or wanted.min() < 0):
        raise DataError(f"{path}: frame indices must be a non-empty list of non-negative integers")
    keep = None if wanted is None else set(wanted.tolist())
    last = None if wanted is None else int(wanted.max())
    kept: dict[int, np.ndarray] = {}
    decoded, latest = 0, None
    container = _open(path)
    rgb = VideoReformatter()  # one colour converter per video: frame.to_ndarray(format=...) builds one per frame (6x slower)
    try:
        try:
            for frame in container.decode(video=0):
                if keep is None or decoded in keep:
                    kept[decoded] = rgb.reformat(frame, format="rgb24").to_ndarray()
                decoded, latest = decoded + 1, frame
                if last is not None and decoded > last:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            if not decoded:  # a damaged tail after good frames still yields what decoded
                raise DataError(f"{path}: cannot decode ({_first_line(exc)})") from None
        if decoded and decoded - 1 not in kept and last is not None and last >= decoded:  # the clamp target
            kept[decoded - 1] = rgb.reformat(latest, format="rgb24").to_ndarray()
    finally:
        container.close()
    if not decoded:
        raise DataError(f"{path}: the video has no frames")
    order = range(decoded) if wanted is None else np.minimum(wanted, decoded - 1)
    return np.stack([kept[int(i)] for i in order])


def frame_folder_length(folder: Path) -> int:
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"img_(\d+)\.jpg", p.name)))
    if not numbers:
        raise DataError(f"{folder}: no frames named like {FRAME_PATTERN.format(1)}")
    if numbers != list(range(1, len(numbers) + 1)):
        raise DataError(f"{folder}: frame numbers must run 1..N without gaps")
    return len(numbers)


def read_frame_folder(folder: str | Path, indices: Sequence[int] | None = None, *, prefix: str = "img") -> np.ndarray:
    """(T, H, W, 3) uint8 from ``{prefix}_00001.jpg`` ... (0-based ``indices``); grayscale
    frames (flow ``x_`` / ``y_``) come back as (T, H, W)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"frame folder not found: {folder}")
    if indices is None:
        indices = range(frame_folder_length(folder))
    frames = []
    for i in indices:
        path = folder / f"{prefix}_{int(i) + 1:05d}.jpg"
        try:
            with Image.open(path) as im:
                frames.append(np.asarray(im.convert("RGB") if prefix == "img" else im.convert("L")))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable frame ({_first_line(exc)})") from None
    if len({f.shape for f in frames}) > 1:
        raise DataError(f"{folder}: the frames do not all have the same size ({', '.join(sorted({f'{f.shape[1]}x{f.shape[0]}' for f in frames}))})")
    return np.stack(frames)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, *, codec: str = "libx264", crf: int = 18) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as H.264 (yuv420p) atomically; H and W must be even."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"write_video needs (T, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise DataError(f"H.264 needs even frame sizes, got {frames.shape[1]}x{frames.shape[2]}")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=path.suffix.lstrip(".") or "mp4") as container:
            stream = container.add_stream(codec, rate=fps)
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)} if codec == "libx264" else {}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    return path
