"""The user-item bipartite graph in CSR form.

Node ids: users are ``0 .. U-1``, items are ``U .. U+I-1``. Every interaction is one undirected
edge, stored in both directions, so ``indices[indptr[v]:indptr[v+1]]`` are ``v``'s neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class BipartiteGraph:
    num_users: int
    num_items: int
    indptr: np.ndarray  # (N+1,) int64
    indices: np.ndarray  # (2E,) int64, each row sorted

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> "BipartiteGraph":
        """Build from interaction pairs (duplicates collapse into one edge)."""
        n = num_users + num_items
        rows = np.concatenate([users, items + num_users])
        cols = np.concatenate([items + num_users, users])
        adj = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
        adj.sum_duplicates()
        adj.sort_indices()
        return cls(num_users, num_items, adj.indptr.astype(np.int64), adj.indices.astype(np.int64))

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    @property
    def degrees(self) -> np.ndarray:
        return np.diff(self.indptr)

    def adjacency(self) -> sp.csr_matrix:
        """(N, N) 0/1 symmetric adjacency."""
        data = np.ones(len(self.indices), np.float32)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.num_nodes, self.num_nodes))
