"""Prior sampling: the cached fast samplers vs the naive full-forward sampler.

Batch of 16 code maps of 8x8 and 32x32, K=512; Gated PixelCNN of 64 channels x 10 layers (row-cached
sampler) and PixelSNAIL of 64 channels, 2 blocks of 2 residual layers + attention (position-cached
sampler); kernel 3, float32, untrained weights (sampling cost does not depend on the weights),
seed 0; both samplers are checked to return identical codes. Target (issue 5): fast >= 10x faster
on 32x32.
Usage: python bench/prior_sampling.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.priors import GatedPixelCNN, PixelSNAIL, sample_fast, sample_naive  # noqa: E402
from paperzoo.priors.snail_sampler import sample_pixelsnail_fast  # noqa: E402


def main():
    torch.manual_seed(0)
    priors = [("Gated PixelCNN", GatedPixelCNN(num_codes=512, channels=64, layers=10).eval(), sample_fast),
              ("PixelSNAIL", PixelSNAIL(num_codes=512, channels=64, blocks=2, res_per_block=2, heads=4).eval(),
               sample_pixelsnail_fast)]
    rows, records = [], []
    for label, prior, fast in priors:
        for side in (8, 32):
            times, outs = {}, {}
            for name, fn in (("naive", sample_naive), ("fast", fast)):
                t0 = time.perf_counter()
                outs[name] = fn(prior, (side, side), 16, seed=0)
                times[name] = time.perf_counter() - t0
                print(f"{label} {side}x{side} {name}: {times[name]:.2f} s", flush=True)
            same = bool(torch.equal(outs["naive"], outs["fast"]))
            rec = {"prior": label, "map": f"{side}x{side}", "naive_s": times["naive"], "fast_s": times["fast"],
                   "speedup": times["naive"] / times["fast"], "identical_codes": same}
            records.append(rec)
            rows.append([label, rec["map"], rec["naive_s"], rec["fast_s"], rec["speedup"], same])
    md = table(["prior", "code map", "naive s", "fast s", "speedup", "identical codes"], rows)
    markdown = f"`bench/prior_sampling.py`: {' '.join(__doc__.splitlines()[2:7])}\n\n{md}\n"
    print(md)
    write_results("prior_sampling", {"records": records}, markdown)


if __name__ == "__main__":
    main()
