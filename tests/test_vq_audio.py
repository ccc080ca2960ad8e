"""Raw-audio VQ-VAE building blocks: WaveNet causality, fast generation = naive generation, mu-law,
the encoder's 64x compression, and speaker-conditioned decoding."""

from __future__ import annotations

import pytest
import torch

from paperzoo.registry import create_model
from paperzoo.vq.audio import pad_to_hop
from paperzoo.vq.wavenet import WaveNet, mu_law_decode, mu_law_encode

TINY = dict(hidden=16, residual=8, skip=16, layers=4, cycles=2, num_codes=32, dim=8)


def test_wavenet_is_causal_and_its_receptive_field_is_as_stated():
    torch.manual_seed(0)
    net = WaveNet(classes=16, residual=8, skip=8, layers=3, cycles=2)
    assert net.receptive_field == 2 * (1 + 2 + 4) + 1
    x = torch.randint(0, 16, (1, 40))
    emb = net.embed.weight
    # gradient of the logits at step t with respect to the embedded inputs: nothing from x_t onwards
    inputs = net.embed(torch.cat([torch.full((1, 1), net.start), x[:, :-1]], 1)).detach().requires_grad_(True)
    h, skips = inputs.transpose(1, 2), 0.0
    for layer in net.layers:
        h, s = layer(h, 0.0)
        skips = skips + s
    logits = net.out(skips)
    t = 25
    logits[0, :, t].sum().backward()
    reach = inputs.grad[0].abs().sum(1)  # input position p holds x_{p-1}
    assert reach[t + 1 :].sum() == 0  # x_t and later do not influence the prediction of x_t
    assert reach[t] > 0 and reach[t - net.receptive_field + 1] > 0 and reach[: t - net.receptive_field + 1].sum() == 0
    assert emb.shape == (16, 8)


def test_teacher_forcing_matches_the_last_column_of_a_prefix():
    torch.manual_seed(0)
    net = WaveNet(classes=16, residual=8, skip=8, layers=3, cycles=1, local_channels=4, global_classes=2).eval()
    x, c, g = torch.randint(0, 16, (2, 30)), torch.randn(2, 4, 30), torch.tensor([0, 1])
    full = net(x, c, g)
    torch.testing.assert_close(net(x[:, :17], c, g)[..., 16], full[..., 16])
    with pytest.raises(ValueError, match="global conditioning"):
        net(x, c)


@pytest.mark.parametrize("local, speakers", [(0, 0), (4, 0), (0, 3), (4, 3)])
def test_fast_generation_equals_naive_generation_for_the_same_seed(local, speakers):
    torch.manual_seed(1)
    net = WaveNet(classes=16, residual=8, skip=8, layers=4, cycles=2, local_channels=local, global_classes=speakers).eval()
    c = torch.randn(3, local, 50) if local else None
    g = torch.tensor([0, 2, 1]) if speakers else None
    fast = net.generate(50, c, g, batch=3, generator=torch.Generator().manual_seed(7))
    naive = net.generate_naive(50, c, g, batch=3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(fast, naive, rtol=0, atol=0)
    assert len(set(fast.flatten().tolist())) > 3  # really sampled, not a constant


def test_mu_law_round_trip_and_silence():
    wave = torch.linspace(-1, 1, 1001)
    back = mu_law_decode(mu_law_encode(wave))
    assert (back - wave).abs().max() < 0.04  # 8-bit mu-law: coarse at the extremes, fine near zero
    small = torch.linspace(-0.01, 0.01, 101)
    assert (mu_law_decode(mu_law_encode(small)) - small).abs().max() < 5e-4
    assert mu_law_encode(torch.zeros(1)).item() in (127, 128)


def test_encoder_compresses_time_64x_and_the_loss_trains_all_parts():
    model = create_model("vqvae_audio", speakers=3, **TINY)
    wave, speaker = torch.rand(2, 1024) * 0.2 - 0.1, torch.tensor([0, 2])
    assert model.encode(wave).shape == (2, 16)  # 1024 / 64 latents, each one of K codes
    logits, vq = model(wave, speaker)
    assert logits.shape == (2, 256, 1024) and vq.quantized.shape == (2, 8, 16)
    loss, parts = model.loss(wave, speaker)
    loss.backward()
    assert model.encoder.net[0].weight.grad.abs().sum() > 0  # straight-through into the encoder
    assert model.decoder.layers[0].glob.weight.grad.abs().sum() > 0  # the speaker embedding learns
    assert set(parts) == {"ce", "vq", "perplexity"}
    with pytest.raises(ValueError, match="multiple of 64"):
        model(torch.zeros(1, 1000), torch.tensor([0]))
    with pytest.raises(ValueError, match="speaker"):
        model(torch.zeros(1, 1024), torch.tensor([3]))
    assert pad_to_hop(torch.zeros(2, 1000)).shape == (2, 1024)


def test_converting_to_another_speaker_changes_the_samples_but_not_the_codes():
    torch.manual_seed(0)
    model = create_model("vqvae_audio", speakers=3, **TINY).eval()
    with torch.no_grad():  # make the speaker embeddings matter
        for layer in model.decoder.layers:
            layer.glob.weight.mul_(20)
    wave = torch.rand(1, 256) * 0.2 - 0.1
    a = model.convert(wave, torch.tensor([0]), generator=torch.Generator().manual_seed(3))
    b = model.convert(wave, torch.tensor([1]), generator=torch.Generator().manual_seed(3))
    assert a.shape == (1, 256) and a.abs().max() <= 1
    assert not torch.equal(a, b)
    again = model.convert(wave, torch.tensor([0]), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, again)  # a seed fixes the samples
