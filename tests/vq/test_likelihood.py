"""The discretised logistic likelihood of 0..255 pixels (``paperzoo.metrics.image``) and the VQ-VAE / VAE
decoders trained with it per pixel (``likelihood="logistic"``)."""

from __future__ import annotations

import math

import pytest
import torch

from paperzoo.metrics.image import discretized_logistic_bits, discretized_logistic_nll, fit_logistic_log_scale, gaussian_bits_per_dim
from paperzoo.vq.vae import vae_tiny
from paperzoo.vq.vqvae import logistic_nll, vqvae_tiny


def test_the_256_bins_hold_all_the_probability():
    means = torch.tensor([0.3, 100.7, 254.9, -20.0, 300.0])
    bins = torch.arange(256).view(-1, 1).expand(256, len(means))
    for log_scale in (-2.0, 0.0, 3.0):
        total = (2.0 ** -discretized_logistic_bits(bins, means.expand(256, -1), log_scale)).sum(0)
        torch.testing.assert_close(total, torch.ones(len(means), dtype=torch.float64))


def test_a_middle_bin_matches_the_logistic_cdf_difference():
    x, m, s = torch.tensor([37]), torch.tensor([40.2], dtype=torch.float64), 1.7
    want = -math.log2(1 / (1 + math.exp(-(37.5 - 40.2) / s)) - 1 / (1 + math.exp(-(36.5 - 40.2) / s)))
    assert abs(float(discretized_logistic_bits(x, m, math.log(s))) - want) < 1e-9


def test_fitted_scale_recovers_logistic_noise_and_beats_the_gaussian_density_on_heavy_tails():
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(20, 236, (200_000,), generator=g).double()
    u = torch.rand(200_000, generator=g, dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    noisy = (clean + 4.0 * torch.log(u / (1 - u))).round().clamp(0, 255)  # logistic noise, scale 4
    log_scale = fit_logistic_log_scale(noisy, clean)
    assert abs(math.exp(log_scale) - 4.0) < 0.1
    mse01 = float(((noisy - clean) / 255).pow(2).mean())
    assert float(discretized_logistic_bits(noisy, clean, log_scale).mean()) < gaussian_bits_per_dim(mse01)


def test_per_pixel_scales_give_each_pixel_its_own_logistic_and_the_loss_is_differentiable():
    x = torch.tensor([[10.0, 200.0, 0.0, 255.0]])
    mean = torch.tensor([[12.0, 190.0, 3.0, 250.0]], requires_grad=True)
    log_scale = torch.tensor([[0.0, 2.0, 1.0, -1.0]], requires_grad=True)
    nll = discretized_logistic_nll(x, mean, log_scale)
    for i in range(4):  # equal to the one-scale formula pixel by pixel
        one = discretized_logistic_bits(x[:, i], mean[:, i].detach(), log_scale[0, i].item()) * math.log(2)
        torch.testing.assert_close(nll[:, i].double(), one, rtol=1e-5, atol=1e-6)
    nll.sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all() and (log_scale.grad != 0).all()


def test_logistic_decoders_predict_a_mean_and_a_scale_and_train_on_the_pixels_likelihood():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16)).float() / 255 - 0.5  # the models' 8-bit pixel scale
    for model in (vqvae_tiny(likelihood="logistic"), vae_tiny(likelihood="logistic")):
        out = model(images)
        assert out.reconstruction.shape == images.shape and out.log_scale.shape == images.shape
        assert out.log_scale.min().item() >= math.log(0.1) - 1e-6
        nll = logistic_nll(images, out.reconstruction, out.log_scale)
        assert 0 < nll.item() < 10  # finite at init: a scale of ~16 grey levels, not a degenerate one
        optim = torch.optim.Adam(model.parameters(), 3e-3)
        first = None
        for _ in range(30):
            out = model(images)
            loss = logistic_nll(images, out.reconstruction, out.log_scale)
            first = loss.item() if first is None else first
            optim.zero_grad()
            loss.backward()
            optim.step()
        assert loss.item() < first - 0.1
    vq = vqvae_tiny(likelihood="logistic").eval()
    codes = vq.encode(images)
    assert vq.decode_codes(codes).shape == images.shape  # inference sees the mean only
    mean, log_scale = vq.decode_distribution(codes)
    assert log_scale.shape == images.shape


def test_a_logistic_vae_reports_bits_of_the_8_bit_values_without_the_density_offset():
    model = vae_tiny(likelihood="logistic").eval()
    out = model(torch.randint(0, 256, (2, 3, 16, 16)).float() / 255 - 0.5)
    assert abs(out.bits_per_dim() - out.loss.item() / math.log(2)) < 1e-9


def test_an_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood must be one of mse, logistic"):
        vqvae_tiny(likelihood="laplace")


def test_the_vqvae_and_vae_tasks_train_a_logistic_decoder_and_report_its_bits(tmp_path):
    import csv

    import paperzoo
    from conftest import train_tiny

    data = {"source": "shapes", "n_train": 32, "n_val": 16, "batch_size": 16}
    for task, name in (("vqvae", "vqvae_tiny"), ("vae", "vae_tiny")):
        # the configs' Adam 3e-4: at 1e-3 the first step makes the VAE's KL explode, with either likelihood
        run = train_tiny(tmp_path, task, task=task, model={"name": name, "options": {"likelihood": "logistic"}}, data=data,
                         optim={"name": "adam", "lr": 3e-4})
        rows = list(csv.DictReader((run / "metrics.csv").open()))
        key = "val/decoder_bits_per_dim" if task == "vqvae" else "val/bits_per_dim"
        bits = [float(r[key]) for r in rows if r.get(key)]
        assert bits and all(0 < b < 12 for b in bits)  # bits of 8-bit values, no density offset: about 8 at init
        if task == "vqvae":
            images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
            assert paperzoo.load(run).reconstruct(images).shape == (2, 3, 32, 32)  # inference reads the mean
