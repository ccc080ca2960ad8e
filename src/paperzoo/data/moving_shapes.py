"""Moving shapes: a generated action-recognition dataset whose label is the motion, not the look.

Each clip shows two to four glyphs (asymmetric polygons, so rotation is visible) of random colours
on a random smooth background, all moving in one of ten ways (each glyph with its own speed,
position and phase):

    right, left, up, down        translate by 30-45% of the frame over the clip
    rotate_cw, rotate_ccw        spin 120-200 degrees about the glyph's centre over the clip
    zoom_in, zoom_out            scale up / down geometrically, 2.0-2.8x over the clip
    static                       nothing moves
    oscillate                    move back and forth horizontally, 2-3 cycles per clip, random phase

Motion amounts are totals over the generated clip, so a 16-frame and a 64-frame dataset show the
same motions at different frame rates.

Appearance carries no label: glyph, colours, texture, size and orientation are drawn
independently of the class. Trajectories are centred on the clip's middle frame and the
mid-clip centre is uniform on [0.25, 0.75]^2 for every class, so the middle frame has the same
distribution for all ten classes and a model that sees only it is at chance. (Version 1 drew the
centre where the glyph stays in view for the whole clip: a class-dependent range that let a
single-frame model tell far movers from static glyphs, 22.6% instead of 10%.) (One small glyph per clip proved too faint a signal: a 3D CNN
trained from scratch stayed at chance for 600 steps while appearance dominated its pooled features.) Everything is a function of (seed, clip index).

``build_moving_shapes`` writes real H.264 mp4 files in the UCF101 layout
(``videos/<class>/<name>.mp4``, ``classInd.txt``, ``trainlist01.txt``, ``testlist01.txt``) so the
whole decoding pipeline is exercised; ``render_clip`` returns the frames in memory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from paperzoo.errors import DataError
from paperzoo.io.atomic import atomic_dir, atomic_write_text
from paperzoo.io.video import read_video, write_video

GENERATOR_VERSION = 2  # bump whenever the rendered clips change, so cached datasets are rebuilt
MID_LOW, MID_HIGH = 0.25, 0.75  # range of every glyph's mid-clip centre (fraction of the frame)

CLASSES = ("right", "left", "up", "down", "rotate_cw", "rotate_ccw", "zoom_in", "zoom_out", "static", "oscillate")

# unit-size glyphs, vertices in [-0.5, 0.5]^2; none has a rotational symmetry
GLYPHS = {
    "L": [(-0.5, -0.5), (-0.15, -0.5), (-0.15, 0.2), (0.5, 0.2), (0.5, 0.5), (-0.5, 0.5)],
    "T": [(-0.5, -0.5), (0.5, -0.5), (0.5, -0.2), (0.15, -0.2), (0.15, 0.5), (-0.15, 0.5), (-0.15, -0.2), (-0.5, -0.2)],
    "F": [(-0.4, -0.5), (0.5, -0.5), (0.5, -0.22), (-0.1, -0.22), (-0.1, -0.05), (0.3, -0.05), (0.3, 0.2), (-0.1, 0.2), (-0.1, 0.5), (-0.4, 0.5)],
    "arrow": [(-0.5, -0.15), (0.1, -0.15), (0.1, -0.45), (0.5, 0.0), (0.1, 0.45), (0.1, 0.15), (-0.5, 0.15)],
    "kite": [(0.0, -0.5), (0.3, -0.1), (0.0, 0.5), (-0.3, -0.1)],
    "flag": [(-0.4, -0.5), (0.45, -0.3), (-0.2, -0.1), (-0.2, 0.5), (-0.4, 0.5)],
}


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour field: a random base colour plus upsampled low-resolution noise."""
    base = rng.uniform(0, 255, 3)
    coarse = rng.normal(0, 25, (4, 4, 3))
    up = np.stack([np.asarray(Image.fromarray(coarse[..., c].astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
                   for c in range(3)], -1)
    return np.clip(base + up, 0, 255)


def _trajectory(cls: str, rng: np.random.Generator, frames: int, glyph_size: float):
    """Per-frame centre (x, y) in [0, 1], angle (radians) and scale factor, centred on the middle frame."""
    t = np.arange(frames) - (frames - 1) / 2
    angle0, scale0 = rng.uniform(0, 2 * math.pi), 1.0
    angle, scale = np.full(frames, angle0), np.full(frames, scale0)
    offset = np.zeros((frames, 2))
    span = max(frames - 1, 1)  # motion amounts are totals over the clip, so any length shows the same motion
    if cls in ("right", "left", "up", "down"):
        speed = rng.uniform(0.3, 0.45) / span  # of the frame width
        direction = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}[cls]
        offset = np.outer(t * speed, direction)
    elif cls in ("rotate_cw", "rotate_ccw"):
        spin = rng.uniform(math.radians(120), math.radians(200)) / span
        angle = angle0 + (1 if cls == "rotate_cw" else -1) * spin * t
    elif cls in ("zoom_in", "zoom_out"):
        rate = math.log(rng.uniform(2.0, 2.8)) / span  # total size ratio over the clip
        scale = np.exp((1 if cls == "zoom_in" else -1) * rate * t)
    elif cls == "oscillate":
        period, phase = rng.uniform(frames / 3, frames / 2), rng.uniform(0, 2 * math.pi)  # two to three cycles
        # zero at the middle frame like every other class, so the middle frame's position is the drawn centre
        offset[:, 0] = rng.uniform(0.08, 0.12) * (np.sin(2 * math.pi * t / period + phase) - math.sin(phase))
    # the middle position is drawn from one range for every class, so a single frame's position says
    # nothing about the motion; glyphs that move far may partly leave the frame at the clip's ends
    centre = rng.uniform(MID_LOW, MID_HIGH, 2)
    return centre + offset, angle, scale


def _plan(index: int, seed: int, frames: int, size: int, label: int | None, objects: tuple[int, int]):
    """(label, background, glyphs) of clip ``index``: every random draw, in the generator's order; each
    glyph is (vertices, size, colour, centres, angles, scales)."""
    if frames < 2 or size < 16 or size % 2:
        raise DataError("moving shapes need frames >= 2 and an even size >= 16")
    rng = np.random.default_rng([seed, index])
    label = int(rng.integers(len(CLASSES))) if label is None else label
    background = _texture(rng, size)
    glyphs = []
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        glyph = np.asarray(GLYPHS[list(GLYPHS)[rng.integers(len(GLYPHS))]], dtype=np.float64)
        glyph_size = rng.uniform(0.22, 0.34)
        colour = tuple(int(c) for c in (background.mean((0, 1)) + 128 + rng.uniform(-40, 40, 3)) % 256)
        glyphs.append((glyph, glyph_size, colour, *_trajectory(CLASSES[label], rng, frames, glyph_size)))
    return label, background, glyphs


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, s], [-s, c]])  # row vectors: p @ R


def render_clip(index: int, *, seed: int = 0, frames: int = 16, size: int = 64, label: int | None = None,
                objects: tuple[int, int] = (2, 4)) -> tuple[np.ndarray, int]:
    """(frames (T, size, size, 3) uint8, label) of clip ``index``; ``label`` forces the class.

    ``objects`` (min, max) glyphs share the motion class, each with its own random parameters.
    """
    label, background, glyphs = _plan(index, seed, frames, size, label, objects)
    ss = 2  # supersampling for anti-aliased edges
    canvases = [Image.fromarray(background.astype(np.uint8)).resize((size * ss, size * ss)) for _ in range(frames)]
    draws = [ImageDraw.Draw(c) for c in canvases]
    for glyph, glyph_size, colour, centres, angles, scales in glyphs:
        for f in range(frames):
            pts = glyph @ _rotation(angles[f]) * glyph_size * scales[f] + centres[f]
            draws[f].polygon([tuple(p) for p in pts * size * ss], fill=colour)
    out = np.stack([np.asarray(c.resize((size, size), Image.BOX)) for c in canvases])
    return out, label


def true_flow(index: int, *, seed: int = 0, frames: int = 16, size: int = 64, label: int | None = None,
              objects: tuple[int, int] = (2, 4)) -> tuple[np.ndarray, np.ndarray]:
    """The exact motion of clip ``index`` (same arguments as ``render_clip``): flow (T - 1, size, size, 2)
    float32, (u, v) in pixels, field t taking frame t to t + 1 (where each pixel's glyph point is in the
    next frame; the background does not move), and the moving-pixel mask (T - 1, size, size): pixels
    whose centre lies inside a glyph in frame t, the topmost glyph deciding."""
    _, _, glyphs = _plan(index, seed, frames, size, label, objects)
    centre = (np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="xy"), -1) + 0.5) / size  # (H, W, (x, y))
    flow = np.zeros((frames - 1, size, size, 2), np.float32)
    mask = np.zeros((frames - 1, size, size), bool)
    for glyph, glyph_size, _, centres, angles, scales in glyphs:  # drawn in order: later glyphs cover earlier ones
        for f in range(frames - 1):
            inside = Image.new("L", (size, size))
            ImageDraw.Draw(inside).polygon([tuple(p) for p in (glyph @ _rotation(angles[f]) * glyph_size * scales[f] + centres[f]) * size],
                                           fill=1)
            where = np.asarray(inside, bool)
            if not where.any():
                continue
            p = centre[where]
            local = ((p - centres[f]) / (glyph_size * scales[f])) @ _rotation(angles[f]).T  # the glyph's own coordinates
            moved = local @ _rotation(angles[f + 1]) * glyph_size * scales[f + 1] + centres[f + 1]
            flow[f][where] = (moved - p) * size
            mask[f] |= where
    return flow, mask


def build_moving_shapes(out_dir: str | Path, *, train: int = 1000, test: int = 300, frames: int = 32, size: int = 64,
                        seed: int = 0, fps: int = 25) -> Path:
    """Write the dataset (UCF101 layout) atomically: a crash leaves no half-built directory."""
    out_dir = Path(out_dir)
    if train < 1 or test < 1:
        raise DataError("moving shapes need at least one train and one test clip")
    with atomic_dir(out_dir) as tmp:
        lists = {"trainlist01.txt": [], "testlist01.txt": []}
        for split, count, first in (("trainlist01.txt", train, 0), ("testlist01.txt", test, train)):
            for index in range(first, first + count):
                # classes balanced by construction: clip i has class i mod 10 (then shuffled order is irrelevant)
                clip, label = render_clip(index, seed=seed, frames=frames, size=size, label=index % len(CLASSES))
                name = f"{CLASSES[label]}/v_{CLASSES[label]}_{index:06d}.mp4"
                write_video(tmp / "videos" / name, clip, fps)
                lists[split].append(f"{name} {label + 1}")
        for name, lines in lists.items():
            atomic_write_text(tmp / name, "\n".join(lines) + "\n")
        atomic_write_text(tmp / "classInd.txt", "".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
        atomic_write_text(tmp / "meta.json", json.dumps({"generator": "paperzoo moving-shapes", "version": GENERATOR_VERSION, "seed": seed, "frames": frames,
                                                         "size": size, "fps": fps, "train": train, "test": test}, indent=1))
    return out_dir


def clip_frames(split: str, limit: int | None = None, *, location=None) -> np.ndarray:
    """(N, T, H, W, 3) uint8 frames of the default moving-shapes dataset's ``train`` or ``test`` clips
    (built on first use, as for the video task); labels via ``clip_labels``."""
    return np.stack([read_video(p) for p in _split_paths(split, limit, location)[0]])


def clip_labels(split: str, limit: int | None = None, *, location=None) -> np.ndarray:
    return np.array(_split_paths(split, limit, location)[1])


def shapes_location(location=None, *, train: int = 2000, test: int = 500, frames: int = 16, size: int = 32, seed: int = 0) -> Path:
    """``location``, else the cache folder of these generator settings (the generator version is in its
    name, so a folder built by an older generator is never reused)."""
    from paperzoo.data.cifar10 import cache_dir

    if location:
        return Path(location)
    return cache_dir() / f"moving_shapes_v{GENERATOR_VERSION}_{train}_{test}_{frames}x{size}_seed{seed}"


def ensure_shapes_folder(location=None, *, train: int = 2000, test: int = 500, frames: int = 16, size: int = 32,
                         seed: int = 0) -> Path:
    """The moving-shapes folder of these settings, built there once if it is not complete."""
    out = shapes_location(location, train=train, test=test, frames=frames, size=size, seed=seed)
    if not (out / "testlist01.txt").is_file():
        print(f"building moving shapes ({train} + {test} clips) into {out} (once)", flush=True)
        build_moving_shapes(out, train=train, test=test, frames=frames, size=size, seed=seed)
    return out


def _split_paths(split: str, limit: int | None, location) -> tuple[list[Path], list[int]]:
    from paperzoo.data.video_lists import read_video_list

    if split not in ("train", "test"):
        raise DataError(f"moving-shapes split must be train or test, got {split!r}")
    root = ensure_shapes_folder(location)
    videos = read_video_list(root / f"{split}list01.txt")
    return list(videos.paths[:limit]), list(videos.labels[:limit])
