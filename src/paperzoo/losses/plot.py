"""Figure of every margin loss and its derivative against the agreement a = y f(x), like the post's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paperzoo.io.atomic import atomic_path
from paperzoo.losses.margin import MARGIN_LOSSES, MarginLoss


def default_losses() -> list[MarginLoss]:
    """One instance of each loss, parametrised ones at the reference library's plot settings."""
    params = {"SmoothedL1HingeLoss": {"gamma": 2.0}, "DWDMarginLoss": {"q": 1.0}}
    return [cls(**params.get(name, {})) for name, cls in MARGIN_LOSSES.items()]


def plot_margin_losses(path: str | Path, a_min: float = -2.0, a_max: float = 2.0, losses=None) -> Path:
    """Write a PNG with psi(a) (left) and psi'(a) (right) for each loss; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = losses or default_losses()
    a = np.linspace(a_min, a_max, 801)
    fig, (ax_v, ax_d) = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for i, loss in enumerate(losses):
        style = {"color": cmap(i % 10), "lw": 1.7, "ls": "-" if i < 6 else "--"}  # 11 curves, 10 colours
        ax_v.plot(a, loss.psi(a), label=repr(loss), **style)
        ax_d.plot(a, loss.dpsi(a), **style)
    ax_v.set(title="loss  psi(a)", xlabel="agreement a = y f(x)", ylim=(-0.1, 4.1))
    ax_d.set(title="derivative  psi'(a) (right-sided at kinks)", xlabel="agreement a = y f(x)", ylim=(-4.3, 2.3))
    for ax in (ax_v, ax_d):
        ax.axvline(0, color="0.6", lw=0.8)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
    ax_v.legend(fontsize=8, loc="upper right")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
