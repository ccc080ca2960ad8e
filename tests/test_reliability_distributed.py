"""Distributed training on CPU (2 gloo processes): every replica ends with the same weights and
codebooks, and a 2-process run matches the 1-process run of the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import only_run_dir, run_process, write_config
from test_engine import assert_same_weights, model_weights

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow
TRAINER = {"max_steps": 6, "val_every": 6, "checkpoint_every": 6, "log_every": 2, "progress_bar": False}


def train_with_rank_dumps(config: Path, rank_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "_ddp_rank_state.py"), "train", str(config), *overrides],
                          env={**os.environ, "PYTHONWARNINGS": "ignore", "PAPERZOO_TEST_RANK_DIR": str(rank_dir)},
                          capture_output=True, text=True, timeout=600, cwd=config.parent)


def assert_ranks_identical(rank_dir: Path) -> dict:
    a, b = (torch.load(rank_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs between the two replicas"
    return a


def vqvae_config(tmp_path: Path, **quantizer) -> Path:
    return write_config(tmp_path / "vq.yaml", tmp_path / "runs", task="vqvae", name="vq", trainer=TRAINER,
                        optim={"name": "adam", "lr": 2e-3},
                        model={"name": "vqvae_tiny", "options": {"num_codes": 32, **quantizer}},
                        data={"source": "shapes", "n_train": 128, "n_val": 16, "batch_size": 16})


def test_vqvae_ddp_replicas_end_with_identical_codebooks(tmp_path):
    """EMA statistics all-reduced, k-means initialisation and dead-code restarts decided on rank 0 and
    broadcast: after training, both replicas hold exactly the same codebook and weights."""
    config = vqvae_config(tmp_path, ema=True, kmeans_init=True, restart_after=2)
    done = train_with_rank_dumps(config, tmp_path / "ranks", "trainer.devices=2", "trainer.strategy=ddp")
    assert done.returncode == 0, done.stderr[-3000:]
    state = assert_ranks_identical(tmp_path / "ranks")
    codebook = [k for k in state if "quantizer" in k and ("embed" in k or "codebook" in k)]
    assert codebook, sorted(state)[:20]
    run = only_run_dir(tmp_path / "runs", "vq")
    for key in codebook:  # and what was saved is what the replicas hold
        assert torch.equal(state[key], model_weights(run).get(key, state[key]))


def test_vqvae_two_processes_match_one_process(tmp_path):
    config = vqvae_config(tmp_path, ema=True)
    single = run_process("train", config, "name=single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = run_process("train", config, "name=ddp", "trainer.devices=2", "trainer.strategy=ddp", cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    a, b = model_weights(only_run_dir(tmp_path / "runs", "single")), model_weights(only_run_dir(tmp_path / "runs", "ddp"))
    assert_same_weights(a, b, rtol=1e-4, atol=1e-5)
    start = model_weights_at_init(config)
    moved = [k for k in a if "quantizer" in k and a[k].is_floating_point() and not torch.allclose(a[k], start[k])]
    assert moved, "the codebook did not move: the comparison would be vacuous"


def model_weights_at_init(config: Path) -> dict:
    import yaml

    from paperzoo.engine.config import build_config
    from paperzoo.engine.run import _prepare

    cfg = build_config(yaml.safe_load(config.read_text()))
    torch.manual_seed(cfg.seed)
    _, task = _prepare(cfg, None)
    return {f"model.{k}": v for k, v in task.model.state_dict().items()}


def train_one_and_two_processes(config: Path, tmp_path: Path) -> tuple[dict, dict]:
    """Train ``config`` as 1 process and as 2 gloo processes (replicas checked identical): the two
    runs' final state dicts (model, buffers, everything the checkpoint holds)."""
    from paperzoo.io.checkpoints import last_checkpoint, read_checkpoint

    single = run_process("train", config, "name=single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    done = train_with_rank_dumps(config, tmp_path / "ranks", "name=ddp", "trainer.devices=2", "trainer.strategy=ddp")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_ranks_identical(tmp_path / "ranks")
    return tuple(read_checkpoint(last_checkpoint(only_run_dir(tmp_path / "runs", name)))["state_dict"] for name in ("single", "ddp"))


def test_audioslots_two_processes_match_one_process(tmp_path):
    from paperzoo.data.fsdd2mix import build_fsdd2mix
    from paperzoo.data.synthetic import synthetic_fsdd

    fsdd = synthetic_fsdd(tmp_path / "fsdd", speakers=("anna", "bob", "carl"), digits=2, takes=(0, 5, 6, 45))
    mixtures = build_fsdd2mix(fsdd, tmp_path / "fsdd2mix", splits=("seen",), counts={"train": 16, "val": 2, "test": 2})
    config = write_config(tmp_path / "sep.yaml", tmp_path / "runs", task="separation", name="sep", trainer=TRAINER,
                          optim={"name": "adam", "lr": 1e-3},
                          model={"name": "audioslots_small", "options": {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 16,
                                 "decoder_hidden": 16, "decoder_layers": 2, "num_bands": 2, "widths": [4, 8, 8, 8]}},
                          data={"location": str(mixtures), "batch_size": 4, "limit_val": 2})
    a, b = train_one_and_two_processes(config, tmp_path)
    assert_same_weights(a, b, rtol=1e-4, atol=1e-5)


def test_bpr_two_processes_match_one_process(tmp_path):
    """BPR-MF with its negatives drawn for the global batch: 2 gloo processes end where 1 process does."""
    from paperzoo.data.synthetic import clustered_interactions

    target = clustered_interactions(tmp_path / "target.csv", [f"u{i}" for i in range(30)], [f"i{i}" for i in range(25)],
                                    n=300, seed=1)
    config = write_config(tmp_path / "rec.yaml", tmp_path / "runs", task="recommender", name="rec", trainer=TRAINER,
                          optim={"name": "adam", "lr": 0.01}, model={"name": "bpr_mf", "dim": 8},
                          data={"target": str(target), "k_core": 0, "batch_size": 32})
    a, b = train_one_and_two_processes(config, tmp_path)
    assert_same_weights(a, b, rtol=1e-4, atol=1e-5)
    start = model_weights_at_init(config)
    assert any(not torch.allclose(a[k], start[k]) for k in start if start[k].is_floating_point()), "nothing trained"


def test_pcrec_pretraining_two_processes_match_one_process(tmp_path):
    """GCC-style MoCo pre-training: views drawn for the global batch, keys enqueued in its order, batch
    norms synchronised: 2 processes end with the weights and the key queue of 1 (dropout off, whose
    masks are per process)."""
    from paperzoo.data.synthetic import clustered_interactions

    source = clustered_interactions(tmp_path / "source.csv", [f"u{i}" for i in range(30)], [f"i{i}" for i in range(25)],
                                    n=300, seed=0)
    config = write_config(tmp_path / "pre.yaml", tmp_path / "runs", task="graph_pretrain", name="pre", trainer=TRAINER,
                          # SGD: the GIN's linear biases feed batch norms, so their true gradient is 0 and Adam would
                          # turn float rounding (which differs between 1 and 2 processes) into full-size steps
                          optim={"name": "sgd", "lr": 0.5}, model={"hidden": 16, "out_dim": 8, "num_layers": 2, "dropout": 0.0},
                          data={"source": str(source), "batch_size": 8, "val_nodes": 16},
                          contrast={"mode": "moco", "queue_size": 32})
    a, b = train_one_and_two_processes(config, tmp_path)
    assert "moco.queue" in a and any(k.startswith("moco.key_encoder.") for k in a), sorted(a)[:10]
    assert_same_weights(a, b, rtol=1e-4, atol=1e-5)  # the encoder, the key encoder and the key queue
    start = model_weights_at_init(config)
    assert any(not torch.allclose(a[k], start[k]) for k in start if start[k].is_floating_point()), "nothing trained"
