"""EMA vector quantiser, forward + backward: paperzoo vs vector-quantize-pytorch vs a bare GEMM.

Same setting for both quantisers: K = 512 codes, D = 64, EMA decay 0.99, commitment beta 0.25,
8192 vectors (8 x 1024), float32, training mode (EMA update included), each in its native layout
(ours channel-first (B, D, N), vector-quantize-pytorch channel-last (B, N, D)). The GEMM peer is
the (8192 x 64) @ (64 x 512) distance product alone, the floor of any exact quantiser.
Targets (issue 4): >= 5x faster than vector-quantize-pytorch, within 2x of the GEMM.
Usage: python bench/vq_layer.py  (needs `pip install vector-quantize-pytorch`; skipped if absent)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.vq import VectorQuantizer  # noqa: E402

K, D, B, N, REPEATS = 512, 64, 8, 1024, 60


def median_ms(fns: dict, repeats=REPEATS) -> dict:
    """Median ms per peer; peers run interleaved round by round so load drift hits all alike."""
    times = {name: [] for name in fns}
    for round_ in range(repeats + 3):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if round_ >= 3:  # warm-up rounds
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def main():
    torch.manual_seed(0)
    ours = VectorQuantizer(K, D, beta=0.25, ema=True, decay=0.99).train()
    z_ours = torch.randn(B, D, N, requires_grad=True)

    def run_ours():
        out = ours(z_ours)
        (out.quantized.sum() + out.loss).backward()

    fns = {"paperzoo VectorQuantizer(ema)": run_ours}

    try:
        from vector_quantize_pytorch import VectorQuantize

        theirs = VectorQuantize(dim=D, codebook_size=K, decay=0.99, commitment_weight=0.25).train()
        z_theirs = torch.randn(B, N, D, requires_grad=True)

        def run_theirs():
            quantized, _, loss = theirs(z_theirs)
            (quantized.sum() + loss.sum()).backward()

        fns["vector-quantize-pytorch VectorQuantize"] = run_theirs
    except ImportError:
        print("vector-quantize-pytorch not installed: that peer is skipped", file=sys.stderr)

    flat, codes = torch.randn(B * N, D), torch.randn(K, D)
    fns["bare distance GEMM (8192x64 @ 64x512)"] = lambda: flat @ codes.T
    peers = median_ms(fns)

    base = peers["paperzoo VectorQuantizer(ema)"]
    rows = [[name, ms, ms / base] for name, ms in peers.items()]
    md = table(["peer", "ms (median)", "time / paperzoo"], rows)
    speedup = peers.get("vector-quantize-pytorch VectorQuantize", float("nan")) / base
    vs_gemm = base / peers["bare distance GEMM (8192x64 @ 64x512)"]
    summary = (f"paperzoo is {speedup:.1f}x faster than vector-quantize-pytorch (target >= 5x) and "
               f"{vs_gemm:.2f}x the bare GEMM's time (target <= 2x).")
    print(md + "\n" + summary)
    import importlib.metadata as md_

    try:
        vqp_version = md_.version("vector-quantize-pytorch")
    except md_.PackageNotFoundError:
        vqp_version = None
    markdown = (f"`bench/vq_layer.py`: {' '.join(__doc__.splitlines()[2:7])} vector-quantize-pytorch "
                f"{vqp_version}; median of {REPEATS}.\n\n{md}\n\n{summary}\n")
    write_results("vq_layer", {"peers_ms": peers, "speedup_vs_vqp": speedup, "ratio_vs_gemm": vs_gemm,
                               "vector_quantize_pytorch": vqp_version}, markdown)


if __name__ == "__main__":
    main()
