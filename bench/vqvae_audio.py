"""Raw-audio VQ-VAE (paper section 4.3) at CPU scale on the Free Spoken Digit Dataset.

Data: FSDD (``$PAPERZOO_DATA/fsdd``): 6 speakers x 10 digits x 50 takes at 8 kHz; takes 0-4 (300
recordings) are the test split, takes 5-49 (2,700) train everything below. Peak-normalised to 0.5.

1. The VQ-VAE: bundled config ``vq/vqvae_audio_fsdd`` (64x strided encoder, K = 512, D = 64, WaveNet
   decoder of 2 cycles of dilations 1..128 with 32 residual channels, conditioned on the latents and
   the speaker), ``--steps`` steps of 8 windows of 2,048 samples, Adam 1e-3 cosine, seed 0.
   Reported: test cross-entropy in bits per sample (8 = uniform over the 256 mu-law levels) and
   codebook perplexity.
2. Judges: two ``LogMelCNN`` classifiers (digit, speaker) trained on the real training recordings
   (first second of each), ``--judge-steps`` steps; their accuracy on the real test recordings.
3. Speaker conversion (``--convert`` test recordings, evenly over speakers, first 4,096 samples):
   each encoded and decoded by fast WaveNet generation (temperature 1, seed 0) with a different
   speaker (source + 1 + i mod 5, rotating) and with its own (reconstruction). Content kept: the
   digit judge's accuracy on converted vs real audio; speaker changed: the speaker judge's share of
   conversions it assigns to the target (and to the source).
4. The phoneme-probe analogue: logistic regression from an utterance's bag of codes (normalised
   code histogram) to its digit, trained on the training recordings, accuracy on the test ones
   (chance 10%); the same probe for the speaker.
5. A prior over the latents: a WaveNet over code sequences conditioned on the speaker
   (``--prior-steps`` steps); test bits per code against the uniform log2 512 = 9 and the
   unigram entropy; unconditional samples (one per speaker, 64 codes = 0.51 s) decoded to audio.
Listening samples (wav) are written to ``docs/vqvae_audio/``: ``conversions/`` (real, converted,
reconstructed) and ``prior_samples/``.
Usage: python bench/vqvae_audio.py [--steps 2000] [--convert 60] [--judge-steps 600] [--prior-steps 1500]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import ROOT, table, write_results  # noqa: E402
from _training import train_steps  # noqa: E402

from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.io.audio import write_audio  # noqa: E402
from paperzoo.metrics.probe import accuracy, fit_logistic_regression, predict, train_classifier  # noqa: E402
import paperzoo  # noqa: E402
from paperzoo.vq.audio_task import load_fsdd  # noqa: E402
from paperzoo.vq.audio_eval import LogMelCNN, code_histograms, code_prior_bits, fit_code_prior  # noqa: E402

NAME = "vqvae_audio"
CONFIG = "vq/vqvae_audio_fsdd"
JUDGE_SAMPLES = 8000  # judges read the first second
CONVERT_SAMPLES = 4096


def fixed(waves: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.pad(waves, (0, max(n - waves.shape[1], 0)))[:, :n]


def codes_of(model, utt) -> list[torch.Tensor]:
    """Each recording's code sequence (its true length, rounded up to whole latents)."""
    out = []
    for i in range(len(utt.waves)):
        n = math.ceil(int(utt.lengths[i]) / model.hop) * model.hop
        out.append(model.encode(fixed(utt.waves[i : i + 1], n))[0])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--convert", type=int, default=60)
    p.add_argument("--judge-steps", type=int, default=600)
    p.add_argument("--prior-steps", type=int, default=1500)
    args = p.parse_args(argv)
    quiet_lightning()
    torch.set_num_threads(2)
    out = Path(tempfile.mkdtemp(prefix="bench_vqvae_audio_"))
    cfg, run_dir, seconds = train_steps(CONFIG, args.steps, out)
    task = paperzoo.load(run_dir)
    model, speakers = task.model, task.speakers
    train, test, _ = load_fsdd(cfg.data)
    rate = cfg.data.sample_rate

    with torch.no_grad():
        val_ce, val_ppl = [], []
        for i in range(0, len(test.waves), 16):
            w = fixed(test.waves[i : i + 16], cfg.data.crop)
            _, parts = model.training_loss(w, test.speakers[i : i + 16])
            val_ce.append(float(parts["ce"]) * len(w))
            val_ppl.append(float(parts["perplexity"]))
    bits_per_sample = sum(val_ce) / len(test.waves) / math.log(2)

    t = time.perf_counter()
    judge_x = fixed(train.waves, JUDGE_SAMPLES)
    digit_judge = train_classifier(judge_x, train.digits, lambda: LogMelCNN(10), steps=args.judge_steps, batch=32)
    speaker_judge = train_classifier(judge_x, train.speakers, lambda: LogMelCNN(len(speakers)), steps=args.judge_steps, batch=32, seed=1)
    judge_seconds = time.perf_counter() - t
    real_test = fixed(test.waves, JUDGE_SAMPLES)
    judges = {"digit_real": accuracy(digit_judge, real_test, test.digits), "speaker_real": accuracy(speaker_judge, real_test, test.speakers)}

    # conversion set: evenly over source speakers
    per = max(args.convert // len(speakers), 1)
    chosen = torch.cat([torch.nonzero(test.speakers == s).flatten()[:per] for s in range(len(speakers))])
    source = fixed(test.waves[chosen], CONVERT_SAMPLES)
    src_spk, digits = test.speakers[chosen], test.digits[chosen]
    target = (src_spk + 1 + torch.arange(len(chosen)) % (len(speakers) - 1)) % len(speakers)
    t = time.perf_counter()
    converted = model.convert(source, target, generator=torch.Generator().manual_seed(0))
    reconstructed = model.convert(source, src_spk, generator=torch.Generator().manual_seed(0))
    generation_seconds = time.perf_counter() - t
    conv_x, recon_x = fixed(converted, JUDGE_SAMPLES), fixed(reconstructed, JUDGE_SAMPLES)
    conv_speaker = predict(speaker_judge, conv_x)
    conversion = {
        "n": len(chosen),
        "digit_real_subset": accuracy(digit_judge, fixed(source, JUDGE_SAMPLES), digits),
        "digit_reconstructed": accuracy(digit_judge, recon_x, digits),
        "digit_converted": accuracy(digit_judge, conv_x, digits),
        "speaker_reconstructed_is_source": accuracy(speaker_judge, recon_x, src_spk),
        "speaker_converted_is_target": float((conv_speaker == target).float().mean()),
        "speaker_converted_is_source": float((conv_speaker == src_spk).float().mean()),
        "generation_seconds": generation_seconds,
        "samples_generated": 2 * converted.numel(),
    }
    media = ROOT / "docs" / NAME  # listening samples sit beside RESULTS.md, like the figures
    listen = media / "conversions"
    for i in range(min(12, len(chosen))):
        stem = f"{test.names[int(chosen[i])][:-4]}"
        write_audio(listen / f"{stem}_real.wav", source[i].numpy(), rate)
        write_audio(listen / f"{stem}_as_{speakers[int(target[i])]}.wav", converted[i].numpy(), rate)
        write_audio(listen / f"{stem}_reconstructed.wav", reconstructed[i].numpy(), rate)

    train_codes, test_codes = codes_of(model, train), codes_of(model, test)
    k = model.quantizer.num_codes
    h_train, h_test = code_histograms(train_codes, k), code_histograms(test_codes, k)
    probe_digit = fit_logistic_regression(h_train, train.digits, classes=10)
    probe_speaker = fit_logistic_regression(h_train, train.speakers, classes=len(speakers))
    probe = {"digit": accuracy(probe_digit, h_test, test.digits), "speaker": accuracy(probe_speaker, h_test, test.speakers),
             "codes_used_train": int((h_train.sum(0) > 0).sum())}

    t = time.perf_counter()
    prior = fit_code_prior(train_codes, train.speakers, k, len(speakers), steps=args.prior_steps)
    prior_seconds = time.perf_counter() - t
    counts = torch.bincount(torch.cat(train_codes), minlength=k).float()
    freq = counts / counts.sum()
    unigram = float(-(freq[freq > 0] * freq[freq > 0].log2()).sum())
    prior_bits = code_prior_bits(prior, test_codes, test.speakers)
    sampled = prior.generate(64, g=torch.arange(len(speakers)), generator=torch.Generator().manual_seed(0))
    sample_audio = model.decode(sampled, torch.arange(len(speakers)), generator=torch.Generator().manual_seed(0))
    for s, name in enumerate(speakers):
        write_audio(media / "prior_samples" / f"{name}.wav", sample_audio[s].numpy(), rate)
    prior_row = {"bits_per_code": prior_bits, "uniform_bits": math.log2(k), "unigram_bits": unigram, "train_seconds": prior_seconds,
                 "sample_digits": [int(d) for d in predict(digit_judge, fixed(sample_audio, JUDGE_SAMPLES))]}

    vq = {"steps": args.steps, "train_minutes": seconds / 60, "bits_per_sample": bits_per_sample,
          "perplexity": sum(val_ppl) / len(val_ppl), "judge_seconds": judge_seconds}
    rows = [
        ["VQ-VAE test cross-entropy (bits / sample; uniform = 8)", f"{bits_per_sample:.3f}"],
        ["VQ-VAE codebook perplexity on test windows (K = 512)", f"{vq['perplexity']:.1f}"],
        ["digit judge on real test recordings (300)", f"{100 * judges['digit_real']:.1f}%"],
        ["speaker judge on real test recordings (300)", f"{100 * judges['speaker_real']:.1f}%"],
        [f"digit judge on the {conversion['n']} real conversion sources", f"{100 * conversion['digit_real_subset']:.1f}%"],
        ["digit judge on their reconstructions (own speaker)", f"{100 * conversion['digit_reconstructed']:.1f}%"],
        ["digit judge on their conversions (other speaker): content kept", f"{100 * conversion['digit_converted']:.1f}%"],
        ["speaker judge: reconstruction heard as the source speaker", f"{100 * conversion['speaker_reconstructed_is_source']:.1f}%"],
        ["speaker judge: conversion heard as the target speaker", f"{100 * conversion['speaker_converted_is_target']:.1f}%"],
        ["speaker judge: conversion still heard as the source speaker", f"{100 * conversion['speaker_converted_is_source']:.1f}%"],
        ["linear probe, bag of codes -> digit (chance 10%)", f"{100 * probe['digit']:.1f}%"],
        [f"linear probe, bag of codes -> speaker (chance {100 / len(speakers):.0f}%)", f"{100 * probe['speaker']:.1f}%"],
        ["codes used by the training recordings", f"{probe['codes_used_train']} / {k}"],
        ["prior (WaveNet over codes, given the speaker): test bits per code", f"{prior_bits:.2f}"],
        ["  vs uniform / unigram entropy", f"{math.log2(k):.2f} / {unigram:.2f}"],
        ["digits the judge hears in the prior's 6 samples", " ".join(map(str, prior_row["sample_digits"]))],
    ]
    text = (f"FSDD (6 speakers, 8 kHz), test = takes 0-4 (300 recordings), train = takes 5-49. VQ-VAE: bundled config "
            f"`{CONFIG}`, {args.steps} steps of 8 x 2,048-sample windows, seed 0 ({seconds / 60:.1f} min on this CPU). Judges: "
            f"log-mel CNNs trained {args.judge_steps} steps on the real training recordings. Conversions: {conversion['n']} test "
            f"recordings (first {CONVERT_SAMPLES} samples), WaveNet sampling at temperature 1 "
            f"({conversion['samples_generated'] / generation_seconds:.0f} samples/s with fast generation). Prior: "
            f"{args.prior_steps} steps.\n\n" + table(["measure", "value"], rows) + "\n")
    write_results(NAME, {"settings": vars(args), "vqvae": vq, "judges": judges, "conversion": conversion, "probe": probe,
                         "prior": prior_row, "run_dir": str(run_dir)}, text)
    print(text)
    print(f"listening samples under {media}")


if __name__ == "__main__":
    main()
