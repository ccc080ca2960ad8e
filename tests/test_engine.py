"""Training engine: run directories, determinism, resume, DDP, NaN guard, export/load."""

import csv
import json

import pytest
import torch

import paperzoo
from conftest import only_run_dir, run_process, write_config
from paperzoo.io.bundle import export_run, reproducing_command
from paperzoo.io.checkpoints import last_checkpoint, read_checkpoint


def model_weights(run_dir):
    state = read_checkpoint(last_checkpoint(run_dir))["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


def assert_same_weights(a, b, **tol):
    assert a.keys() == b.keys()
    for key in a:
        if tol:
            torch.testing.assert_close(a[key], b[key], **tol)
        else:
            assert torch.equal(a[key], b[key]), key


def metrics_rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_run_directory_layout(cli, tiny):
    config, runs = tiny
    code, out, _ = cli("train", config, "model.loss=SmoothedL1HingeLoss", "model.loss_params.gamma=0.5")
    assert code == 0
    run = only_run_dir(runs)
    assert (run / "config.yaml").read_text().count("SmoothedL1HingeLoss") == 1
    assert "gamma: 0.5" in (run / "config.yaml").read_text()
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"step-0000010.ckpt", "step-0000020.ckpt", "last.ckpt"}
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "plots" / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    rows = metrics_rows(run)
    assert max(int(r["step"]) for r in rows) == 19
    val = [float(r["val/accuracy"]) for r in rows if r.get("val/accuracy")]
    assert len(val) == 2 and val[-1] > 0.7  # blobs with separation 2: Bayes accuracy 0.84
    assert not list(run.rglob("*.tmp"))


def test_same_seed_same_result_and_other_seed_differs(cli, tiny):
    config, runs = tiny
    for seed in (0, 0, 1):
        assert cli("train", config, f"seed={seed}")[0] == 0
    a, b, c = sorted((runs / "tiny").iterdir())
    assert_same_weights(model_weights(a), model_weights(b))
    assert [r["val/accuracy"] for r in metrics_rows(a)] == [r["val/accuracy"] for r in metrics_rows(b)]
    assert not torch.equal(model_weights(a)["model.linear.weight"], model_weights(c)["model.linear.weight"])


@pytest.mark.parametrize("stop_at", [10, 7])  # at a checkpoint step, and between two of them
def test_resume_reaches_the_same_weights(cli, tmp_path, stop_at):
    straight = write_config(tmp_path / "a.yaml", tmp_path / "a")
    assert cli("train", straight)[0] == 0
    interrupted = write_config(tmp_path / "b.yaml", tmp_path / "b")
    assert cli("train", interrupted, f"trainer.stop_at_step={stop_at}")[0] == 0
    run_b = only_run_dir(tmp_path / "b")
    assert read_checkpoint(last_checkpoint(run_b))["global_step"] == stop_at
    code, out, _ = cli("train", interrupted, "--resume")  # newest run of the config
    assert code == 0 and str(run_b) in out
    assert read_checkpoint(last_checkpoint(run_b))["global_step"] == 20
    assert_same_weights(model_weights(only_run_dir(tmp_path / "a")), model_weights(run_b))
    # optimizer state too: Adam's moments match
    opt_a = read_checkpoint(last_checkpoint(only_run_dir(tmp_path / "a")))["optimizer_states"][0]["state"]
    opt_b = read_checkpoint(last_checkpoint(run_b))["optimizer_states"][0]["state"]
    for k in opt_a:
        torch.testing.assert_close(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"], rtol=0, atol=0)
    steps = [int(r["step"]) for r in metrics_rows(run_b)]
    assert min(steps) < stop_at and max(steps) == 19  # metrics of both segments are kept


def test_resume_by_run_directory_with_more_steps(cli, tiny):
    config, runs = tiny
    assert cli("train", config)[0] == 0
    run = only_run_dir(runs)
    assert cli("train", "--resume", run, "trainer.max_steps=30")[0] == 0
    assert read_checkpoint(last_checkpoint(run))["global_step"] == 30
    assert "max_steps: 30" in (run / "config.yaml").read_text()


def test_init_from_starts_a_new_run_from_another_runs_weights(cli, tiny, tmp_path):
    config, runs = tiny
    assert cli("train", config, "seed=0")[0] == 0
    source = only_run_dir(runs)
    tuned = write_config(tmp_path / "tuned.yaml", tmp_path / "tuned", seed=1)
    # one step at a vanishing learning rate: the weights are still the source's, not seed 1's initialisation
    assert cli("train", tuned, f"trainer.init_from={source}", "trainer.max_steps=1", "optim.lr=1e-12")[0] == 0
    fresh = write_config(tmp_path / "fresh.yaml", tmp_path / "fresh", seed=1)
    assert cli("train", fresh, "trainer.max_steps=1", "optim.lr=1e-12")[0] == 0
    start, source_weights = model_weights(only_run_dir(tmp_path / "tuned")), model_weights(source)
    assert_same_weights(start, source_weights, rtol=0, atol=1e-8)
    assert not torch.allclose(model_weights(only_run_dir(tmp_path / "fresh"))["model.linear.weight"],
                              source_weights["model.linear.weight"], atol=1e-3)
    assert ckpt_step(only_run_dir(tmp_path / "tuned")) == 1  # a new run: its own step count and schedule


def test_init_from_refuses_weights_of_another_shape_in_one_line(cli, tiny, tmp_path):
    config, runs = tiny
    assert cli("train", config)[0] == 0
    other = write_config(tmp_path / "other.yaml", tmp_path / "other", data={"dim": 7})
    code, _, err = cli("train", other, f"trainer.init_from={only_run_dir(runs)}")
    assert code == 2 and "trainer.init_from" in err and "do not fit this model" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("train", other, f"trainer.init_from={tmp_path / 'missing'}")
    assert code == 2 and "trainer.init_from" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()  # refused before a run directory was made


def test_nan_guard_keeps_the_last_good_checkpoint(cli, tiny):
    config, runs = tiny
    code, _, err = cli("train", config, "model.loss=ExpLoss", "optim.name=sgd", "optim.lr=1e6",
                       "optim.schedule=constant", "trainer.checkpoint_every=1", "data.standardize=false")
    assert code == 2 and "NaN/Inf" in err and "last good checkpoint kept" in err
    assert len(err.strip().splitlines()) == 1
    run = only_run_dir(runs)
    ckpt = read_checkpoint(last_checkpoint(run))
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert 1 <= ckpt["global_step"] < 20


def ckpt_step(run):
    return read_checkpoint(last_checkpoint(run))["global_step"]


def test_a_cards_command_leaves_out_where_the_run_was_written():
    command = "paperzoo train vq/x out_dir=/tmp/bench_x name=pre0 trainer.progress_bar=false 'data.source=a b' trainer.max_steps=5"
    assert reproducing_command(command) == "paperzoo train vq/x 'data.source=a b' trainer.max_steps=5"


def test_export_and_load_round_trip(cli, tiny, tmp_path):
    config, runs = tiny
    assert cli("train", config)[0] == 0
    run = only_run_dir(runs)
    out = tmp_path / "exported"
    code, _, _ = cli("export", "--model", run, "-o", out)
    assert code == 0 and {p.name for p in out.iterdir()} == {"model.safetensors", "card.json"}
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.iterdir())  # readable by others, like every file we write
    card = json.loads((out / "card.json").read_text())
    assert card["architecture"] == "margin_linear" and card["task"] == "margin_classifier" and card["family"] == "losses"
    assert card["training"]["steps"] == ckpt_step(run) and card["training"]["command"].startswith("paperzoo train ")
    assert "val/accuracy" in card["metrics"] and card["versions"]["torch"] == str(torch.__version__)
    assert len(card["files"]["model.safetensors"]["sha256"]) == 64
    model = paperzoo.load(out).model
    reference = paperzoo.create_model("margin_linear", in_features=5)
    reference.load_state_dict({k.removeprefix("model."): v for k, v in model_weights(run).items()})
    x = torch.randn(64, 5)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    # exporting again replaces the folder atomically
    export_run(run, out)
    assert not list(tmp_path.glob(".exported*"))


def test_evaluate_writes_metrics(cli, tiny):
    config, runs = tiny
    assert cli("train", config)[0] == 0
    run = only_run_dir(runs)
    code, out, _ = cli("evaluate", "--model", run)
    assert code == 0 and "val/accuracy" in out
    last_logged = [float(r["val/accuracy"]) for r in metrics_rows(run) if r.get("val/accuracy")][-1]
    import json

    assert json.loads((run / "eval.json").read_text())["metrics"]["val/accuracy"] == pytest.approx(last_logged)


def test_best_checkpoint_is_the_validation_best_and_evaluates_to_it(cli, tiny):
    config, runs = tiny
    # "best" = the highest validation risk, so that it is not the last checkpoint (the risk falls)
    assert cli("train", config, "trainer.val_every=2", "trainer.keep_best=val/risk", "trainer.best_mode=max")[0] == 0
    run = only_run_dir(runs)
    logged = {int(r["step"]) + 1: float(r["val/risk"]) for r in metrics_rows(run) if r.get("val/risk")}
    best_step = max(logged, key=logged.get)
    assert len(logged) == 10 and best_step < max(logged)
    best = read_checkpoint(last_checkpoint(run, "best"))
    assert best["global_step"] == best_step
    code, out, _ = cli("evaluate", "--model", run, "--best")
    assert code == 0 and json.loads(out)["val/risk"] == pytest.approx(logged[best_step])


def test_best_checkpoint_errors_are_one_line(cli, tiny):
    config, runs = tiny
    code, _, err = cli("train", config, "trainer.keep_best=val/nonsense")
    assert code == 2 and "val/nonsense" in err and "Traceback" not in err
    assert not list(runs.rglob("best.ckpt"))
    assert cli("train", config)[0] == 0
    code, _, err = cli("evaluate", "--model", sorted(runs.glob("*/*"))[-1], "--best")
    assert code == 2 and "keep_best" in err and "Traceback" not in err


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    """gloo DDP on CPU with the same global batch: each process gets half, gradients are averaged."""
    config = write_config(tmp_path / "c.yaml", tmp_path / "runs", trainer={"max_steps": 12, "val_every": 6, "checkpoint_every": 6})
    single = run_process("train", config, "name=single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = run_process("train", config, "name=ddp", "trainer.devices=2", "trainer.strategy=ddp", cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    a, b = only_run_dir(tmp_path / "runs", "single"), only_run_dir(tmp_path / "runs", "ddp")
    assert read_checkpoint(last_checkpoint(b))["paperzoo"]["world_size"] == 2
    assert_same_weights(model_weights(a), model_weights(b), rtol=1e-5, atol=1e-6)
    # and both learned something: not a vacuous comparison
    for run in (a, b):
        assert [float(r["val/accuracy"]) for r in metrics_rows(run) if r.get("val/accuracy")][-1] > 0.7


def test_global_batchnorm_conversion_keeps_parameters_buffers_and_frozen_flags():
    """``convert_batchnorm`` (DDP's global-batch BN) swaps the class only: same weights and running
    statistics, and a frozen BN (a momentum key encoder's) stays frozen, since DDP rejects trainable
    parameters that get no gradient."""
    from torch import nn

    from paperzoo.engine.batchnorm import GlobalBatchNorm, convert_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 3, 1), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm1d(3)))
    net[1].weight.data.uniform_()
    net[1].running_mean.uniform_()
    net[2][0].requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    convert_batchnorm(net)
    assert isinstance(net[1], GlobalBatchNorm) and isinstance(net[2][0], GlobalBatchNorm)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert net[1].weight.requires_grad and not net[2][0].weight.requires_grad and not net[2][0].bias.requires_grad
