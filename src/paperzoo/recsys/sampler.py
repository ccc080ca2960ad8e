"""r-ego subgraphs by random walk with restart (GCC section 3.2 "Design (1)", PCRec section III-A).

For every query node ``q`` a walker starts at ``q``; before each transition it jumps back to ``q``
with the restart probability (GCC: 0.8), and it is also sent back when it is ``max_hops`` steps
from ``q`` (the r of PCRec's r-ego network, so every visited node is within r hops). The subgraph is
the set of visited nodes, at most ``max_nodes`` of them in order of first visit (``q`` first, at
index 0), with every graph edge among them (the induced subgraph). A node without neighbours gives
the one-node subgraph ``{q}``.

All walkers of a batch move together in numpy (one vector operation per step), which is what makes
thousands of subgraphs per second possible on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperzoo.errors import InvalidArgumentError
from paperzoo.recsys.graph import BipartiteGraph


@dataclass
class Subgraphs:
    """``B`` subgraphs stored flat.

    ``nodes``: (M,) global node ids, subgraph ``b`` is ``nodes[offsets[b]:offsets[b+1]]`` with its
    query first. ``edges``: (2, E) local node positions in ``0 .. M-1`` (both directions), never
    crossing subgraphs. ``graph_index``: (M,) which subgraph each node belongs to.
    """

    nodes: np.ndarray
    offsets: np.ndarray
    edges: np.ndarray
    restarts: int = 0  # random restarts taken by the walks (for the statistical test of the sampler)
    transitions: int = 0  # walk steps taken

    @property
    def num_graphs(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def graph_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_graphs), self.sizes)

    def subgraph(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Global node ids and local (2, E_b) edges of subgraph ``b``."""
        lo, hi = self.offsets[b], self.offsets[b + 1]
        keep = (self.edges[0] >= lo) & (self.edges[0] < hi)
        return self.nodes[lo:hi], self.edges[:, keep] - lo


def random_walk_traces(graph: BipartiteGraph, queries: np.ndarray, rng: np.random.Generator, *,
                       restart_prob: float = 0.8, max_hops: int | None = None, num_steps: int = 256, rank: int = 0,
                       world: int = 1):
    """(B, num_steps + 1) visited nodes, column 0 the queries; also the number of restarts.

    The random numbers of each step are drawn for a global batch of ``world`` x B walkers, of which
    ``queries`` are rows ``rank::world`` (as under DDP): a walk depends on its global position only."""
    if not 0.0 <= restart_prob < 1.0:
        raise InvalidArgumentError(f"restart_prob must be in [0, 1), got {restart_prob}")
    if max_hops is not None and max_hops < 1:
        raise InvalidArgumentError(f"max_hops must be >= 1, got {max_hops}")
    if not 0 <= rank < world:  # rank 1 of world 1 would silently drop the first walker's draws
        raise InvalidArgumentError(f"rank must be in [0, world={world}), got {rank}")
    queries = np.asarray(queries, dtype=np.int64)
    if queries.size and (queries.min() < 0 or queries.max() >= graph.num_nodes):
        raise InvalidArgumentError(f"query node ids must be in [0, {graph.num_nodes})")
    deg = graph.degrees
    trace = np.empty((len(queries), num_steps + 1), dtype=np.int64)
    trace[:, 0] = cur = queries
    depth = np.zeros(len(queries), dtype=np.int64)
    restarts = 0
    for t in range(1, num_steps + 1):
        u, pick = rng.random(len(queries) * world)[rank::world], rng.random(len(queries) * world)[rank::world]
        d = deg[cur]
        stuck = d == 0
        jump = u < restart_prob
        restarts += int((jump & ~stuck).sum())  # the random restarts only (not forced ones)
        jump |= stuck
        if max_hops is not None:
            jump |= depth >= max_hops
        step = graph.indices[np.minimum(graph.indptr[cur] + (pick * d).astype(np.int64), len(graph.indices) - 1)]
        cur = np.where(jump, queries, step)
        depth = np.where(jump, 0, depth + 1)
        trace[:, t] = cur
    return trace, restarts


def rwr_subgraphs(graph: BipartiteGraph, queries, rng: np.random.Generator, *, restart_prob: float = 0.8,
                  max_hops: int | None = None, num_steps: int = 256, max_nodes: int = 128, rank: int = 0,
                  world: int = 1) -> Subgraphs:
    """Induced subgraphs around ``queries`` (B,) from random walks with restart (see module doc);
    ``rank``, ``world``: the queries are rows ``rank::world`` of a global batch (``random_walk_traces``)."""
    if max_nodes < 1:
        raise InvalidArgumentError(f"max_nodes must be >= 1, got {max_nodes}")
    trace, restarts = random_walk_traces(graph, queries, rng, restart_prob=restart_prob, max_hops=max_hops,
                                         num_steps=num_steps, rank=rank, world=world)
    B, n = len(trace), graph.num_nodes
    # distinct (walker, node) pairs in order of first visit: the flattened trace is walker-major
    keys = np.arange(B, dtype=np.int64)[:, None] * n + trace
    uniq, first = np.unique(keys.ravel(), return_index=True)
    order = np.argsort(first, kind="stable")
    uniq = uniq[order]
    owner = uniq // n
    start = np.searchsorted(owner, np.arange(B + 1))
    rank = np.arange(len(uniq)) - start[owner]
    uniq = uniq[rank < max_nodes]
    owner = uniq // n
    nodes = uniq % n
    offsets = np.searchsorted(owner, np.arange(B + 1))
    edges = _induced_edges(graph, nodes, owner, uniq)
    return Subgraphs(nodes, offsets, edges, restarts, B * num_steps)


def _induced_edges(graph: BipartiteGraph, nodes: np.ndarray, owner: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Local (2, E) edges between nodes of the same subgraph: expand every node's neighbour list
    and keep the neighbours that are members of the same subgraph (binary search on sorted keys)."""
    n = graph.num_nodes
    deg = graph.degrees[nodes]
    src = np.repeat(np.arange(len(nodes)), deg)
    starts = np.repeat(graph.indptr[nodes] - np.cumsum(deg) + deg, deg)
    nbr = graph.indices[starts + np.arange(len(src))]
    want = owner[src] * n + nbr
    sort = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys, want, sorter=sort)
    pos = np.minimum(pos, len(keys) - 1)
    hit = keys[sort[pos]] == want
    return np.stack([src[hit], sort[pos[hit]]]).astype(np.int64)
