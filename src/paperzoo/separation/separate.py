"""Separating a whole recording (paper section 3, "Source separation").

The mixture is cut into non-overlapping chunks of ``chunk_seconds`` (0.5 s; the end zero-padded);
each chunk's compressed magnitude goes through the network; the estimates are expanded (power
1/0.3), turned into masks over the chunk's complex STFT (IBM or Wiener-like), inverted with the
ISTFT and the chunks are stitched. Slots come out in no fixed order, so chunk k's slot i is not
necessarily chunk k+1's slot i. Two ways to line them up:

* ``oracle``: each chunk's estimates are matched to the reference sources of that chunk by
  SI-SNR (the paper's evaluation protocol; needs the references);
* ``overlap``: reference-free. A second pass on chunks shifted by half a chunk bridges each pair of
  neighbours; chunk k+1's slots are permuted to follow chunk k's by the best total correlation
  between the bridge and the two halves it overlaps (Hungarian on correlations).

Chunks go through the network ``batch_chunks`` at a time, so memory stays bounded on long files.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from paperzoo.errors import InvalidArgumentError
from paperzoo.metrics.audio import match_sources
from paperzoo.separation.spectral import STFTConfig, apply_masks, compress, expand, istft, stft

Predictor = Callable[[torch.Tensor], torch.Tensor]  # (C, F, T) compressed -> (C, n, F, T) compressed


def chunk(wave: torch.Tensor, size: int, offset: int = 0) -> torch.Tensor:
    """(L,) -> (ceil((L + offset) / size), size): ``offset`` zeros in front, zeros at the end."""
    padded = torch.nn.functional.pad(wave, (offset, 0))
    count = max(1, -(-padded.shape[-1] // size))
    return torch.nn.functional.pad(padded, (0, count * size - padded.shape[-1])).view(count, size)


# (C, S) mixture chunks, (C, m, S) reference chunks or None -> (C, n, F, T) source magnitudes
Estimator = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def model_estimator(predict: Predictor, cfg: STFTConfig) -> Estimator:
    """The network's estimates: expand(predict(compress(|STFT(mixture chunk)|)))."""
    return lambda mix, ref: expand(predict(compress(stft(mix, cfg).abs(), cfg.power)), cfg.power)


def oracle_estimator(cfg: STFTConfig) -> Estimator:
    """The true source magnitudes (the paper's "Oracle" rows)."""
    return lambda mix, ref: stft(ref, cfg).abs()


@torch.no_grad()
def separate_chunks(estimate: Estimator, chunks: torch.Tensor, cfg: STFTConfig, mask: str = "ibm",
                    references: torch.Tensor | None = None, batch_chunks: int = 32) -> torch.Tensor:
    """(C, S) waveform chunks (and (C, m, S) references for oracle estimators) -> (C, n, S) masked sources."""
    out = []
    for lo in range(0, len(chunks), batch_chunks):
        part = chunks[lo:lo + batch_chunks]
        ref = None if references is None else references[lo:lo + batch_chunks]
        spec = stft(part, cfg)
        out.append(istft(apply_masks(spec, estimate(part, ref), mask), cfg, part.shape[-1]))
    return torch.cat(out)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, L), (m, L) -> (n, m) normalised correlation (0 where a signal is silent)."""
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    return (a @ b.t()) / (a.norm(dim=-1)[:, None] * b.norm(dim=-1)[None, :]).clamp_min(1e-8)


def _best_permutation(score: torch.Tensor) -> np.ndarray:
    """(n, n) score of (previous slot, next slot) -> for each previous slot the next slot to follow it."""
    rows, cols = linear_sum_assignment(-score.numpy())
    return cols[np.argsort(rows)]


def align_by_overlap(main: torch.Tensor, bridge: torch.Tensor) -> torch.Tensor:
    """main (C, n, S) chunk estimates, bridge (C + 1, n, S) estimates of the half-shifted chunks ->
    main with each chunk's slots permuted to follow the previous chunk's."""
    c, n, s = main.shape
    half = s // 2
    out = main.clone()
    for k in range(1, c):
        b = bridge[k]  # covers the second half of chunk k-1 and the first half of chunk k
        # which bridge slot continues each (already aligned) slot of chunk k-1, and which slot of chunk k each bridge slot becomes
        prev_to_bridge = _best_permutation(_correlation(out[k - 1, :, half:], b[:, :s - half]))
        bridge_to_next = _best_permutation(_correlation(b[:, s - half:], main[k, :, :half]))
        out[k] = main[k, bridge_to_next[prev_to_bridge]]
    return out


def align_to_references(chunks: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(C, n, S) estimates, (C, m, S) reference chunks -> (C, m, S): per chunk the slot matched to each
    reference by SI-SNR (silent reference chunks keep an arbitrary but valid assignment)."""
    return torch.stack([match_sources(est, ref) for est, ref in zip(chunks, references)])


def separate(predict: Predictor, mixture: torch.Tensor, cfg: STFTConfig, *, mask: str = "ibm", align: str = "overlap",
             references: torch.Tensor | None = None, batch_chunks: int = 32) -> torch.Tensor:
    """(L,) mixture -> (sources, L) estimates of the network ``predict``, stitched from chunks.

    ``align="oracle"`` needs ``references`` (m, L) and returns m sources in their order;
    ``align="overlap"`` returns one signal per slot.
    """
    return separate_with(model_estimator(predict, cfg), mixture, cfg, mask=mask, align=align, references=references,
                         batch_chunks=batch_chunks)


def separate_with(estimate: Estimator, mixture: torch.Tensor, cfg: STFTConfig, *, mask: str = "ibm", align: str = "overlap",
                  references: torch.Tensor | None = None, batch_chunks: int = 32) -> torch.Tensor:
    """``separate`` for any estimator (the network, the oracle, the autoencoder variant)."""
    if mixture.dim() != 1 or mixture.numel() == 0:
        raise InvalidArgumentError("the mixture must be a non-empty mono waveform (L,)")
    if align not in ("oracle", "overlap"):
        raise InvalidArgumentError(f"align must be 'oracle' or 'overlap', got {align!r}")
    if align == "oracle" and references is None:
        raise InvalidArgumentError("align='oracle' needs the reference sources")
    size, length = cfg.chunk_samples, mixture.shape[0]

    def run(offset: int) -> torch.Tensor:
        ref = None if references is None else torch.stack([chunk(r, size, offset) for r in references], 1)
        return separate_chunks(estimate, chunk(mixture, size, offset), cfg, mask, ref, batch_chunks), ref

    main, ref = run(0)
    if align == "oracle":
        main = align_to_references(main, ref)
    elif len(main) > 1:
        main = align_by_overlap(main, run(size // 2)[0])
    return main.permute(1, 0, 2).reshape(main.shape[1], -1)[:, :length]


def score_examples(estimate: Estimator, mixtures: torch.Tensor, references: torch.Tensor, cfg: STFTConfig, *,
                   masks=("ibm", "wiener"), aligns=("oracle", "overlap")) -> dict[str, float]:
    """Mean SI-SNR / SI-SNRi (dB) over examples for every (mask, alignment):
    ``{"ibm/oracle/si_snri": ..., ...}``. mixtures (N, L), references (N, m, L)."""
    from paperzoo.metrics.audio import separation_scores

    sums: dict[str, list[float]] = {}
    for mix, ref in zip(mixtures, references):
        for mask in masks:
            for align in aligns:
                est = separate_with(estimate, mix, cfg, mask=mask, align=align, references=ref)
                for key, value in separation_scores(est, ref, mix).items():
                    sums.setdefault(f"{mask}/{align}/{key}", []).append(value)
    return {key: float(np.mean(values)) for key, values in sums.items()}
