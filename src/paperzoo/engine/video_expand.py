"""X3D's stepwise network expansion (Feichtenhofer 2020, sec. 3-4), run for real.

Start from a small base ``X3DSpec``; at every step expand each axis alone, so that each candidate
costs about ``growth`` times the current FLOPs, train every candidate briefly with the same
recipe, and keep the most accurate one. Stop after ``steps`` steps or when no candidate fits
``max_gflops``. The axes (one per expansion factor):

    fast        gamma_tau: frame rate x2 (twice the frames over the same duration)
    temporal    gamma_t:   frames x2 at the same rate (a longer duration)
    spatial     gamma_s:   resolution x sqrt(2)
    depth       gamma_d:   blocks per stage x2.2
    width       gamma_w:   channels of every layer x2
    bottleneck  gamma_b:   inner width of the bottlenecks x2.25

An axis whose expansion the data cannot feed (clip span longer than the videos, crop larger than
the frames) is skipped. Every candidate's spec, GFLOPs and top-1 are recorded.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

from paperzoo.errors import ConfigError
from paperzoo.io.atomic import atomic_write_text
from paperzoo.video.base import multiply_adds
from paperzoo.video.x3d import X3DSpec, x3d_from_spec

AXES = ("fast", "temporal", "spatial", "depth", "width", "bottleneck")


def expand_axis(spec: X3DSpec, axis: str) -> X3DSpec:
    if axis == "fast":
        return replace(spec, frames=spec.frames * 2, rate=max(1, spec.rate // 2))
    if axis == "temporal":
        return replace(spec, frames=spec.frames * 2)
    if axis == "spatial":
        return replace(spec, crop=int(round(spec.crop * math.sqrt(2) / 2)) * 2)
    if axis == "depth":
        return replace(spec, depth=round(spec.depth * 2.2, 3))
    if axis == "width":
        return replace(spec, width=spec.width * 2)
    if axis == "bottleneck":
        return replace(spec, bottleneck=spec.bottleneck * 2.25)
    raise ConfigError(f"unknown X3D axis {axis!r}; axes: {', '.join(AXES)}")


def gflops(spec: X3DSpec, num_classes: int = 10) -> float:
    return multiply_adds(x3d_from_spec(spec, num_classes=num_classes)) / 1e9


def fits(spec: X3DSpec, video_frames: int, video_size: int) -> bool:
    return (spec.frames - 1) * spec.rate + 1 <= video_frames and spec.crop <= video_size


def train_candidate(spec: X3DSpec, config: str, overrides: list[str], out_dir: Path, name: str) -> float:
    """Train one candidate with the video task; returns its final single-view top-1."""
    from paperzoo.engine.run import train

    run_dir = train(config, [*overrides, f"name={name}", f"out_dir={out_dir}", "model.name=x3d_xs",
                             f"model.options={json.dumps(asdict(spec))}", f"data.short_side={spec.crop}"])
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("val/top1")]
    return float(rows[-1]["val/top1"])


def stepwise_expansion(base: X3DSpec, *, config: str, out_dir: str | Path, steps: int = 2, growth: float = 2.0,
                       max_gflops: float | None = None, overrides: list[str] = (), video_frames: int = 16,
                       video_size: int = 32, axes=AXES, log=print) -> dict:
    """Run the expansion; writes ``expansion.json`` in ``out_dir`` after every candidate."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    history = {"base": asdict(base), "base_gflops": gflops(base), "growth": growth, "steps": []}
    current = base
    for step in range(1, steps + 1):
        candidates = []
        for axis in axes:
            spec = expand_axis(current, axis)
            cost = gflops(spec)
            if not fits(spec, video_frames, video_size) or (max_gflops and cost > max_gflops):
                log(f"step {step}: {axis:<10} skipped (the data cannot feed it or it exceeds the budget)")
                continue
            top1 = train_candidate(spec, config, list(overrides), out_dir / f"step{step}", f"{axis}")
            candidates.append({"axis": axis, "spec": asdict(spec), "gflops": cost, "top1": top1})
            log(f"step {step}: {axis:<10} {cost * 1e3:8.2f} MFLOPs  top-1 {100 * top1:5.1f}%")
            history_now = {**history, "steps": [*history["steps"], {"step": step, "candidates": candidates}]}
            atomic_write_text(out_dir / "expansion.json", json.dumps(history_now, indent=1))
        if not candidates:
            log(f"step {step}: no axis can be expanded; stopping")
            break
        best = max(candidates, key=lambda c: c["top1"])
        history["steps"].append({"step": step, "candidates": candidates, "chosen": best["axis"]})
        current = X3DSpec(**best["spec"])
        log(f"step {step}: keep {best['axis']} ({100 * best['top1']:.1f}%)")
    history["final"] = asdict(current)
    atomic_write_text(out_dir / "expansion.json", json.dumps(history, indent=1))
    return history
