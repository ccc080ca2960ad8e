"""Optical flow through OpenCV, warped flow (camera motion removed), and the on-disk flow cache.

Flow between frames t and t+1 is ``(H, W, 2)`` float32 ``(u, v)`` in pixels such that
``frame_t[y, x] ~= frame_t1[y + v, x + u]`` (OpenCV's convention: content moving right has u > 0).
A video of N frames has N - 1 flow fields.

Methods (``compute_flow(frames, method)``):

    farneback  polynomial expansion (Farneback 2003), OpenCV's classic dense flow; fast
    dis        Dense Inverse Search (Kroeger et al. 2016), the "fast" preset; fastest
    tvl1       TV-L1 (Zach et al. 2007), what the two-stream / TSN / I3D papers used; needs
               opencv-contrib (``cv2.optflow``), slowest

Warped flow (TSN, after Wang & Schmid's improved trajectories): the camera motion between two
frames is a homography fitted by RANSAC to point matches; the second frame is warped onto the
first with it before the flow is computed, so what remains is the actors' motion. Matches are
corners tracked by pyramidal Lucas-Kanade (iDT used SURF matches, patented and not in OpenCV
builds; ORB descriptors proved unreliable on small frames).

Disk cache, per video, in the common 8-bit JPEG convention of denseflow / mmaction2
(``x_00001.jpg``, ``y_00001.jpg`` for the flow from frame 1 to 2): values clipped to
+/- ``bound`` pixels (20) and mapped linearly to 0..255, i.e. a step of 2 * bound / 255 = 0.157 px;
or as one float16 ``flow.npy`` ``(N - 1, H, W, 2)`` when the quantisation matters (small frames).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image

from paperzoo.errors import DataError, InvalidArgumentError
from paperzoo.io.atomic import atomic_dir
from paperzoo.io.video import read_frame_folder, read_video

METHODS = ("farneback", "dis", "tvl1")
FORMATS = ("jpeg", "npy")
DEFAULT_BOUND = 20.0
DONE = "flow.json"  # written last in each video's cache folder: its presence means complete


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a dependency
        raise DataError(f"optical flow needs OpenCV (pip install opencv-contrib-python-headless): {exc}") from None
    return cv2


def flow_function(method: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (gray_t, gray_t1) -> (H, W, 2) float32 flow for ``method``."""
    cv2 = _cv2()
    if method == "farneback":
        # OpenCV's documented example settings: pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, sigma 1.2
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        return lambda a, b: dis.calc(a, b, None)
    if method == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise DataError("TV-L1 flow needs opencv-contrib (pip install opencv-contrib-python-headless)")
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: tvl1.calc(a, b, None)
    raise InvalidArgumentError(f"unknown flow method {method!r}; use one of {', '.join(METHODS)}")


def _gray(frames: np.ndarray) -> list[np.ndarray]:
    cv2 = _cv2()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"optical flow needs (T, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
    if len(frames) < 2:
        raise DataError(f"optical flow needs at least 2 frames, got {len(frames)}")
    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]


def camera_homography(gray_t: np.ndarray, gray_t1: np.ndarray, *, corners: int = 300, min_matches: int = 12) -> np.ndarray:
    """3x3 homography mapping frame t+1's pixel coordinates onto frame t's (identity when too few matches).

    Matches: Shi-Tomasi corners of frame t+1 tracked into frame t by pyramidal Lucas-Kanade; RANSAC
    (1 px reprojection threshold) keeps the dominant (camera) motion and rejects the actors.
    """
    cv2 = _cv2()
    points = cv2.goodFeaturesToTrack(gray_t1, maxCorners=corners, qualityLevel=0.01, minDistance=3)
    if points is None or len(points) < min_matches:
        return np.eye(3)
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(gray_t1, gray_t, points, None, winSize=(15, 15), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < min_matches:
        return np.eye(3)
    h, _ = cv2.findHomography(points[ok], tracked[ok], cv2.RANSAC, 1.0)
    return np.eye(3) if h is None else h


def compute_flow(frames: np.ndarray, method: str = "farneback", *, warped: bool = False) -> np.ndarray:
    """(T - 1, H, W, 2) float32 flow between consecutive RGB frames (T, H, W, 3) uint8.

    ``warped``: remove the camera motion first (TSN's warped flow, see the module docstring).
    """
    cv2 = _cv2()
    flow = flow_function(method)
    gray = _gray(frames)
    out = []
    for a, b in zip(gray[:-1], gray[1:]):
        if warped:
            h = camera_homography(a, b)
            # frame t+1 resampled in frame t's coordinates: pixel x of the result is b at H^-1 x
            b = cv2.warpPerspective(b, h, (b.shape[1], b.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        out.append(flow(a, b))
    return np.stack(out).astype(np.float32)


def quantize(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Flow (pixels) -> uint8 in the JPEG-cache convention: clip to +/- bound, map to 0..255."""
    return np.round((np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))).astype(np.uint8)


def dequantize(q: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """uint8 -> flow in pixels (float32); the inverse of ``quantize`` up to half a step."""
    return (q.astype(np.float32) * (2 * bound / 255.0) - bound).astype(np.float32)


def write_flow_cache(folder: str | Path, flow: np.ndarray, *, fmt: str = "jpeg", bound: float = DEFAULT_BOUND,
                     meta: dict | None = None) -> Path:
    """Write one video's flow (N - 1, H, W, 2) atomically into ``folder`` (replaced only when complete)."""
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown flow format {fmt!r}; use jpeg or npy")
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        if fmt == "jpeg":
            q = quantize(flow, bound)
            for i, field in enumerate(q, start=1):
                Image.fromarray(field[..., 0]).save(tmp / f"x_{i:05d}.jpg", quality=95)
                Image.fromarray(field[..., 1]).save(tmp / f"y_{i:05d}.jpg", quality=95)
        else:
            np.save(tmp / "flow.npy", flow.astype(np.float16))
        info = {"format": fmt, "bound": bound, "fields": len(flow), "height": flow.shape[1], "width": flow.shape[2], **(meta or {})}
        (tmp / DONE).write_text(json.dumps(info, indent=1))
    return folder


def read_flow_cache(folder: str | Path, indices: Iterable[int] | None = None) -> np.ndarray:
    """(T, H, W, 2) float32 flow fields ``indices`` (0-based; field i is frame i -> i + 1) of one cached video.

    Folders without ``flow.json`` are read as denseflow / mmaction2 JPEG folders with bound 20.
    """
    folder = Path(folder)
    info_path = folder / DONE
    try:
        info = json.loads(info_path.read_text()) if info_path.is_file() else {"format": "jpeg", "bound": DEFAULT_BOUND}
        if info["format"] == "npy":
            data = np.load(folder / "flow.npy", mmap_mode="r")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise DataError(f"{folder}: unreadable flow cache ({type(exc).__name__}: {exc}); delete it to recompute") from None
    if info["format"] == "npy":
        idx = np.arange(len(data)) if indices is None else np.asarray(list(indices))
        return np.asarray(data[idx], dtype=np.float32)
    indices = list(range(info.get("fields") or len(list(folder.glob("x_*.jpg"))))) if indices is None else list(indices)
    if not indices:
        raise DataError(f"{folder}: no flow fields (x_00001.jpg ...)")
    x = read_frame_folder(folder, indices, prefix="x")
    y = read_frame_folder(folder, indices, prefix="y")
    if x.shape != y.shape:
        raise DataError(f"{folder}: the x_ and y_ flow images differ in size")
    return np.stack([dequantize(x, info["bound"]), dequantize(y, info["bound"])], -1)


def cache_complete(folder: str | Path) -> bool:
    """A cache folder appears whole (``write_flow_cache`` renames it into place when complete), and a
    denseflow / mmaction2 folder of ``x_``/``y_`` images is taken as it is - never rewritten."""
    folder = Path(folder)
    return (folder / DONE).is_file() or (folder / "x_00001.jpg").is_file()


def flow_fields(folder: str | Path) -> int:
    """How many flow fields a cache folder holds (a denseflow folder may hold fewer than its frames - 1)."""
    folder = Path(folder)
    if (folder / DONE).is_file():
        return int(json.loads((folder / DONE).read_text())["fields"])
    return len(list(folder.glob("x_*.jpg")))


def flow_root(flow_dir: str | Path | None = None) -> Path:
    """Where flow caches live: ``flow_dir``, else ``flow/`` in the paperzoo cache."""
    from paperzoo.data.cifar10 import cache_dir

    return Path(flow_dir) if flow_dir else cache_dir() / "flow"


def cache_folders(videos: list[Path], root: Path, *, method: str, fmt: str, warped: bool = False) -> list[Path]:
    """Each video's flow cache folder: <root>/<videos' common folder name>/<method>[_warped]_<fmt>/<path
    below the common folder, suffix dropped>. A frame folder that already holds ``x_``/``y_`` images
    (denseflow / mmaction2 output) is its own (unwarped) flow cache."""
    variant = f"{method}{'_warped' if warped else ''}_{fmt}"
    resolved = [Path(p).resolve() for p in videos]
    if not resolved:
        return []
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    out = []
    for p in resolved:
        if not warped and p.is_dir() and (p / "x_00001.jpg").is_file():
            out.append(p)
        else:
            out.append(root / common.name / variant / p.relative_to(common).with_suffix(""))
    return out


VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov")


def find_videos(folder: str | Path) -> list[Path]:
    """Video files and ``img_*.jpg`` frame folders under ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"not a folder: {folder}")
    found = [p for p in folder.rglob("*") if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
             or (p.is_dir() and (p / "img_00001.jpg").is_file())]
    if (folder / "img_00001.jpg").is_file():
        found.append(folder)
    return sorted(found)


def build_flow_cache(videos: list[Path], folders: list[Path], *, method: str = "farneback", warped: bool = False,
                     fmt: str = "jpeg", bound: float = DEFAULT_BOUND, progress: bool = True) -> dict:
    """Compute and cache the flow of every video whose cache folder is not complete yet (so a stopped
    run resumes where it stopped). Returns counts and the seconds spent per flow field."""
    import time

    from tqdm import tqdm

    flow_function(method)  # an unknown method or a missing contrib module fails before any work
    todo = [(v, f) for v, f in zip(videos, folders) if not cache_complete(f)]
    seconds = fields = 0
    for video, folder in tqdm(todo, desc=f"{'warped ' if warped else ''}{method} flow", unit="video",
                             disable=None if progress and todo else True):  # None: only on a terminal
        frames = read_video(video)  # a file or an img_*.jpg frame folder
        start = time.perf_counter()
        flow = compute_flow(frames, method, warped=warped)
        seconds += time.perf_counter() - start
        fields += len(flow)
        write_flow_cache(folder, flow, fmt=fmt, bound=bound, meta={"method": method, "warped": warped, "video": str(video)})
    return {"videos": len(videos), "computed": len(todo), "cached": len(videos) - len(todo), "fields": fields,
            "seconds_per_field": seconds / fields if fields else None}

