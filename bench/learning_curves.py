"""Learning curves side by side: validation metrics by step of training runs (finished or stopped) and zoo entries.

For a capacity / schedule question that is settled by the curves themselves (at equal steps, which setting
is ahead?), without re-scoring anything on the test set. Each row reads its run's metrics.csv (or a zoo card's
validation curve), its command, its trainable parameters (from the last checkpoint or the exported weights)
and its training speed (the median logged samples per second; compare speeds only of runs made alone on one
machine).

Usage: python bench/learning_curves.py --name audioslots_capacity --metric val/si_snri --also val/loss \\
           --runs "shipped=zoo:audioslots_fsdd2mix" "wider=runs/long/slots_big/<t>" [--note TEXT] [--until STEP]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import bad_input, table, validation_log, write_results  # noqa: E402

import paperzoo.zoo  # noqa: E402
from paperzoo.errors import PaperzooError  # noqa: E402


def weight_count(state: dict) -> int:
    """Trainable numbers in a state dict: batch-norm running statistics and counters are not weights."""
    return sum(v.numel() for k, v in state.items() if "running_" not in k and not k.endswith("num_batches_tracked"))


def run_row(run: Path) -> dict:
    """One run directory: its validation log, command, parameter count and speed."""
    if not (run / "metrics.csv").is_file():
        bad_input(f"--runs: {run} is not a training run (no metrics.csv)")
    ckpt = run / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        bad_input(f"--runs: {run} has no checkpoint yet (checkpoints/last.ckpt)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    params = weight_count({k: v for k, v in state["state_dict"].items() if k.startswith("model.")})
    with open(run / "metrics.csv") as f:
        speeds = [float(r["samples_per_s"]) for r in csv.DictReader(f) if r.get("samples_per_s")]
    return {"source": str(run), "command": (run / "command.txt").read_text().strip(), "steps_done": state["global_step"],
            "parameters": params, "samples_per_s": statistics.median(speeds) if speeds else None, "curve": validation_log(run)}


def zoo_row(entry: str) -> dict:
    """A shipped entry: the curve, command and speed its card recorded when it was built."""
    try:
        card = paperzoo.zoo.card(entry)
    except PaperzooError as exc:  # an unknown entry: one line, not a traceback
        bad_input(f"--runs: {exc}")
    params = weight_count(load_file(paperzoo.zoo.entry_path(entry) / "model.safetensors"))
    return {"source": f"zoo:{entry}", "command": card["training"]["command"], "steps_done": card["training"]["steps"],
            "parameters": params, "samples_per_s": None,  # the card keeps only the last logged speed, load unknown
            "curve": card["zoo"].get("validation_curve", [])}


def markdown(results: dict) -> str:
    metric, also = results["metric"], results["also"]
    until = results.get("until")  # a stopped run beside a long one: show only the steps worth comparing
    steps = sorted({p["step"] for row in results["rows"].values() for p in row["curve"]
                    if metric in p and (until is None or p["step"] + 1 <= until)})
    header = ["run", "parameters", "samples / s", *[f"step {s + 1}" for s in steps]]
    lines = []
    for label, row in results["rows"].items():
        at = {p["step"]: p for p in row["curve"]}
        cells = [f"{at[s][metric]:.2f}" + (f" ({at[s][also]:.4f})" if also and also in at[s] else "") if s in at else "-"
                 for s in steps]
        lines.append([label, f"{row['parameters'] / 1e6:.2f} M",
                      f"{row['samples_per_s']:.0f}" if row["samples_per_s"] else "-", *cells])
    text = [f"Script `bench/learning_curves.py`: {metric}" + (f" ({also})" if also else "") + " by training step, "
            "as each run logged it (validation set of its config); `-`: not reached (a stopped run) or not logged"
            + (f"; steps up to {until} shown (the JSON keeps every step)." if until else ".")]
    runs = [f"- {label}: `{row['command']}` ({row['steps_done']} steps done; {row['source']})." for label, row in results["rows"].items()]
    return "\n\n".join([*text, "\n".join(runs), *([results["note"]] if results.get("note") else []), table(header, lines)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", required=True, help="results entry name (docs/RESULTS.md section)")
    p.add_argument("--metric", required=True, help="the validation metric to tabulate, e.g. val/si_snri")
    p.add_argument("--also", help="a second metric shown in brackets, e.g. val/loss")
    p.add_argument("--runs", nargs="+", required=True, metavar="LABEL=RUN_DIR|zoo:ENTRY")
    p.add_argument("--note", default="", help="a reading of the curves, written under the table's header")
    p.add_argument("--until", type=int, metavar="STEP", help="table columns up to this step only (the JSON keeps all)")
    args = p.parse_args(argv)
    if args.until is not None and args.until < 1:
        bad_input(f"--until takes a step >= 1; got {args.until}")
    rows = {}
    for spec in args.runs:
        label, sep, source = spec.partition("=")
        if not sep or not label:
            bad_input(f"--runs takes LABEL=RUN_DIR or LABEL=zoo:ENTRY; got {spec!r}")
        rows[label] = zoo_row(source[4:]) if source.startswith("zoo:") else run_row(Path(source))
        if not any(args.metric in point for point in rows[label]["curve"]):
            bad_input(f"--runs: {source} logged no {args.metric}")
    results = {"metric": args.metric, "also": args.also, "note": args.note, "until": args.until, "rows": rows}
    text = markdown(results)
    write_results(args.name, results, text)
    print(text)


if __name__ == "__main__":
    main()
