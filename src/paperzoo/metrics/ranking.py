"""Full-ranking top-K metrics: every item is scored, the user's training items are masked out.

For user u with held-out items G_u and top-K list R_u (masked items excluded):
  Recall@K = |R_u & G_u| / |G_u|
  NDCG@K   = sum_{r in 1..K, R_u[r] in G_u} 1/log2(r+1)  /  sum_{r=1}^{min(K,|G_u|)} 1/log2(r+1)
  HR@K     = 1 if R_u & G_u else 0
averaged over users with at least one held-out item (RecBole's definitions). With leave-one-out
splits |G_u| = 1, so Recall@K equals HR@K.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from paperzoo.errors import InvalidArgumentError


def _csr(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(num_users, num_items))
    m.data[:] = 1.0
    return m


def topk_metrics(score_fn, num_users: int, num_items: int, truth: tuple[np.ndarray, np.ndarray],
                 masked: tuple[np.ndarray, np.ndarray], ks=(10, 20), chunk: int = 1024) -> dict[str, float]:
    """Recall/NDCG/HR@K for every k in ``ks``.

    ``score_fn(users (b,) LongTensor) -> (b, num_items)`` scores; ``truth`` and ``masked`` are
    (users, items) pairs: held-out items and items excluded from the ranking (e.g. training items).
    """
    if max(ks) > num_items:
        raise InvalidArgumentError(f"K={max(ks)} is larger than the {num_items} items")
    gt, mask = _csr(*truth, num_users, num_items), _csr(*masked, num_users, num_items)
    users = np.flatnonzero(np.diff(gt.indptr) > 0)
    gt_coo = gt.tocoo()
    gt_keys = gt_coo.row.astype(np.int64) * num_items + gt_coo.col
    kmax = max(ks)
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hr")}
    for lo in range(0, len(users), chunk):
        batch = users[lo:lo + chunk]
        with torch.no_grad():
            # own memory: the masking below writes into it (a score_fn may return an expanded or shared tensor)
            scores = score_fn(torch.from_numpy(batch)).float().cpu().clone()
        rows = mask[batch]
        r_idx = np.repeat(np.arange(len(batch)), np.diff(rows.indptr))
        scores[torch.from_numpy(r_idx), torch.from_numpy(rows.indices.astype(np.int64))] = -torch.inf
        top = torch.topk(scores, kmax, dim=1).indices.numpy()
        hits = np.isin(batch[:, None].astype(np.int64) * num_items + top, gt_keys)  # (b, kmax)
        n_true = np.diff(gt.indptr)[batch]
        for k in ks:
            h = hits[:, :k]
            ideal = np.cumsum(discount[:k])[np.minimum(n_true, k) - 1]
            sums[f"recall@{k}"] += float((h.sum(1) / n_true).sum())
            sums[f"ndcg@{k}"] += float(((h * discount[:k]).sum(1) / ideal).sum())
            sums[f"hr@{k}"] += float(h.any(1).sum())
    return {key: value / max(len(users), 1) for key, value in sums.items()}
