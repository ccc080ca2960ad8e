"""Contrastive pre-training objectives: InfoNCE with a MoCo queue, or with in-batch negatives.

PCRec section III-B (after GCC section 3.3): two subgraphs of the same query node are a positive
pair; subgraphs of other nodes are negatives.

    L = -log( exp(q.k+ / tau) / sum_i exp(q.k_i / tau) )        tau = 0.07

* MoCo (He et al. 2020): keys come from a momentum encoder
  ``theta_k <- m theta_k + (1 - m) theta_q`` (m = 0.999, applied after each optimiser step), and the
  negatives are a queue of the last K = 16,384 keys. The logits use the queue *before* this batch's
  keys are enqueued (a key is never its own negative).
* End to end: one encoder, the other B - 1 keys of the batch are the negatives.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def info_nce(logits: torch.Tensor, positive: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of (B, 1 + negatives) logits whose positive is column 0 (or ``positive`` (B,))."""
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device) if positive is None else positive
    return F.cross_entropy(logits, target)


class MoCo(nn.Module):
    """The momentum key encoder and the key queue of MoCo; the query encoder stays with the caller.

    ``forward(q, view_k)``: q (B, dim) query embeddings, view_k the key views -> (B, 1 + K) logits
    with the positive in column 0; in training mode the keys are then enqueued.
    ``momentum_update(encoder)`` after each optimiser step. As in GCC's training loop, the key encoder
    runs its batch norms in the module's mode (batch statistics while training) but never drops out:
    a key is the momentum encoder's deterministic view, not a noisy one.
    """

    def __init__(self, encoder: nn.Module, *, dim: int, queue_size: int = 16384, momentum: float = 0.999,
                 temperature: float = 0.07, seed: int = 0):
        super().__init__()
        self.key_encoder = copy.deepcopy(encoder)
        self.key_encoder.requires_grad_(False)
        self.momentum, self.temperature = momentum, temperature
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim, generator=gen), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> "MoCo":
        super().train(mode)
        for m in self.key_encoder.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.eval()  # GCC: model_ema.eval(), then its batch norms back to train mode
        return self

    @torch.no_grad()
    def momentum_update(self, encoder: nn.Module) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q. BatchNorm running statistics are not averaged: the key
        encoder runs in training mode and keeps its own (as in GCC)."""
        for pk, pq in zip(self.key_encoder.parameters(), encoder.parameters()):
            pk.mul_(self.momentum).add_(pq.detach(), alpha=1 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest entries with ``keys`` (B, dim) (all ranks' keys under DDP, in the global
        batch's order: rank r holds rows r, r + W, ..., so the queue is the one a single process builds)."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered = [torch.empty_like(keys) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered, keys)
            keys = torch.stack(gathered, 1).flatten(0, 1)  # row i of the global batch is rank i % W's row i // W
        k, n = len(keys), len(self.queue)
        idx = (self.queue_ptr + torch.arange(k, device=keys.device)) % n
        self.queue[idx] = keys
        self.queue_ptr.copy_((self.queue_ptr + k) % n)

    def forward(self, q: torch.Tensor, view_k) -> torch.Tensor:
        with torch.no_grad():
            k = self.key_encoder(view_k)
        pos = (q * k).sum(1, keepdim=True)
        neg = q @ self.queue.clone().t()  # the queue as it was before this batch
        logits = torch.cat([pos, neg], 1) / self.temperature
        if self.training:
            self.enqueue(k)
        return logits


def in_batch_logits(q: torch.Tensor, k: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """End-to-end mode: (B, B) logits q_i . k_j / tau; the positive of row i is column i."""
    return q @ k.t() / temperature
