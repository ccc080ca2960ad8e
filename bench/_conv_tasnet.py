"""Conv-TasNet (Luo & Mesgarani 2019) from asteroid, the peer separator of the AudioSlots bench.

asteroid is a bench extra (``make .venv/.installed-asteroid``: installed ``--no-deps`` into
``.venv/asteroid`` so torch stays the local CPU build; put that folder on PYTHONPATH). The recipe is
asteroid's ``egs/wham/ConvTasNet`` (sep_clean, 8 kHz): free filterbank of 512 filters, kernel 16,
stride 8; TCN of 8 blocks x 3 repeats, 128 bottleneck / 512 hidden / 128 skip channels, ReLU masks,
gLN; utterance-level PIT on negative SI-SDR; Adam 1e-3; learning rate halved after a validation
plateau; gradient norm clipped at 5 (asteroid's trainer default). Scaled to our budget: the same
CPU seconds as the AudioSlots row it is compared with, 1 s fsdd2mix mixtures (the recipe uses 3 s
WHAM! segments), batch ``BATCH`` instead of 24, validation every ``VAL_EVERY`` steps, not per epoch.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _results import bad_input

BATCH = 4
VAL_EVERY = 50
VAL_MIXTURES = 50


def train_conv_tasnet(train_mix: torch.Tensor, train_src: torch.Tensor, val_mix: torch.Tensor, val_src: torch.Tensor,
                      seconds: float, sample_rate: int, seed: int = 0, log=print):
    """Train for ``seconds`` of wall time; return (model in eval mode, info with steps and curve)."""
    try:
        from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
        from asteroid.models import ConvTasNet
    except ImportError as exc:
        bad_input(f"the Conv-TasNet row needs asteroid: make .venv/.installed-asteroid and PYTHONPATH=.venv/asteroid ({exc})")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ConvTasNet(n_src=train_src.shape[1], sample_rate=sample_rate, n_filters=512, kernel_size=16, stride=8,
                       n_blocks=8, n_repeats=3, bn_chan=128, hid_chan=512, skip_chan=128, mask_act="relu", norm_type="gLN")
    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)
    val_mix, val_src = val_mix[:VAL_MIXTURES], val_src[:VAL_MIXTURES]
    curve, step, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train()
        idx = torch.from_numpy(rng.choice(len(train_mix), BATCH, replace=False))
        loss = loss_fn(model(train_mix[idx]), train_src[idx])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        if step % VAL_EVERY == 0:
            model.eval()
            with torch.no_grad():
                val = float(torch.stack([loss_fn(model(m[None]), s[None]) for m, s in zip(val_mix, val_src)]).mean())
            plateau.step(val)
            curve.append((step, -val))
            log(f"Conv-TasNet step {step}  train SI-SDR {-loss.item():.2f}  val SI-SDR {-val:.2f} dB  "
                f"{time.perf_counter() - start:.0f} s", flush=True)
    model.eval()
    return model, {"steps": step, "batch": BATCH, "val_si_sdr_curve": curve,
                   "parameters": sum(p.numel() for p in model.parameters())}


def score_conv_tasnet(model, mixtures: torch.Tensor, references: torch.Tensor) -> dict:
    """Mean SI-SNR / SI-SNRi (dB) of the waveform estimates, permutation-matched like every other row."""
    from paperzoo.metrics.audio import separation_scores

    scores = []
    with torch.no_grad():
        for mix, ref in zip(mixtures, references):
            scores.append(separation_scores(model(mix[None])[0], ref, mix))
    return {f"waveform/{k}": float(np.mean([s[k] for s in scores])) for k in ("si_snr", "si_snri")}
