"""PCRec parts: subgraph sampler, structural features, GIN, MoCo, BPR, ranking metrics, readers."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from paperzoo.data.interactions import from_ids, k_core, leave_one_out, read_interactions, read_item_genres
from paperzoo.errors import DataError, InvalidArgumentError
from paperzoo.metrics.ranking import topk_metrics
from paperzoo.recsys.contrastive import MoCo, in_batch_logits, info_nce
from paperzoo.recsys.features import eigen_features, to_batch
from paperzoo.recsys.gin import pcrec_gin
from paperzoo.recsys.graph import BipartiteGraph
from paperzoo.recsys.mf import LightGCN, bpr_loss
from paperzoo.recsys.sampler import Subgraphs, rwr_subgraphs


def random_graph(num_users=40, num_items=30, n=200, seed=0, isolated_user=False) -> BipartiteGraph:
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, num_users, n), rng.integers(0, num_items, n)
    if isolated_user:  # user 0 has no interaction
        users = np.where(users == 0, 1, users)
    return BipartiteGraph.from_pairs(users, items, num_users, num_items)


def hop_distance(graph: BipartiteGraph, source: int) -> np.ndarray:
    dist = np.full(graph.num_nodes, -1)
    dist[source], todo = 0, deque([source])
    while todo:
        v = todo.popleft()
        for w in graph.indices[graph.indptr[v]:graph.indptr[v + 1]]:
            if dist[w] < 0:
                dist[w] = dist[v] + 1
                todo.append(w)
    return dist


# --- sampler --------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_hops", [1, 2, 3, None])
def test_subgraphs_have_query_first_are_connected_induced_and_within_r_hops(max_hops):
    graph = random_graph()
    adj = graph.adjacency().toarray()
    queries = np.arange(graph.num_nodes)
    sub = rwr_subgraphs(graph, queries, np.random.default_rng(1), max_hops=max_hops, num_steps=64, max_nodes=20)
    assert sub.num_graphs == len(queries)
    for b, q in enumerate(queries):
        nodes, edges = sub.subgraph(b)
        assert nodes[0] == q and len(set(nodes)) == len(nodes) <= 20
        # induced: exactly the graph's edges among these nodes, both directions
        local = np.zeros((len(nodes), len(nodes)))
        local[edges[0], edges[1]] = 1
        np.testing.assert_array_equal(local, adj[np.ix_(nodes, nodes)])
        # connected: every node reachable from the query inside the subgraph
        seen, todo = {0}, [0]
        while todo:
            v = todo.pop()
            for w in edges[1][edges[0] == v]:
                if w not in seen:
                    seen.add(int(w))
                    todo.append(int(w))
        assert len(seen) == len(nodes)
        if max_hops is not None:
            assert hop_distance(graph, q)[nodes].max() <= max_hops


def test_isolated_node_gives_one_node_subgraph_and_features_stay_finite():
    graph = random_graph(isolated_user=True)
    sub = rwr_subgraphs(graph, np.array([0, 0, 5]), np.random.default_rng(0))
    assert sub.sizes[0] == sub.sizes[1] == 1 and sub.nodes[0] == 0
    batch = to_batch(sub, rng=np.random.default_rng(0))
    assert torch.isfinite(batch.eig).all() and batch.is_query.sum() == 3
    assert batch.eig[0].abs().sum() == 0  # a lone node has no structure


def test_restart_frequency_matches_restart_probability():
    graph = random_graph(n=400)
    for p in (0.3, 0.8):
        sub = rwr_subgraphs(graph, np.arange(graph.num_nodes), np.random.default_rng(3), restart_prob=p, num_steps=200)
        n = sub.transitions
        rate = sub.restarts / n
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n), (rate, p)  # 4 sigma of a binomial


def test_walk_really_returns_to_the_query():
    """A real restart: after the first hop a walker is back at the query much more often than a walk
    that continues would be (on a star the walk alternates centre/leaf; restarting from a leaf
    query returns to that leaf)."""
    graph = BipartiteGraph.from_pairs(np.zeros(50, int), np.arange(50), 1, 50)  # a star: one user, 50 items
    from paperzoo.recsys.sampler import random_walk_traces

    leaf = 1 + 7
    trace, _ = random_walk_traces(graph, np.array([leaf]), np.random.default_rng(0), restart_prob=0.5, num_steps=4000)
    # without restarts the walker would be at the leaf only ~1/50 of the even steps
    assert (trace[0] == leaf).mean() > 0.3


def test_sampler_rejects_bad_arguments():
    graph = random_graph()
    with pytest.raises(InvalidArgumentError):
        rwr_subgraphs(graph, np.array([graph.num_nodes]), np.random.default_rng(0))
    with pytest.raises(InvalidArgumentError):
        rwr_subgraphs(graph, np.array([0]), np.random.default_rng(0), restart_prob=1.0)
    with pytest.raises(InvalidArgumentError, match="rank"):
        rwr_subgraphs(graph, np.array([0]), np.random.default_rng(0), rank=1, world=1)


# --- structural features ----------------------------------------------------------------------------
def _one_subgraph(edges: np.ndarray, n: int) -> Subgraphs:
    both = np.concatenate([edges, edges[::-1]], 1)
    return Subgraphs(np.arange(n), np.array([0, n]), both)


def test_eigen_features_are_invariant_to_relabelling_up_to_sign():
    rng = np.random.default_rng(0)
    n = 9
    while True:  # a connected random graph with distinct eigenvalues (eigenvectors then unique up to sign)
        a = np.triu(rng.random((n, n)) < 0.4, 1)
        a = a | a.T
        if np.all(a.sum(1) > 0):
            d = a.sum(1) ** -0.5
            vals = np.linalg.eigvalsh(d[:, None] * a * d[None, :])
            if np.diff(vals).min() > 1e-3:
                break
    edges = np.array(np.nonzero(np.triu(a)))
    feat = eigen_features(_one_subgraph(edges, n), k=32)
    perm = np.concatenate([[0], 1 + rng.permutation(n - 1)])  # the query stays first
    inv = np.argsort(perm)
    feat_p = eigen_features(_one_subgraph(inv[edges], n), k=32)
    # node v of the original is node inv[v] of the relabelled graph: same row up to column signs
    np.testing.assert_allclose(np.abs(feat_p[inv]), np.abs(feat), atol=1e-5)
    # the deterministic convention (query entry >= 0) makes it exact where the query entry is non-zero
    fixed = np.abs(feat[0]) > 1e-6
    np.testing.assert_allclose(feat_p[inv][:, fixed], feat[:, fixed], atol=1e-5)
    assert feat.shape == (n, 32) and np.all(feat[:, n:] == 0)


def test_gin_embedding_is_unit_norm_and_invariant_to_node_order():
    graph = random_graph(n=300)
    sub = rwr_subgraphs(graph, np.arange(6), np.random.default_rng(0), max_hops=2)
    batch = to_batch(sub)
    model = pcrec_gin().eval()
    z = model(batch)
    assert z.shape == (6, 64)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(6))
    # reverse the node order inside the flat batch (subgraph membership and edges kept)
    m = len(sub.nodes)
    order = torch.arange(m - 1, -1, -1)
    pos = torch.empty(m, dtype=torch.long)
    pos[order] = torch.arange(m)
    shuffled = type(batch)(batch.eig[order], batch.degree[order], batch.is_query[order], pos[batch.edges],
                           batch.graph_index[order], batch.num_graphs)
    torch.testing.assert_close(model(shuffled), z, atol=1e-5, rtol=1e-5)


# --- contrastive objective --------------------------------------------------------------------------
class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.nn.functional.normalize(self.lin(x), dim=1)


def test_moco_momentum_update_queue_order_and_logits_before_enqueue():
    torch.manual_seed(0)
    enc = _Linear()
    moco = MoCo(enc, dim=2, queue_size=5, momentum=0.9, temperature=0.5).train()
    before = {k: v.clone() for k, v in moco.key_encoder.state_dict().items()}
    with torch.no_grad():
        enc.lin.weight.add_(1.0)
    moco.momentum_update(enc)
    torch.testing.assert_close(moco.key_encoder.lin.weight, 0.9 * before["lin.weight"] + 0.1 * enc.lin.weight)
    torch.testing.assert_close(moco.key_encoder.lin.bias, 0.9 * before["lin.bias"] + 0.1 * enc.lin.bias)

    queue0 = moco.queue.clone()
    x = torch.randn(3, 3)
    q = enc(x)
    logits = moco(q, x)
    keys = moco.key_encoder(x)
    assert logits.shape == (3, 6)
    torch.testing.assert_close(logits[:, 0], (q * keys).sum(1) / 0.5)
    torch.testing.assert_close(logits[:, 1:], q @ queue0.t() / 0.5)  # the old queue, not this batch's keys
    torch.testing.assert_close(moco.queue[:3], keys)  # enqueued at the pointer
    torch.testing.assert_close(moco.queue[3:], queue0[3:])
    moco(q, x)  # 3 more keys wrap around: slots 3, 4, 0
    torch.testing.assert_close(moco.queue[[3, 4, 0]], keys)
    assert int(moco.queue_ptr) == 1


def test_info_nce_matches_hand_computation():
    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    k = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    logits = in_batch_logits(q, k, 0.07)
    expected = -np.mean([np.log(np.exp(float(q[i] @ k[i]) / 0.07) / np.exp((q[i] @ k.t()).numpy() / 0.07).sum())
                         for i in range(4)])
    assert float(info_nce(logits, torch.arange(4))) == pytest.approx(expected, rel=1e-4)


# --- BPR, LightGCN, metrics ---------------------------------------------------------------------------
def test_bpr_gradient_matches_analytic_and_gradcheck():
    pos = torch.randn(6, dtype=torch.float64, requires_grad=True)
    neg = torch.randn(6, dtype=torch.float64, requires_grad=True)
    bpr_loss(pos, neg).backward()
    expected = -torch.sigmoid(neg - pos).detach() / 6
    torch.testing.assert_close(pos.grad, expected)
    torch.testing.assert_close(neg.grad, -expected)
    assert torch.autograd.gradcheck(bpr_loss, (pos.detach().requires_grad_(), neg.detach().requires_grad_()))


def test_lightgcn_propagation_matches_dense_formula():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    r = (rng.random((5, 4)) < 0.5).astype(np.float32)
    r[0, 0] = 1
    model = LightGCN(5, 4, dim=3, num_layers=2)
    model.set_graph(sp.csr_matrix(r))
    a = np.block([[np.zeros((5, 5)), r], [r.T, np.zeros((4, 4))]])
    d = a.sum(1)
    norm = np.where(d > 0, d, 1) ** -0.5
    a_hat = norm[:, None] * a * norm[None, :]
    e0 = torch.cat([model.user.weight, model.item.weight]).detach().double().numpy()
    expected = (e0 + a_hat @ e0 + a_hat @ a_hat @ e0) / 3
    u, i = model.embeddings()
    np.testing.assert_allclose(torch.cat([u, i]).detach().numpy(), expected, atol=1e-5)


def _brute_force_metrics(scores, truth, masked, k):
    recall, ndcg, hr, n = 0.0, 0.0, 0.0, 0
    for u in range(scores.shape[0]):
        gt = {i for uu, i in zip(*truth) if uu == u}
        if not gt:
            continue
        n += 1
        banned = {i for uu, i in zip(*masked) if uu == u}
        ranked = [i for i in np.argsort(-scores[u], kind="stable") if i not in banned][:k]
        hits = [1.0 if i in gt else 0.0 for i in ranked]
        recall += sum(hits) / len(gt)
        hr += float(any(hits))
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(gt), k)))
        ndcg += dcg / idcg
    return {f"recall@{k}": recall / n, f"ndcg@{k}": ndcg / n, f"hr@{k}": hr / n}


def test_topk_metrics_match_brute_force_on_random_scores():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 25
    scores = rng.random((n_users, n_items))  # distinct scores: no tie-breaking ambiguity
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items) if rng.random() < 0.3])
    rng.shuffle(pairs)
    cut = len(pairs) // 3
    truth, masked = (pairs[:cut, 0], pairs[:cut, 1]), (pairs[cut:, 0], pairs[cut:, 1])
    got = topk_metrics(lambda u: torch.from_numpy(scores[u.numpy()]), n_users, n_items, truth, masked, ks=(5, 10), chunk=7)
    for k in (5, 10):
        ref = _brute_force_metrics(scores, truth, masked, k)
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, abs=1e-9), key


def test_topk_metrics_leave_the_scores_they_are_given_untouched(recwarn):
    table = torch.rand(6, 9, dtype=torch.float32)
    popularity = torch.rand(9)
    truth, masked = (np.arange(6), np.arange(6)), (np.array([0, 0, 4]), np.array([5, 6, 7]))
    before = table.clone()
    topk_metrics(lambda u: table[u.min():u.max() + 1], 6, 9, truth, masked, ks=(3,))  # the model's own tensor (a slice)
    assert torch.equal(table, before)  # masking training items must not write -inf into the model's scores
    topk_metrics(lambda u: popularity.expand(len(u), -1), 6, 9, truth, masked, ks=(3,))  # an expanded tensor
    assert not [w for w in recwarn if "expanded" in str(w.message)]


# --- readers, k-core, split -------------------------------------------------------------------------------
def test_readers_amazon_csv_tsv_and_recbole(tmp_path):
    (tmp_path / "a.csv").write_text("userid,itemid,timestamp,rating\nu1,i1,2014-01-02T00:00:00,5.0\n"
                                    "u1,i2,2014-01-01T00:00:00,4.0\nu2,i1,2015-01-01T00:00:00,1.0\nu1,i1,2016-01-01T00:00:00,3.0\n")
    a = read_interactions(tmp_path / "a.csv")
    assert len(a) == 3 and list(a.user_ids) == ["u1", "u2"]  # the later duplicate (u1, i1) is dropped
    (tmp_path / "b.tsv").write_text("user_id\titem_id\ttime\n7\t3\t100\n7\t4\t50\n")
    b = read_interactions(tmp_path / "b.tsv")
    assert len(b) == 2 and sorted(b.times.tolist()) == [50.0, 100.0]
    (tmp_path / "c.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t3\t5\n2\t10\t4\t6\n")
    assert read_interactions(tmp_path / "c.inter").num_items == 1
    (tmp_path / "c.item").write_text("item_id:token\tmovie_title:token_seq\tclass:token_seq\n10\tToy Story\tAnimation Comedy\n")
    assert read_item_genres(tmp_path / "c.item") == {"10": ["Animation", "Comedy"]}


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("userid,itemid,timestamp\n", "no interactions"),
    ("userid,itemid\nu,i\n", "no time column"),
    ("userid,itemid,timestamp\nu,i,yesterday\n", "neither numbers nor ISO dates"),
    ("userid,itemid,timestamp\nu,i\n", "line 2 has 2 fields"),
])
def test_reader_errors_are_clear(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_interactions(path)


def test_k_core_and_chronological_leave_one_out():
    users = ["a"] * 5 + ["b"] * 5 + ["c"] * 2
    items = ["1", "2", "3", "4", "5", "1", "2", "3", "4", "5", "1", "9"]
    times = [5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 1, 2]
    data = from_ids(users, items, times)
    core = k_core(data, 2)
    # item 9 has one interaction and goes; then c is left with one and goes too (the cascade)
    assert set(core.user_ids) == {"a", "b"} and set(core.item_ids) == {"1", "2", "3", "4", "5"}
    assert k_core(data, 1).num_users == 3
    split = leave_one_out(core)
    ids = lambda part: sorted((core.user_ids[u], core.item_ids[i]) for u, i in zip(*split.pairs(part)))  # noqa: E731
    assert ids("test") == [("a", "1"), ("b", "5")]  # each user's latest
    assert ids("valid") == [("a", "2"), ("b", "4")]
    assert len(split.train) == 6
    rand = leave_one_out(core, mode="random", seed=1)
    assert len(rand.test) == 2 and len(rand.valid) == 2 and len(rand.train) == 6


def test_moco_keys_use_batch_statistics_but_never_dropout_while_training():
    """GCC's key encoder: model_ema.eval() with its batch norms back in train mode."""
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    moco = MoCo(enc, dim=2, queue_size=4).train()
    key_encoder = moco.key_encoder
    assert key_encoder[1].training and not key_encoder[2].training
    x = torch.randn(6, 3)
    with torch.no_grad():
        torch.testing.assert_close(key_encoder(x), key_encoder(x))  # deterministic: no dropout
        batch_norm = key_encoder[1]
        stats = batch_norm.running_mean.clone()
        key_encoder(x)
        assert not torch.equal(batch_norm.running_mean, stats)  # batch statistics, running ones updated
    assert enc[2].training  # the query encoder still drops out
    moco.eval()
    assert not key_encoder[1].training


def test_views_of_a_global_batch_row_do_not_depend_on_how_the_batch_is_split():
    """Under DDP rank r holds rows r::W of the global batch: its walks and eigenvector signs are those
    one process draws for the same rows, so 2 processes pre-train on exactly the views of 1."""
    graph = random_graph(n=300, seed=3)
    queries = np.random.default_rng(1).integers(0, graph.num_nodes, 12)

    def features(rows, rank, world):
        rng = np.random.default_rng(7)
        sub = rwr_subgraphs(graph, queries[rows], rng, num_steps=32, max_nodes=16, rank=rank, world=world)
        eig = eigen_features(sub, k=4, rng=rng, rank=rank, world=world)
        return [(sub.nodes[a:b], eig[a:b]) for a, b in zip(sub.offsets[:-1], sub.offsets[1:])]

    single = features(slice(None), 0, 1)
    for world in (2, 3):
        for rank in range(world):
            for (nodes, eig), (nodes1, eig1) in zip(features(slice(rank, None, world), rank, world), single[rank::world]):
                np.testing.assert_array_equal(nodes, nodes1)
                np.testing.assert_array_equal(eig, eig1)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(single[0::2], single[1::2]))  # rows do differ
