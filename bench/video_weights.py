"""Released video weights in paperzoo: logit agreement at the papers' input sizes, and CPU inference
throughput against the reference modules with the same weights.

For every importable layout (``paperzoo weights list``) the reference model (torchvision 0.28,
pytorchvideo 0.1.5; random weights and batch-norm statistics: the real files cannot be downloaded
here) is saved in its own format, imported, and both run on one clip of the paper's size: max
|logit diff|. Then clips/s at batch 1 and 8 for x3d_m, slowfast_r50 (8x8) and r2plus1d_18: the
reference module, paperzoo as imported, and paperzoo after ``optimize_for_inference`` (batch norm
folded, channels-last; and bfloat16 autocast, with its max |logit diff| and top-1 agreement).

    make .venv/.installed-ref && .venv/bin/python bench/video_weights.py [--reps 3] [--skip-diff]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "reference"), str(ROOT / ".venv" / "reference")]
from _results import table, write_results  # noqa: E402
from _reference import install, randomized  # noqa: E402

install()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pytorchvideo.models import hub  # noqa: E402
    from pytorchvideo.models.resnet import create_resnet  # noqa: E402
    from pytorchvideo.models.slowfast import create_slowfast  # noqa: E402
    from torchvision.models import video as tv  # noqa: E402

from paperzoo.video.speed import optimize_for_inference  # noqa: E402
from paperzoo.video.weights import REFERENCES, convert_state_dict, read_state_dict  # noqa: E402

# (source, name) -> (reference at the paper's size, clip shape, how the reference reads the clip)
PAPER = {
    ("torchvision", "r3d_18"): (tv.r3d_18, (1, 3, 16, 112, 112), None),
    ("torchvision", "mc3_18"): (tv.mc3_18, (1, 3, 16, 112, 112), None),
    ("torchvision", "r2plus1d_18"): (tv.r2plus1d_18, (1, 3, 16, 112, 112), None),
    ("torchvision", "s3d"): (tv.s3d, (1, 3, 64, 224, 224), None),
    ("pytorchvideo", "x3d_xs"): (lambda: hub.x3d_xs(head_activation=None), (1, 3, 4, 160, 160), None),
    ("pytorchvideo", "x3d_s"): (lambda: hub.x3d_s(head_activation=None), (1, 3, 13, 160, 160), None),
    ("pytorchvideo", "x3d_m"): (lambda: hub.x3d_m(head_activation=None), (1, 3, 16, 224, 224), None),
    ("pytorchvideo", "x3d_l"): (lambda: hub.x3d_l(head_activation=None), (1, 3, 16, 312, 312), None),
    ("pytorchvideo", "slowfast_r50"): (hub.slowfast_r50, (1, 3, 32, 224, 224), 4),
    ("pytorchvideo", "slowfast_r50_4x16"): (lambda: create_slowfast(slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1),
                                                                    head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7))), (1, 3, 32, 224, 224), 8),
    ("pytorchvideo", "slowfast_r101"): (hub.slowfast_r101, (1, 3, 32, 224, 224), 4),
    ("pytorchvideo", "slow_r50"): (hub.slow_r50, (1, 3, 8, 224, 224), None),
    ("pytorchvideo", "slow_r50_4x16"): (lambda: create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(4, 7, 7), model_depth=50),
                                        (1, 3, 4, 224, 224), None),
}
SPEED = [("pytorchvideo", "x3d_m"), ("pytorchvideo", "slowfast_r50"), ("torchvision", "r2plus1d_18")]


def feed(x: torch.Tensor, alpha: int | None):
    if alpha is None:
        return x
    return [x.index_select(2, torch.linspace(0, x.shape[2] - 1, x.shape[2] // alpha).long()), x]


def pair(key, tmp: Path):
    """(reference, paperzoo model with its imported weights, clip shape, alpha)."""
    build, shape, alpha = PAPER[key]
    torch.manual_seed(0)
    reference = randomized(build())
    path = tmp / f"{key[1]}.pth"
    torch.save(reference.state_dict(), path)
    ref = REFERENCES[key]
    ours = ref.build()
    ours.load_state_dict(convert_state_dict(read_state_dict(path), ref, ours))
    return reference, ours.eval(), shape, alpha


@torch.inference_mode()
def clips_per_second(fn, x, reps: int) -> float:
    fn(x)  # warm-up (oneDNN picks its kernels)
    start = time.perf_counter()
    for _ in range(reps):
        fn(x)
    return reps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-diff", action="store_true", help="throughput only")
    args = parser.parse_args()
    diffs, speed = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_diff:
            for key in PAPER:
                reference, ours, shape, alpha = pair(key, Path(tmp))
                x = torch.randn(*shape)
                with torch.inference_mode():
                    want, got = reference(feed(x, alpha)), ours(x)
                diffs[f"{key[0]}:{key[1]}"] = {"max_abs_diff": float((want - got).abs().max()), "max_abs_logit": float(want.abs().max()),
                                               "input": list(shape), "architecture": REFERENCES[key].arch}
                print(f"{key[0]:<13} {key[1]:<18} {tuple(shape)}  max |diff| {diffs[f'{key[0]}:{key[1]}']['max_abs_diff']:.2e}", flush=True)
        for key in SPEED:
            reference, ours, shape, alpha = pair(key, Path(tmp))
            fast, fast_bf16 = optimize_for_inference(ours), optimize_for_inference(ours, dtype=torch.bfloat16)
            for batch in (1, 8):
                x = torch.randn(batch, *shape[1:])
                with torch.inference_mode():
                    want = reference(feed(x, alpha))
                    err = {"fp32": float((fast(x) - want).abs().max())}
                    low = fast_bf16(x)
                    err["bf16"] = float((low - want).abs().max())
                    top1_agree = float((low.argmax(1) == want.argmax(1)).float().mean())
                row = {"reference": clips_per_second(lambda v: reference(feed(v, alpha)), x, args.reps),
                       "paperzoo": clips_per_second(ours, x, args.reps),
                       "paperzoo_fast": clips_per_second(fast, x, args.reps),
                       "paperzoo_fast_bf16": clips_per_second(fast_bf16, x, args.reps),
                       "fast_max_abs_diff": err["fp32"], "bf16_max_abs_diff": err["bf16"], "bf16_top1_agreement": top1_agree,
                       "max_abs_logit": float(want.abs().max())}
                speed[f"{key[1]}@{batch}"] = row
                print(f"{key[1]:<14} batch {batch}: " + "  ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)

    md = ["`bench/video_weights.py`: released-weight import checked at the papers' input sizes, and CPU throughput against the reference "
          "modules with the same weights. Reference models: torchvision 0.28.0 and pytorchvideo 0.1.5, random weights and batch-norm "
          "statistics (the released files cannot be downloaded here), saved in their own format and imported with "
          "`paperzoo weights import`. CI repeats the logit check at smaller inputs (`tests/reference`, <= 1e-4).\n"]
    if diffs:
        md.append(table(["checkpoint", "paperzoo architecture", "input (B, C, T, H, W)", "max logit", "max abs logit diff"],
                        [[k, d["architecture"], "x".join(map(str, d["input"])), f"{d['max_abs_logit']:.3g}", f"{d['max_abs_diff']:.1e}"]
                         for k, d in diffs.items()]))
        md.append("")
    md.append(f"Throughput: clips/s, {args.reps} timed forward passes after one warm-up, `torch.inference_mode`, one process on "
              "this machine's cores; *fast* = `paperzoo.video.speed.optimize_for_inference` (batch norm folded into the convs, "
              "channels-last 3D); *bf16* adds bfloat16 autocast (its error and top-1 agreement with the float32 reference shown).\n")
    md.append(table(["model @ batch", "reference", "paperzoo", "paperzoo fast", "fast / reference", "fast diff", "fast bf16",
                     "bf16 / reference", "bf16 diff (max logit)", "bf16 top-1 agreement"],
                    [[k, f"{r['reference']:.2f}", f"{r['paperzoo']:.2f}", f"{r['paperzoo_fast']:.2f}", f"{r['paperzoo_fast'] / r['reference']:.2f}x",
                      f"{r['fast_max_abs_diff']:.1e}", f"{r['paperzoo_fast_bf16']:.2f}", f"{r['paperzoo_fast_bf16'] / r['reference']:.2f}x",
                      f"{r['bf16_max_abs_diff']:.2g} ({r['max_abs_logit']:.3g})", f"{r['bf16_top1_agreement']:.2f}"] for k, r in speed.items()]))
    write_results("video_weights", {"logit_diffs": diffs, "throughput": speed, "reps": args.reps}, "\n".join(md))


if __name__ == "__main__":
    main()
