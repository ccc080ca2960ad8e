"""Optical-flow quality against the true motion (one definition, used by the bench and the tests).

``flow_errors(pred, true, mask)``: flows (..., 2) in pixels, ``mask`` (...) the pixels to score
(e.g. the moving ones: on a still background every method that outputs ~0 looks perfect).

    epe     mean end-point error ||pred - true|| over the masked pixels
    cosine  mean cosine between pred and true over masked pixels that move more than 0.1 px
            (direction only; 0 where pred is zero)
"""

from __future__ import annotations

import numpy as np


def flow_errors(pred: np.ndarray, true: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    pred, true, mask = np.asarray(pred, np.float64), np.asarray(true, np.float64), np.asarray(mask, bool)
    if pred.shape != true.shape or pred.shape[-1] != 2 or mask.shape != pred.shape[:-1]:
        raise ValueError(f"flows must be (..., 2) of one shape and the mask (...), got {pred.shape}, {true.shape}, {mask.shape}")
    if not mask.any():
        return {"epe": float("nan"), "cosine": float("nan")}
    p, t = pred[mask], true[mask]
    epe = float(np.linalg.norm(p - t, axis=-1).mean())
    moving = np.linalg.norm(t, axis=-1) > 0.1
    if not moving.any():
        return {"epe": epe, "cosine": float("nan")}
    p, t = p[moving], t[moving]
    cos = (p * t).sum(-1) / (np.linalg.norm(t, axis=-1) * np.maximum(np.linalg.norm(p, axis=-1), 1e-12))
    return {"epe": epe, "cosine": float(cos.mean())}
