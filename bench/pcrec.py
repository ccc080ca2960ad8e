"""PCRec at CPU scale: contrastive GNN pre-training on a source domain, the three transfer
strategies on a target domain, against BPR-MF and LightGCN from random initialisation.

Data (PAPERZOO_DATA=../shared/data, `recsys`): three domain pairs
  * Amazon 2018 Industrial and Scientific -> Luxury Beauty (shared users by reviewer ID);
  * Grocery 2014 -> Luxury Beauty (no shared entity: strategy 2 does not apply);
  * MovieLens-100k split by genre: action-like movies -> the other movies (all users shared).
Target domains are 5-core filtered and split per user chronologically (last interaction test,
second to last validation); every number is on the test split, full ranking over all items with
training and validation items masked. Source graphs hold every source interaction.

Budget (2 CPU cores): one pre-training per (pair, r) with seed 0, --pre-steps steps of batch 32
(GCC settings: MoCo queue 16,384, momentum 0.999, tau 0.07, Adam 0.005, restart 0.8); each
target model: --steps steps of batch 2048 (Adam 1e-3, lambda 1e-4, dim 64) for each of --seeds
seeds, validated every 250 steps; test numbers are those of the validation-best checkpoint
(NDCG@20). The seed changes the target initialisation, the negatives and the subgraphs sampled to
embed target nodes; it does not re-run pre-training (the spread below excludes that source of
variance). Claims checked: strategy 3 beats BPR-MF on Recall@20 and NDCG@20 by more than the
seed-to-seed spread; strategy 3 beats strategies 1 and 2; 2-hop is at least as good as 3-hop.
"s3 centred" is our addition (init.center=true): the encoder's initial values minus their mean
direction, re-normalised. "s3 untrained encoder" is the ablation (init.untrained=true): the same
encoder architecture with random weights, so the table shows what pre-training itself adds.
Baselines at parity (``--parts parity``, results entry ``pcrec_parity``): RecBole's BPR and LightGCN
(``bench/_recbole.py``; PYTHONPATH=.venv/recbole) on the same split files as ours, each library
trained to convergence and scored on test at its validation-best point (NDCG@20): RecBole with its
trainer (early stopping, patience 10 epochs, at most --parity-epochs), ours for --parity-epochs
epochs' worth of steps with ``trainer.keep_best=valid/ndcg@20``. Same dim 64, Adam 1e-3, batch 2048.
Tuning grid (``--parts grid``, results entry ``pcrec_grid``): see ``grid``. Longer pre-training and its
view-matching curve (``--parts curve``, results entry ``pcrec_pretrain_curve``): see ``pretrain_curve``.
Usage: PAPERZOO_DATA=../shared/data PYTHONPATH=.venv/recbole python bench/pcrec.py [--seeds 5 --steps 1000 --pre-steps 1000]
       [--parts main parity grid curve] [--parity-seeds 3 --parity-epochs 300] [--grid-pairs 1 2 --grid-steps 2000 --jobs 2]
       [--curve-steps 10000 --curve-seeds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _recbole  # noqa: E402
from _results import RESULTS, bad_input, table, validation_log, write_results  # noqa: E402

from paperzoo.data.interactions import leave_one_out, load_domain  # noqa: E402
from paperzoo.engine.config import load_config  # noqa: E402
from paperzoo.engine.run import evaluate, quiet_lightning, train  # noqa: E402
from paperzoo.metrics.ranking import topk_metrics  # noqa: E402
from paperzoo.recsys.graph import BipartiteGraph  # noqa: E402
from paperzoo.recsys.sampler import rwr_subgraphs  # noqa: E402
from paperzoo.recsys.features import to_batch  # noqa: E402
from paperzoo.recsys import task as recommender  # noqa: E402

PAIRS = [("industrial_and_scientific", "luxury_beauty"), ("grocery2014", "luxury_beauty"), ("ml100k_action", "ml100k_other")]
QUIET = ["trainer.progress_bar=false"]
VAL_EVERY = 250  # target models: validation NDCG@20 every 250 steps; the test numbers are the validation-best checkpoint's
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def throughput(data_dir=None) -> dict:
    """Subgraphs per second (sampling, and sampling + features) and full-ranking evaluation time."""
    data = load_domain("grocery2014", data_dir)
    graph = BipartiteGraph.from_pairs(data.users, data.items, data.num_users, data.num_items)
    rng = np.random.default_rng(0)
    out = {}
    to_batch(rwr_subgraphs(graph, rng.integers(0, graph.num_nodes, 4096), rng), rng=rng)  # warm-up
    for hops in (2, 3):
        best = (np.inf, np.inf)
        for _ in range(3):  # best of three
            queries = rng.integers(0, graph.num_nodes, 4096)
            t0 = time.perf_counter()
            sub = rwr_subgraphs(graph, queries, rng, max_hops=hops)
            t1 = time.perf_counter()
            to_batch(sub, rng=rng)
            best = min(best[0], t1 - t0), min(best[1], time.perf_counter() - t0)
        out[f"r{hops}"] = {"sample_per_s": len(queries) / best[0], "sample_and_features_per_s": len(queries) / best[1],
                           "mean_nodes": float(sub.sizes.mean())}
    users = torch.randn(data.num_users, 64)
    items = torch.randn(data.num_items, 64)
    held = (np.arange(data.num_users), rng.integers(0, data.num_items, data.num_users))
    t0 = time.perf_counter()
    topk_metrics(lambda u: users[u] @ items.t(), data.num_users, data.num_items, held, (data.users, data.items))
    out["full_ranking"] = {"users": data.num_users, "items": data.num_items, "seconds": time.perf_counter() - t0}
    return out


def mean_std(runs: dict[str, list[dict]], keys) -> dict:
    """label -> metric -> (mean, std) over the label's runs (seeds)."""
    return {label: {k: (float(np.mean([m[k] for m in ms])), float(np.std([m[k] for m in ms]))) for k in keys}
            for label, ms in runs.items()}


def test_metrics(run_dir: Path) -> dict:
    """Test metrics of the run's validation-best checkpoint (``init.mode=random``: the weights come from it)."""
    metrics = evaluate(run_dir, ["data.eval_split=test", "init.mode=random"], checkpoint="best")["metrics"]
    return {k.removeprefix("test/"): v for k, v in metrics.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--pre-steps", type=int, default=1000)
    p.add_argument("--pairs", type=int, nargs="*", default=list(range(len(PAIRS))), help="indices into the pair list")
    p.add_argument("--parts", nargs="+", choices=("main", "parity", "grid", "curve"), default=["main", "parity", "grid"],
                   help="curve: longer pre-training and its view-matching curve, fine-tuned at the grid's chosen points")
    p.add_argument("--grid-pairs", type=int, nargs="*", default=[1, 2], help="pairs of the tuning grid (indices into the pair list)")
    p.add_argument("--grid-steps", type=int, default=2000, help="fine-tuning steps of each grid run (validation-best within them)")
    p.add_argument("--jobs", type=int, default=1, help="grid runs in parallel (one thread each)")
    p.add_argument("--curve-steps", type=int, default=10000, help="pre-training steps of the curve part (validated 10 times)")
    p.add_argument("--curve-seeds", type=int, default=3)
    p.add_argument("--parity-seeds", type=int, default=3)
    p.add_argument("--parity-epochs", type=int, default=300)
    args = p.parse_args(argv)
    quiet_lightning()
    if "parity" in args.parts:
        parity(args)
    if "grid" in args.parts:
        grid(args)
    if "curve" in args.parts:
        pretrain_curve(args)
    if "main" not in args.parts:
        return
    t_start = time.perf_counter()
    results = {"settings": vars(args), "throughput": throughput(), "pairs": {}}
    print("throughput", results["throughput"], flush=True)
    out = Path(tempfile.mkdtemp(prefix="bench_pcrec_"))
    for pi in args.pairs:
        source, target = PAIRS[pi]
        pair = f"{source} -> {target}"
        src, tgt = load_domain(source), load_domain(target, k=5)
        shared_users = len(set(src.user_ids) & set(tgt.user_ids))
        shared_items = len(set(src.item_ids) & set(tgt.item_ids))
        rows: dict[str, list[dict]] = {}
        pre_runs, pre_info = {}, {}
        for r in (2, 3):
            t0 = time.perf_counter()
            pre_runs[r] = train("recsys/pcrec_pretrain", [f"out_dir={out}", f"name=pre_{pi}_r{r}", f"data.source={source}",
                                                          f"data.subgraph.max_hops={r}", f"trainer.max_steps={args.pre_steps}",
                                                          f"trainer.val_every={args.pre_steps}",
                                                          f"trainer.checkpoint_every={args.pre_steps}", *QUIET])
            val = evaluate(pre_runs[r])["metrics"]
            pre_info[r] = {"seconds": time.perf_counter() - t0, **val}
            print(pair, "pre-trained r", r, pre_info[r], flush=True)

        variants = [("BPR-MF", "recsys/bpr_mf_luxury_beauty", []), ("LightGCN", "recsys/lightgcn_luxury_beauty", [])]
        for r in (2, 3):
            fine = [f"init.pretrained={pre_runs[r]}", "init.center=false"]  # the paper's rows: no centring
            variants.append((f"PCRec s1 (r={r}, no fine-tuning)", None, fine))
            if shared_users + shared_items:
                variants.append((f"PCRec s2 (r={r}, shared init)", "recsys/pcrec_finetune", fine + ["init.mode=shared"]))
            variants.append((f"PCRec s3 (r={r}, encoder init)", "recsys/pcrec_finetune", fine))
            if r == 2:  # not in the paper: the encoder's initial values with their common direction removed
                variants.append(("PCRec s3 centred (r=2, ours)", "recsys/pcrec_finetune", fine + ["init.center=true"]))
                # ablation: the same encoder with random weights, so the table shows what pre-training adds
                variants.append(("PCRec s3 untrained encoder (r=2, ablation)", "recsys/pcrec_finetune", fine + ["init.untrained=true"]))
        for seed in range(args.seeds):
            for label, config, extra in variants:
                t0 = time.perf_counter()
                common = [f"out_dir={out}", f"seed={seed}", f"data.target={target}", "data.k_core=5", *QUIET]
                if config is None:  # strategy 1: the encoder's embeddings ranked as they are
                    cfg = load_config("recsys/pcrec_finetune", common + extra + ["name=s1"])
                    task = recommender.build_task(cfg, recommender.build_data(cfg))
                    m = task.ranking_metrics("test")
                else:
                    run = train(config, common + extra + [f"name=ft_{pi}", f"trainer.max_steps={args.steps}",
                                                          f"trainer.val_every={min(VAL_EVERY, args.steps)}", f"trainer.checkpoint_every={args.steps}",
                                                          "trainer.keep_best=valid/ndcg@20"])
                    m = test_metrics(run)
                m["seconds"] = time.perf_counter() - t0
                rows.setdefault(label, []).append(m)
                print(pair, seed, label, {k: round(m[k], 4) for k in METRICS}, f"{m['seconds']:.0f} s", flush=True)
        summary = mean_std(rows, (*METRICS, "seconds"))
        results["pairs"][pair] = {"shared_users": shared_users, "shared_items": shared_items,
                                  "target": {"users": tgt.num_users, "items": tgt.num_items, "interactions": len(tgt)},
                                  "pretraining": pre_info, "summary": summary, "runs": rows, "claims": claims(summary)}
        results["total_minutes"] = (time.perf_counter() - t_start) / 60
        write_results("pcrec", results, markdown(results))  # after each pair: a stopped run keeps what it finished
    print(markdown(results))


# --- the tuning grid: every method gets the same small grid, chosen on validation, reported on test ----------
# "scale" multiplies the initial embeddings' magnitude: a random init's std 0.1 (-> 0.025 at 0.25, about
# RecBole's xavier scale), a transferred init's unit vectors (init.scale). The epochs are chosen by the
# validation-best checkpoint within --grid-steps.
GRID = {"lr": (1e-3, 3e-3), "l2": (1e-4, 1e-5), "scale": (1.0, 0.25)}


def grid_overrides(point: dict, transferred: bool) -> list[str]:
    scale = f"init.scale={point['scale']:g}" if transferred else f"model.init_std={0.1 * point['scale']:g}"
    return [f"optim.lr={point['lr']:g}", f"model.l2={point['l2']:g}", scale]


def fit(job: dict) -> dict:
    """One grid job in a worker process: a pre-training (its validation metrics) or a fine-tuning (the test
    metrics of its validation-best checkpoint and that best validation NDCG@20)."""
    torch.set_num_threads(1)
    quiet_lightning()
    t0 = time.perf_counter()
    run = train(job["config"], job["overrides"])
    if job["config"] == "recsys/pcrec_pretrain":
        return {"run": str(run), **evaluate(run)["metrics"], "seconds": time.perf_counter() - t0}
    best_valid = max(r["valid/ndcg@20"] for r in validation_log(run, "valid/"))
    return {**test_metrics(run), "valid_ndcg@20": best_valid, "seconds": time.perf_counter() - t0}


def grid_methods(pre: dict[int, str], shared: bool) -> list[tuple[str, str, list[str], bool]]:
    """(label, config, overrides, transferred init) of every tuned method, given the pre-training runs by r."""
    methods = [("BPR-MF", "recsys/bpr_mf_luxury_beauty", [], False), ("LightGCN", "recsys/lightgcn_luxury_beauty", [], False)]
    for r in (2, 3):
        fine = [f"init.pretrained={pre[r]}", "init.center=false"]  # the paper's rows: no centring
        if shared:
            methods.append((f"PCRec s2 (r={r}, shared init)", "recsys/pcrec_finetune", fine + ["init.mode=shared"], True))
        methods.append((f"PCRec s3 (r={r}, encoder init)", "recsys/pcrec_finetune", fine, True))
        if r == 2:
            methods.append(("PCRec s3 centred (r=2, ours)", "recsys/pcrec_finetune", fine + ["init.center=true"], True))
            methods.append(("PCRec s3 untrained encoder (r=2, ablation)", "recsys/pcrec_finetune", fine + ["init.untrained=true"], True))
    return methods


def grid(args) -> None:
    """Per pair: pre-training for every seed and r; each method's grid on seed 0, the validation-best point;
    that point over all seeds (each seed its own pre-training): results entry pcrec_grid."""
    import itertools
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    t_start = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="bench_pcrec_grid_"))
    points = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    results = {"settings": {"seeds": args.seeds, "steps": args.grid_steps, "pre_steps": args.pre_steps, "grid": GRID,
                            "pairs": args.grid_pairs}, "pairs": {}}
    counter = itertools.count()

    def job(config, overrides, seed, target=None):
        data = [f"data.target={target}", "data.k_core=5"] if target else []
        steps = [] if target is None else [f"trainer.max_steps={args.grid_steps}", f"trainer.val_every={VAL_EVERY}",
                                           f"trainer.checkpoint_every={args.grid_steps}", "trainer.keep_best=valid/ndcg@20"]
        return {"config": config, "overrides": [f"out_dir={out}", f"name=job{next(counter)}", f"seed={seed}", *QUIET, *data,
                                                *steps, *overrides]}

    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for pi in args.grid_pairs:
            source, target = PAIRS[pi]
            pair = f"{source} -> {target}"
            src, tgt = load_domain(source), load_domain(target, k=5)
            shared = bool(set(src.user_ids) & set(tgt.user_ids) or set(src.item_ids) & set(tgt.item_ids))
            keys = [(seed, r) for seed in range(args.seeds) for r in (2, 3)]
            pre_jobs = [job("recsys/pcrec_pretrain", [f"data.source={source}", f"data.subgraph.max_hops={r}",
                                                      f"trainer.max_steps={args.pre_steps}", f"trainer.val_every={args.pre_steps}",
                                                      f"trainer.checkpoint_every={args.pre_steps}"], seed) for seed, r in keys]
            pre = dict(zip(keys, pool.map(fit, pre_jobs)))
            print(pair, "pre-training", {k: round(v["val/match_top1"], 3) for k, v in pre.items()}, flush=True)
            methods = {seed: grid_methods({r: pre[seed, r]["run"] for r in (2, 3)}, shared) for seed in range(args.seeds)}
            # tuning: every method's grid on seed 0
            tune_jobs = [(label, i, job(config, extra + grid_overrides(point, transferred), 0, target))
                         for label, config, extra, transferred in methods[0] for i, point in enumerate(points)]
            tuned: dict[str, list[dict]] = {}
            for (label, i, _), m in zip(tune_jobs, pool.map(fit, [j for _, _, j in tune_jobs])):
                tuned.setdefault(label, []).append({**points[i], **m})
            chosen = {label: max(range(len(points)), key=lambda i: ms[i]["valid_ndcg@20"]) for label, ms in tuned.items()}
            print(pair, "chosen", {label: points[i] for label, i in chosen.items()}, flush=True)
            # the chosen point over the other seeds
            final_jobs = [(label, job(config, extra + grid_overrides(points[chosen[label]], transferred), seed, target))
                          for seed in range(1, args.seeds) for label, config, extra, transferred in methods[seed]]
            rows = {label: [tuned[label][chosen[label]]] for label in tuned}
            for (label, _), m in zip(final_jobs, pool.map(fit, [j for _, j in final_jobs])):
                rows[label].append(m)
            for r in (2, 3):  # strategy 1: each seed's encoder embeddings ranked as they are (nothing to tune)
                for seed in range(args.seeds):
                    cfg = load_config("recsys/pcrec_finetune", [f"seed={seed}", f"data.target={target}", "data.k_core=5",
                                                                f"init.pretrained={pre[seed, r]['run']}", f"out_dir={out}"])
                    m = recommender.build_task(cfg, recommender.build_data(cfg)).ranking_metrics("test")
                    rows.setdefault(f"PCRec s1 (r={r}, no fine-tuning)", []).append(m)
            summary = mean_std(rows, METRICS)
            results["pairs"][pair] = {"chosen": {label: points[i] for label, i in chosen.items()}, "tuning": tuned,
                                      "pretraining": {f"seed {s} r={r}": v for (s, r), v in pre.items()},
                                      "summary": summary, "runs": rows, "claims": claims(summary)}
            results["total_minutes"] = (time.perf_counter() - t_start) / 60
            write_results("pcrec_grid", results, grid_markdown(results))  # after each pair
    print(grid_markdown(results))


def pretrain_curve(args) -> None:
    """Pre-training until view matching plateaus: per seed, ``--curve-steps`` steps at r = 2 on Grocery 2014
    (validation every tenth of it: its curve), then strategy 3 (plain and centred) fine-tuned from it for
    Luxury Beauty at the grid's chosen points, beside the grid's rows of the same seeds (1,000-step
    pre-training): results entry pcrec_pretrain_curve. Needs the grid's results (pair 1)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    source, target = PAIRS[1]
    pair = f"{source} -> {target}"
    grid_file = RESULTS / "pcrec_grid.json"
    if not grid_file.is_file() or pair not in json.loads(grid_file.read_text())["pairs"]:
        bad_input(f"--parts curve needs the grid's results for {pair} ({grid_file}): run --parts grid --grid-pairs 1 first")
    grid_results = json.loads(grid_file.read_text())
    tuned, grid_pre_steps = grid_results["pairs"][pair], grid_results["settings"]["pre_steps"]
    labels = {"PCRec s3 (r=2, encoder init)": ["init.center=false"], "PCRec s3 centred (r=2, ours)": ["init.center=true"]}
    t_start = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="bench_pcrec_curve_"))
    steps = args.curve_steps
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        pre_jobs = [{"config": "recsys/pcrec_pretrain", "overrides": [
            f"out_dir={out}", f"name=pre{seed}", f"seed={seed}", *QUIET, f"data.source={source}", "data.subgraph.max_hops=2",
            f"trainer.max_steps={steps}", f"trainer.val_every={max(steps // 10, 1)}", f"trainer.checkpoint_every={steps}"]}
            for seed in range(args.curve_seeds)]
        pre = list(pool.map(fit, pre_jobs))
        curves = [[(r["step"] + 1, r["val/match_top1"]) for r in validation_log(p["run"])] for p in pre]
        print(pair, "view-match curves", curves, flush=True)
        fine_jobs = [(label, {"config": "recsys/pcrec_finetune", "overrides": [
            f"out_dir={out}", f"name=fine{seed}_{i}", f"seed={seed}", *QUIET, f"data.target={target}", "data.k_core=5",
            f"trainer.max_steps={args.grid_steps}", f"trainer.val_every={VAL_EVERY}", f"trainer.checkpoint_every={args.grid_steps}",
            "trainer.keep_best=valid/ndcg@20", f"init.pretrained={pre[seed]['run']}", *extra,
            *grid_overrides(tuned["chosen"][label], True)]})
            for seed in range(args.curve_seeds) for i, (label, extra) in enumerate(labels.items())]
        rows: dict[str, list[dict]] = {}
        for (label, _), m in zip(fine_jobs, pool.map(fit, [j for _, j in fine_jobs])):
            rows.setdefault(f"{label}, {steps} pre-training steps", []).append(m)
    n = args.curve_seeds
    compared = ["BPR-MF", *labels, "PCRec s3 untrained encoder (r=2, ablation)"]
    for label in compared:  # the grid's rows, the same seeds
        rows[f"{label}, grid ({grid_pre_steps:,} pre-training steps)" if label in labels else f"{label} (grid)"] = \
            tuned["runs"][label][:n]
    results = {"settings": {"steps": steps, "seeds": n, "fine_tune_steps": args.grid_steps, "pair": pair},
               "curves": curves, "pretraining": pre, "summary": mean_std(rows, METRICS), "runs": rows,
               "total_minutes": (time.perf_counter() - t_start) / 60}
    write_results("pcrec_pretrain_curve", results, curve_markdown(results))
    print(curve_markdown(results))


def curve_markdown(results: dict) -> str:
    s = results["settings"]
    steps = [step for step, _ in results["curves"][0]]
    curve_rows = [[f"{step:,}"] + [f"{c[i][1]:.3f}" for c in results["curves"]] for i, step in enumerate(steps)]
    rows = [[label] + [f"{m[k][0]:.4f} ± {m[k][1]:.4f}" for k in ("recall@20", "ndcg@20")] for label, m in results["summary"].items()]
    return "\n".join([
        f"`bench/pcrec.py --parts curve`: PCRec pre-training (r = 2, batch 32, cosine schedule over {s['steps']:,} steps) on "
        f"Grocery 2014 for seeds 0-{s['seeds'] - 1}; validation view-match top-1 every {s['steps'] // 10:,} steps (a fixed set of nodes, two "
        f"views each: the share whose first view's nearest second view is its own). Each is then fine-tuned for {s['pair']} "
        f"at the tuning grid's chosen point ({s['fine_tune_steps']} steps, validation-best checkpoint), beside the grid's rows "
        f"for the same seeds (their own shorter pre-training). Test split, full ranking, mean ± std over {s['seeds']} seeds. "
        f"Total {results['total_minutes']:.0f} min.", "",
        table(["pre-training step"] + [f"seed {i}" for i in range(s["seeds"])], curve_rows), "",
        table(["method", "test recall@20", "test ndcg@20"], rows)])


def grid_markdown(results: dict) -> str:
    s = results["settings"]
    parts = [f"`bench/pcrec.py --parts grid`: every fine-tuned method gets the same grid (lr {' / '.join(map(str, s['grid']['lr']))}, "
             f"L2 {' / '.join(map(str, s['grid']['l2']))}, initial-embedding scale {' / '.join(map(str, s['grid']['scale']))}: "
             f"a random init's std 0.1 x scale, a transferred init's unit vectors x scale), each point trained for {s['steps']} steps "
             f"of batch 2048 on seed 0 with validation NDCG@20 every {VAL_EVERY} steps (the validation-best checkpoint: the epochs "
             f"are tuned too); the point with the best validation NDCG@20 is then run on seeds 1-{s['seeds'] - 1}. Each seed has its "
             f"own pre-training ({s['pre_steps']} steps of batch 32, per r). Test split, full ranking, training and validation items "
             f"masked; mean ± std over {s['seeds']} seeds. Total {results.get('total_minutes', 0):.0f} min."]
    for pair, res in results["pairs"].items():
        rows = []
        for label, m in res["summary"].items():
            point = res["chosen"].get(label)
            chosen = f"lr {point['lr']:g}, L2 {point['l2']:g}, scale {point['scale']:g}" if point else "-"
            valid = f"{max(t['valid_ndcg@20'] for t in res['tuning'][label]):.4f}" if label in res["tuning"] else "-"
            rows.append([label, chosen, valid] + [f"{m[k][0]:.4f} ± {m[k][1]:.4f}" for k in ("recall@20", "ndcg@20")])
        top1 = [v["val/match_top1"] for v in res["pretraining"].values()]
        checks = claim_lines(res["claims"])
        parts += ["", f"### {pair}", "", f"Pre-training view-match top-1 (among the batch and queue): "
                  f"{np.mean(top1):.3f} mean over the {len(top1)} pre-trainings.", "",
                  table(["method", "chosen (validation)", "valid ndcg@20 (seed 0)", "test recall@20", "test ndcg@20"], rows), "",
                  f"Claims ({s['seeds']} seeds, at each method's tuned point):", checks]
    return "\n".join(parts)


PARITY_TARGETS = ("luxury_beauty", "ml100k_other")
# (method, our config, our variants: label suffix -> overrides); RecBole gets the same sizes (its BPR has
# no regulariser; LightGCN: our 3 layers, lambda 1e-4). The init variant matches RecBole's xavier-normal
# scale (std sqrt(2 / (rows + 64)): 0.03 for 2,028 users, 0.045 for 936 items) instead of our N(0, 0.1).
PARITY_METHODS = (("BPR", "recsys/bpr_mf_luxury_beauty", {"": [], ", init std 0.03": ["model.init_std=0.03"]}),
                  ("LightGCN", "recsys/lightgcn_luxury_beauty", {"": []}))
RECBOLE_EXTRA = {"BPR": {}, "LightGCN": {"n_layers": 3, "reg_weight": 1e-4}}


def parity(args) -> None:
    """Ours vs RecBole, both converged and validation-selected, on the same split: results entry pcrec_parity."""
    if not _recbole.available():
        bad_input("bench/pcrec.py --parts parity: RecBole is not importable (make .venv/.installed-recbole; "
                  "PYTHONPATH=.venv/recbole)")
    t_start = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="bench_pcrec_parity_"))
    results = {"settings": {"seeds": args.parity_seeds, "epochs": args.parity_epochs}, "targets": {}}
    for target in PARITY_TARGETS:
        split = leave_one_out(load_domain(target, k=5))
        steps_per_epoch = -(-len(split.train) // 2048)
        steps = args.parity_epochs * steps_per_epoch
        runs: dict[str, list[dict]] = {}
        for seed in range(args.parity_seeds):
            for method, config, variants in PARITY_METHODS:
                m = _recbole.run_recbole(split, method, out / f"recbole_{target}_{method}_{seed}", seed=seed,
                                         epochs=args.parity_epochs, extra=RECBOLE_EXTRA[method])
                runs.setdefault(f"RecBole {method}", []).append(m)
                print(target, seed, "RecBole", method, {k: round(v, 4) for k, v in m.items()}, flush=True)
                for suffix, overrides in variants.items():
                    t0 = time.perf_counter()
                    run = train(config, [f"out_dir={out}", f"name=ours_{target}_{method}", f"seed={seed}", f"data.target={target}",
                                         "data.k_core=5", f"trainer.max_steps={steps}", f"trainer.val_every={5 * steps_per_epoch}",
                                         f"trainer.checkpoint_every={steps}", "trainer.keep_best=valid/ndcg@20", *overrides, *QUIET])
                    metrics = evaluate(run, ["data.eval_split=test", "init.mode=random"], checkpoint="best")["metrics"]
                    best_step, best_valid = max(((r["step"] + 1, r["valid/ndcg@20"]) for r in validation_log(run, "valid/")),
                                                key=lambda c: c[1])
                    m = {k.removeprefix("test/"): v for k, v in metrics.items()} | {
                        "valid_ndcg@20": best_valid, "best_epoch": best_step // steps_per_epoch, "epochs_run": args.parity_epochs,
                        "seconds": time.perf_counter() - t0}
                    runs.setdefault(f"paperzoo {method}{suffix}", []).append(m)
                    print(target, seed, f"paperzoo {method}{suffix}", {k: round(v, 4) for k, v in m.items()}, flush=True)
        keys = ("recall@20", "ndcg@20", "valid_ndcg@20", "best_epoch", "seconds")
        summary = mean_std(runs, keys)
        ratios = {f"{method}{suffix}": {k: summary[f"paperzoo {method}{suffix}"][k][0] / summary[f"RecBole {method}"][k][0]
                                        for k in ("recall@20", "ndcg@20")}
                  for method, _, variants in PARITY_METHODS for suffix in variants}
        claims = {f"paperzoo {label} at parity (>= 97% of RecBole) on {k}": bool(r >= 0.97) for label, rs in ratios.items() for k, r in rs.items()}
        results["targets"][target] = {"users": split.data.num_users, "items": split.data.num_items, "train": len(split.train),
                                      "steps_per_epoch": steps_per_epoch, "summary": summary, "ratios": ratios, "claims": claims,
                                      "runs": runs}
        results["total_minutes"] = (time.perf_counter() - t_start) / 60
        write_results("pcrec_parity", results, parity_markdown(results))  # after each target
    print(parity_markdown(results))


def parity_markdown(results: dict) -> str:
    s = results["settings"]
    parts = [f"`bench/pcrec.py --parts parity`: our BPR-MF and LightGCN against RecBole 1.2.1's BPR and LightGCN on the same "
             f"split files (5-core, per-user chronological leave-one-out; full ranking, training items masked for validation, "
             f"training + validation items for test). Each library trains to convergence and is scored on test at its "
             f"validation-best point (NDCG@20): RecBole with its own trainer (early stopping, patience 10 epochs, at most "
             f"{s['epochs']} epochs), ours for {s['epochs']} epochs' worth of steps, validated every 5 epochs, "
             f"`trainer.keep_best=valid/ndcg@20`. Both: dim 64, Adam 1e-3, batch 2048, one uniform negative per positive; "
             f"BPR regularisation: ours L2 1e-4 on the batch's embeddings, RecBole's BPR none; LightGCN: 3 layers, "
             f"L2 1e-4 on the layer-0 embeddings in both (RecBole's weight is on the norm). Mean ± std over {s['seeds']} seed(s) "
             f"(one seed: no spread). "
             f"Total {results['total_minutes']:.0f} min."]
    for target, res in results["targets"].items():
        rows = [[label] + [f"{m[k][0]:.4f} ± {m[k][1]:.4f}" for k in ("recall@20", "ndcg@20", "valid_ndcg@20")]
                + [f"{m['best_epoch'][0]:.0f}", f"{m['seconds'][0]:.0f}"] for label, m in res["summary"].items()]
        ratio = "; ".join(f"{method}: recall@20 {r['recall@20']:.3f}, ndcg@20 {r['ndcg@20']:.3f}" for method, r in res["ratios"].items())
        checks = claim_lines(res["claims"])
        parts += ["", f"### {target}", "", f"{res['users']} users, {res['items']} items, {res['train']} training interactions "
                  f"({res['steps_per_epoch']} steps of 2048 per epoch).", "",
                  table(["method", "test recall@20", "test ndcg@20", "valid ndcg@20 (best)", "best epoch", "s/run"], rows), "",
                  f"paperzoo / RecBole: {ratio}.", "", checks]
    return "\n".join(parts)


def claim_lines(claims: dict) -> str:
    return "\n".join(f"- {name}: **{'yes' if ok else 'no'}**" for name, ok in claims.items())


def claims(summary: dict) -> dict:
    def beats(a, b, key):
        (ma, sa), (mb, sb) = summary[a][key], summary[b][key]
        return bool(ma - mb > max(sa, sb))

    s3 = "PCRec s3 (r=2, encoder init)"
    out = {f"s3 beats BPR-MF on {k} by more than the spread": beats(s3, "BPR-MF", k) for k in ("recall@20", "ndcg@20")}
    for other in ("PCRec s1 (r=2, no fine-tuning)", "PCRec s2 (r=2, shared init)"):
        if other in summary:
            out[f"s3 beats {other.split(' (')[0].split()[-1]} on NDCG@20 (r=2)"] = bool(summary[s3]["ndcg@20"][0] > summary[other]["ndcg@20"][0])
    out["2-hop >= 3-hop (s3, NDCG@20)"] = bool(summary[s3]["ndcg@20"][0] >= summary["PCRec s3 (r=3, encoder init)"]["ndcg@20"][0])
    out["pre-training helps: s3 beats s3 with an untrained encoder on NDCG@20 by more than the spread (r=2)"] = beats(
        s3, "PCRec s3 untrained encoder (r=2, ablation)", "ndcg@20")
    return out


def markdown(results: dict) -> str:
    s = results["settings"]
    thr = results["throughput"]
    parts = [
        f"Script `bench/pcrec.py`. Test split (per-user chronological leave-one-out, 5-core targets), full ranking with "
        f"training and validation items masked; mean ± std over {s['seeds']} seeds (fine-tuning seeds; one pre-training "
        f"per pair and r, seed 0, {s['pre_steps']} steps of batch 32). Target models: {s['steps']} steps of batch 2048, "
        f"validation NDCG@20 every {VAL_EVERY} steps, the validation-best checkpoint scored on test. "
        f"Total {results.get('total_minutes', 0):.0f} min on CPU.",
        "",
        table(["sampler (Grocery 2014 graph)", "subgraphs/s (walks + induced edges)", "subgraphs/s incl. eigenvector features", "mean nodes"],
              [[f"r = {r[1]}", round(v["sample_per_s"]), round(v["sample_and_features_per_s"]), round(v["mean_nodes"], 1)]
               for r, v in thr.items() if r.startswith("r")])
        + f"\n\nFull-ranking evaluation of {thr['full_ranking']['users']} users x {thr['full_ranking']['items']} items: "
          f"{thr['full_ranking']['seconds']:.2f} s.",
    ]
    for pair, res in results["pairs"].items():
        t = res["target"]
        pre = "; ".join(f"r={r}: view-match top-1 {v.get('val/match_top1', float('nan')):.3f} in {v['seconds']:.0f} s"
                        for r, v in res["pretraining"].items())
        rows = [[label] + [f"{m[k][0]:.4f} ± {m[k][1]:.4f}" for k in METRICS] + [f"{m['seconds'][0]:.0f}"]
                for label, m in res["summary"].items()]
        checks = claim_lines(res["claims"])
        parts += ["", f"### {pair}", "",
                  f"Target: {t['users']} users, {t['items']} items, {t['interactions']} interactions; shared with the source: "
                  f"{res['shared_users']} users, {res['shared_items']} items. Pre-training ({pre}).", "",
                  table(["method", *METRICS, "s/run"], rows), "", "Claims:", checks]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
