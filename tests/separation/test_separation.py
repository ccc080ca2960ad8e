"""AudioSlots parts: shapes (paper config on the meta device), Hungarian loss vs brute force, masks,
SI-SNR vs torchmetrics, chunking/stitching, reference-free alignment."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from paperzoo.metrics.audio import separation_scores, si_snr
from paperzoo.separation.decoder import SpatialBroadcastDecoder
from paperzoo.separation.encoder import ResNetEncoder
from paperzoo.separation.matching import magnitude_weights, matched_mse_loss, pairwise_mse, reorder
from paperzoo.separation.model import audioslots, audioslots_small
from paperzoo.separation.separate import align_by_overlap, chunk, separate
from paperzoo.separation.spectral import STFTConfig, apply_masks, compress, expand, ideal_binary_mask, istft, stft, wiener_mask


def test_paper_shapes_through_every_stage():
    cfg = STFTConfig()
    assert cfg.chunk_samples == 8000 and cfg.bins == (257, 65)
    spec = stft(torch.randn(2, 8000), cfg)
    assert spec.shape == (2, 257, 65) and spec.is_complex()
    enc = ResNetEncoder()
    assert [len(s) for s in enc.stages] == [3, 4, 6, 3]
    with torch.device("meta"):  # the paper-size network, shapes only (no memory)
        model = audioslots()
        x = torch.empty(2, 257, 65)
        z = model.encoder(x.unsqueeze(1))
        assert z.shape == (2, 512, 32, 8)  # the paper's 32 x 8 grid
        s = model.slots(z)
        assert s.shape == (2, 2, 4096)
        assert model.decoder(s, (257, 65)).shape == (2, 2, 257, 65)
    assert sum(p.numel() for p in enc.parameters()) == pytest.approx(21.3e6, rel=0.01)  # ResNet-34 trunk, 1 input channel


def test_small_model_runs_and_slot_attention_option():
    x = torch.rand(3, 129, 65)
    for module in ("transformer", "slot_attention"):
        model = audioslots_small(slot_module=module, num_slots=3)
        assert model(x).shape == (3, 3, 129, 65)


def test_a_small_audioslots_learns_to_split_two_tones():
    """Not only shapes: trained on mixtures of a low and a high tone (random pitches and levels), the matched
    loss falls and IBM masks from its estimates separate a held-out mixture better than the mixture itself."""
    cfg = STFTConfig(sample_rate=8000, n_fft=256, hop=62, chunk_seconds=0.25)
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(cfg.chunk_samples) / cfg.sample_rate

    def batch(n):
        low = 200 + 300 * torch.rand(n, 1, generator=gen)
        high = 1500 + 1500 * torch.rand(n, 1, generator=gen)
        gains = 0.2 + 0.3 * torch.rand(n, 2, 1, generator=gen)
        sources = gains * torch.stack([torch.sin(2 * math.pi * low * t), torch.sin(2 * math.pi * high * t)], 1)
        return sources.sum(1), sources

    def spectra(w):
        return compress(stft(w, cfg).abs(), cfg.power)

    torch.manual_seed(0)
    model = audioslots_small(dim=32, depth=1, heads=2, mlp_dim=32, decoder_hidden=32, decoder_layers=2, num_bands=4,
                             widths=(8, 16, 16, 16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        mix, src = batch(4)
        loss, _ = matched_mse_loss(model(spectra(mix)), spectra(src))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])
    model.eval()
    mix, src = batch(1)
    est = separate(model, mix[0], cfg, mask="ibm", align="oracle", references=src[0])
    assert separation_scores(est, src[0], mix[0])["si_snri"] > 10.0  # 33 dB measured (seeded); an untrained net's masks do not split


def test_decoder_first_layer_split_equals_concatenation():
    dec = SpatialBroadcastDecoder(8, hidden=16, layers=2, num_bands=3)
    slots = torch.randn(2, 3, 8)
    out = dec(slots, (5, 4))
    from paperzoo.separation.decoder import fourier_features

    pos = fourier_features(5, 4, 3)
    tiled = torch.cat([slots[:, :, None, :].expand(-1, -1, 20, -1), pos.expand(2, 3, -1, -1)], -1)
    weight = torch.cat([dec.from_slot.weight, dec.from_position.weight], 1)
    ref = dec.out(torch.relu(tiled @ weight.t() + dec.from_slot.bias)).view(2, 3, 5, 4)
    torch.testing.assert_close(out, ref)


def test_film_decoder_starts_as_the_plain_decoder_and_modulates_each_hidden_layer_per_slot():
    torch.manual_seed(0)
    plain = SpatialBroadcastDecoder(8, hidden=16, layers=4, num_bands=3)
    film = SpatialBroadcastDecoder(8, hidden=16, layers=4, num_bands=3, film=True)
    film.load_state_dict(plain.state_dict(), strict=False)
    slots = torch.randn(2, 3, 8)
    torch.testing.assert_close(film(slots, (5, 4)), plain(slots, (5, 4)))  # zero-initialised FiLM = identity
    with torch.no_grad():
        film.film.bias[16:32] = 0.5  # shift of the first hidden layer, the same for every slot
    from paperzoo.separation.decoder import fourier_features

    h = torch.relu(plain.from_slot(slots)[:, :, None] + plain.from_position(fourier_features(5, 4, 3)))
    h = torch.relu(plain.hidden[0](h) + 0.5)
    h = torch.relu(plain.hidden[1](h))
    torch.testing.assert_close(film(slots, (5, 4)), plain.out(h).view(2, 3, 5, 4))
    with torch.no_grad():
        film.film.weight.normal_()  # now each slot modulates differently: slot 0 changed alone changes output 0 alone
    moved = slots.clone()
    moved[:, 0] += 1
    diff = (film(moved, (5, 4)) - film(slots, (5, 4))).abs().amax(dim=(0, 2, 3))
    assert diff[0] > 1e-3 and diff[1:].max() == 0


@pytest.mark.parametrize("slots, sources", [(2, 2), (3, 2), (3, 3), (4, 4), (5, 3)])
def test_hungarian_loss_equals_brute_force_minimum_and_is_permutation_invariant(slots, sources):
    torch.manual_seed(slots * 10 + sources)
    pred, target = torch.randn(4, slots, 6, 5), torch.randn(4, sources, 6, 5)
    loss, assign = matched_mse_loss(pred, target)
    brute = []
    for b in range(4):
        best = min(sum(((pred[b, p[j]] - target[b, j]) ** 2).mean() for j in range(sources)) / sources
                   for p in itertools.permutations(range(slots), sources))
        brute.append(best)
    assert float(loss) == pytest.approx(float(torch.stack(brute).mean()), rel=1e-5)
    # permuting the slots or the sources does not change the loss
    perm = torch.randperm(slots)
    assert float(matched_mse_loss(pred[:, perm], target)[0]) == pytest.approx(float(loss), rel=1e-6)
    perm = torch.randperm(sources)
    assert float(matched_mse_loss(pred, target[:, perm])[0]) == pytest.approx(float(loss), rel=1e-6)
    assert reorder(pred, assign).shape == target.shape


def test_pairwise_mse_matches_direct_computation_and_gradients_reach_matched_slots_only():
    pred = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randn(2, 2, 4, 4)
    direct = ((pred[:, :, None] - target[:, None]) ** 2).mean((-1, -2))
    torch.testing.assert_close(pairwise_mse(pred, target), direct, atol=1e-5, rtol=1e-5)
    loss, assign = matched_mse_loss(pred, target)
    loss.backward()
    for b in range(2):
        unmatched = set(range(3)) - set(assign[b].tolist())
        for s in unmatched:
            assert pred.grad[b, s].abs().sum() == 0


def test_magnitude_weighted_mse_matches_direct_computation_and_weights_the_peaks():
    torch.manual_seed(3)
    pred, target = torch.randn(2, 3, 5, 4), torch.rand(2, 2, 5, 4)
    weight = magnitude_weights(target, 2.0)
    # 1 + 2 t / mean(t): mean weight 3 per source, the loudest bin weighted most
    torch.testing.assert_close(weight.mean((-1, -2)), torch.full((2, 2), 3.0))
    assert weight.flatten(2).argmax(-1).equal(target.flatten(2).argmax(-1))
    direct = (weight[:, None] * (pred[:, :, None] - target[:, None]) ** 2).mean((-1, -2))
    torch.testing.assert_close(pairwise_mse(pred, target, weight), direct, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pairwise_mse(pred, target, magnitude_weights(target, 0.0)), pairwise_mse(pred, target))
    # the weights change which errors cost most: missing a peak by 0.1 now costs more than missing the floor by 0.1
    flat = torch.zeros(1, 1, 1, 4)
    flat[..., 0] = 1.0
    miss_peak, miss_floor = flat.clone(), flat.clone()
    miss_peak[..., 0] -= 0.1
    miss_floor[..., 1] += 0.1
    w = magnitude_weights(flat, 1.0)
    assert matched_mse_loss(miss_peak, flat, w)[0] > matched_mse_loss(miss_floor, flat, w)[0]
    assert matched_mse_loss(miss_peak, flat)[0] == pytest.approx(float(matched_mse_loss(miss_floor, flat)[0]))


def test_loss_section_defaults_to_the_papers_mse_and_rejects_a_negative_weight():
    from paperzoo.engine.config import load_config
    from paperzoo.errors import ConfigError

    assert load_config("separation/audioslots_fsdd2mix").loss.magnitude_weight == 0.0
    assert load_config("separation/audioslots_fsdd2mix", ["loss.magnitude_weight=1.5"]).loss.magnitude_weight == 1.5
    with pytest.raises(ConfigError, match="magnitude_weight"):
        load_config("separation/audioslots_fsdd2mix", ["loss.magnitude_weight=-1"])


def _tone(freq: float, n: int = 8000, rate: int = 8000) -> torch.Tensor:
    t = torch.arange(n) / rate
    return torch.sin(2 * math.pi * freq * t) * torch.hann_window(n)


def _peak_hz(wave: torch.Tensor, rate: int = 8000) -> float:
    return float(torch.fft.rfft(wave).abs().argmax()) * rate / len(wave)


@pytest.mark.parametrize("factor", [0.85, 0.93, 1.0, 1.1, 1.15])
def test_change_speed_scales_pitch_and_duration_and_keeps_power(factor):
    from paperzoo.separation.augment import change_speed

    x = _tone(500.0)
    y = change_speed(x, factor)
    assert len(y) == round(8000 / factor)
    assert _peak_hz(y) == pytest.approx(500 * factor, abs=2)
    assert float(y.square().sum() * factor) == pytest.approx(float(x.square().sum()), rel=1e-3)  # same power, new duration
    if factor == 1.0:
        torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_change_speed_is_band_limited_and_does_not_wrap_around():
    from paperzoo.separation.augment import change_speed

    near_nyquist = _tone(3900.0)  # at 1.15x it would be 4485 Hz: above 4 kHz, so it must vanish, not fold to 3515 Hz
    assert float(change_speed(near_nyquist, 1.15).square().sum()) < 1e-3 * float(near_nyquist.square().sum())
    late = torch.zeros(8000)
    late[-400:] = torch.sin(2 * math.pi * 300.0 * torch.arange(400) / 8000) + 0.5  # cut off by the window's end
    slow = change_speed(late, 0.85)  # slowed down, nothing of it may appear at the start
    assert float(slow[:4000].abs().max()) < 1e-3 * float(slow.abs().max())


def test_speed_perturb_mixes_the_perturbed_sources_and_splits_like_one_process():
    from paperzoo.separation.augment import speed_perturb

    sources = torch.stack([torch.stack([_tone(300.0 + 50 * i), _tone(700.0 + 30 * i)]) for i in range(6)])
    mix, out = speed_perturb(sources, 0.15, np.random.default_rng([0, 7]))
    assert out.shape == sources.shape and mix.shape == (6, 8000)
    torch.testing.assert_close(mix, out.sum(1))
    pitches = torch.tensor([[_peak_hz(w) / _peak_hz(s) for w, s in zip(o, r)] for o, r in zip(out, sources)])
    assert bool(((pitches > 0.84) & (pitches < 1.16)).all())
    assert float((pitches[:, 0] - pitches[:, 1]).abs().max()) > 0.02  # each source of a mixture at its own speed
    for rank in range(2):  # two processes with half the batch each perturb exactly the rows one process would
        _, part = speed_perturb(sources[rank::2], 0.15, np.random.default_rng([0, 7]), rank, 2)
        torch.testing.assert_close(part, out[rank::2])
    torch.testing.assert_close(speed_perturb(sources, 0.0, np.random.default_rng(0))[1], sources, atol=1e-5, rtol=0)


def test_speed_perturb_is_off_by_default_and_rejects_a_bad_spread():
    from paperzoo.engine.config import load_config
    from paperzoo.errors import ConfigError

    assert load_config("separation/audioslots_fsdd2mix").data.speed_perturb == 0.0
    with pytest.raises(ConfigError, match="speed_perturb"):
        load_config("separation/audioslots_fsdd2mix", ["data.speed_perturb=1.5"])


def test_si_snr_matches_torchmetrics_and_handles_silence():
    tm = pytest.importorskip("torchmetrics.functional.audio")
    ref = torch.randn(5, 800)
    est = torch.stack([ref[i] * (i + 1) + 0.3 * (i + 1) * torch.randn(800) + 2.0 for i in range(5)])  # scaled, noisy, offset
    torch.testing.assert_close(si_snr(est, ref), tm.scale_invariant_signal_noise_ratio(est, ref), atol=1e-3, rtol=1e-4)
    silent = si_snr(torch.randn(800), torch.zeros(800))
    assert torch.isfinite(silent) and torch.isfinite(si_snr(torch.zeros(800), torch.zeros(800)))


def test_separation_scores_use_the_best_permutation():
    ref = torch.randn(2, 1000)
    mix = ref.sum(0)
    swapped = ref.flip(0) + 0.01 * torch.randn(2, 1000)
    scores = separation_scores(swapped, ref, mix)
    assert scores["si_snr"] > 30 and scores["si_snri"] > 25


def test_masks():
    est = torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]]])  # (n=2, F=1, T=2)
    torch.testing.assert_close(ideal_binary_mask(est), torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]]))
    w = wiener_mask(est)
    torch.testing.assert_close(w[:, 0, 0], torch.tensor([0.2, 0.8]))
    assert torch.isfinite(w).all()
    torch.testing.assert_close(expand(compress(torch.tensor([0.0, 0.5, 4.0]))), torch.tensor([0.0, 0.5, 4.0]))


def test_oracle_ibm_separates_a_two_tone_mixture_almost_perfectly():
    cfg = STFTConfig()
    t = torch.arange(16000) / 16000
    a, b = torch.sin(2 * math.pi * 440 * t), 0.7 * torch.sin(2 * math.pi * 2500 * t)
    mix = a + b
    refs = torch.stack([a, b])

    def oracle(spec_compressed):  # the true source magnitudes of each chunk, in the same chunk order
        return compress(stft(torch.stack([chunk(r, cfg.chunk_samples) for r in refs], 1), cfg).abs(), cfg.power)

    est = separate(oracle, mix, cfg, mask="ibm", align="oracle", references=refs, batch_chunks=64)
    scores = separation_scores(est, refs, mix)
    assert scores["si_snr"] > 25, scores


def test_all_ones_masks_reconstruct_the_signal_exactly_through_chunking():
    cfg = STFTConfig()
    wave = torch.randn(20_123)

    def one_slot(spec_compressed):  # one source = the mixture: an all-ones IBM
        return spec_compressed.unsqueeze(1)

    out = separate(one_slot, wave, cfg, mask="ibm", align="overlap", batch_chunks=3)
    assert out.shape == (1, 20_123)
    torch.testing.assert_close(out[0], wave, atol=1e-4, rtol=1e-4)
    assert chunk(wave, 8000).shape == (3, 8000) and chunk(wave, 8000, offset=4000).shape == (4, 8000)


def test_reference_free_alignment_undoes_random_slot_swaps():
    torch.manual_seed(0)
    size, chunks = 400, 6
    t = torch.arange(size * chunks, dtype=torch.float32)
    sources = torch.stack([torch.sin(t / 7.0), torch.sign(torch.sin(t / 23.0))])  # two distinct signals
    main = sources.view(2, chunks, size).permute(1, 0, 2).clone()
    bridge = torch.stack([chunk(s, size, offset=size // 2) for s in sources], 1)
    swaps = torch.rand(chunks) < 0.5
    main[swaps] = main[swaps].flip(1)
    aligned = align_by_overlap(main, bridge)
    first = aligned[0]
    stitched = aligned.permute(1, 0, 2).reshape(2, -1)
    expected = sources if torch.equal(first, sources[:, :size]) else sources.flip(0)
    torch.testing.assert_close(stitched, expected)


def test_istft_inverts_stft():
    cfg = STFTConfig().scaled(8000)
    assert (cfg.n_fft, cfg.hop) == (256, 62)
    wave = torch.randn(4000)
    torch.testing.assert_close(istft(stft(wave, cfg), cfg, 4000), wave, atol=1e-5, rtol=1e-5)
    spec = stft(wave, cfg)
    masked = apply_masks(spec, torch.rand(2, *spec.shape), "wiener")
    torch.testing.assert_close(masked.sum(0), spec, atol=1e-5, rtol=1e-5)  # Wiener masks sum to one
