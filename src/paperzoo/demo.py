"""`paperzoo demo`: a tour of every family on generated data, offline, in about five minutes on 2 cores.

Writes into OUT (default runs/demo); every run directory also holds what was made with it, so
``report.html`` (``paperzoo report`` over all of them) shows each next to its metrics:
    runs/margin_blobs/<stamp>/       a full engine run (config, metrics.csv, TensorBoard, checkpoints), plots/margin_losses.png
                                     (every margin loss and its derivative), margin_classifier.json (the 11 losses' accuracy)
    export/margin_linear/            that run exported as safetensors + JSON, reloaded and checked
    runs/vqvae_tiny_shapes/<stamp>/  a VQ-VAE on generated shapes (plots/, reconstructions/ of held-out shapes)
    runs/prior_shapes/<stamp>/       a Gated PixelCNN prior over its codes (samples/: new images, fast sampler)
    runs/vqvae_audio_fsdd/<stamp>/   a raw-audio VQ-VAE with a WaveNet decoder (converted/: speaker conversion)
    runs/pcrec_*/, runs/demo_bpr_mf/ PCRec on two generated domains (recommendations.json)
    runs/audioslots_fsdd2mix/<stamp>/  AudioSlots on mixtures of generated voiced sounds (separated/ wavs, plots/)
    runs/r3d_18_shapes/, runs/tsn_flow_shapes/   a 3D CNN and a TSN optical-flow stream on generated motion
                                     videos (clips/, plots/flow.png)
    report.html                      one self-contained page of all of the above
    summary.json                     what was done, with the numbers and seconds per section
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from paperzoo.data.cifar10 import CLASSES as CIFAR_CLASSES
from paperzoo.io.atomic import atomic_write_text
from paperzoo.report.html import write_report


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def demo_margin_losses(out: Path) -> dict:
    from paperzoo.data.synthetic import gaussian_blobs
    from paperzoo.engine.run import evaluate, train
    from paperzoo.io.bundle import export_run, load
    from paperzoo.losses import MarginClassifier
    from paperzoo.losses.plot import default_losses, plot_margin_losses

    _section("margin losses: train a linear classifier with the engine (Lightning, checkpoints, export)")
    run_dir = train("losses/margin_blobs", [f"out_dir={out / 'runs'}", "trainer.progress_bar=false"])
    png = plot_margin_losses(run_dir / "plots" / "margin_losses.png")
    print(f"every margin loss and its derivative: {png}")
    metrics = evaluate(run_dir)["metrics"]
    export_dir = export_run(run_dir, out / "export" / "margin_linear")
    # the exported model alone must reproduce the engine's validation accuracy (same generated split)
    classifier = load(export_dir)
    X, y = gaussian_blobs(25_000, 20, separation=2.0, seed=0)
    export_acc = float((classifier.predict(X[20_000:]) == y[20_000:]).float().mean())
    print(f"run {run_dir}: val accuracy {metrics['val/accuracy']:.4f}; exported to {export_dir}, "
          f"reloaded model's accuracy {export_acc:.4f}")

    _section("margin losses: MarginClassifier with every loss (20-D blobs, 20k train / 5k test)")
    X, y = gaussian_blobs(25_000, 20, separation=2.0, seed=0)
    Xtr, ytr, Xte, yte = X[:20_000].numpy(), y[:20_000].numpy(), X[20_000:].numpy(), y[20_000:].numpy()
    rows = []
    for loss in default_losses():
        t0 = time.perf_counter()
        clf = MarginClassifier(loss, epochs=5, seed=0).fit(Xtr, ytr)
        rows.append({"loss": repr(loss), "test_accuracy": clf.score(Xte, yte), "fit_seconds": time.perf_counter() - t0})
        print(f"  {rows[-1]['loss']:<34} test accuracy {rows[-1]['test_accuracy']:.4f}  ({rows[-1]['fit_seconds']:.2f} s)")
    print("  (ZeroOneLoss has zero gradient everywhere, so it stays at its random start: the reason surrogates exist)")
    atomic_write_text(run_dir / "margin_classifier.json", json.dumps(rows, indent=2))
    return {"runs": [str(run_dir)], "plot": str(png), "run_dir": str(run_dir), "engine_val_accuracy": metrics["val/accuracy"],
            "exported_model_accuracy": export_acc,
            "export": str(export_dir), "classifier": rows}


def demo_vqvae(out: Path) -> dict:
    from PIL import Image

    from paperzoo.data.synthetic import shapes_images
    from paperzoo.engine.run import evaluate, train
    from paperzoo.io.bundle import export_run
    from paperzoo.vq.reconstruct import reconstruct

    _section("VQ-VAE: train vqvae_tiny on generated shapes (300 steps)")
    run_dir = train("vq/vqvae_tiny_shapes", [f"out_dir={out / 'runs'}", "trainer.progress_bar=false", "trainer.max_steps=300",
                                             "trainer.val_every=300", "trainer.checkpoint_every=300"])
    metrics = evaluate(run_dir)["metrics"]
    print("  " + "  ".join(f"{k.removeprefix('val/')} {v:.4g}" for k, v in metrics.items()))
    export_dir = export_run(run_dir, out / "export" / "vqvae_tiny")
    held_out = out / "shapes"
    held_out.mkdir(exist_ok=True)
    paths = []
    for i, img in enumerate(shapes_images(8, seed=12345).numpy()):
        paths.append(held_out / f"shape{i}.png")
        Image.fromarray(img).save(paths[-1])
    recon = reconstruct(paths, export_dir, run_dir / "reconstructions")
    print(f"  plots in {run_dir}/plots/; reconstructions of 8 held-out images in {recon}/grid.png")

    _section("VQ-VAE prior: extract codes, fit a Gated PixelCNN, sample new images (fast sampler)")
    from paperzoo.priors.generate import sample_images
    from paperzoo.vq.codes import extract_codes

    codes = extract_codes(export_dir, out / "codes" / "shapes", source="shapes")
    prior_run = train("priors/prior_shapes", [f"out_dir={out / 'runs'}", f"data.codes_dir={codes}", "trainer.progress_bar=false",
                                          "trainer.max_steps=150", "trainer.val_every=150", "trainer.checkpoint_every=150"])
    prior_metrics = evaluate(prior_run)["metrics"]
    samples = sample_images(prior_run, prior_run / "samples", n=16, seed=0)
    print(f"  prior: {prior_metrics['val/nll_bits_per_code']:.3f} bits per code (uniform: 7), "
          f"{prior_metrics['val/bits_per_dim']:.3f} bits/dim bound; samples in {samples}/samples.png")
    return {"runs": [str(run_dir), str(prior_run)], "run_dir": str(run_dir), "metrics": metrics, "export": str(export_dir),
            "reconstructions": str(recon),
            "prior_run": str(prior_run), "prior_metrics": prior_metrics, "samples": str(samples)}


def demo_pcrec(out: Path) -> dict:
    from paperzoo.data.synthetic import clustered_interactions
    from paperzoo.engine.run import evaluate, train
    from paperzoo.io.bundle import load

    _section("PCRec: pre-train a GIN on a generated source domain, fine-tune BPR-MF on a target domain")
    data = out / "recsys"
    data.mkdir(parents=True, exist_ok=True)
    source = clustered_interactions(data / "source.csv", [f"s{i}" for i in range(300)], [f"x{i}" for i in range(200)], n=4000, seed=0)
    target = clustered_interactions(data / "target.csv", [f"t{i}" for i in range(200)], [f"y{i}" for i in range(150)], n=2500, seed=1)
    quiet, runs = "trainer.progress_bar=false", f"out_dir={out / 'runs'}"
    pre = train("recsys/pcrec_pretrain", [runs, quiet, f"data.source={source}", "trainer.max_steps=150", "trainer.val_every=150",
                                          "trainer.checkpoint_every=150", "optim.warmup_steps=15", "data.val_nodes=256"])
    pre_metrics = evaluate(pre)["metrics"]
    print(f"  pre-training: two views of a node find each other among 256 nodes {pre_metrics['val/match_top1']:.1%} of the time")
    common = [runs, quiet, f"data.target={target}", "data.k_core=3", "data.batch_size=256", "trainer.max_steps=300",
              "trainer.val_every=300", "trainer.checkpoint_every=300"]
    results = {}
    for label, config, extra in (("BPR-MF (random init)", "recsys/bpr_mf_luxury_beauty", ["name=demo_bpr_mf"]),
                                 ("PCRec (encoder init)", "recsys/pcrec_finetune", [f"init.pretrained={pre}"])):
        run = train(config, common + extra)
        metrics = evaluate(run, ["data.eval_split=test", "init.mode=random"])["metrics"]
        results[label] = {"run_dir": str(run), **metrics}
        print(f"  {label:<22} test Recall@20 {metrics['test/recall@20']:.3f}  NDCG@20 {metrics['test/ndcg@20']:.3f}")
    recommender = load(run)
    lists = recommender.recommend(["t0", "t1", "t2"], 5)  # batched: one scoring pass for the three users
    top = lists[0]
    print("  paperzoo recommend --user t0 --k 5: " + ", ".join(f"{i} ({s:.2f})" for i, s in top))
    table = [{"user": u, "rank": r, "item": i, "score": round(s, 4)} for u, items in zip(("t0", "t1", "t2"), lists)
             for r, (i, s) in enumerate(items, 1)]
    atomic_write_text(run / "recommendations.json", json.dumps(table, indent=2))
    return {"runs": [str(pre)] + [r["run_dir"] for r in results.values()], "pretrain_run": str(pre), "pretrain_metrics": pre_metrics, "finetune": results, "recommend_t0": top}


def demo_separation(out: Path) -> dict:
    import torch

    from paperzoo.data.fsdd2mix import build_fsdd2mix
    from paperzoo.data.synthetic import synthetic_fsdd
    from paperzoo.engine.run import train
    from paperzoo.report.figures import spectrogram_figure
    from paperzoo.separation.separate import oracle_estimator, score_examples, separate_with
    from paperzoo.separation.spectral import stft
    from paperzoo.io.audio import read_audio, write_audio
    from paperzoo.io.bundle import load
    from paperzoo.separation.task import load_mixtures

    _section("AudioSlots: separate two-source mixtures of generated voiced sounds (fsdd2mix layout, 300 steps)")
    base = out / "separation"
    fsdd = synthetic_fsdd(base / "fake_fsdd")
    mixtures = build_fsdd2mix(fsdd, base / "fsdd2mix", splits=("seen",), counts={"train": 300, "val": 8, "test": 12})
    run = train("separation/audioslots_fsdd2mix", [f"out_dir={out / 'runs'}", "trainer.progress_bar=false", f"data.location={mixtures}",
                                              # 1 s chunks, a narrower audioslots_small, small batches: positive SI-SNRi in ~40 s
                                              "stft.chunk_seconds=1.0", "model.options={widths: [8, 16, 32, 64], decoder_hidden: 32}",
                                              "data.batch_size=4", "optim.lr=3e-3", "trainer.max_steps=300", "trainer.val_every=300",
                                              "trainer.checkpoint_every=300", "optim.warmup_steps=20", "data.limit_val=8",
                                              "trainer.precision=32-true"])  # bf16 autocast is slow on CPUs without bf16 units
    task = load(run)  # the Separator: STFT settings and rate travel with the model
    mix, ref = load_mixtures(mixtures / "seen" / "metadata" / "mixture_test_mix_clean.csv", 8000)
    with torch.no_grad():
        oracle = score_examples(oracle_estimator(task.stft_cfg), mix, ref, task.stft_cfg, masks=("ibm",), aligns=("oracle",))
        model = score_examples(task.estimator(), mix, ref, task.stft_cfg, masks=("ibm",), aligns=("oracle", "overlap"))
        est = separate_with(task.estimator(), mix[0], task.stft_cfg, mask="ibm", align="oracle", references=ref[0])
    print(f"  test SI-SNRi (IBM): oracle masks {oracle['ibm/oracle/si_snri']:.1f} dB; AudioSlots "
          f"{model['ibm/oracle/si_snri']:.1f} dB (oracle chunk order), {model['ibm/overlap/si_snri']:.1f} dB (reference-free)")
    cfg = task.stft_cfg
    figure = spectrogram_figure(stft(mix[0], cfg).abs().numpy(), stft(ref[0], cfg).abs().numpy(), stft(est, cfg).abs().numpy(),
                                run / "plots" / "separation_example.png", 8000, "test mixture 0: true vs AudioSlots estimates")
    first = sorted((mixtures / "seen" / "test" / "mix_clean").glob("*.wav"))[0]
    (run / "separated").mkdir(exist_ok=True)
    wave, rate = read_audio(first)
    files = [write_audio(run / "separated" / f"source_{i + 1}.wav", s.numpy(), rate)
             for i, s in enumerate(task.separate(wave, rate))]
    shutil.copy(first, run / "separated" / "mixture.wav")
    print(f"  paperzoo separate {first.name} -> {', '.join(f.name for f in files)} in {run / 'separated'}; figure {figure}")
    return {"runs": [str(run)], "run_dir": str(run), "oracle": oracle, "audioslots": model, "figure": str(figure)}


def demo_audio_vqvae(out: Path) -> dict:
    from paperzoo.data.synthetic import synthetic_fsdd
    from paperzoo.engine.run import train
    from paperzoo.io.audio import read_audio, write_audio
    from paperzoo.io.bundle import load

    _section("VQ-VAE on raw audio: 64x compressed discrete codes, WaveNet decoder, speaker conversion (generated voices)")
    fsdd = out / "separation" / "fake_fsdd"
    if not fsdd.is_dir():
        synthetic_fsdd(fsdd)
    run = train("vq/vqvae_audio_fsdd", [f"out_dir={out / 'runs'}", "trainer.progress_bar=false", f"data.location={fsdd}",
                                        "trainer.max_steps=100", "trainer.val_every=100", "trainer.checkpoint_every=100",
                                        "data.batch_size=8", "data.crop=1024", "model.options.cycles=1", "data.limit_val=8"])
    converted = run / "converted"
    converted.mkdir(exist_ok=True)
    files, converter = [], load(run)
    for source, target in (("0_george_0", "yweweler"), ("2_theo_1", "george")):  # takes 0-4 are held out
        original = fsdd / "recordings" / f"{source}.wav"
        shutil.copy(original, converted / f"{source}_real.wav")
        wave, rate = read_audio(original)
        files.append(write_audio(converted / f"{source}_as_{target}.wav", converter.convert(wave, rate, target).numpy(), rate))
    print(f"  held-out utterances re-spoken in another generated voice: {', '.join(f.name for f in files)} in {converted}")
    return {"runs": [str(run)], "run_dir": str(run), "converted": [str(f) for f in files]}


def demo_video(out: Path) -> dict:
    import numpy as np
    from PIL import Image

    from paperzoo.data.moving_shapes import build_moving_shapes
    from paperzoo.engine.run import evaluate, train
    from paperzoo.io.video import read_video
    from paperzoo.report.figures import flow_to_rgb, image_grid
    from paperzoo.io.bundle import load
    from paperzoo.video.flow import compute_flow

    _section("Video: a 3D CNN and a TSN optical-flow stream on generated moving shapes (motion is the only label)")
    data = build_moving_shapes(out / "video" / "moving_shapes", train=400, test=60, frames=16, size=32)
    common = [f"out_dir={out / 'runs'}", "trainer.progress_bar=false", f"data.location={data}", "trainer.max_steps=150",
              "trainer.val_every=150", "trainer.checkpoint_every=150"]
    results = {}
    for config, extra in (("video/r3d_18_shapes", []),
                          ("video/tsn_flow_shapes", [f"data.flow_dir={out / 'video' / 'flow'}", "data.flow_format=npy",
                                                     "trainer.max_steps=40", "trainer.val_every=40", "trainer.checkpoint_every=40"])):
        run = train(config, common + extra)
        results[config.split("/")[1]] = {"run_dir": str(run), "top1": evaluate(run)["metrics"]["val/top1"]}
    r3d, tsn = results["r3d_18_shapes"], results["tsn_flow_shapes"]
    print(f"  test top-1: R3D-18 (narrow, 150 steps) {100 * r3d['top1']:.0f}%, TSN on Farneback flow (40 steps) "
          f"{100 * tsn['top1']:.0f}% (chance 10%; a single frame stays near chance: bench/video_motion.py)")
    clips = Path(r3d["run_dir"]) / "clips"
    clips.mkdir(exist_ok=True)
    predictions, classifier = [], load(r3d["run_dir"])
    for cls in ("rotate_cw", "left", "zoom_in"):
        video = sorted((data / "videos" / cls).glob("*.mp4"))[0]
        top = classifier.predict(video, k=3)
        predictions += [{"video": video.name, "true": cls, "rank": r, "class": c, "probability": round(p, 4)} for r, (c, p) in enumerate(top, 1)]
        frames = read_video(video)
        big = [Image.fromarray(f).resize((96, 96), Image.NEAREST) for f in frames]
        big[0].save(clips / f"{cls}.gif", save_all=True, append_images=big[1:], duration=100, loop=0)
        if cls == "rotate_cw":
            print(f"  paperzoo predict {video.name}: " + ", ".join(f"{c} {p:.2f}" for c, p in top))
            flow = compute_flow(frames, "farneback")
            image_grid([frames[1:9], flow_to_rgb(flow[:8])], Path(tsn["run_dir"]) / "plots" / "flow.png", scale=4)
    atomic_write_text(clips / "predictions.json", json.dumps(predictions, indent=2))
    return {"runs": [v["run_dir"] for v in results.values()], **results, "predictions": predictions}


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # real example inputs of a source checkout


def _zoo_separation(out: Path) -> dict:
    import numpy as np

    from paperzoo.data.fsdd2mix import make_mixture
    from paperzoo.io.audio import read_audio, resample, write_audio
    from paperzoo.io.bundle import load
    from paperzoo.metrics.audio import separation_scores
    from paperzoo.separation.separate import oracle_estimator, separate_with

    separator = load("zoo:audioslots_fsdd2mix")
    a, b = (read_audio(EXAMPLES / "fsdd" / f"{n}.wav", 8000)[0] for n in ("3_george_0", "7_jackson_2"))
    mix, refs = (torch.from_numpy(x) for x in make_mixture(a, b, 8000, np.random.default_rng(0)))
    oracle = separate_with(oracle_estimator(separator.stft_cfg), mix, separator.stft_cfg, align="oracle", references=refs)
    got = {"oracle_ibm": separation_scores(oracle, refs, mix)["si_snri"],
           "audioslots_8k_mono": separation_scores(separator.separate(mix, 8000), refs, mix)["si_snri"]}
    # the same mixture as a user might have it: 16 kHz stereo (separate downmixes and resamples, returns 16 kHz)
    mix16 = torch.from_numpy(resample(mix.numpy(), 8000, 16000))
    refs16 = torch.from_numpy(resample(refs.numpy(), 8000, 16000))
    est16 = separator.separate(torch.stack([mix16, mix16]), 16000)
    got["audioslots_16k_stereo"] = separation_scores(est16, refs16, mix16)["si_snri"]
    folder = out / "zoo" / "separated"
    folder.mkdir(parents=True, exist_ok=True)
    write_audio(folder / "mixture.wav", mix.numpy(), 8000)
    for i, source in enumerate(separator.separate(mix, 8000)):
        write_audio(folder / f"source_{i + 1}.wav", source.numpy(), 8000)
    card = separator.card["zoo"]["check"]
    print(f"  zoo:audioslots_fsdd2mix on a real mixture of two held-out FSDD recordings (george '3' + jackson '7'):")
    print(f"    SI-SNRi {got['audioslots_8k_mono']:.1f} dB (8 kHz mono), {got['audioslots_16k_stereo']:.1f} dB (as 16 kHz stereo); "
          f"oracle IBM masks {got['oracle_ibm']:.1f} dB; its card: {card['value']:.1f} dB on {card['subset']}")
    print(f"    wavs in {folder}")
    return {"si_snri": got, "folder": str(folder)}


def _envelope_correlation(a, b, frame: int = 256) -> float:
    """Pearson correlation of two waveforms' RMS envelopes (32 ms frames at 8 kHz), over their common length."""
    import numpy as np

    n = min(len(a), len(b)) // frame * frame
    env = [np.sqrt(np.square(x[:n].reshape(-1, frame)).mean(1)) for x in (a, b)]
    return float(np.corrcoef(*env)[0, 1])


def _zoo_voice(out: Path) -> dict:
    from paperzoo.io.audio import read_audio, write_audio
    from paperzoo.io.bundle import load

    converter = load("zoo:vqvae_audio_fsdd")
    source, other = (read_audio(EXAMPLES / "fsdd" / f"{n}.wav", converter.sample_rate)[0] for n in ("3_george_0", "7_jackson_2"))
    folder = out / "zoo" / "converted"
    start = time.perf_counter()
    voices = {to: converter.convert(source, converter.sample_rate, to).numpy() for to in ("george", "jackson")}
    seconds = time.perf_counter() - start
    for to, wave in voices.items():
        write_audio(folder / f"3_george_0_as_{to}.wav", wave, converter.sample_rate)
    got = {f"envelope_correlation_as_{to}": _envelope_correlation(source, wave) for to, wave in voices.items()}
    got["envelope_correlation_other_utterance"] = _envelope_correlation(source, other)
    got["generation_seconds"] = seconds
    print(f"  zoo:vqvae_audio_fsdd re-speaks a held-out real recording (george '3') as george and as jackson "
          f"({2 * len(source) / converter.sample_rate:.1f} s of audio generated in {seconds:.1f} s, the first call compiling):")
    print(f"    loudness-envelope correlation with the input {got['envelope_correlation_as_george']:.2f} (as george), "
          f"{got['envelope_correlation_as_jackson']:.2f} (as jackson); another utterance (jackson '7'): "
          f"{got['envelope_correlation_other_utterance']:.2f}; wavs in {folder}")
    return got


def _zoo_images(out: Path) -> dict:
    import numpy as np
    from PIL import Image

    from paperzoo.io.bundle import load
    from paperzoo.report.figures import image_grid

    files = sorted((EXAMPLES / "cifar10").glob("*.jpg"))
    classes = [f.name.rsplit("_", 1)[0] for f in files]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)
    folder = out / "zoo" / "images"
    codec = load("zoo:vqvae_sonnet_cifar10")
    recon = codec.reconstruct(images)
    mse = float((recon - images).pow(2).mean())
    to_uint8 = lambda x: (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    grid = image_grid([pixels, to_uint8(recon)], folder / "reconstructions.png")
    card = codec.card["zoo"]["check"]
    print(f"  zoo:vqvae_sonnet_cifar10 on {len(files)} real CIFAR-10 test images: MSE {mse:.5f} "
          f"(PSNR {10 * np.log10(1 / mse):.1f} dB; card {card['value']:.5f} on {card['subset']}) -> {grid}")

    prior = load("zoo:prior_cifar10")
    nats = prior.nll(prior.vqvae.encode(images - 0.5), torch.tensor([CIFAR_CLASSES.index(c) for c in classes]))
    samples = prior.sample(10, seed=0)
    sample_grid = image_grid([to_uint8(samples.images)], folder / "prior_samples.png")
    print(f"  zoo:prior_cifar10: the real images' codes cost {nats / np.log(2):.2f} bits per code (uniform: {np.log2(prior.num_codes):.0f}); "
          f"one sample per class ({', '.join(CIFAR_CLASSES)}) -> {sample_grid}")

    margin = load("zoo:margin_cifar10")
    pair = [i for i, c in enumerate(classes) if c in margin.classes]
    pred = margin.predict(images[pair].permute(0, 2, 3, 1).flatten(1))
    named = [margin.classes[int(p > 0)] for p in pred]
    right = sum(n == classes[i] for n, i in zip(named, pair))
    print(f"  zoo:margin_cifar10: {right}/{len(pair)} of the real {' / '.join(margin.classes)} images right "
          f"(card: test accuracy {margin.card['zoo']['check']['value']:.3f}; chance 0.5)")
    return {"reconstruction_mse": mse, "prior_bits_per_code": nats / np.log(2), "margin_right": right, "margin_images": len(pair),
            "grids": [str(grid), str(sample_grid)]}


def _zoo_recommender() -> dict:
    from paperzoo.io.bundle import load

    recommender = load("zoo:bpr_mf_luxury_beauty")
    users = recommender.user_ids[:2].tolist()
    lists = recommender.recommend(users, k=5)
    check = recommender.card["zoo"]["check"]
    print(f"  zoo:bpr_mf_luxury_beauty, top-5 for two real Amazon Luxury Beauty users "
          f"(card: {check['metric']} {check['value']:.3f}, popularity ranking {check['baseline']:.3f}):")
    for user, items in zip(users, lists):
        print(f"    {user}: {' '.join(item for item, _ in items)}")
    return {"users": users, "recommendations": lists}


def _zoo_video(out: Path) -> dict:
    from paperzoo.data.moving_shapes import CLASSES, render_clip
    from paperzoo.io.bundle import load
    from paperzoo.io.video import write_video

    folder = out / "zoo" / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    paths, labels = [], []
    for index in range(90_000, 90_020):  # clips no model saw (training used indices below 2,500)
        frames, label = render_clip(index, seed=0, frames=16, size=32, label=index % len(CLASSES))
        paths.append(write_video(folder / f"{CLASSES[label]}_{index}.mp4", frames, 25))
        labels.append(CLASSES[label])
    got = {}
    for name in ("r3d_18_shapes", "tsn_flow_shapes"):
        model = load(f"zoo:{name}")
        top = [model.predict(p, clips=1, crops=1, k=1)[0][0] for p in paths]
        got[name] = sum(t == y for t, y in zip(top, labels)) / len(paths)
    print(f"  zoo video models on {len(paths)} new moving-shapes clips: top-1 R3D-18 {100 * got['r3d_18_shapes']:.0f}%, "
          f"TSN flow {100 * got['tsn_flow_shapes']:.0f}% (chance 10%)")
    return {"top1": got}


def demo_zoo(out: Path) -> dict:
    _section("model zoo: the shipped pretrained models (paperzoo zoo list) on real inputs from examples/")
    if not EXAMPLES.is_dir():
        print(f"  (no {EXAMPLES}: the example inputs ship with a source checkout; skipping)")
        return {"runs": []}
    return {"runs": [], "separation": _zoo_separation(out), "voice": _zoo_voice(out), "images": _zoo_images(out), "recommender": _zoo_recommender(),
            "video": _zoo_video(out)}


SECTIONS = {"zoo": demo_zoo, "margin_losses": demo_margin_losses, "vqvae": demo_vqvae, "audio_vqvae": demo_audio_vqvae, "pcrec": demo_pcrec,
            "separation": demo_separation, "video": demo_video}


def run_demo(out: Path) -> dict:
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"seconds_per_section": {}}
    for name, section in SECTIONS.items():
        start = time.perf_counter()
        summary[name] = section(out)
        summary["seconds_per_section"][name] = round(time.perf_counter() - start, 1)
    _section("report: every run of the tour on one self-contained page")
    start = time.perf_counter()
    runs = [r for name in SECTIONS for r in summary[name]["runs"]]
    report = write_report(runs, out / "report.html", title="paperzoo demo")
    summary["seconds_per_section"]["report"] = round(time.perf_counter() - start, 1)
    summary["report"] = str(report)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    print(f"  {report} ({report.stat().st_size / 2**20:.1f} MB; open it in any browser, no server needed)")
    _section(f"demo finished in {summary['seconds']} s; results in {out}/")
    return summary
