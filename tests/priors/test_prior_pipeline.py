"""VQ-VAE -> extract-codes -> prior training -> sample: the whole prior pipeline through the CLI."""

import json

import numpy as np
import pytest

from conftest import only_run_dir, write_config


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    from paperzoo.cli import main

    tmp = tmp_path_factory.mktemp("vq")
    config = write_config(
        tmp / "vq.yaml", tmp / "runs", task="vqvae", name="vq",
        trainer={"max_steps": 40, "val_every": 40, "checkpoint_every": 40, "progress_bar": False},
        optim={"name": "adam", "lr": 2e-3},
        model={"name": "vqvae_tiny", "options": {"num_codes": 32, "kmeans_init": True}},
        data={"source": "shapes", "n_train": 256, "n_val": 32, "batch_size": 32},
    )
    assert main(["train", str(config)]) == 0
    return only_run_dir(tmp / "runs", "vq")


def test_extract_train_sample(cli, vq_run, tmp_path):
    codes = tmp_path / "codes"
    code, _, err = cli("extract-codes", "--model", vq_run, "-o", codes, "--data", "shapes", "--limit", "96")
    assert code == 0, err
    meta = json.loads((codes / "meta.json").read_text())
    train_codes = np.load(codes / "codes_train_l0.npy")
    assert train_codes.dtype == np.uint16 and train_codes.shape == (96, 8, 8) and meta["latent_shapes"] == [[8, 8]]
    assert train_codes.max() < meta["num_codes"] == 32 and meta["num_classes"] == 0
    assert 0 < meta["recon_mse"]["test"] < 0.2

    config = write_config(
        tmp_path / "prior.yaml", tmp_path / "runs", task="prior", name="prior",
        trainer={"max_steps": 30, "val_every": 15, "checkpoint_every": 30, "progress_bar": False},
        optim={"name": "adam", "lr": 3e-3},
        model={"name": "gated_pixelcnn", "channels": 16, "layers": 3},
        data={"codes_dir": str(codes), "batch_size": 16},
    )
    code, _, err = cli("train", config)
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "prior")
    import csv

    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r.get("val/bits_per_dim")]
    assert len(rows) == 2
    assert float(rows[1]["val/nll_bits_per_code"]) < 5.0  # below uniform log2(32) = 5 bits
    assert float(rows[1]["val/bits_per_dim"]) > 0

    out = tmp_path / "samples"
    code, _, err = cli("sample", "--model", run, "--n", "8", "-o", out, "--seed", "3")
    assert code == 0, err
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert np.load(out / "codes_l0.npy").shape == (8, 8, 8)
    # not class-conditional: --class is an error, nothing written
    code, _, err = cli("sample", "--model", run, "--class", "1", "-o", tmp_path / "x")
    assert code == 2 and "not class-conditional" in err and not (tmp_path / "x").exists()
    # PixelSNAIL through the same task and sampler (naive sampling)
    code, _, err = cli("train", config, "name=snail", "model.name=pixelsnail", "model.blocks=1", "model.heads=2",
                       "trainer.max_steps=10", "trainer.val_every=10", "trainer.checkpoint_every=10")
    assert code == 0, err
    snail = only_run_dir(tmp_path / "runs", "snail")
    code, _, err = cli("sample", "--model", snail, "--n", "2", "-o", tmp_path / "snail-samples")
    assert code == 0, err
    assert np.load(tmp_path / "snail-samples" / "codes_l0.npy").shape == (2, 8, 8)
    # the prior config without codes is a one-line error
    code, _, err = cli("train", config, "data.codes_dir=" + str(tmp_path / "none"))
    assert code == 2 and "extract-codes" in err


def test_vqvae2_top_and_bottom_priors(cli, tmp_path):
    from paperzoo.cli import main

    vq_cfg = write_config(
        tmp_path / "vq2.yaml", tmp_path / "runs", task="vqvae", name="vq2",
        trainer={"max_steps": 10, "val_every": 10, "checkpoint_every": 10, "progress_bar": False},
        model={"name": "vqvae2_cifar10_small", "options": {"hidden": 16, "res_hidden": 8, "num_codes": 16}},
        data={"source": "shapes", "n_train": 64, "n_val": 16, "batch_size": 16},
    )
    assert main(["train", str(vq_cfg)]) == 0
    vq_run = only_run_dir(tmp_path / "runs", "vq2")
    codes = tmp_path / "codes"
    assert cli("extract-codes", "--model", vq_run, "-o", codes, "--data", "shapes", "--limit", "32")[0] == 0
    meta = json.loads((codes / "meta.json").read_text())
    assert meta["levels"] == 2 and meta["latent_shapes"] == [[8, 8], [4, 4]]
    runs = {}
    for name, data in (("top", {"level": 1}), ("bottom", {"level": 0, "condition_level": 1})):
        cfg = write_config(
            tmp_path / f"{name}.yaml", tmp_path / "runs", task="prior", name=name,
            trainer={"max_steps": 5, "val_every": 5, "checkpoint_every": 5, "progress_bar": False},
            model={"name": "gated_pixelcnn", "channels": 8, "layers": 2},
            data={"codes_dir": str(codes), "batch_size": 8, **data},
        )
        code, _, err = cli("train", cfg)
        assert code == 0, err
        runs[name] = only_run_dir(tmp_path / "runs", name)
    out = tmp_path / "samples"
    code, _, err = cli("sample", "--model", runs["bottom"], "--model", runs["top"], "--n", "4", "-o", out)  # any order
    assert code == 0, err
    assert np.load(out / "codes_l1.npy").shape == (4, 4, 4) and np.load(out / "codes_l0.npy").shape == (4, 8, 8)
    code, _, err = cli("sample", "--model", runs["bottom"], "--n", "4", "-o", tmp_path / "half")
    assert code == 2 and "one prior per level" in err and not (tmp_path / "half").exists()


def test_prior_over_several_latents_per_position(cli, tmp_path):
    """A VQ-VAE with 2 latents per position: its (N, 2, 8, 8) codes train a prior (as 16 x 8 maps), samples come
    back as (n, 2, 8, 8) codes and decode to images, and ``nll`` scores the VQ-VAE's own codes."""
    import torch

    from paperzoo import load
    from paperzoo.cli import main
    from paperzoo.priors.layout import codes_as_map

    vq_cfg = write_config(
        tmp_path / "vq.yaml", tmp_path / "runs", task="vqvae", name="vqg2",
        trainer={"max_steps": 10, "val_every": 10, "checkpoint_every": 10, "progress_bar": False},
        model={"name": "vqvae_tiny", "options": {"num_codes": 16, "latents_per_position": 2}},
        data={"source": "shapes", "n_train": 64, "n_val": 16, "batch_size": 16},
    )
    assert main(["train", str(vq_cfg)]) == 0
    codes = tmp_path / "codes"
    assert cli("extract-codes", "--model", only_run_dir(tmp_path / "runs", "vqg2"), "-o", codes, "--data", "shapes",
               "--limit", "32")[0] == 0
    assert json.loads((codes / "meta.json").read_text())["latent_shapes"] == [[2, 8, 8]]
    cfg = write_config(
        tmp_path / "prior.yaml", tmp_path / "runs", task="prior", name="prior",
        trainer={"max_steps": 5, "val_every": 5, "checkpoint_every": 5, "progress_bar": False},
        model={"name": "gated_pixelcnn", "channels": 8, "layers": 2},
        data={"codes_dir": str(codes), "batch_size": 8},
    )
    code, _, err = cli("train", cfg)
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "prior")
    out = tmp_path / "samples"
    code, _, err = cli("sample", "--model", run, "--n", "3", "-o", out)
    assert code == 0, err
    assert np.load(out / "codes_l0.npy").shape == (3, 2, 8, 8) and (out / "samples.png").exists()

    prior = load(run)
    real = torch.from_numpy(np.load(codes / "codes_test_l0.npy").astype(np.int64))
    with torch.no_grad():
        assert prior.nll(real) == pytest.approx(float(prior.model.nll(codes_as_map(real))))
    with pytest.raises(Exception, match="shape"):
        prior.nll(real[:, 0])
    # a conditioned (VQ-VAE-2) prior over such codes is refused in one line
    code, _, err = cli("train", cfg, "name=cond", "data.condition_level=1")
    assert code == 2 and err.strip().count("\n") == 0

