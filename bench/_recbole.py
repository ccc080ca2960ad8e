"""RecBole's BPR and LightGCN on exactly our split, for the PCRec bench's parity rows.

RecBole (PyPI ``recbole`` 1.2.1) is a bench extra installed beside the venv (``make`` target
``.venv/.installed-recbole``, on PYTHONPATH only for this bench). Our split's train / valid / test
interactions are written as RecBole benchmark files, so both libraries see the same interactions;
RecBole ranks all items, masking training items for validation and training + validation items
for test, as ours does. RecBole trains with its own trainer: an epoch is one pass over the
training interactions, validation NDCG@20 after each epoch, early stopping after ``patience``
epochs without improvement, and the validation-best weights scored on test.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from paperzoo.data.interactions import Split

MODELS = ("BPR", "LightGCN")  # RecBole model names, as ours are labelled in the bench


def available() -> bool:
    try:
        import recbole  # noqa: F401
    except ImportError:
        return False
    return True


def write_benchmark_files(split: Split, folder: Path, name: str) -> None:
    """``folder/name/name.{train,valid,test}.inter``: user and item tokens of each part."""
    folder = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("train", "valid", "test"):
        users, items = split.pairs(part)
        lines = ["user_id:token\titem_id:token"] + [f"u{u}\ti{i}" for u, i in zip(users.tolist(), items.tolist())]
        (folder / f"{name}.{part}.inter").write_text("\n".join(lines) + "\n")


def run_recbole(split: Split, model: str, workdir: Path, *, seed: int = 0, epochs: int = 300, patience: int = 10,
                dim: int = 64, lr: float = 1e-3, batch: int = 2048, extra: dict | None = None) -> dict:
    """Test metrics (recall@10/20, ndcg@10/20) of RecBole ``model`` at its validation-best epoch, with that
    epoch's validation NDCG@20, ``best_epoch`` (1-based), ``epochs_run`` and ``seconds``."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    # RecBole 1.2.1 predates NumPy 2 and SciPy 1.11: its Config aliases removed NumPy names (np.float_, ...)
    # and its LightGCN fills the adjacency through dok_matrix._update; give it both (bench only)
    for old, new in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if not hasattr(np, old):
            setattr(np, old, new)
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = lambda self, entries: self._dict.update(entries)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    name = "paperzoo_split"
    write_benchmark_files(split, workdir, name)
    params = {
        "data_path": str(workdir), "benchmark_filename": ["train", "valid", "test"], "load_col": {"inter": ["user_id", "item_id"]},
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "seed": seed, "reproducibility": True, "device": "cpu",
        "use_gpu": False, "embedding_size": dim, "learning_rate": lr, "train_batch_size": batch, "epochs": epochs,
        "stopping_step": patience, "eval_step": 1, "metrics": ["Recall", "NDCG"], "topk": [10, 20], "valid_metric": "NDCG@20",
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "show_progress": False,
        "checkpoint_dir": str(workdir / "saved"), "log_wandb": False, "state": "ERROR", **(extra or {}),
    }
    threads = torch.get_num_threads()
    if model not in MODELS:
        raise ValueError(f"RecBole model must be one of {MODELS}, got {model!r}")
    config = Config(model=model, dataset=name, config_dict=params)
    torch.set_num_threads(threads)  # RecBole's init may change it; keep the bench's setting
    logging.getLogger().setLevel(logging.ERROR)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    start = time.perf_counter()
    with contextlib.chdir(workdir):  # RecBole's trainer writes ./log_tensorboard wherever it runs
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    # the validation-best weights RecBole just saved (its own loader trips on torch's weights_only default)
    best = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    net.load_state_dict(best["state_dict"])
    net.load_other_parameter(best.get("other_parameter"))
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    return {"recall@10": float(result["recall@10"]), "recall@20": float(result["recall@20"]),
            "ndcg@10": float(result["ndcg@10"]), "ndcg@20": float(result["ndcg@20"]),
            "valid_ndcg@20": float(trainer.best_valid_score), "epochs_run": len(trainer.train_loss_dict),
            "best_epoch": len(trainer.train_loss_dict) - trainer.cur_step, "seconds": time.perf_counter() - start}
