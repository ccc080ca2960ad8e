"""Task: PCRec pre-training on the source domain (GCC-style subgraph instance discrimination).

Each step draws ``batch_size`` query nodes (users and items alike), samples two r-ego subgraphs per
query by random walk with restart, and trains the GIN encoder with InfoNCE: MoCo (queue 16,384,
momentum 0.999) or in-batch negatives (``contrast.mode=e2e``). Sampling randomness depends only on
(seed, step), so a resumed run samples what an uninterrupted one would; it is drawn for the global
batch, of which each DDP process keeps its rows, so W processes train as one (tested).

Defaults follow GCC where PCRec is silent: Adam lr 0.005, weight decay 1e-5, gradient norm clipped
at 1, batch 32, tau 0.07, restart 0.8, 256 walk steps; GCC warms up linearly for 10% of training
and then decays linearly; we use the same warm-up with cosine decay (our schedules).

Validation (``val/match_top1``): a fixed set of nodes, two views each (fixed seed); the fraction of
nodes whose first view's nearest embedding among all second views is its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from paperzoo.data.interactions import load_domain
from paperzoo.engine.config import OptimConfig, RunConfig, TrainerConfig
from paperzoo.errors import ConfigError
from paperzoo.recsys.contrastive import MoCo, in_batch_logits, info_nce
from paperzoo.recsys.features import to_batch
from paperzoo.recsys.graph import BipartiteGraph
from paperzoo.recsys.sampler import rwr_subgraphs
from paperzoo.engine.task import BaseTask
from paperzoo.engine.data import TensorDataModule


@dataclass
class EncoderConfig:
    name: str = "pcrec_gin"
    hidden: int = 64
    out_dim: int = 64
    num_layers: int = 5  # counts the input layer (GIN / GCC convention)
    eig_dim: int = 32
    degree_dim: int = 16
    max_degree: int = 512
    dropout: float = 0.5


@dataclass
class SubgraphConfig:
    restart_prob: float = 0.8
    max_hops: Optional[int] = 2  # r of the r-ego network (PCRec's best: 2); null: unlimited
    walk_steps: int = 256
    max_nodes: int = 128


@dataclass
class PretrainDataConfig:
    source: str = "grocery2014"  # a recsys domain name or an interaction file
    k_core: int = 0
    batch_size: int = 32
    val_nodes: int = 512
    subgraph: SubgraphConfig = field(default_factory=SubgraphConfig)


@dataclass
class ContrastConfig:
    mode: str = "moco"  # moco | e2e
    queue_size: int = 16384
    momentum: float = 0.999
    temperature: float = 0.07


@dataclass
class Config(RunConfig):
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(gradient_clip=1.0))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.005, weight_decay=1e-5, schedule="cosine"))
    model: EncoderConfig = field(default_factory=EncoderConfig)
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    contrast: ContrastConfig = field(default_factory=ContrastConfig)

    def validate(self) -> None:
        super().validate()
        c, s = self.contrast, self.data.subgraph
        if c.mode not in ("moco", "e2e"):
            raise ConfigError(f"contrast.mode must be moco or e2e, got {c.mode!r}")
        if c.temperature <= 0 or not 0 <= c.momentum < 1 or c.queue_size < 1:
            raise ConfigError("contrast needs temperature > 0, momentum in [0, 1) and queue_size >= 1")
        if not 0 <= s.restart_prob < 1 or s.walk_steps < 1 or s.max_nodes < 1 or (s.max_hops is not None and s.max_hops < 1):
            raise ConfigError("data.subgraph needs restart_prob in [0, 1), walk_steps, max_nodes and max_hops >= 1")
        if self.data.batch_size < 2 or self.data.val_nodes < 2:
            raise ConfigError("data.batch_size and data.val_nodes must be >= 2 (negatives are other nodes)")


def sample_views(graph: BipartiteGraph, queries: np.ndarray, cfg: SubgraphConfig, rng: np.random.Generator, *,
                 eig_dim: int = 32, random_signs: bool = True, rank: int = 0, world: int = 1):
    """One ``GraphBatch`` of r-ego subgraphs around ``queries``; with ``rank``, ``world`` the queries
    are rows ``rank::world`` of the global batch and get the views one process would draw for them."""
    sub = rwr_subgraphs(graph, queries, rng, restart_prob=cfg.restart_prob, max_hops=cfg.max_hops,
                        num_steps=cfg.walk_steps, max_nodes=cfg.max_nodes, rank=rank, world=world)
    return to_batch(sub, k=eig_dim, rng=rng if random_signs else None, rank=rank, world=world)


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    data = load_domain(cfg.data.source, data_dir, k=cfg.data.k_core)
    graph = BipartiteGraph.from_pairs(data.users, data.items, data.num_users, data.num_items)
    nodes = torch.arange(graph.num_nodes)
    gen = torch.Generator().manual_seed(cfg.seed + 12345)
    val = nodes[torch.randperm(len(nodes), generator=gen)[: cfg.data.val_nodes]]
    return TensorDataModule((nodes,), (val,), batch_size=cfg.data.batch_size, seed=cfg.seed, info={"graph": graph})


class GraphPretrainTask(BaseTask):
    def __init__(self, cfg: Config, graph: BipartiteGraph):
        super().__init__(cfg)
        m = cfg.model
        self.build_model(m.name, eig_dim=m.eig_dim, degree_dim=m.degree_dim, max_degree=m.max_degree, hidden=m.hidden,
                         out_dim=m.out_dim, num_layers=m.num_layers, dropout=m.dropout)
        self.graph = graph
        c = cfg.contrast
        self.moco = (MoCo(self.model, dim=m.out_dim, queue_size=c.queue_size, momentum=c.momentum,
                          temperature=c.temperature, seed=cfg.seed) if c.mode == "moco" else None)

    def _views(self, queries: torch.Tensor, rng: np.random.Generator, random_signs: bool = True, rank: int = 0, world: int = 1):
        q = queries.cpu().numpy()
        kw = dict(eig_dim=self.cfg.model.eig_dim, random_signs=random_signs, rank=rank, world=world)
        return (sample_views(self.graph, q, self.cfg.data.subgraph, rng, **kw).to(self.device),
                sample_views(self.graph, q, self.cfg.data.subgraph, rng, **kw).to(self.device))

    def training_step(self, batch, batch_idx):
        # one generator for the global batch: each process keeps its rows' walks and signs (2 processes == 1)
        rng = np.random.default_rng([self.cfg.seed, self.global_step])
        view_q, view_k = self._views(batch[0], rng, rank=self.global_rank, world=self.trainer.world_size)
        q = self.model(view_q)
        if self.moco is not None:
            logits = self.moco(q, view_k)
            loss = info_nce(logits)
        else:  # under DDP the in-batch negatives are this process's rows only (MoCo's queue holds every rank's keys)
            logits = in_batch_logits(q, self.model(view_k), self.cfg.contrast.temperature)
            loss = info_nce(logits, torch.arange(len(q), device=q.device))
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.moco is not None:  # after the optimiser step, as in MoCo's algorithm 1
            self.moco.momentum_update(self.model)

    def validation_step(self, batch, batch_idx):
        rng = np.random.default_rng([self.cfg.seed, 999_983, batch_idx])
        view_a, view_b = self._views(batch[0], rng, random_signs=False)
        a, b = self.model(view_a), self.model(view_b)
        logits = in_batch_logits(a, b, self.cfg.contrast.temperature)
        target = torch.arange(len(a), device=a.device)
        self.log("val/match_top1", (logits.argmax(1) == target).float().mean(), prog_bar=True)
        self.log("val/loss", info_nce(logits, target))


def build_task(cfg: Config, data: TensorDataModule) -> GraphPretrainTask:
    return GraphPretrainTask(cfg, data.info["graph"])
