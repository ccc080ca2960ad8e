"""GIN subgraph encoder of GCC / PCRec (Xu et al. 2019, "How Powerful are Graph Neural Networks?").

Data flow for a ``GraphBatch`` of B subgraphs with M nodes in all::

    [eig (M,32) | degree embedding (M,16) | is_query (M,1)] = h0 (M,49)
    h_l = ReLU(BN(MLP_l(h_{l-1} + sum_{u in N(v)} h_{l-1}(u))))     l = 1 .. num_layers-1  (eps = 0)
    readout: z = sum_l Dropout(Linear_l(sum-pool_v h_l))            l = 0 .. num_layers-1
    output:  z / ||z||  (B, out_dim)

``num_layers`` counts the input layer, as in the GIN reference code and GCC: the paper setting
``num_layers=5`` is four message-passing layers and five per-layer sum readouts. MLP_l is
Linear-BN-ReLU-Linear. GCC defaults: hidden 64, output 64, final dropout 0.5, degree embedding of
size 16 for degrees clipped at 512.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.recsys.features import GraphBatch
from paperzoo.registry import register_model


def _sum_neighbours(h: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(h).index_add_(0, edges[1], h[edges[0]])


class GINLayer(nn.Module):
    """h -> ReLU(BN(MLP(h + sum of neighbours)))  (M, in) -> (M, out)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
        self.norm = nn.BatchNorm1d(out_dim)

    def forward(self, h: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.mlp(h + _sum_neighbours(h, edges))))


class GINEncoder(nn.Module):
    """Subgraphs -> L2-normalised embeddings: ``GraphBatch`` -> (B, out_dim)."""

    def __init__(self, *, eig_dim: int = 32, degree_dim: int = 16, max_degree: int = 512, hidden: int = 64,
                 out_dim: int = 64, num_layers: int = 5, dropout: float = 0.5):
        super().__init__()
        if num_layers < 2:
            raise ValueError("num_layers counts the input layer: it must be >= 2")
        self.eig_dim, self.max_degree = eig_dim, max_degree
        self.degree_embedding = nn.Embedding(max_degree + 1, degree_dim)
        in_dim = eig_dim + degree_dim + 1
        self.layers = nn.ModuleList(GINLayer(in_dim if i == 0 else hidden, hidden) for i in range(num_layers - 1))
        self.readouts = nn.ModuleList(nn.Linear(in_dim if i == 0 else hidden, out_dim) for i in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        h = torch.cat([batch.eig, self.degree_embedding(batch.degree.clamp(max=self.max_degree)), batch.is_query[:, None]], 1)
        z = 0
        for i, readout in enumerate(self.readouts):
            if i > 0:
                h = self.layers[i - 1](h, batch.edges)
            pooled = torch.zeros(batch.num_graphs, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, batch.graph_index, h)
            z = z + self.dropout(readout(pooled))
        return F.normalize(z, dim=1, eps=1e-5)


@register_model("pcrec_gin", family="recsys")
def pcrec_gin(*, eig_dim: int = 32, degree_dim: int = 16, max_degree: int = 512, hidden: int = 64, out_dim: int = 64,
              num_layers: int = 5, dropout: float = 0.5) -> GINEncoder:
    """GCC/PCRec GIN subgraph encoder (5 layers incl. input, hidden 64, sum readout per layer, L2 output)."""
    return GINEncoder(eig_dim=eig_dim, degree_dim=degree_dim, max_degree=max_degree, hidden=hidden, out_dim=out_dim,
                      num_layers=num_layers, dropout=dropout)
