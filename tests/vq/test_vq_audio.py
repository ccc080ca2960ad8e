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
    fast = net.generate(50, c, g, batch=3, generator=torch.Generator().manual_seed(7), compiled=False)
    naive = net.generate_naive(50, c, g, batch=3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(fast, naive, rtol=0, atol=0)
    assert len(set(fast.flatten().tolist())) > 3  # really sampled, not a constant


@pytest.mark.parametrize("local, speakers", [(0, 0), (4, 0), (0, 3), (4, 3)])
def test_compiled_cpu_generation_equals_the_torch_loop(local, speakers):
    """wavenet_cpu (numba) against the torch loop in float64: the same samples (no near-tie flips)."""
    torch.manual_seed(2)
    net = WaveNet(classes=16, residual=8, skip=8, layers=4, cycles=2, local_channels=local, global_classes=speakers).double().eval()
    c = torch.randn(3, local, 60, dtype=torch.float64) if local else None  # longer than generated: sliced
    g = torch.tensor([0, 2, 1]) if speakers else None
    for temperature in (1.0, 0.5):
        compiled = net.generate(50, c, g, batch=3, temperature=temperature, generator=torch.Generator().manual_seed(7))
        loop = net.generate(50, c, g, batch=3, temperature=temperature, generator=torch.Generator().manual_seed(7), compiled=False)
        torch.testing.assert_close(compiled, loop, rtol=0, atol=0)


def test_generation_in_blocks_carries_the_queues_across_block_boundaries():
    """Blocks of 7 steps (boundaries inside every dilation's queue), latents at one column per 4 steps: the
    compiled loop, the torch loop and the naive forward give the same samples; for one sequence the block
    size changes nothing, and latents at their own rate equal latents repeated up front."""
    torch.manual_seed(4)
    net = WaveNet(classes=16, residual=8, skip=8, layers=4, cycles=2, local_channels=4, global_classes=3).double().eval()
    z, g = torch.randn(3, 4, 13, dtype=torch.float64), torch.tensor([0, 2, 1])
    kw = dict(c_hop=4, generator=torch.Generator().manual_seed(7), block=7)
    compiled = net.generate(50, z, g, **kw)
    kw["generator"] = torch.Generator().manual_seed(7)
    loop = net.generate(50, z, g, compiled=False, **kw)
    kw["generator"] = torch.Generator().manual_seed(7)
    naive = net.generate_naive(50, z, g, **kw)
    torch.testing.assert_close(compiled, loop, rtol=0, atol=0)
    torch.testing.assert_close(compiled, naive, rtol=0, atol=0)
    one = [net.generate(50, z[:1], g[:1], c_hop=4, generator=torch.Generator().manual_seed(5), block=block) for block in (7, 2048)]
    upfront = net.generate(50, z[:1].repeat_interleave(4, -1), g[:1], generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(one[0], one[1], rtol=0, atol=0)
    torch.testing.assert_close(one[0], upfront, rtol=0, atol=0)
    with pytest.raises(ValueError, match="one column per 4 steps"):
        net.generate(53, z, g, c_hop=4)  # 13 columns x 4 = 52 steps


def test_generation_memory_is_bounded_by_the_block_and_the_latent_rate(monkeypatch):
    """A minute of 8 kHz audio took 12.5 GB when every layer's conditioning and the Gumbel noise were built
    for all steps at once: the conditioning is now computed at the latents' rate (250 columns for 1,000
    steps at c_hop 4) and the noise drawn one block at a time."""
    import paperzoo.vq.wavenet as wavenet

    net = WaveNet(classes=16, residual=8, skip=8, layers=2, cycles=1, local_channels=4).eval()
    conditioned, drawn = [], []
    conditioning = net.layers[0].conditioning
    monkeypatch.setattr(net.layers[0], "conditioning", lambda c, g: conditioned.append(c.shape[-1]) or conditioning(c, g))
    gumbel = wavenet._gumbel
    monkeypatch.setattr(wavenet, "_gumbel", lambda b, n, *a: drawn.append(n) or gumbel(b, n, *a))
    out = net.generate(1000, torch.randn(1, 4, 250), c_hop=4, block=64)
    assert out.shape == (1, 1000) and conditioned == [250] and max(drawn) == 64 and sum(drawn) == 1000


def test_compiled_gate_survives_saturated_pre_activations():
    """The compiled gate computes tanh(f) sigmoid(g) from exps; with pre-activations of +-1e4 (exp overflows)
    it must still give the torch loop's samples, not NaNs."""
    torch.manual_seed(3)
    net = WaveNet(classes=16, residual=8, skip=8, layers=2, cycles=1, local_channels=4).double().eval()
    c = torch.randn(2, 4, 40, dtype=torch.float64) * 1e4
    compiled = net.generate(40, c, batch=2, generator=torch.Generator().manual_seed(1))
    loop = net.generate(40, c, batch=2, generator=torch.Generator().manual_seed(1), compiled=False)
    torch.testing.assert_close(compiled, loop, rtol=0, atol=0)


def test_compiled_cpu_generation_agrees_in_float32_at_the_decoder_size():
    torch.manual_seed(2)
    net = WaveNet(residual=32, skip=64, layers=8, cycles=2, local_channels=16, global_classes=6).eval()
    c, g = torch.randn(1, 16, 1000), torch.tensor([4])
    compiled = net.generate(1000, c, g, generator=torch.Generator().manual_seed(3))
    loop = net.generate(1000, c, g, generator=torch.Generator().manual_seed(3), compiled=False)
    assert (compiled == loop).float().mean() > 0.9  # float32: a near-tie flip changes the rest of the sequence


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
    loss, parts = model.training_loss(wave, speaker)
    loss.backward()
    assert model.encoder.net[0].weight.grad.abs().sum() > 0  # straight-through into the encoder
    assert model.decoder.layers[0].glob.weight.grad.abs().sum() > 0  # the speaker embedding learns
    assert set(parts) == {"ce", "vq", "perplexity"}
    with pytest.raises(ValueError, match="multiple of 64"):
        model(torch.zeros(1, 1000), torch.tensor([0]))
    with pytest.raises(ValueError, match="speaker"):
        model(torch.zeros(1, 1024), torch.tensor([3]))
    assert pad_to_hop(torch.zeros(2, 1000)).shape == (2, 1024)
    half_hop = create_model("vqvae_audio", speakers=3, **TINY, downsamplings=5)  # 4 ms latents at 8 kHz (64x at 16 kHz)
    assert half_hop.hop == 32 and half_hop.encode(wave).shape == (2, 32)
    assert half_hop.decode(half_hop.encode(wave[:1, :256]), speaker[:1]).shape == (1, 256)


def test_latent_context_lets_each_code_see_its_neighbours_and_no_further():
    """context_layers = L: the conditioning of the samples of code j depends on codes j-L .. j+L only;
    without the stack, on code j alone (the paper's plain repeated latents)."""
    torch.manual_seed(0)
    for layers in (0, 2):
        model = create_model("vqvae_audio", speakers=3, context_layers=layers, **TINY)
        z = torch.randn(1, 8, 12, requires_grad=True)
        c = model.upsample(z)
        assert c.shape == (1, 8, 12 * 64)
        c[0, :, 5 * 64 : 6 * 64].sum().backward()  # the samples of code 5
        reach = z.grad[0].abs().sum(0)
        assert (reach > 0).tolist() == [abs(j - 5) <= layers for j in range(12)]
    loss, _ = model.training_loss(torch.rand(2, 512) * 0.2 - 0.1, torch.tensor([0, 2]))
    loss.backward()
    assert model.context.convs[0].weight.grad.abs().sum() > 0  # the stack trains
    assert model.encoder.net[0].weight.grad.abs().sum() > 0  # and passes the straight-through gradient on


def test_input_noise_perturbs_only_the_past_the_decoder_reads_in_training():
    """input_noise = sigma: in training the WaveNet reads the true samples plus rounded N(0, sigma^2) classes
    (clamped to the 256 classes) and is scored on the clean ones; in eval mode (generation, bits/sample) it
    reads them unchanged."""
    torch.manual_seed(0)
    model = create_model("vqvae_audio", speakers=3, input_noise=4.0, **TINY)
    wave = torch.rand(2, 4096) * 1.8 - 0.9
    seen = []
    model.decoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    clean = mu_law_encode(wave)
    model.train()
    logits, _ = model(wave, torch.tensor([0, 2]))
    offset = (seen[-1] - clean).float()
    assert 3.6 < offset.std() < 4.4 and offset.abs().mean() > 2  # perturbed by about sigma classes
    assert seen[-1].min() >= 0 and seen[-1].max() <= 255
    loss, parts = model.training_loss(wave, torch.tensor([0, 2]))
    torch.testing.assert_close(parts["ce"], torch.nn.functional.cross_entropy(
        model.decoder(seen[-1], model.upsample(model.quantize(wave).quantized), torch.tensor([0, 2])), clean))
    model.eval()
    model(wave, torch.tensor([0, 2]))
    assert torch.equal(seen[-1], clean)
    with pytest.raises(ValueError, match="input_noise"):
        create_model("vqvae_audio", speakers=3, input_noise=-1.0, **TINY)


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


def fake_fsdd(root, speakers=("anna", "bob"), digits=(0, 1), takes=6, rate=8000):
    """FSDD's layout with synthetic 'utterances': a digit-dependent chirp in a speaker-dependent pitch."""
    import numpy as np

    from paperzoo.io.audio import write_audio

    for s, speaker in enumerate(speakers):
        for digit in digits:
            for take in range(takes):
                n = 1500 + 97 * take
                t = np.arange(n) / rate
                f0 = 150 * (1 + s) + 40 * digit
                wave = 0.3 * np.sin(2 * np.pi * (f0 + 30 * t * (digit + 1)) * t) * np.hanning(n)
                write_audio(root / "recordings" / f"{digit}_{speaker}_{take}.wav", wave, rate)
    return root


def audio_config(tmp_path, fsdd, options=TINY, **data):
    from conftest import write_config

    return write_config(tmp_path / "audio.yaml", tmp_path / "runs", task="vqvae_audio", name="tiny",
                        trainer={"max_steps": 3, "val_every": 3, "checkpoint_every": 3, "log_every": 1},
                        model={"name": "vqvae_audio", "options": options},
                        data={"location": str(fsdd), "crop": 512, "batch_size": 4, "test_takes": 2, **data})


def test_fsdd_split_windows_and_normalisation(tmp_path):
    from paperzoo.vq.audio_task import AudioDataConfig, TrainWindows, load_fsdd

    train, test, speakers = load_fsdd(AudioDataConfig(location=str(fake_fsdd(tmp_path / "fsdd")), test_takes=2, peak=0.5))
    assert speakers == ["anna", "bob"]
    assert len(train.waves) == 2 * 2 * 4 and len(test.waves) == 2 * 2 * 2  # takes 2-5 train, 0-1 test
    assert all(n.split("_")[2].startswith(("0", "1")) for n in test.names)
    torch.testing.assert_close(test.waves.abs().amax(1), torch.full((8,), 0.5))
    windows = TrainWindows(train, 1024, seed=0)
    rows = torch.tensor([0, 5, 9])
    a = windows[rows]
    assert a.shape == (3, 1024)
    torch.testing.assert_close(a, windows[rows])  # the same rows and seed give the same windows
    short = TrainWindows(train, 4096, seed=0)[torch.tensor([0])]  # longer than the recording: zero-padded
    assert short[0, int(train.lengths[0]) :].abs().sum() == 0


@pytest.mark.slow
def test_train_then_convert_speaker_from_the_command_line(tmp_path, cli):
    from conftest import only_run_dir

    fsdd = fake_fsdd(tmp_path / "fsdd")
    code, out, err = cli("train", audio_config(tmp_path, fsdd))
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs")
    source = fsdd / "recordings" / "1_anna_0.wav"
    code, out, err = cli("convert-speaker", source, "--to", "bob", "--model", run, "-o", tmp_path / "out.wav")
    assert code == 0, err
    from paperzoo.io.audio import read_audio

    converted, rate = read_audio(tmp_path / "out.wav", allow_silent=True)
    assert rate == 8000 and len(converted) == len(read_audio(source)[0])
    code, out, err = cli("convert-speaker", source, "--to", "carol", "--model", run, "-o", tmp_path / "x.wav")
    assert code == 2 and "unknown speaker 'carol'" in err and "anna, bob" in err and not (tmp_path / "x.wav").exists()
    code, out, err = cli("convert-speaker", tmp_path / "missing.wav", "--to", "bob", "--model", run, "-o", tmp_path / "x.wav")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_bad_audio_configs_are_one_line_errors(tmp_path, cli):
    fsdd = fake_fsdd(tmp_path / "fsdd", takes=3)
    code, out, err = cli("train", audio_config(tmp_path, fsdd, crop=500))
    assert code == 2 and "multiple of 64" in err
    code, out, err = cli("train", audio_config(tmp_path, fsdd, crop=576, options={**TINY, "downsamplings": 7}))
    assert code == 2 and "multiple of 128" in err and len(err.strip().splitlines()) == 1  # 576 = 9 x 64: not whole latents of 128
    code, out, err = cli("train", audio_config(tmp_path, fsdd, options={**TINY, "downsamplings": 0}))
    assert code == 2 and "downsamplings" in err
    code, out, err = cli("train", audio_config(tmp_path, fsdd, batch_size=64))
    assert code == 2 and "larger than the training set" in err


def test_mel_filterbank_covers_the_band_and_log_mel_shapes():
    from paperzoo.vq.audio_eval import log_mel, mel_filterbank

    fb = mel_filterbank(8000, 256, 40)
    assert fb.shape == (40, 129) and fb.min() >= 0 and fb.max() <= 1
    assert (fb.sum(0)[2:-2] > 0).all()  # every bin but the band edges belongs to some filter
    peaks = fb.argmax(1)
    assert (peaks[1:] >= peaks[:-1]).all()  # filters ordered by frequency
    assert log_mel(torch.zeros(2, 8000)).shape == (2, 1, 40, 126)
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(8000) / 8000)[None]
    hot = log_mel(tone)[0, 0].mean(1).argmax()
    centre = 700 * (10 ** (torch.linspace(2595 * torch.log10(torch.tensor(1 + 20 / 700)), 2595 * torch.log10(torch.tensor(1 + 4000 / 700)), 42)[1:-1] / 2595) - 1)
    assert abs(float(centre[hot]) - 1000) < 120  # a 1 kHz tone lights the filter centred near 1 kHz


def test_log_mel_cnn_learns_synthetic_digits_and_the_code_probe_and_prior_work(tmp_path):
    from paperzoo.metrics.probe import accuracy, fit_logistic_regression, train_classifier
    from paperzoo.vq.audio_task import AudioDataConfig, load_fsdd
    from paperzoo.vq.audio_eval import LogMelCNN, code_histograms, code_prior_bits, fit_code_prior

    train, test, _ = load_fsdd(AudioDataConfig(location=str(fake_fsdd(tmp_path / "f", digits=(0, 1, 2))), test_takes=2))
    net = train_classifier(train.waves, train.digits, lambda: LogMelCNN(3, width=8), steps=40, batch=16)
    assert accuracy(net, test.waves, test.digits) >= 0.8  # the chirps are easy; chance is 1/3
    codes = [torch.randint(0, 8, (20,)) for _ in range(6)]
    hist = code_histograms(codes, 8)
    torch.testing.assert_close(hist.sum(1), torch.ones(6))
    probe = fit_logistic_regression(hist, torch.tensor([0, 1, 0, 1, 0, 1]), classes=2)
    assert probe.weight.shape == (2, 8)
    # a prior on sequences that repeat one code per speaker learns them: far below log2 K bits per code
    seqs = [torch.full((24,), 3), torch.full((24,), 5)] * 4
    spk = torch.tensor([0, 1] * 4)
    prior = fit_code_prior(seqs, spk, 8, 2, steps=100, lr=1e-2, residual=8, skip=8, layers=3, cycles=1)
    assert code_prior_bits(prior, seqs[:2], spk[:2]) < 1.0  # a uniform prior: log2 8 = 3 bits


def test_noise_trained_judge_learns_and_teacher_forced_samples_follow_the_decoder(tmp_path):
    from paperzoo.metrics.probe import accuracy
    from paperzoo.vq.audio_eval import teacher_forced, train_judge
    from paperzoo.vq.audio_task import AudioDataConfig, load_fsdd

    train, test, _ = load_fsdd(AudioDataConfig(location=str(fake_fsdd(tmp_path / "f", digits=(0, 1, 2))), test_takes=2))
    judge = train_judge(train.waves, train.digits, 3, steps=60, width=8)
    assert accuracy(judge, test.waves, test.digits) >= 0.8  # chance 1/3
    noisy = test.waves + 0.1 * test.waves.std() * torch.randn(test.waves.shape, generator=torch.Generator().manual_seed(0))
    assert accuracy(judge, noisy, test.digits) >= 0.8  # 20 dB of white noise does not fool it

    torch.manual_seed(0)
    model = create_model("vqvae_audio", speakers=3, **TINY).eval()
    wave = pad_to_hop(test.waves[:3, :500])
    speaker = torch.tensor([0, 1, 2])
    drawn = teacher_forced(model, wave, speaker, generator=torch.Generator().manual_seed(0), batch=2)
    assert drawn.shape == wave.shape and drawn.abs().max() <= 1
    with torch.no_grad():  # a vanishing temperature draws the decoder's most likely sample given the true past
        logits = model(wave, speaker)[0]
    top2 = logits.topk(2, 1).values
    clear = top2[:, 0] - top2[:, 1] > 0.01  # an untrained decoder has near-ties
    assert clear.float().mean() > 0.5
    cold = teacher_forced(model, wave, speaker, temperature=1e-4)
    torch.testing.assert_close(cold[clear], mu_law_decode(logits.argmax(1))[clear])
