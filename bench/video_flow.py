"""Optical flow and two-stream networks at CPU scale, on the generated moving-shapes dataset.

Data: moving shapes v2 (``paperzoo.data.moving_shapes``), seed 0: 2,000 train / 500 test clips of 16
frames at 32 x 32, ten motion classes (chance 10%), read upsampled to 64 x 64 (CNN-M and Inception
lose everything at 32 x 32). Flow: Farneback (the default ``data.flow_method``) on the 32 x 32
frames, cached as 8-bit JPEGs (+/- 20 px); warped flow the same after removing a RANSAC homography.

Each network: its bundled config ``video/<name>_shapes`` (narrowed widths), ``--steps`` steps of
batch 32, Adam 1e-3 cosine, seed 0. Every stream is trained on its own (the papers' recipe for
late fusion); fused rows combine the trained streams' softmax scores on the test clips:
weighted averages (1 : 1 and the TSN / Hidden Two-stream 1 : 1.5) and, for the two-stream
ConvNet, the paper's linear classifier on stacked L2-normalised scores (here logistic regression
fitted on the scores of 500 training clips). Top-1: one centre view per test clip (a centre clip
or, for segment models, the segments' centre snippets).

Flow cost: seconds per flow field for each OpenCV method on the dataset's 32 x 32 frames and on
the 340 x 256 frames of ``$PAPERZOO_DATA/video/demo.mp4`` (when present), and MotionNet's forward
time per field (batch of 16 clips, no grad) at the same sizes, all on this 2-core CPU.
Claims checked: the temporal stream beats the spatial one on motion classes; fusion beats either
stream; MotionNet is within a few points of precomputed flow at a fraction of its cost.
Usage: python bench/video_flow.py [--steps 600] [--models two_stream_spatial ...] [--costs-only]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, table, write_results  # noqa: E402
from _training import train_steps, validation_summary  # noqa: E402

import paperzoo  # noqa: E402
from paperzoo.data.moving_shapes import CLASSES, GENERATOR_VERSION, true_flow  # noqa: E402
from paperzoo.metrics.flow import flow_errors  # noqa: E402
from paperzoo.engine.config import load_config  # noqa: E402
from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.io.video import read_video  # noqa: E402
from paperzoo.registry import create_model  # noqa: E402
from paperzoo.engine.task import load_run_config  # noqa: E402
from paperzoo.video.data import ValClips, ensure_moving_shapes  # noqa: E402
from paperzoo.video.task import build_data  # noqa: E402
from paperzoo.video.base import count_parameters, multiply_adds  # noqa: E402
from paperzoo.video.flow import METHODS, compute_flow  # noqa: E402
from paperzoo.video.motionnet import MotionNet  # noqa: E402
from paperzoo.video.transforms import normalize_input, short_side_scale, to_clip  # noqa: E402
from paperzoo.video.fusion import fit_score_fusion, fuse_scores, stacked_scores  # noqa: E402

NAME = "video_flow"
DATASET = f"moving_shapes v{GENERATOR_VERSION}"
# config name -> what it is
MODELS = {
    "two_stream_spatial": "spatial stream (1 RGB frame)",
    "two_stream_temporal": "temporal stream (10 Farneback flow fields)",
    "conv_fusion": "conv fusion (conv3d + 3D pool, 3 x 5 fields)",
    "tsn_rgb": "TSN RGB (3 segments)",
    "tsn_rgb_diff": "TSN RGB difference",
    "tsn_flow": "TSN flow",
    "tsn_warped_flow": "TSN warped flow",
    "hidden_temporal": "hidden temporal stream (MotionNet, no precomputed flow; MotionNet learns from its own loss: classifier_grad 0)",
    "hidden_temporal_e2e": "hidden temporal stream trained end to end after 200 MotionNet-only steps (the paper's fine-tuning)",
    "i3d": "I3D RGB (16 frames)",
    "i3d_flow": "I3D flow (16 fields)",
}
# fused rows: name -> (streams, weights, description)
FUSIONS = {
    "two_stream 1:1": (("two_stream_spatial", "two_stream_temporal"), (1, 1), "two-stream, late fusion by averaging"),
    "two_stream 1:1.5": (("two_stream_spatial", "two_stream_temporal"), (1, 1.5), "two-stream, weighted late fusion"),
    "tsn rgb+flow 1:1.5": (("tsn_rgb", "tsn_flow"), (1, 1.5), "TSN two-stream (RGB + flow)"),
    "tsn rgb+warped 1:1.5": (("tsn_rgb", "tsn_warped_flow"), (1, 1.5), "TSN two-stream (RGB + warped flow)"),
    "tsn rgb+rgb_diff 1:1.5": (("tsn_rgb", "tsn_rgb_diff"), (1, 1.5), "TSN RGB + RGB difference"),
    "hidden_two_stream 1:1.5": (("two_stream_spatial", "hidden_temporal"), (1, 1.5), "Hidden Two-stream (spatial + MotionNet stream)"),
    "hidden_two_stream e2e 1:1.5": (("two_stream_spatial", "hidden_temporal_e2e"), (1, 1.5),
                                    "Hidden Two-stream with the end-to-end MotionNet stream"),
    "two_stream_i3d 1:1": (("i3d", "i3d_flow"), (1, 1), "two-stream I3D (RGB + flow I3D)"),
}
TRAIN_SCORES = 500  # training clips scored for the linear fusion
FLOW_CLIPS = 100  # test clips whose flow is scored against the true motion
FIELDS = 10  # the flow fields of frames 0-10 (what the hidden stream's MotionNet reads)


def _test_clips(root: Path, n: int | None = None):
    """(decoded frames (16, 32, 32, 3), true flow (15, 32, 32, 2), moving mask) of the first ``n`` test clips."""
    meta = json.loads((root / "meta.json").read_text())
    for index in range(meta["train"], meta["train"] + (n or FLOW_CLIPS)):
        label = index % len(CLASSES)
        frames = read_video(root / "videos" / CLASSES[label] / f"v_{CLASSES[label]}_{index:06d}.mp4")
        flow, mask = true_flow(index, seed=meta["seed"], frames=meta["frames"], size=meta["size"], label=label)
        yield frames, flow, mask


def _scored(pairs) -> dict:
    """Mean EPE / cosine over clips of (predicted, true, mask) fields, each clip weighted alike."""
    scores = [flow_errors(p, t, m) for p, t, m in pairs]
    return {k: float(np.nanmean([x[k] for x in scores])) for k in ("epe", "cosine")}


def flow_quality_baselines(root: Path) -> dict:
    """Zero flow and the OpenCV methods on the test clips' first FIELDS fields, against the true motion (32x32)."""
    clips = list(_test_clips(root))
    out = {"zero": _scored((np.zeros_like(f[:FIELDS]), f[:FIELDS], m[:FIELDS]) for _, f, m in clips)}
    for method in ("farneback", "dis", "tvl1"):
        out[method] = _scored((compute_flow(x[: FIELDS + 1], method), f[:FIELDS], m[:FIELDS]) for x, f, m in clips)
    return out


@torch.no_grad()
def motionnet_flow_quality(run_dir: Path, root: Path) -> dict:
    """The trained hidden stream's MotionNet flow (at its 64x64 input, averaged back to 32x32 and halved) vs the true motion."""
    model = paperzoo.load(run_dir).model
    spec = model.input_spec
    pairs = []
    for frames, flow, mask in _test_clips(root):
        x = normalize_input(short_side_scale(to_clip(frames[: FIELDS + 1]), spec.short_side), True)[None]
        finest = model.motionnet(x)[0]  # (1, 2 FIELDS, 64, 64), (u1, v1, u2, v2, ...)
        scale = finest.shape[-1] // flow.shape[2]
        pred = torch.nn.functional.avg_pool2d(finest, scale) / scale
        pred = pred.reshape(FIELDS, 2, *pred.shape[-2:]).permute(0, 2, 3, 1).numpy()
        pairs.append((pred, flow[:FIELDS], mask[:FIELDS]))
    return _scored(pairs)


@torch.no_grad()
def softmax_scores(run_dir: Path, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, classes) softmax scores and labels of a trained run on the centre views of a split."""
    model = paperzoo.load(run_dir).model
    data = build_data(load_run_config(run_dir, "video"))
    dataset = data.val_set if split == "test" else ValClips(data.train_clips.reader, data.train_labels.tolist(), data.val_set.view)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    probs, labels = [], []
    for start in range(0, n, 32):
        batch = [dataset[i] for i in range(start, min(start + 32, n))]
        probs.append(model(torch.stack([b[0] for b in batch])).softmax(-1))
        labels += [b[1] for b in batch]
    return torch.cat(probs).numpy(), np.array(labels)


def run_model(name: str, steps: int, out: Path, scores_dir: Path) -> dict:
    cfg, run_dir, seconds = train_steps(f"video/{name}_shapes", steps, out)
    test, labels = softmax_scores(run_dir, "test")
    train_scores, train_labels = softmax_scores(run_dir, "train", TRAIN_SCORES)
    np.savez(scores_dir / f"{name}.npz", test=test, labels=labels, train=train_scores, train_labels=train_labels)
    small = create_model(cfg.model.name, num_classes=10, **cfg.model.options)
    quality = {"flow_quality": motionnet_flow_quality(run_dir, ensure_moving_shapes(cfg.data))} if name.startswith("hidden_temporal") else {}
    return {**quality, "model": name, "dataset": DATASET, "what": MODELS[name], "steps": steps, "train_seconds": seconds,
            "top1": float((test.argmax(1) == labels).mean()), "params": count_parameters(small),
            "gflops": multiply_adds(small) / 1e9,
            **{k: v for k, v in validation_summary(run_dir).items() if k in ("train_clips_per_s", "curve")}}


def fusion_rows(scores_dir: Path) -> list[dict]:
    rows = []
    for name, (streams, weights, what) in FUSIONS.items():
        files = [scores_dir / f"{s}.npz" for s in streams]
        if not all(f.is_file() for f in files):
            continue
        loaded = [np.load(f) for f in files]
        labels = loaded[0]["labels"]
        fused = fuse_scores([torch.from_numpy(s["test"]).log() for s in loaded], weights).numpy()
        rows.append({"model": name, "what": what, "top1": float((fused.argmax(1) == labels).mean())})
        if name == "two_stream 1:1":
            layer = fit_score_fusion([torch.from_numpy(s["train"]) for s in loaded], torch.from_numpy(loaded[0]["train_labels"]))
            pred = layer(stacked_scores([torch.from_numpy(s["test"]) for s in loaded])).argmax(1).numpy()
            rows.append({"model": "two_stream linear", "what": "two-stream, linear classifier on stacked L2-normalised scores "
                         f"(fitted on {len(loaded[0]['train_labels'])} training clips)", "top1": float((pred == labels).mean())})
    return rows


def seconds_per_field(frames: np.ndarray, method: str, warped: bool = False, reps: int = 1) -> float:
    compute_flow(frames[:2], method, warped=warped)  # warm up
    t = time.perf_counter()
    for _ in range(reps):
        compute_flow(frames, method, warped=warped)
    return (time.perf_counter() - t) / (reps * (len(frames) - 1))


@torch.no_grad()
def motionnet_seconds_per_field(size: tuple[int, int], frames: int = 11, batch: int = 16) -> float:
    cfg = load_config("video/hidden_temporal_shapes")
    o = cfg.model.options
    net = MotionNet(frames, width=o["motion_width"], levels=o["levels"]).eval()
    x = torch.randn(batch, 3, frames, *size)
    net(x)
    t = time.perf_counter()
    net(x)
    return (time.perf_counter() - t) / (batch * (frames - 1))


def flow_costs(root: Path) -> list[dict]:
    clips = sorted((root / "videos").rglob("*.mp4"))[:20]
    small = [read_video(p) for p in clips]
    rows = []
    sizes = [("32x32 (moving shapes)", small)]
    demo = Path(os.environ.get("PAPERZOO_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "video" / "demo.mp4"
    if demo.is_file():
        frames = read_video(demo, range(11))
        sizes.append((f"{frames.shape[2]}x{frames.shape[1]} (demo.mp4)", [frames]))
    for label, videos in sizes:
        for method, warped in [(m, False) for m in METHODS] + [("farneback", True)]:
            per = [seconds_per_field(v, method, warped) for v in videos]
            rows.append({"size": label, "method": ("warped " if warped else "") + method, "ms_per_field": 1000 * float(np.mean(per))})
        h, w = videos[0].shape[1:3]
        side = (64, 64) if h == 32 else (h - h % 8, w - w % 8)  # its 4 levels need sides divisible by 8
        rows.append({"size": label, "method": f"MotionNet (CPU config, {side[0]}x{side[1]} input)",
                     "ms_per_field": 1000 * motionnet_seconds_per_field(side)})
    return rows


def markdown(rows: list[dict], fusions: list[dict], costs: list[dict], steps: list[int], quality: dict | None = None) -> str:
    by = {r["model"]: r for r in rows}
    quality_rows = [[m, f"{q['epe']:.3f}", f"{q['cosine']:.2f}"] for m, q in (quality or {}).items()]
    quality_rows += [[f"MotionNet of {r['model']} ({r['steps']} steps, top-1 {100 * r['top1']:.1f}%)", f"{r['flow_quality']['epe']:.3f}",
                      f"{r['flow_quality']['cosine']:.2f}"] for r in rows if "flow_quality" in r]
    body = [[r["model"], r["what"], f"{100 * r['top1']:.1f}", f"{r['params'] / 1e6:.2f}M", f"{r['gflops']:.3f}",
             f"{r['train_clips_per_s']:.0f}" if r.get("train_clips_per_s") else "-", f"{r['train_seconds'] / 60:.1f} min"] for r in rows]
    body += [[f["model"], f["what"], f"{100 * f['top1']:.1f}", "", "", "", ""] for f in fusions]
    cost_body = [[c["size"], c["method"], f"{c['ms_per_field']:.2f}"] for c in costs]
    claims = []
    f = {x["model"]: x["top1"] for x in fusions}

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    if {"two_stream_spatial", "two_stream_temporal"} <= set(by):
        s, t = by["two_stream_spatial"]["top1"], by["two_stream_temporal"]["top1"]
        claims.append(f"temporal stream beats spatial stream: {100 * t:.1f} vs {100 * s:.1f}% - {verdict(t > s)}")
        if "two_stream 1:1.5" in f:
            best = max(f["two_stream 1:1"], f["two_stream 1:1.5"], f.get("two_stream linear", 0))
            claims.append(f"fusion beats either stream: best two-stream fusion {100 * best:.1f}% vs {100 * max(s, t):.1f}% - {verdict(best > max(s, t))}")
    if {"hidden_temporal", "two_stream_temporal"} <= set(by):
        h, t = by["hidden_temporal"]["top1"], by["two_stream_temporal"]["top1"]
        cost = {c["method"].split(" (")[0]: c["ms_per_field"] for c in costs if c["size"].startswith("32x32")}
        claims.append(f"MotionNet stream within a few (3) points of precomputed flow: {100 * h:.1f} vs {100 * t:.1f}% - "
                      f"{verdict(h >= t - 0.03)}; its cost per field {cost.get('MotionNet', float('nan')):.2f} ms vs "
                      f"Farneback {cost.get('farneback', float('nan')):.2f} ms, TV-L1 {cost.get('tvl1', float('nan')):.2f} ms (32x32)")
    return (f"Moving shapes ({DATASET}, seed 0): 2,000 train / 500 test clips, 16 frames, 32x32 read upsampled to 64x64, "
            f"10 motion classes (chance 10%). Each stream: bundled config `video/<name>_shapes`, {', '.join(map(str, steps))} steps "
            "of batch 32, Adam 1e-3 cosine, seed 0, trained alone; fused rows combine trained streams' softmax scores on the test "
            "clips. Top-1 on the 500 test clips, one centre view. Flow: Farneback on the 32x32 frames, 8-bit JPEG cache.\n\n"
            + table(["model", "what", "top-1 %", "params", "GFLOPs/view", "train clips/s", "train time"], body)
            + "\n\nClaims:\n" + "".join(f"- {c}\n" for c in claims)
            + "\nFlow computation cost on this CPU (one flow field = one frame pair):\n\n"
            + table(["frames", "method", "ms / field"], cost_body)
            + (f"\n\nFlow against the true motion (`paperzoo.data.moving_shapes.true_flow`), on the moving pixels of the first "
               f"{FLOW_CLIPS} test clips, fields 0-{FIELDS - 1} at 32x32 (MotionNet: its 64x64 flow averaged down and halved). "
               "EPE: mean end-point error in pixels; cosine: direction agreement where the truth moves > 0.1 px "
               "(`paperzoo.metrics.flow`):\n\n" + table(["flow", "EPE (px)", "cosine"], quality_rows) if quality_rows else "")
            + "\n\nValidation top-1 during training (step: top-1): "
            + "; ".join(f"{r['model']} " + ", ".join(f"{s}: {100 * a:.0f}" for s, a in r["curve"]) for r in rows) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--costs-only", action="store_true", help="only re-measure the flow costs (run it alone: they are timings)")
    p.add_argument("--keep-costs", action="store_true", help="keep the flow costs of the last run (timings need a quiet machine)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"unknown models: {', '.join(unknown)}")
    quiet_lightning()
    torch.set_num_threads(2)
    root = ensure_moving_shapes(load_config("video/two_stream_temporal_shapes").data)
    previous = RESULTS / f"{NAME}.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {}
    rows = {r["model"]: r for r in old.get("rows", []) if r.get("dataset") == DATASET}
    # per-stream softmax scores on the 500 test clips (written by this script), kept so a later run of one
    # stream can be fused with streams trained earlier without retraining them
    scores_dir = RESULTS.parents[1] / "docs" / "video_flow_scores"
    scores_dir.mkdir(parents=True, exist_ok=True)
    costs = old.get("flow_costs") if args.keep_costs and old.get("flow_costs") else flow_costs(root)
    print(table(["frames", "method", "ms / field"], [[c["size"], c["method"], f"{c['ms_per_field']:.2f}"] for c in costs]), flush=True)
    quality = flow_quality_baselines(root)
    print(quality, flush=True)
    out = Path(tempfile.mkdtemp(prefix="bench_video_flow_"))
    for name in [] if args.costs_only else args.models:
        row = run_model(name, args.steps, out, scores_dir)
        rows[name] = row
        print(f"{name}: top-1 {100 * row['top1']:.1f}% in {row['train_seconds'] / 60:.1f} min", flush=True)
        ordered = [rows[m] for m in MODELS if m in rows]
        fusions = fusion_rows(scores_dir)
        steps = sorted({r["steps"] for r in ordered})
        write_results(NAME, {"settings": vars(args), "rows": ordered, "fusions": fusions, "flow_costs": costs, "flow_quality": quality},
                      markdown(ordered, fusions, costs, steps, quality))
    ordered = [rows[m] for m in MODELS if m in rows]
    fusions = fusion_rows(scores_dir)
    text = markdown(ordered, fusions, costs, sorted({r["steps"] for r in ordered}) or [args.steps], quality)
    write_results(NAME, {"settings": old.get("settings", vars(args)), "rows": ordered, "fusions": fusions, "flow_costs": costs,
                         "flow_quality": quality}, text)
    print(text)


if __name__ == "__main__":
    main()
