"""Curves of every logged metric against the step, from a run's metrics.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from paperzoo.io.atomic import atomic_path

SKIP = {"epoch", "step", "samples_per_s"}
Series = dict[str, tuple[list[int], list[float]]]


def read_metrics(path: Path) -> Series:
    series: Series = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key is None or key in SKIP or value in ("", None):
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(row["step"]))
                values.append(float(value))
    return series


def curves_figure(runs: dict[str, Series], metrics: list[str], columns: int | None = None):
    """A matplotlib figure: one panel per metric, one line per run (a legend when there are several)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(columns or len(metrics), len(metrics))
    rows = -(-len(metrics) // columns)
    width, height = 4.2 * columns, 3.4 * rows
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    # fixed margins in inches: constrained layout measured every tick label and was most of a report's time
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.15 / width, bottom=0.5 / height, top=1 - 0.35 / height,
                        wspace=0.32, hspace=0.55)
    for ax, name in zip(axes.ravel(), metrics):
        for label, series in runs.items():
            if name in series:
                steps, values = series[name]
                ax.plot(steps, values, marker="o" if len(steps) < 20 else None, lw=1.4, label=label)
        ax.set(title=name, xlabel="step")
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(metrics):]:
        ax.axis("off")
    return fig


def plot_metrics(run_dir: str | Path) -> Path | None:
    """Write RUN_DIR/plots/metrics.png (one panel per metric); None when nothing was logged."""
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if not (run_dir / "metrics.csv").is_file():
        return None
    series = read_metrics(run_dir / "metrics.csv")
    if not series:
        return None
    fig = curves_figure({run_dir.name: series}, sorted(series))
    out = run_dir / "plots" / "metrics.png"
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
