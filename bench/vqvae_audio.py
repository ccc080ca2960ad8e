"""Raw-audio VQ-VAE (paper section 4.3) at CPU scale on the Free Spoken Digit Dataset.

Data: FSDD (``$PAPERZOO_DATA/fsdd``): 6 speakers x 10 digits x 50 takes at 8 kHz; takes 0-4 (300
recordings) are the test split, takes 5-49 (2,700) train everything below. Peak-normalised to 0.5.

1. The VQ-VAE: bundled config ``vq/vqvae_audio_fsdd`` (64x strided encoder, K = 512, D = 64, WaveNet
   decoder conditioned on the latents and the speaker), ``--steps`` steps, seed 0; or a finished run
   of it (``--run``, e.g. a wider decoder). Reported: test cross-entropy in bits per sample (8 =
   uniform over the 256 mu-law levels), the same with another recording's codes (the bits the
   decoder takes from the latents), codebook perplexity.
2. Judges: two ``LogMelCNN`` classifiers (digit, speaker) trained on the real training recordings
   (first second of each), ``--judge-steps`` steps, half of each batch with white noise at 0-30 dB
   SNR (``train_judge``); their accuracy on the real test recordings and what they call white noise.
3. Speaker conversion (``--convert`` test recordings, each speaker once per digit, first second):
   each encoded and decoded by fast WaveNet generation (each ``--temperatures``, seed 0) with a
   different speaker (source + 1 + i mod 5, rotating) and with its own (reconstruction). Content kept:
   the digit judge's accuracy on converted vs real audio; speaker changed: the speaker judge's share
   of conversions it assigns to the target (and to the source). Teacher-forced samples (each sample
   drawn given the true past) separate a weak decoder from a free-running generation problem.
4. The phoneme-probe analogue: logistic regression from an utterance's bag of codes (normalised
   code histogram) to its digit, trained on the training recordings, accuracy on the test ones
   (chance 10%); the same probe for the speaker.
5. A prior over the latents: a WaveNet over code sequences conditioned on the speaker
   (``--prior-steps`` steps); test bits per code against the uniform log2 512 = 9 and the
   unigram entropy; unconditional samples (one per speaker, 0.51 s of codes: 64 at a hop of 64) decoded to audio.
Listening samples (wav) are written to ``docs/vqvae_audio/``: ``conversions/`` (real, converted,
reconstructed) and ``prior_samples/``.
Usage: python bench/vqvae_audio.py [--steps 2000 | --run RUN_DIR] [--convert 60] [--judge-steps 1500] [--prior-steps 1500]
       [--temperatures 1.0 0.8]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import ROOT, bad_input, table, write_results  # noqa: E402
from _training import train_steps  # noqa: E402

from paperzoo.engine.config import build_config, load_config  # noqa: E402
from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.io.audio import write_audio  # noqa: E402
from paperzoo.metrics.probe import accuracy, fit_logistic_regression, predict  # noqa: E402
import paperzoo  # noqa: E402
from paperzoo.vq.audio_task import load_fsdd  # noqa: E402
from paperzoo.vq.audio_eval import code_histograms, code_prior_bits, fit_code_prior, teacher_forced, train_judge  # noqa: E402
from paperzoo.vq.wavenet import mu_law_encode  # noqa: E402

NAME = "vqvae_audio"
CONFIG = "vq/vqvae_audio_fsdd"
JUDGE_SAMPLES = 8000  # judges read the first second
PRIOR_SAMPLE_LENGTH = 4096  # samples (0.51 s) of each of the prior's samples, whatever the hop


def fixed(waves: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.pad(waves, (0, max(n - waves.shape[1], 0)))[:, :n]


def codes_of(model, utt) -> list[torch.Tensor]:
    """Each recording's code sequence (its true length, rounded up to whole latents)."""
    out = []
    for i in range(len(utt.waves)):
        n = math.ceil(int(utt.lengths[i]) / model.hop) * model.hop
        out.append(model.encode(fixed(utt.waves[i : i + 1], n))[0])
    return out


def conversion_set(test, speakers: int, n: int) -> torch.Tensor:
    """``n`` test recordings, evenly over the speakers and within a speaker over all ten digits, takes
    rotating (FSDD files sort digit-first, so the first files of a speaker are all zeros and ones)."""
    chosen = []
    for s in range(speakers):
        for j in range(max(n // speakers, 1)):
            rows = torch.nonzero((test.speakers == s) & (test.digits == j % 10)).flatten()
            chosen.append(int(rows[(j // 10 + s) % len(rows)]))
    return torch.tensor(chosen)


def heard_digits(judge, waves: torch.Tensor) -> list[int]:
    """How often the judge answers each digit: a judge that drifts to one answer on decoded audio shows here."""
    return [int(n) for n in torch.bincount(predict(judge, waves), minlength=10)]


def bits_with_other_codes(model, test, crop: int) -> float:
    """Test cross-entropy (bits / sample) of the first ``crop`` samples decoded with the codes of another
    recording (the batch rolled by one): against the own-codes value, how much the decoder reads the latents."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(test.waves), 16):
            w, spk = fixed(test.waves[i : i + 16], crop), test.speakers[i : i + 16]
            target = mu_law_encode(w)
            z = model.upsample(model.quantize(w).quantized).roll(1, 0)
            total += float(F.cross_entropy(model.decoder(target, z, spk), target)) * len(w)
    return total / len(test.waves) / math.log(2)


def run_of(args):
    """(config, the loaded model (paperzoo.load), where it came from, training seconds, training command): a fresh
    run of CONFIG, a finished run (--run RUN_DIR) or a shipped model (--run zoo:ENTRY or an export folder)."""
    if args.run is None:
        cfg, run, seconds = train_steps(CONFIG, args.steps, Path(tempfile.mkdtemp(prefix="bench_vqvae_audio_")))
        return cfg, paperzoo.load(run), run, seconds, (run / "command.txt").read_text().strip()
    run = Path(args.run)
    if args.run.startswith("zoo:") or (run / "card.json").is_file():
        try:
            task = paperzoo.load(args.run)  # sha256-checked
        except paperzoo.PaperzooError as exc:
            bad_input(f"--run: {exc}")
        card = task.card
        if card.get("task") != "vqvae_audio":
            bad_input(f"--run: {args.run} is a {card.get('task')} model, not a raw-audio VQ-VAE")
        args.steps = card["training"]["steps"]
        seconds = card.get("zoo", {}).get("train_seconds", float("nan"))
        return build_config(card["training"]["config"]), task, args.run, seconds, card["training"]["command"]
    if not (run / "timing.json").is_file():
        bad_input(f"--run: {run} is not a finished training run (no timing.json), an export or zoo:ENTRY")
    timing = json.loads((run / "timing.json").read_text())
    args.steps = timing["global_step"]
    return (load_config(str(run / "config.yaml")), paperzoo.load(run), run, timing["wall_seconds"],
            (run / "command.txt").read_text().strip())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--run", help="evaluate this finished run of vq/vqvae_audio_fsdd (any model options), an export of one or "
                   "zoo:vqvae_audio_fsdd instead of training one")
    p.add_argument("--convert", type=int, default=60)
    p.add_argument("--judge-steps", type=int, default=1500)
    p.add_argument("--prior-steps", type=int, default=1500)
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.8], help="sampling temperatures of the conversions")
    p.add_argument("--tag", default="", help="suffix of the results entry and media folder (e.g. 'ctx4' -> vqvae_audio_ctx4)")
    args = p.parse_args(argv)
    name = NAME + (f"_{args.tag}" if args.tag else "")
    quiet_lightning()
    cfg, task, run_dir, seconds, command = run_of(args)  # refuses a bad --run before anything runs
    torch.set_num_threads(2)
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
    latents = {"bits_own_codes": bits_per_sample, "bits_other_codes": bits_with_other_codes(model, test, cfg.data.crop)}

    t = time.perf_counter()
    judge_x = fixed(train.waves, JUDGE_SAMPLES)
    digit_judge = train_judge(judge_x, train.digits, 10, steps=args.judge_steps)
    speaker_judge = train_judge(judge_x, train.speakers, len(speakers), steps=args.judge_steps, seed=1)
    judge_seconds = time.perf_counter() - t
    real_test = fixed(test.waves, JUDGE_SAMPLES)
    noise = torch.randn(len(real_test), JUDGE_SAMPLES, generator=torch.Generator().manual_seed(0)) * 0.1
    judges = {"digit_real": accuracy(digit_judge, real_test, test.digits), "speaker_real": accuracy(speaker_judge, real_test, test.speakers),
              "digit_white_noise": heard_digits(digit_judge, noise)}

    chosen = conversion_set(test, len(speakers), args.convert)
    source = fixed(test.waves[chosen], JUDGE_SAMPLES)
    src_spk, digits = test.speakers[chosen], test.digits[chosen]
    target = (src_spk + 1 + torch.arange(len(chosen)) % (len(speakers) - 1)) % len(speakers)
    forced = teacher_forced(model, source, src_spk, generator=torch.Generator().manual_seed(0))
    conversion = {"n": len(chosen), "digits": [int(d) for d in torch.bincount(digits, minlength=10)],
                  "digit_answers_real": heard_digits(digit_judge, source), "digit_answers_teacher_forced": heard_digits(digit_judge, forced),
                  "digit_real_subset": accuracy(digit_judge, source, digits),
                  "digit_teacher_forced": accuracy(digit_judge, forced, digits),
                  "speaker_teacher_forced_is_source": accuracy(speaker_judge, forced, src_spk), "by_temperature": {}}
    media = ROOT / "docs" / name  # listening samples sit beside RESULTS.md, like the figures
    listen = media / "conversions"
    shutil.rmtree(listen, ignore_errors=True)  # this run's samples only
    for temperature in args.temperatures:
        t = time.perf_counter()
        kw = dict(temperature=temperature, generator=torch.Generator().manual_seed(0))
        converted, reconstructed = model.convert(source, target, **kw), model.convert(source, src_spk, **kw)
        generation_seconds = time.perf_counter() - t
        conv_speaker = predict(speaker_judge, converted)
        conversion["by_temperature"][str(temperature)] = {
            "digit_reconstructed": accuracy(digit_judge, reconstructed, digits),
            "digit_answers_reconstructed": heard_digits(digit_judge, reconstructed),
            "digit_converted": accuracy(digit_judge, converted, digits),
            "speaker_reconstructed_is_source": accuracy(speaker_judge, reconstructed, src_spk),
            "speaker_converted_is_target": float((conv_speaker == target).float().mean()),
            "speaker_converted_is_source": float((conv_speaker == src_spk).float().mean()),
            "samples_per_second": 2 * converted.numel() / generation_seconds,
        }
        if temperature == args.temperatures[0]:
            for i in range(0, len(chosen), max(len(chosen) // 12, 1)):
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
    sampled = prior.generate(PRIOR_SAMPLE_LENGTH // model.hop, g=torch.arange(len(speakers)),
                             generator=torch.Generator().manual_seed(0))
    sample_audio = model.decode(sampled, torch.arange(len(speakers)), generator=torch.Generator().manual_seed(0))
    for s, speaker_name in enumerate(speakers):
        write_audio(media / "prior_samples" / f"{speaker_name}.wav", sample_audio[s].numpy(), rate)
    prior_row = {"bits_per_code": prior_bits, "uniform_bits": math.log2(k), "unigram_bits": unigram, "train_seconds": prior_seconds,
                 "sample_digits": [int(d) for d in predict(digit_judge, fixed(sample_audio, JUDGE_SAMPLES))]}

    vq = {"steps": args.steps, "train_minutes": seconds / 60, "bits_per_sample": bits_per_sample,
          "perplexity": sum(val_ppl) / len(val_ppl), "judge_seconds": judge_seconds, **latents,
          "model_options": dict(cfg.model.options), "command": command}
    c = conversion
    rows = [
        ["VQ-VAE test cross-entropy (bits / sample; uniform = 8)", f"{bits_per_sample:.3f}"],
        ["  the same with another recording's codes (how much the decoder reads the latents)", f"{latents['bits_other_codes']:.3f}"],
        ["VQ-VAE codebook perplexity on test windows (K = 512)", f"{vq['perplexity']:.1f}"],
        ["digit judge on real test recordings (300)", f"{100 * judges['digit_real']:.1f}%"],
        ["speaker judge on real test recordings (300)", f"{100 * judges['speaker_real']:.1f}%"],
        ["digit judge on white noise (300 draws): counts per digit 0-9", " ".join(map(str, judges["digit_white_noise"]))],
        [f"digit judge on the {c['n']} real conversion sources ({min(c['digits'])}-{max(c['digits'])} per digit)",
         f"{100 * c['digit_real_subset']:.1f}%"],
        ["digit judge on teacher-forced samples (true past, own speaker)", f"{100 * c['digit_teacher_forced']:.1f}%"],
        ["speaker judge: teacher-forced samples heard as the source speaker", f"{100 * c['speaker_teacher_forced_is_source']:.1f}%"],
        ["digit judge's answers 0-9 (counts): real sources / teacher-forced",
         " ".join(map(str, c["digit_answers_real"])) + " / " + " ".join(map(str, c["digit_answers_teacher_forced"]))],
    ]
    for temperature, r in c["by_temperature"].items():
        rows += [
            [f"T = {temperature}: digit judge on reconstructions (own speaker, free-running)", f"{100 * r['digit_reconstructed']:.1f}%"],
            [f"T = {temperature}: digit judge's answers 0-9 on reconstructions (counts)", " ".join(map(str, r["digit_answers_reconstructed"]))],
            [f"T = {temperature}: digit judge on conversions (other speaker): content kept", f"{100 * r['digit_converted']:.1f}%"],
            [f"T = {temperature}: speaker judge: reconstruction heard as the source speaker", f"{100 * r['speaker_reconstructed_is_source']:.1f}%"],
            [f"T = {temperature}: speaker judge: conversion heard as the target speaker", f"{100 * r['speaker_converted_is_target']:.1f}%"],
            [f"T = {temperature}: speaker judge: conversion still heard as the source speaker", f"{100 * r['speaker_converted_is_source']:.1f}%"],
        ]
    rows += [
        ["linear probe, bag of codes -> digit (chance 10%)", f"{100 * probe['digit']:.1f}%"],
        [f"linear probe, bag of codes -> speaker (chance {100 / len(speakers):.0f}%)", f"{100 * probe['speaker']:.1f}%"],
        ["codes used by the training recordings", f"{probe['codes_used_train']} / {k}"],
        ["prior (WaveNet over codes, given the speaker): test bits per code", f"{prior_bits:.2f}"],
        ["  vs uniform / unigram entropy", f"{math.log2(k):.2f} / {unigram:.2f}"],
        ["digits the judge hears in the prior's 6 samples", " ".join(map(str, prior_row["sample_digits"]))],
    ]
    speeds = ", ".join(f"{r['samples_per_second']:.0f} at T = {t}" for t, r in c["by_temperature"].items())
    evaluated = f" (evaluated: `--run {args.run}`)" if args.run else ""
    text = (f"FSDD (6 speakers, 8 kHz), test = takes 0-4 (300 recordings), train = takes 5-49. VQ-VAE{evaluated}: `{vq['command']}` "
            f"(model options {vq['model_options']}), {args.steps} steps of {cfg.data.batch_size} x {cfg.data.crop:,}-sample windows, "
            f"seed {cfg.seed} ({seconds / 60:.1f} min on this CPU). Judges: log-mel CNNs trained {args.judge_steps} steps on the "
            f"real training recordings (first second), half of each batch with white noise at 0-30 dB SNR. Conversions: "
            f"{c['n']} test recordings (first second; each speaker once per digit), decoded with another speaker's id "
            f"(conversion) and with their own (reconstruction) by compiled fast WaveNet generation (samples/s: {speeds}); "
            f"teacher-forced: every sample drawn given the true past (T = 1). Prior: {args.prior_steps} steps.\n\n"
            + table(["measure", "value"], rows) + "\n")
    write_results(name, {"settings": vars(args), "vqvae": vq, "judges": judges, "conversion": conversion, "probe": probe,
                         "prior": prior_row, "run_dir": str(run_dir)}, text)
    print(text)
    print(f"listening samples under {media}")


if __name__ == "__main__":
    main()
