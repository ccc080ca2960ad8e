"""Curves of every logged metric against the step, from a run's metrics.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from paperzoo.io.atomic import atomic_path

SKIP = {"epoch", "step", "samples_per_s"}


def read_metrics(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key in SKIP or value in ("", None):
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(row["step"]))
                values.append(float(value))
    return series


def plot_metrics(run_dir: str | Path) -> Path | None:
    """Write RUN_DIR/plots/metrics.png (one panel per metric); None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if not (run_dir / "metrics.csv").is_file():
        return None
    series = read_metrics(run_dir / "metrics.csv")
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), constrained_layout=True, squeeze=False)
    for ax, (name, (steps, values)) in zip(axes[0], sorted(series.items())):
        ax.plot(steps, values, marker="o" if len(steps) < 20 else None, lw=1.4)
        ax.set(title=name, xlabel="step")
        ax.grid(alpha=0.3)
    out = run_dir / "plots" / "metrics.png"
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
