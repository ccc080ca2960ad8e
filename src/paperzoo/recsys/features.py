"""Structural node features of sampled subgraphs, in GCC's layout (GCC section 3.2 "Design (2)").

Each node of a subgraph gets
  * ``eig`` (k=32): its rows of the top-k eigenvectors (largest eigenvalues) of the subgraph's
    normalised adjacency ``D^-1/2 A D^-1/2`` (degrees clipped at 1), each row L2-normalised, zero
    padded when the subgraph has fewer than k nodes (GCC's "generalised positional embedding");
  * ``degree``: its degree inside the subgraph, clipped at ``max_degree`` (an embedding index);
  * ``is_query``: 1 for the query node, else 0.
There are no ID features, so an encoder trained on one graph applies to any other graph.

Eigenvectors have no canonical sign. Training draws a random sign per eigenvector (``rng`` given),
an augmentation that teaches the encoder not to depend on it; without ``rng`` the sign is fixed by
making the query node's entry non-negative (the largest-magnitude entry breaks a zero).
Eigenvectors are computed by one batched dense ``eigh`` per subgraph size (subgraphs hold <= 128
nodes, so dense is faster than ARPACK and has no ``k <= n - 2`` limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paperzoo.recsys.sampler import Subgraphs


@dataclass
class GraphBatch:
    """A batch of subgraphs as tensors for the GIN encoder.

    eig (M, k) float32; degree (M,) int64; is_query (M,) float32; edges (2, E) int64 local ids;
    graph_index (M,) int64 in [0, num_graphs).
    """

    eig: torch.Tensor
    degree: torch.Tensor
    is_query: torch.Tensor
    edges: torch.Tensor
    graph_index: torch.Tensor
    num_graphs: int

    def to(self, device) -> "GraphBatch":
        return GraphBatch(self.eig.to(device), self.degree.to(device), self.is_query.to(device), self.edges.to(device),
                          self.graph_index.to(device), self.num_graphs)


def eigen_features(sub: Subgraphs, k: int = 32, rng: np.random.Generator | None = None, rank: int = 0,
                   world: int = 1) -> np.ndarray:
    """(M, k) float32 eigenvector features of every node of every subgraph (see module doc).

    Random signs are drawn for a global batch of ``world`` x G subgraphs, of which these are rows
    ``rank::world`` (as under DDP), so a subgraph's signs depend on its global position only."""
    out = np.zeros((len(sub.nodes), k), np.float32)
    signs = None if rng is None else rng.choice(np.array([-1.0, 1.0]), size=(sub.num_graphs * world, k))[rank::world]
    sizes, offsets = sub.sizes, sub.offsets
    local = sub.edges - np.repeat(offsets[:-1], sizes)[sub.edges[0]]  # positions inside their subgraph
    owner = np.repeat(np.arange(sub.num_graphs), sizes)[sub.edges[0]]
    for n in np.unique(sizes):
        if n < 2:  # a lone query node: no structure, features stay zero
            continue
        group = np.flatnonzero(sizes == n)
        slot = np.full(sub.num_graphs, -1)
        slot[group] = np.arange(len(group))
        e = slot[owner] >= 0
        adj = np.zeros((len(group), n, n), np.float64)
        adj[slot[owner[e]], local[0, e], local[1, e]] = 1.0
        norm = np.maximum(adj.sum(-1), 1.0) ** -0.5
        _, vecs = np.linalg.eigh(norm[:, :, None] * adj * norm[:, None, :])
        kk = min(k, n)
        vecs = vecs[:, :, ::-1][:, :, :kk]  # largest eigenvalues first
        vecs = vecs * (signs[group, :kk] if signs is not None else _canonical_signs(vecs))[:, None, :]
        rows = vecs / np.maximum(np.linalg.norm(vecs, axis=-1, keepdims=True), 1e-12)
        idx = offsets[group][:, None] + np.arange(n)
        out[idx.ravel(), :kk] = rows.reshape(-1, kk)
    return out


def _canonical_signs(vecs: np.ndarray) -> np.ndarray:
    """(G, k) +-1 that make the query row (node 0) non-negative."""
    query = vecs[:, 0, :]
    biggest = np.take_along_axis(vecs, np.abs(vecs).argmax(1)[:, None, :], 1)[:, 0, :]
    ref = np.where(np.abs(query) > 1e-8, query, biggest)
    return np.where(ref < 0, -1.0, 1.0)


def subgraph_degrees(sub: Subgraphs) -> np.ndarray:
    """(M,) degree of every node inside its own subgraph."""
    return np.bincount(sub.edges[0], minlength=len(sub.nodes))


def to_batch(sub: Subgraphs, *, k: int = 32, rng: np.random.Generator | None = None, rank: int = 0, world: int = 1) -> GraphBatch:
    """Subgraphs -> tensors for ``GINEncoder`` (``rng`` set: random eigenvector signs, drawn for the
    global batch of which these are rows ``rank::world``)."""
    is_query = np.zeros(len(sub.nodes), np.float32)
    is_query[sub.offsets[:-1][sub.sizes > 0]] = 1.0
    return GraphBatch(
        torch.from_numpy(eigen_features(sub, k, rng, rank, world)),
        torch.from_numpy(subgraph_degrees(sub).astype(np.int64)),
        torch.from_numpy(is_query),
        torch.from_numpy(sub.edges),
        torch.from_numpy(sub.graph_index.astype(np.int64)),
        sub.num_graphs,
    )
