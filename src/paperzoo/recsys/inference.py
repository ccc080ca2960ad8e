"""Recommending without the training stack: ``paperzoo.load(RUN_OR_EXPORT).recommend(["A3CJ7MHAS9IMAM"], k=10)``.

The original user / item IDs and the training interactions (masked at recommendation time, and the
graph LightGCN propagates over) travel with the model, so no interaction file is read.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.bundle import Bundle, Pretrained


class Recommender(Pretrained):
    """A trained BPR-MF / LightGCN model with its ID maps. ``recommend(user_ids, k)`` is batched, like
    RecBole's ``full_sort_topk``: every item is scored for every user, training items excluded."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        self.user_ids = np.asarray(bundle.info["user_ids"], dtype=str)
        self.item_ids = np.asarray(bundle.info["item_ids"], dtype=str)
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        users, items = bundle.assets["train_users"].numpy(), bundle.assets["train_items"].numpy()
        self.train_matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)),
                                          shape=(len(self.user_ids), len(self.item_ids)))
        self.model.set_graph(self.train_matrix)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "Recommender":
        return cls(bundle)

    def user_indices(self, user_ids) -> np.ndarray:
        out = []
        for u in user_ids:
            if str(u) not in self._user_index:
                example = ", ".join(repr(x) for x in self.user_ids[:3].tolist())
                raise InvalidArgumentError(f"unknown user {u!r}: not among the {len(self.user_ids)} users of this model (e.g. {example})")
            out.append(self._user_index[str(u)])
        return np.array(out, dtype=np.int64)

    @torch.no_grad()
    def recommend(self, user_ids, k: int = 10) -> list[list[tuple[str, float]]]:
        """For each user ID (a string, or a list of them) its top-``k`` (item ID, score), best first."""
        if isinstance(user_ids, str):
            user_ids = [user_ids]
        if k < 1:
            raise InvalidArgumentError(f"k must be >= 1, got {k}")
        rows = self.user_indices(user_ids)
        scores = self.model.scores(torch.from_numpy(rows)).clone()
        seen = self.train_matrix[rows]
        scores[torch.from_numpy(np.repeat(np.arange(len(rows)), np.diff(seen.indptr))), torch.from_numpy(seen.indices.astype(np.int64))] = -torch.inf
        k = min(k, len(self.item_ids))
        top = torch.topk(scores, k, dim=1)
        out = []
        for values, indices in zip(top.values.tolist(), top.indices.tolist()):
            out.append([(str(self.item_ids[i]), float(s)) for s, i in zip(values, indices) if s != -np.inf])
        return out
