"""Task: BPR fine-tuning on the target domain (PCRec section III-C), and the baselines.

``model.name``: ``bpr_mf`` (PCRec's fine-tuning model) or ``lightgcn``. ``init.mode`` chooses the
initial embeddings, i.e. the transfer strategy of PCRec's Table 4:

* ``random``  - N(0, 0.1^2): the BPR-MF / LightGCN baselines;
* ``shared``  - strategy 2: users and items that also exist in the source domain (same original ID)
  start from the pre-trained encoder's embedding of them *in the source graph*; the rest random;
* ``encoder`` - strategy 3 (PCRec): the pre-trained encoder embeds every target user and item from
  its r-ego subgraphs in the *target* training graph.
Strategy 1 (the encoder's output used as the embeddings, no fine-tuning) is ``RecommenderTask
.ranking_metrics`` on a task built with ``init.mode=encoder`` before any training.

Data: a per-user leave-one-out split of the target domain (chronological by default); the graph
used for LightGCN and the encoder holds training interactions only. Each step draws, for a batch of
training pairs (u, i), one negative item j the user has not interacted with in training, uniformly
(seeded by (seed, step)). Validation (every ``trainer.val_every`` steps) ranks all items for every
user with a held-out item, training items masked: ``valid/recall@20`` etc.; ``paperzoo evaluate RUN
data.eval_split=test`` gives the test numbers (training and validation items masked).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp
import torch

from paperzoo.data.interactions import Split, leave_one_out, load_domain
from paperzoo.engine.config import OptimConfig, RunConfig
from paperzoo.errors import ConfigError
from paperzoo.io.checkpoints import load_model
from paperzoo.metrics.ranking import topk_metrics
from paperzoo.recsys.graph import BipartiteGraph
from paperzoo.recsys.mf import bpr_loss, l2_penalty
from paperzoo.engine.task import BaseTask, load_run_config
from paperzoo.engine.data import TensorDataModule
from paperzoo.recsys.pretrain_task import sample_views


@dataclass
class RecModelConfig:
    name: str = "bpr_mf"  # bpr_mf | lightgcn
    dim: int = 64
    num_layers: int = 3  # LightGCN propagation layers
    init_std: float = 0.1
    l2: float = 1e-4  # lambda of the BPR objective


@dataclass
class InitConfig:
    mode: str = "random"  # random | shared | encoder
    pretrained: Optional[str] = None  # a graph_pretrain run directory, its export, or zoo:pcrec_gin_grocery2014
    views: int = 1  # subgraphs averaged per node when the encoder embeds it
    max_hops: Optional[int] = None  # r of the subgraphs at embedding time (default: the pre-training run's)
    # not in the paper: subtract the mean encoder embedding and re-normalise (the pre-trained
    # embeddings share a large common direction, which makes every initial score alike)
    center: bool = False
    # the transferred vectors are multiplied by this (the encoder's are unit norm: 0.125 per coordinate
    # at d = 64, above the random init's 0.1); a tuning knob of the grid, 1 = as the encoder gives them
    scale: float = 1.0
    # ablation: the pre-trained run's encoder architecture with fresh random weights (seeded by `seed`),
    # to measure what pre-training adds over the encoder's structure alone
    untrained: bool = False


@dataclass
class RecDataConfig:
    target: str = "luxury_beauty"
    k_core: int = 5
    split: str = "chronological"  # chronological | random
    batch_size: int = 2048
    eval_split: str = "valid"  # valid | test


@dataclass
class Config(RunConfig):
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3))
    model: RecModelConfig = field(default_factory=RecModelConfig)
    data: RecDataConfig = field(default_factory=RecDataConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def validate(self) -> None:
        super().validate()
        if self.model.name not in ("bpr_mf", "lightgcn"):
            raise ConfigError(f"model.name must be bpr_mf or lightgcn, got {self.model.name!r}")
        if self.model.dim < 1 or self.model.l2 < 0 or self.model.init_std <= 0:
            raise ConfigError("model needs dim >= 1, l2 >= 0 and init_std > 0")
        if self.init.mode not in ("random", "shared", "encoder"):
            raise ConfigError(f"init.mode must be random, shared or encoder, got {self.init.mode!r}")
        if self.init.views < 1 or self.init.scale <= 0:
            raise ConfigError("init.views must be >= 1 and init.scale > 0")
        if self.data.split not in ("chronological", "random") or self.data.eval_split not in ("valid", "test"):
            raise ConfigError("data.split must be chronological or random; data.eval_split valid or test")


def build_data(cfg: Config, data_dir=None) -> TensorDataModule:
    data = load_domain(cfg.data.target, data_dir, k=cfg.data.k_core)
    split = leave_one_out(data, mode=cfg.data.split, seed=cfg.seed)
    users, items = split.pairs("train")
    train = (torch.from_numpy(users), torch.from_numpy(items))
    return TensorDataModule(train, (torch.zeros(1),), batch_size=min(cfg.data.batch_size, len(users)), seed=cfg.seed,
                            info={"split": split})


# --- initial values from the pre-trained encoder -----------------------------------------------
def load_pretrained(spec: str | Path):
    """(encoder, its pre-training config) of a graph_pretrain run directory, export or zoo entry (``zoo:NAME``)."""
    from paperzoo.engine.config import build_config
    from paperzoo.errors import CheckpointError
    from paperzoo.io.bundle import read_bundle
    from paperzoo.zoo import is_zoo

    if not (is_zoo(spec) or (Path(spec) / "card.json").is_file()):
        cfg = load_run_config(spec, "graph_pretrain", purpose="init.pretrained")  # checks the task before the weights
        return load_model(spec), cfg
    bundle = read_bundle(spec)
    if bundle.task != "graph_pretrain":
        raise CheckpointError(f"{spec} is a {bundle.task} model; init.pretrained needs a graph_pretrain run or export")
    return bundle.build_model(), build_config(bundle.card["training"]["config"], [], source=str(spec))


@torch.no_grad()
def encode_nodes(encoder, graph: BipartiteGraph, nodes: np.ndarray, subgraph_cfg, *, seed: int = 0, views: int = 1,
                 eig_dim: int = 32, chunk: int = 2048) -> torch.Tensor:
    """(len(nodes), d) encoder embeddings of ``nodes``, each the mean over ``views`` sampled subgraphs."""
    encoder.eval()
    out = []
    for lo in range(0, len(nodes), chunk):
        part = nodes[lo:lo + chunk]
        acc = 0
        for v in range(views):
            rng = np.random.default_rng([seed, v, lo])
            acc = acc + encoder(sample_views(graph, part, subgraph_cfg, rng, eig_dim=eig_dim, random_signs=False))
        out.append(acc / views)
    return torch.cat(out) if out else torch.zeros(0, encoder.readouts[0].out_features)


def _center_and_scale(emb: torch.Tensor, center: bool, scale: float = 1.0) -> torch.Tensor:
    if center and len(emb) >= 2:
        emb = torch.nn.functional.normalize(emb - emb.mean(0), dim=1, eps=1e-8)
    return emb * scale


def _subgraph_cfg(pre_cfg, max_hops):
    sub = pre_cfg.data.subgraph
    return sub if max_hops is None else dataclasses.replace(sub, max_hops=max_hops)


def initial_embeddings(cfg: Config, split: Split, data_dir=None) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """{user index: vector}, {item index: vector} for the users/items that get pre-trained values."""
    if not cfg.init.pretrained:  # checked here, not in validate(): bundled configs leave the run to the user
        raise ConfigError(f"init.mode={cfg.init.mode} needs init.pretrained=RUN_DIR (a graph_pretrain run, its export or zoo:ENTRY)")
    encoder, pre = load_pretrained(cfg.init.pretrained)
    if cfg.init.untrained:
        torch.manual_seed(cfg.seed)
        for module in encoder.modules():
            if module is not encoder and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    sub_cfg, eig = _subgraph_cfg(pre, cfg.init.max_hops), pre.model.eig_dim
    data = split.data
    if cfg.init.mode == "encoder":
        users, items = split.pairs("train")
        graph = BipartiteGraph.from_pairs(users, items, data.num_users, data.num_items)
        emb = _center_and_scale(encode_nodes(encoder, graph, np.arange(graph.num_nodes), sub_cfg, seed=cfg.seed,
                                         views=cfg.init.views, eig_dim=eig), cfg.init.center, cfg.init.scale)
        return dict(enumerate(emb[: data.num_users])), dict(enumerate(emb[data.num_users:]))
    source = load_domain(pre.data.source, data_dir or pre.data_dir, k=pre.data.k_core)
    graph = BipartiteGraph.from_pairs(source.users, source.items, source.num_users, source.num_items)
    src_u = {uid: i for i, uid in enumerate(source.user_ids)}
    src_i = {iid: i for i, iid in enumerate(source.item_ids)}
    tu = [(t, src_u[uid]) for t, uid in enumerate(data.user_ids) if uid in src_u]
    ti = [(t, src_i[iid]) for t, iid in enumerate(data.item_ids) if iid in src_i]
    if not tu and not ti:
        raise ConfigError(f"init.mode=shared: no user or item of {cfg.data.target!r} exists in the source domain "
                          f"{pre.data.source!r}; use init.mode=encoder")
    nodes = np.array([s for _, s in tu] + [source.num_users + s for _, s in ti], dtype=np.int64)
    emb = _center_and_scale(encode_nodes(encoder, graph, nodes, sub_cfg, seed=cfg.seed, views=cfg.init.views, eig_dim=eig),
                        cfg.init.center, cfg.init.scale)
    return ({t: emb[k] for k, (t, _) in enumerate(tu)}, {t: emb[len(tu) + k] for k, (t, _) in enumerate(ti)})


class RecommenderTask(BaseTask):
    def __init__(self, cfg: Config, split: Split, data_dir=None):
        super().__init__(cfg)
        m, data = cfg.model, split.data
        kw = dict(num_users=data.num_users, num_items=data.num_items, dim=m.dim, init_std=m.init_std)
        if m.name == "lightgcn":
            kw["num_layers"] = m.num_layers
        self.build_model(m.name, **kw)
        self.split = split
        users, items = split.pairs("train")
        self.train_matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(data.num_users, data.num_items))
        self.model.set_graph(self.train_matrix)
        self._train_keys = np.sort(users * data.num_items + items)
        self.transferred = (0, 0)
        if cfg.init.mode != "random":
            user_init, item_init = initial_embeddings(cfg, split, data_dir)
            self._load_initial(user_init, item_init)

    @torch.no_grad()
    def _load_initial(self, user_init: dict, item_init: dict) -> None:
        for table, init in ((self.model.user, user_init), (self.model.item, item_init)):
            if init:
                idx = torch.tensor(list(init))
                vecs = torch.stack(list(init.values()))
                if vecs.shape[1] != table.weight.shape[1]:
                    raise ConfigError(f"model.dim={table.weight.shape[1]} but the encoder outputs {vecs.shape[1]} dimensions")
                table.weight[idx] = vecs
        self.transferred = (len(user_init), len(item_init))

    def _negatives(self, users: np.ndarray, step: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """One item per user, uniform among the items it has no training interaction with.

        Drawn for the global batch: round r proposes one item per global row from a generator seeded
        by (seed, step, r), and this process (rows ``rank::world``, as ``StepBatches`` deals them) keeps
        its rows' proposals; a row takes its first proposal that is not a training item. So a row's
        negative depends on its global position only, and W processes draw what one process would."""
        n_items = self.split.data.num_items
        neg = np.zeros(len(users), dtype=np.int64)
        todo = np.ones(len(users), dtype=bool)
        for r in range(100):
            proposal = np.random.default_rng([self.cfg.seed, step, r]).integers(0, n_items, len(users) * world)[rank::world]
            neg[todo] = proposal[todo]
            keys = users * n_items + neg
            pos = np.minimum(np.searchsorted(self._train_keys, keys), len(self._train_keys) - 1)
            todo = self._train_keys[pos] == keys
            if not todo.any():
                break
        return neg

    def training_step(self, batch, batch_idx):
        users, pos = batch
        negatives = self._negatives(users.cpu().numpy(), self.global_step, self.global_rank, self.trainer.world_size)
        neg = torch.from_numpy(negatives).to(users.device)
        u_all, i_all = self.model.embeddings()
        u, i, j = u_all[users], i_all[pos], i_all[neg]
        loss = bpr_loss((u * i).sum(1), (u * j).sum(1))
        reg = l2_penalty(self.model.user(users), self.model.item(pos), self.model.item(neg))
        self.log("train/bpr", loss, prog_bar=True)
        return loss + self.cfg.model.l2 * reg

    @torch.no_grad()
    def ranking_metrics(self, part: str = "valid", ks=(10, 20)) -> dict[str, float]:
        """Full-ranking metrics of the current embeddings on ``part`` (valid: train items masked;
        test: train and validation items masked)."""
        u_all, i_all = self.model.embeddings()
        masked = [self.split.pairs("train")] + ([self.split.pairs("valid")] if part == "test" else [])
        mask = tuple(np.concatenate(a) for a in zip(*masked))
        data = self.split.data
        return topk_metrics(lambda users: u_all[users.to(u_all.device)] @ i_all.t(), data.num_users, data.num_items,
                            self.split.pairs(part), mask, ks)

    def validation_step(self, batch, batch_idx):
        part = self.cfg.data.eval_split
        for key, value in self.ranking_metrics(part).items():
            self.log(f"{part}/{key}", value, prog_bar=key == "ndcg@20")

    def inference_info(self) -> dict:
        data = self.split.data
        return {"user_ids": [str(u) for u in data.user_ids], "item_ids": [str(i) for i in data.item_ids]}

    def inference_assets(self) -> dict[str, torch.Tensor]:
        users, items = self.split.pairs("train")
        return {"train_users": torch.from_numpy(users.astype(np.int64)), "train_items": torch.from_numpy(items.astype(np.int64))}


def build_task(cfg: Config, data: TensorDataModule) -> RecommenderTask:
    return RecommenderTask(cfg, data.info["split"], cfg.data_dir)
