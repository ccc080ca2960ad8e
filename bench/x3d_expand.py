"""X3D stepwise expansion, run for real on the moving-shapes dataset (CPU scale).

Base: an X2D-like single-frame X3D (1 frame, 16 x 16, depth factor 1, width factor 1,
bottleneck 2.25). Each step expands each of the six axes alone to about 2x the FLOPs, trains every
candidate with the recipe of ``video/x3d_xs_shapes`` (Adam 1e-3 cosine, batch 32, seed 0) for
``--candidate-steps`` steps on the 2,000 training clips, scores single-view top-1 on the 500 test
clips, and keeps the best. The paper's first step picks X-Temporal: a one-frame net cannot see
motion, so on this dataset a temporal axis must win first too.
Usage: python bench/x3d_expand.py [--steps 3] [--candidate-steps 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.engine.video_expand import stepwise_expansion  # noqa: E402
from paperzoo.video.x3d import X3DSpec  # noqa: E402

BASE = X3DSpec(frames=1, rate=8, crop=16, depth=1.0, width=1.0, bottleneck=2.25)


def describe(spec: dict) -> str:
    return (f"{spec['frames']}x{spec['rate']} {spec['crop']}^2, d {spec['depth']:g}, w {spec['width']:g}, "
            f"b {spec['bottleneck']:g}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--candidate-steps", type=int, default=200)
    args = p.parse_args(argv)
    quiet_lightning()
    t0 = time.perf_counter()
    n = args.candidate_steps
    history = stepwise_expansion(BASE, config="video/x3d_xs_shapes", out_dir=Path(tempfile.mkdtemp(prefix="bench_x3d_")),
                                 steps=args.steps, overrides=[f"trainer.max_steps={n}", f"trainer.val_every={n}",
                                                              f"trainer.checkpoint_every={n}"])
    rows = []
    for step in history["steps"]:
        for c in step["candidates"]:
            rows.append([step["step"], c["axis"] + (" (kept)" if c["axis"] == step["chosen"] else ""), describe(c["spec"]),
                         f"{c['gflops'] * 1e3:.2f}", f"{100 * c['top1']:.1f}"])
    minutes = (time.perf_counter() - t0) / 60
    md = (f"Base {describe(history['base'])} ({history['base_gflops'] * 1e3:.2f} MFLOPs per view). Data: moving shapes, "
          f"2,000 train / 500 test clips, 16 frames, 32x32 (resized to the candidate's resolution). Every candidate: "
          f"{n} steps of batch 32, Adam 1e-3 cosine, seed 0; single-view top-1. Whole run: {minutes:.0f} min on this CPU.\n\n"
          + table(["step", "axis", "spec (T x rate, crop, depth, width, bottleneck)", "MFLOPs/view", "top-1 %"], rows)
          + f"\n\nFinal: {describe(history['final'])}.\n")
    print(md)
    write_results("x3d_expand", {"settings": vars(args), "history": history}, md)


if __name__ == "__main__":
    main()
