"""Target-domain recommenders trained with BPR: matrix factorisation (PCRec's fine-tuning model) and
the LightGCN baseline.

BPR (Rendle et al. 2009; PCRec eq. 3) for a user u, an item i it interacted with and an item j it
did not::

    L = -log sigmoid(y_ui - y_uj) + lambda ||Theta||^2,      y_ui = e_u . e_i

The L2 term is taken over the embeddings of the batch (the usual mini-batch form, as in LightGCN's
code): ``lambda/2 * (|e_u|^2 + |e_i|^2 + |e_j|^2)`` averaged over the batch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """(B,) positive and negative scores -> mean of -log sigmoid(pos - neg)."""
    return -F.logsigmoid(pos - neg).mean()


def l2_penalty(*embeddings: torch.Tensor) -> torch.Tensor:
    """0.5 * sum of squared entries of the given (B, d) embeddings, averaged over the batch."""
    return 0.5 * sum(e.pow(2).sum() for e in embeddings) / len(embeddings[0])


class MatrixFactorization(nn.Module):
    """y_ui = e_u . e_i with user (U, d) and item (I, d) embedding tables, N(0, init_std^2) init."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64, init_std: float = 0.1):
        super().__init__()
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim)
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The final (U, d) and (I, d) embeddings used for scoring."""
        return self.user.weight, self.item.weight

    def set_graph(self, graph: sp.csr_matrix | None) -> None:  # MF ignores the graph
        pass

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,), (B,) -> (B,) scores."""
        u, i = self.embeddings()
        return (u[users] * i[items]).sum(1)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """(b,) users -> (b, I) scores of every item."""
        u, i = self.embeddings()
        return u[users] @ i.t()


class LightGCN(MatrixFactorization):
    """LightGCN (He et al. 2020): E^(l+1) = D^-1/2 A D^-1/2 E^(l) on the user-item graph,
    final embedding = mean of E^(0) .. E^(L) (L = 3). Set the training graph with ``set_graph``."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3, init_std: float = 0.1):
        super().__init__(num_users, num_items, dim, init_std)
        self.num_layers = num_layers
        self.norm_adj: torch.Tensor | None = None

    def set_graph(self, graph: sp.csr_matrix | None) -> None:
        """``graph``: (U, I) 0/1 training interactions."""
        n_u, n_i = self.user.num_embeddings, self.item.num_embeddings
        adj = sp.bmat([[None, graph], [graph.T, None]], format="csr", dtype=np.float32)
        d = np.asarray(adj.sum(1)).ravel()
        inv = np.where(d > 0, d, 1.0) ** -0.5
        norm = (sp.diags(inv) @ adj @ sp.diags(inv)).tocoo()
        idx = torch.from_numpy(np.vstack([norm.row, norm.col]).astype(np.int64))
        self.norm_adj = torch.sparse_coo_tensor(idx, torch.from_numpy(norm.data.astype(np.float32)), (n_u + n_i, n_u + n_i), check_invariants=True).coalesce()

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.norm_adj is None:
            raise RuntimeError("LightGCN needs its training graph: call set_graph first")
        adj = self.norm_adj.to(self.user.weight.device)
        e = torch.cat([self.user.weight, self.item.weight])
        layers = [e]
        for _ in range(self.num_layers):
            e = torch.sparse.mm(adj, e)
            layers.append(e)
        final = torch.stack(layers).mean(0)
        return final[: self.user.num_embeddings], final[self.user.num_embeddings:]


@register_model("bpr_mf", family="recsys")
def bpr_mf(*, num_users: int, num_items: int, dim: int = 64, init_std: float = 0.1) -> MatrixFactorization:
    """Matrix factorisation for BPR training (PCRec's fine-tuning model)."""
    return MatrixFactorization(num_users, num_items, dim, init_std)


@register_model("lightgcn", family="recsys")
def lightgcn(*, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3, init_std: float = 0.1) -> LightGCN:
    """LightGCN baseline (3 propagation layers, layer-mean readout)."""
    return LightGCN(num_users, num_items, dim, num_layers, init_std)
