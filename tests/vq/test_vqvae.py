"""VQ-VAE model shapes, the training task end to end, reconstruct, and the CIFAR-10 readers."""

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import paperzoo
from conftest import only_run_dir, write_config
from paperzoo.data.cifar10 import CLASSES, cache_dir, load_cifar10
from paperzoo.data.synthetic import shapes_images
from paperzoo.errors import DataError


def test_paper_shapes():
    x = torch.rand(2, 3, 32, 32) - 0.5
    sonnet = paperzoo.create_model("vqvae_sonnet_cifar10").eval()
    out = sonnet(x)
    assert out.reconstruction.shape == x.shape and out.vq.indices.shape == (2, 8, 8)
    paper = paperzoo.create_model("vqvae_paper_cifar10").eval()
    out = paper(x)
    assert out.vq.indices.shape == (2, 10, 8, 8)  # 8 x 8 x 10 discrete latents, K = 512 each
    assert paper.quantizer.num_codes == 512 and not paper.quantizer.ema
    assert sonnet.quantizer.ema and sonnet.quantizer.decay == 0.99 and sonnet.quantizer.beta == 0.25
    # encode -> decode_codes is exactly the forward pass in eval mode
    torch.testing.assert_close(paper.decode_codes(paper.encode(x)), out.reconstruction)
    with pytest.raises(paperzoo.PaperzooError):
        paperzoo.create_model("vqvae_tiny", no_such_argument=1)


def test_group_split_is_lossless():
    model = paperzoo.create_model("vqvae_tiny", latents_per_position=3)
    z = torch.randn(2, 3 * 32, 8, 8)
    split = model._split(z)
    assert split.shape == (2, 32, 3, 8, 8)
    torch.testing.assert_close(model._merge(split), z)
    torch.testing.assert_close(split[:, :, 1], z[:, 32:64])  # group g = channels g*D ... (g+1)*D


def vq_config(tmp_path, **trainer):
    return write_config(
        tmp_path / "vq.yaml", tmp_path / "runs", task="vqvae", name="vq",
        trainer={"max_steps": 120, "val_every": 40, "checkpoint_every": 60, "log_every": 10, "progress_bar": False, **trainer},
        optim={"name": "adam", "lr": 2e-3, "schedule": "constant"},
        model={"name": "vqvae_tiny", "options": {"kmeans_init": True, "restart_after": 20}},
        data={"source": "shapes", "n_train": 512, "n_val": 64, "batch_size": 32},
    )


def val_rows(run):
    import csv

    with open(run / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r.get("val/nmse")]


def test_train_evaluate_export_reconstruct(cli, tmp_path):
    config = vq_config(tmp_path)
    code, _, err = cli("train", config)
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "vq")
    rows = val_rows(run)
    assert len(rows) == 3
    assert float(rows[-1]["val/nmse"]) < float(rows[0]["val/nmse"])  # it learns
    assert float(rows[-1]["val/code_usage"]) > 0.5  # k-means init + restart keep codes alive
    for name in ("reconstructions.png", "code_usage.png", "metrics.png"):
        assert (run / "plots" / name).read_bytes()[:4] == b"\x89PNG"

    code, out, _ = cli("evaluate", "--model", run)
    assert code == 0
    metrics = json.loads(out)
    assert metrics["val/nmse"] == pytest.approx(float(rows[-1]["val/nmse"]), rel=1e-5)
    assert 0 < metrics["val/code_usage"] <= 1 and metrics["val/psnr"] > 10

    images = shapes_images(3, seed=7).numpy()
    paths = []
    for i, img in enumerate(images):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(img).save(paths[-1])
    exported = tmp_path / "exported"
    assert cli("export", "--model", run, "-o", exported)[0] == 0
    for model_dir in (run, exported):
        out_dir = tmp_path / f"recon-{model_dir.name}"
        code, _, err = cli("reconstruct", *paths, "--model", model_dir, "-o", out_dir)
        assert code == 0, err
        assert sorted(p.name for p in out_dir.iterdir()) == ["grid.png", "img0_reconstruction.png",
                                                            "img1_reconstruction.png", "img2_reconstruction.png"]
    a = np.asarray(Image.open(tmp_path / "recon-exported" / "img0_reconstruction.png"))
    b = np.asarray(Image.open(tmp_path / f"recon-{run.name}" / "img0_reconstruction.png"))
    np.testing.assert_array_equal(a, b)  # export and checkpoint give the same model
    assert np.abs(a.astype(int) - images[0]).mean() < 40  # and it resembles the input

    # bad inputs: one-line errors, nothing written
    Image.fromarray(images[0][:30, :30]).save(tmp_path / "odd.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    for bad in ("odd.png", "broken.png", "missing.png"):
        code, _, err = cli("reconstruct", paths[0], tmp_path / bad, "--model", exported, "-o", tmp_path / "nope")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "nope").exists()


def test_margin_model_is_not_a_vqvae(cli, tiny, tmp_path):
    config, runs = tiny
    assert cli("train", config)[0] == 0
    img = tmp_path / "x.png"
    Image.fromarray(shapes_images(1).numpy()[0]).save(img)
    code, _, err = cli("reconstruct", img, "--model", only_run_dir(runs), "-o", tmp_path / "o")
    assert code == 2 and "not a VQ-VAE" in err


def write_python_release(folder, n_train=4, n_test=3):
    """Tiny stand-in for cifar-10-batches-py: the same pickle structure, random pixels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    expected = {}
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f, protocol=2)
        expected[name] = (data, labels)
    return expected


def test_cifar10_python_release_and_cache(tmp_path):
    expected = write_python_release(tmp_path / "cifar-10-batches-py")
    images, labels = load_cifar10(tmp_path, "train")
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    data, lab = expected["data_batch_1"]
    np.testing.assert_array_equal(images[0], data[0].reshape(3, 32, 32).transpose(1, 2, 0))  # CHW -> HWC
    assert labels[:4].tolist() == lab
    assert len(list(cache_dir().glob("cifar10-train-*.npz"))) == 1
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()  # the cache no longer matches? train is cached
    again, _ = load_cifar10(tmp_path, "train")
    np.testing.assert_array_equal(again, images)


def test_cifar10_refuses_a_malicious_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_python_release(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match="refusing to unpickle builtins.print"):
        load_cifar10(tmp_path, "train", use_cache=False)


def test_cifar10_image_folders_use_standard_label_indices(tmp_path):
    for split in ("train", "test"):
        for name in ("truck", "cat"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(tmp_path / split / name / "0.png")
    images, labels = load_cifar10(tmp_path, "test")
    assert sorted(labels.tolist()) == sorted([CLASSES.index("cat"), CLASSES.index("truck")])
    with pytest.raises(DataError, match="split"):
        load_cifar10(tmp_path, "val")


@pytest.mark.parametrize("name,size,shapes", [
    ("vqvae2_cifar10_small", 32, [(8, 8), (4, 4)]),
    ("vqvae2_paper_256", 256, [(64, 64), (32, 32)]),
])
def test_vqvae2_two_level_shapes(name, size, shapes):
    model = paperzoo.create_model(name).eval()
    x = torch.rand(1, 3, size, size) - 0.5
    out = model(x)
    assert out.reconstruction.shape == x.shape
    assert [tuple(level.indices.shape[1:]) for level in out.levels] == shapes
    codes = model.encode(x)
    torch.testing.assert_close(model.decode_codes(codes), out.reconstruction)


def test_vqvae2_three_levels_and_gradients():
    ffhq = paperzoo.create_model("vqvae2_ffhq_1024")
    assert ffhq.levels == 3 and ffhq.bottom_factor == 8 and all(q.ema for q in ffhq.quantizers)
    small = paperzoo.create_model("vqvae2_ffhq_1024", hidden=16, res_hidden=8, code_dim=8, num_codes=16)
    x = torch.rand(2, 3, 64, 64) - 0.5  # /8 -> 8x8, then 4x4, 2x2 (1024 -> 128, 64, 32 in the paper)
    out = small.train()(x)
    assert [tuple(level.indices.shape[1:]) for level in out.levels] == [(8, 8), (4, 4), (2, 2)]
    ((out.reconstruction - x) ** 2).mean().add(out.vq_loss).backward()
    # every encoder gets gradient through the straight-through estimator; EMA codebooks get none
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in small.encoders[2].parameters())
    assert not any(q.codebook.requires_grad for q in small.quantizers)
    # the bottom level is conditioned on the levels above: its pre-quantisation input depends on
    # the top and middle encoder features (through their straight-through codes)
    feats = [f.detach().requires_grad_(True) for f in small._encode_features(x)]
    outs, _ = small._quantize_top_down(feats)
    outs[0].commitment_loss.backward()
    assert feats[1].grad.abs().sum() > 0 and feats[2].grad.abs().sum() > 0
    feats = [f.detach().requires_grad_(True) for f in small._encode_features(x)]
    outs, _ = small._quantize_top_down(feats)
    outs[2].commitment_loss.backward()  # but the top level does not look down
    assert feats[0].grad is None and feats[1].grad is None


def test_vqvae2_trains_with_the_vqvae_task(cli, tmp_path):
    config = write_config(
        tmp_path / "vq2.yaml", tmp_path / "runs", task="vqvae", name="vq2",
        trainer={"max_steps": 20, "val_every": 20, "checkpoint_every": 20, "progress_bar": False},
        model={"name": "vqvae2_cifar10_small", "options": {"hidden": 32, "res_hidden": 16}},
        data={"source": "shapes", "n_train": 128, "n_val": 32, "batch_size": 16},
    )
    code, _, err = cli("train", config)
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "vq2")
    row = val_rows(run)[-1]
    assert "val/code_usage_l1" in row and float(row["val/code_usage_l1"]) > 0
    assert (run / "plots" / "code_usage_l1.png").is_file()
    img = tmp_path / "a.png"
    Image.fromarray(shapes_images(1).numpy()[0]).save(img)
    assert cli("reconstruct", img, "--model", run, "-o", tmp_path / "r")[0] == 0


def test_vae_baseline_elbo_and_training(cli, tmp_path):
    vae = paperzoo.create_model("vae_tiny").train()
    x = torch.rand(4, 3, 32, 32) - 0.5
    out = vae(x)
    assert out.mu.shape == (4, 32, 8, 8) and out.reconstruction.shape == x.shape  # same latent grid as vqvae_tiny
    # KL of N(mu, sigma^2) vs N(0, 1), summed over latents, per pixel
    expected_kl = 0.5 * (out.mu**2 + out.logvar.exp() - 1 - out.logvar).sum() / x.numel()
    torch.testing.assert_close(out.kl, expected_kl)
    mse = ((out.reconstruction - x) ** 2).mean()
    torch.testing.assert_close(out.nll, 0.5 * (torch.log(2 * torch.pi * mse) + 1))  # ML decoder variance
    out.loss.backward()
    assert all(p.grad is not None for p in vae.decoder.parameters())
    config = write_config(
        tmp_path / "vae.yaml", tmp_path / "runs", task="vae", name="vae",
        trainer={"max_steps": 60, "val_every": 30, "checkpoint_every": 60, "progress_bar": False},
        optim={"name": "adam", "lr": 2e-3}, model={"name": "vae_tiny"},
        data={"source": "shapes", "n_train": 256, "n_val": 64, "batch_size": 32},
    )
    code, _, err = cli("train", config)
    assert code == 0, err
    rows = val_rows(only_run_dir(tmp_path / "runs", "vae"))
    assert float(rows[-1]["val/bits_per_dim"]) < float(rows[0]["val/bits_per_dim"])  # the bound improves
    assert 0 < float(rows[-1]["val/bits_per_dim"]) < 9
