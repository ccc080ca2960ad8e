"""Forward + backward time of each margin loss on 10^7 elements vs the closest torch built-in.

Peers, all measured in this one run on the same tensors (float32, mean reduction):
  * built-in: F.soft_margin_loss (= LogitMarginLoss), F.mse_loss (= L2MarginLoss on +-1 targets),
    F.multi_margin_loss with p=1 / p=2 on 2-class logits [-f/2, f/2] (= L1Hinge / L2Hinge, times 1/2);
    the (N, 2) logits are built outside the timed region;
  * autograd: the same psi written as plain torch ops, differentiated by autograd (what a user
    would write without the closed-form backward).
Target (issue 3): ours no slower than 1.2x the built-in. Usage: python bench/margin_losses.py [--n N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.losses.plot import default_losses  # noqa: E402


def timed(peers: dict, repeats: int) -> dict:
    """Median seconds of forward + backward for each ``name: (fn, leaf)``. Peers run interleaved,
    round by round, so that drift in machine load hits all of them alike."""
    times = {name: [] for name in peers}
    for round_ in range(repeats + 1):
        for name, (fn, leaf) in peers.items():
            leaf.grad = None
            t0 = time.perf_counter()
            fn().backward()
            if round_:  # round 0 is the warm-up
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    gen = torch.Generator().manual_seed(0)
    output = (torch.randn(args.n, generator=gen) * 2).requires_grad_(True)
    target = torch.where(torch.rand(args.n, generator=gen) < 0.5, -1.0, 1.0)
    two_class = torch.stack([-output.detach() / 2, output.detach() / 2], 1).requires_grad_(True)
    labels = (target > 0).long()
    builtins = {
        "LogitMarginLoss()": ("F.soft_margin_loss", lambda: F.soft_margin_loss(output, target), output, 1.0),
        "L2MarginLoss()": ("F.mse_loss", lambda: F.mse_loss(output, target), output, 1.0),
        "L1HingeLoss()": ("F.multi_margin_loss(p=1)", lambda: F.multi_margin_loss(two_class, labels, p=1), two_class, 2.0),
        "L2HingeLoss()": ("F.multi_margin_loss(p=2)", lambda: F.multi_margin_loss(two_class, labels, p=2), two_class, 2.0),
    }

    rows, records = [], []
    for loss in default_losses():
        name = repr(loss)
        peers = {"ours": (lambda: loss(output, target), output)}
        if name != "ZeroOneLoss()":  # its psi has no autograd graph at all
            peers["autograd"] = (lambda: loss.psi(output * target).mean(), output)
        if name in builtins:
            label, fn, leaf, factor = builtins[name]
            peers["builtin"] = (fn, leaf)
        t = timed(peers, args.repeats)
        ours, composite = t["ours"], t.get("autograd")
        rec = {"loss": name, "ours_ms": ours * 1e3, "autograd_ms": composite * 1e3 if composite else None}
        if name in builtins:
            rec.update(builtin=label, builtin_ms=t["builtin"] * 1e3)
            rec["ratio_vs_builtin"] = rec["ours_ms"] / rec["builtin_ms"]
            with torch.no_grad():  # same numbers as the built-in (up to its constant factor)
                rec["max_abs_diff_vs_builtin"] = abs(float(loss(output, target)) - factor * float(fn()))
        if composite:
            rec["ratio_vs_autograd"] = rec["ours_ms"] / rec["autograd_ms"]
        records.append(rec)
        rows.append([name, rec["ours_ms"], rec.get("builtin", "-"), rec.get("builtin_ms", "-"),
                     rec.get("ratio_vs_builtin", "-"), rec["autograd_ms"] or "-", rec.get("ratio_vs_autograd", "-")])
        print(f"{name:<34} ours {rec['ours_ms']:8.1f} ms   built-in {rec.get('builtin_ms', float('nan')):8.1f} ms   "
              f"autograd {rec['autograd_ms'] or float('nan'):8.1f} ms", flush=True)

    headers = ["loss", "ours ms", "built-in", "built-in ms", "ours / built-in", "autograd ms", "ours / autograd"]
    md = table(headers, rows)
    worst = max(r["ratio_vs_builtin"] for r in records if "ratio_vs_builtin" in r)
    markdown = (f"`bench/margin_losses.py`: forward + backward, mean reduction, {args.n:,} float32 elements, "
                f"median of {args.repeats}. Target: ours / built-in <= 1.2 (worst measured: {worst:.2f}).\n\n{md}\n")
    print("\n" + md)
    write_results("margin_losses", {"n": args.n, "repeats": args.repeats, "records": records}, markdown)


if __name__ == "__main__":
    main()
