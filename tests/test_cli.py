"""The `paperzoo` command: user errors are one line and exit 2, leave nothing behind; help has examples."""

import pytest

from conftest import run_process, write_config


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_override_key(cli, tiny):
    config, runs = tiny
    code, _, err = cli("train", config, "trainer.max_stepz=5")
    assert_one_line_error(code, err, "unknown config key 'trainer.max_stepz'")
    assert not runs.exists()


def test_unknown_key_in_the_yaml_file(cli, tmp_path):
    config = write_config(tmp_path / "c.yaml", tmp_path / "runs", model={"loss": "L1HingeLoss", "hinge_width": 2})
    code, _, err = cli("train", config)
    assert_one_line_error(code, err, "unknown config key 'model.hinge_width'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("override,key", [("trainer.max_steps=abc", "trainer.max_steps"),
                                          ("optim.lr=fast", "optim.lr"),
                                          ("data.standardize=maybe", "data.standardize")])
def test_bad_override_type(cli, tiny, override, key):
    config, runs = tiny
    code, _, err = cli("train", config, override)
    assert_one_line_error(code, err, f"'{key}'")
    assert not runs.exists()


@pytest.mark.parametrize("overrides,needle", [
    (["trainer.max_steps"], "not of the form"),
    (["trainer.max_steps=0"], "max_steps must be > 0"),
    (["model.loss=HingeLoss9"], "unknown margin loss"),
    (["model.loss=SmoothedL1HingeLoss", "model.loss_params.gamma=-1"], "gamma must be"),
    (["model.loss_params.gamma=1"], "LogitMarginLoss takes no parameters"),
    (["task=nonsense"], "unknown task"),
    (["data.batch_size=100000"], "larger than the training set"),
])
def test_bad_values(cli, tiny, overrides, needle):
    config, runs = tiny
    code, _, err = cli("train", config, *overrides)
    assert_one_line_error(code, err, needle)
    assert not runs.exists()


def test_missing_dataset(cli, tiny, tmp_path):
    config, runs = tiny
    empty = tmp_path / "no-data-here"
    code, _, err = cli("train", config, "data.source=cifar10", "--data-dir", empty)
    assert_one_line_error(code, err, "dataset 'cifar10' not found", str(empty), "paperzoo data import cifar10")
    assert not runs.exists()


def test_missing_dataset_names_the_environment_variable(cli, tiny, tmp_path, monkeypatch):
    config, runs = tiny
    monkeypatch.setenv("PAPERZOO_DATA", str(tmp_path / "elsewhere"))
    code, _, err = cli("train", config, "data.source=cifar10")
    assert_one_line_error(code, err, "$PAPERZOO_DATA", str(tmp_path / "elsewhere"))


def test_missing_config_file(cli, tmp_path):
    code, _, err = cli("train", tmp_path / "nope.yaml")
    assert_one_line_error(code, err, "config file not found")


def test_invalid_yaml(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: margin_classifier\n  name: [unclosed\n")
    code, _, err = cli("train", bad)
    assert_one_line_error(code, err, "not valid YAML")


def test_not_a_run_directory(cli, tmp_path):
    for args in (("evaluate", "--model", tmp_path), ("export", "--model", tmp_path, "-o", tmp_path / "out"), ("train", "--resume", tmp_path)):
        code, _, err = cli(*args)
        assert_one_line_error(code, err)
    assert not (tmp_path / "out").exists()


def test_usage_errors_are_one_line(tmp_path):
    result = run_process("train", "--no-such-flag", cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stderr, "unrecognized arguments")
    result = run_process("frobnicate", cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stderr, "invalid choice")


def test_real_process_exit_status_and_no_traceback(tiny):
    config, runs = tiny
    result = run_process("train", config, "trainer.foo=1")
    assert_one_line_error(result.returncode, result.stderr, "unknown config key 'trainer.foo'")
    assert not runs.exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "export", "data", "losses", "reconstruct", "demo", "list", "predict", "video"])
def test_help_everywhere(cli, command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(command, "--help")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: paperzoo" in out
    if command != "list":
        assert "example" in out


def test_list_shows_models_and_configs(cli):
    code, out, _ = cli("list")
    assert code == 0
    assert "margin_linear" in out and "losses/margin_blobs" in out and "losses/margin_cifar10" in out
    assert "vqvae_sonnet_cifar10" in out and "vq/vqvae_paper_cifar10" in out


def _model_of(cfg):
    """The model a bundled config trains, built the way its task builds it (data facts made up)."""
    from paperzoo.registry import create_model

    m = cfg.model
    if cfg.task == "video":
        return create_model(m.name, num_classes=10, **m.options)
    if cfg.task == "separation":
        return create_model(m.name, num_slots=1 if m.variant == "autoencoder" else m.num_slots, slot_module=m.slot_module, **m.options)
    if cfg.task in ("vqvae", "vae"):
        return create_model(m.name, **m.options)
    if cfg.task == "vqvae_audio":
        return create_model(m.name, speakers=6, **m.options)
    if cfg.task == "classifier":
        return create_model(m.name, num_classes=10, width=m.width)
    if cfg.task == "recommender":
        extra = {"num_layers": m.num_layers} if m.name == "lightgcn" else {}
        return create_model(m.name, num_users=50, num_items=40, dim=m.dim, init_std=m.init_std, **extra)
    if cfg.task == "prior":
        common = dict(num_codes=512, channels=m.channels, kernel=m.kernel, num_classes=10 if m.class_conditional else None,
                      cond_channels=512 if cfg.data.condition_level is not None else None)
        if m.name == "gated_pixelcnn":
            return create_model(m.name, layers=m.layers, **common)
        return create_model(m.name, blocks=m.blocks, res_per_block=m.res_per_block, heads=m.heads, dropout=m.dropout, **common)
    if cfg.task == "margin_classifier":
        return create_model("margin_linear", in_features=cfg.data.dim)
    return None  # graph_pretrain: its encoder's arguments are spread over the model section


def test_bundled_configs_are_valid_and_build_their_models():
    import torch

    from paperzoo.engine.config import bundled_configs, load_config

    built = 0
    for name in bundled_configs():
        cfg = load_config(name)
        assert cfg.name and cfg.trainer.max_steps > 0
        with torch.device("meta"):  # shapes only: paper-size models cost nothing
            model = _model_of(cfg)
        if model is not None:
            assert sum(p.numel() for p in model.parameters()) > 0, name
            built += 1
    assert built >= len(bundled_configs()) - 2


def test_losses_plot(cli, tmp_path):
    out = tmp_path / "plot.png"
    code, stdout, _ = cli("losses", "plot", "-o", out, "--min", "-3", "--max", "3")
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = cli("losses", "plot", "-o", tmp_path / "x.png", "--min", "2", "--max", "1")
    assert_one_line_error(code, err, "--min")
    assert not (tmp_path / "x.png").exists()


# --- one CLI convention, discovery, progress without a terminal ---------------------------------------------

INFERENCE_VERBS = ["separate", "predict", "reconstruct", "sample", "convert-speaker", "recommend", "extract-codes", "evaluate",
                   "export"]


@pytest.mark.parametrize("verb", INFERENCE_VERBS)
def test_every_model_verb_takes_model_and_no_old_spelling(verb):
    from paperzoo.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[verb]
    options = {o for a in sub._actions for o in a.option_strings}
    assert "--model" in options
    assert not options & {"--checkpoint", "--out-dir"}
    writes = verb not in ("predict", "recommend", "evaluate")
    assert ({"-o", "--out"} <= options) == writes


def test_list_models_patterns_and_families(cli):
    import paperzoo

    names = [m.name for m in paperzoo.list_models("*r3d*")]
    assert names == ["r3d_18", "r3d_34"]
    assert {m.family for m in paperzoo.list_models(family="separation")} == {"separation"}
    code, out, err = cli("list", "--family", "nope")
    assert_one_line_error(code, err, "unknown family 'nope'", "separation", "video")
    assert out == ""
    # family names are one set everywhere: every bundled config folder is a model family
    from paperzoo.engine.config import bundled_configs
    from paperzoo.registry import families

    assert {c.split("/")[0] for c in bundled_configs()} <= set(families())


def test_training_without_a_terminal_prints_progress_lines_and_a_summary(cli, tmp_path):
    config = write_config(tmp_path / "c.yaml", tmp_path / "runs",
                          trainer={"max_steps": 30, "val_every": 100, "checkpoint_every": 30, "progress_every": 10})
    code, out, err = cli("train", config)
    assert code == 0, err
    lines = out.splitlines()
    assert any("val_every=100 exceeds the 30 steps" in line for line in lines)
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == ["10/30", "20/30", "30/30"]
    assert all("train/loss" in line and "samples/s" in line and "ETA" in line for line in progress)
    summary = next(line for line in lines if line.startswith("finished step 30/30"))
    assert "val/accuracy" in summary  # validation ran at the last step although val_every > max_steps
    run = next((tmp_path / "runs" / "tiny").iterdir())
    import json

    timing = json.loads((run / "timing.json").read_text())
    assert timing["steps"] == 30 and timing["wall_seconds"] > 0
    assert (run / "command.txt").read_text().startswith("paperzoo train ")


def test_output_into_a_closed_pipe_ends_quietly():
    """``paperzoo ... | head`` : the reader has gone; no BrokenPipe traceback or 'Exception ignored' line."""
    import subprocess
    import sys

    code = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); from paperzoo.cli import main; "
            "sys.exit(main(['list']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
