"""``paperzoo train ARGS``, and every process (DDP rank) saves its task's full state dict at the end
of training to ``$PAPERZOO_TEST_RANK_DIR/rank{global_rank}.pt`` (tests/test_reliability_distributed.py).
Lightning's DDP launcher re-runs this script for the other ranks, so the hook is in all of them."""

import os
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch

import paperzoo.engine.run as run
from paperzoo.cli import main


class SaveRankState(pl.Callback):
    def on_train_end(self, trainer, pl_module):
        out = Path(os.environ["PAPERZOO_TEST_RANK_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, out / f"rank{trainer.global_rank}.pt")


_make_trainer = run.make_trainer


def make_trainer(*args, **kwargs):
    trainer = _make_trainer(*args, **kwargs)
    trainer.callbacks.append(SaveRankState())
    return trainer


run.make_trainer = make_trainer
sys.exit(main(sys.argv[1:]))
