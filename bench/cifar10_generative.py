"""CIFAR-10 generative comparison at CPU scale: VAE vs VQ-VAE + PixelCNN vs VQ-VAE + PixelSNAIL,
VQ-VAE-2 level counts, and sample quality with and without classifier-based rejection sampling.

Dataset: CIFAR-10 from the data root (PAPERZOO_DATA=../shared/data; JPEG copy), train split for
training, test split for every number. Seed 0. CPU budget (2 cores, about 40 minutes in all):
  * VAE and VQ-VAE (Sonnet architecture, 8x8 latents): --steps steps each, batch 32, Adam 3e-4,
    bf16 autocast + torch.compile;
  * priors on the VQ-VAE's codes: class-conditional Gated PixelCNN (64 channels, 6 layers) and
    PixelSNAIL (64 channels, 2 blocks), --prior-steps steps each, batch 64, validated on 2,000 maps;
  * VQ-VAE-2 (vqvae2_cifar10_small, K=256, D=32) with 1, 2 and 3 levels: --level-steps steps each;
  * the CIFAR-10 classifier (width 32; features + rejection judge): --clf-steps steps, batch 64;
    CAS classifiers: width 16, 200 steps of 64.
Sample metrics use 100 samples per class (1,000) against the 10,000 test images, features of the
paperzoo cifar_classifier (not Inception: numbers are "FID-style", comparable only among themselves).
Paper claims checked: VQ-VAE bits/dim within ~0.2 of the VAE; rejection sampling improves the
FID-style score and precision at some cost in recall.
Usage: PAPERZOO_DATA=../shared/data python bench/cifar10_generative.py [--steps 5000] ...
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

import paperzoo  # noqa: E402
from paperzoo.data.cifar10 import load_cifar10  # noqa: E402
from paperzoo.data.registry import require_dataset  # noqa: E402
from paperzoo.engine.run import evaluate, train  # noqa: E402
from paperzoo.io.checkpoints import load_model  # noqa: E402
from paperzoo.metrics.inception import FIDInceptionV3  # noqa: E402
from paperzoo.metrics.generative import classification_accuracy_score, frechet_distance, precision_recall  # noqa: E402
from paperzoo.priors.rejection import rejection_sample  # noqa: E402
from paperzoo.priors.samplers import sample_codes  # noqa: E402
from paperzoo.vq.task import to_model_pixels  # noqa: E402
from paperzoo.vq.codes import extract_codes  # noqa: E402

FAST = ["trainer.precision=bf16-mixed", "trainer.compile=true", "trainer.progress_bar=false"]


def run(config: str, out: Path, overrides: list[str], eval_overrides=("trainer.precision=32-true", "trainer.compile=false")):
    t0 = time.perf_counter()
    run_dir = train(config, [f"out_dir={out}", *overrides])
    metrics = evaluate(run_dir, list(eval_overrides))["metrics"]
    print(config, overrides[:2], {k: round(v, 4) for k, v in metrics.items()}, f"{time.perf_counter() - t0:.0f} s", flush=True)
    return run_dir, metrics, time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--prior-steps", type=int, default=2000)
    p.add_argument("--level-steps", type=int, default=1500)
    p.add_argument("--clf-steps", type=int, default=1500)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--inception-weights", help="FID Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth): adds real FID")
    p.add_argument("--vae-only", action="store_true",
                   help="re-run only the VAE baseline and update its numbers in the last results")
    a = p.parse_args(argv)
    if a.vae_only:
        return rerun_vae(a)
    root = require_dataset("cifar10")
    test_images, test_labels = load_cifar10(root, "test")
    real = to_model_pixels(torch.from_numpy(test_images))
    results, t_start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        steps = [f"trainer.max_steps={a.steps}", f"trainer.val_every={a.steps}"]
        vq_run, vq_m, _ = run("vq/vqvae_sonnet_cifar10", tmp, steps + FAST)
        _, vae_m, _ = run("vq/vae_sonnet_cifar10", tmp, steps + FAST)
        codes = extract_codes(vq_run, tmp / "codes", source="cifar10")
        prior_steps = [f"trainer.max_steps={a.prior_steps}", f"trainer.val_every={a.prior_steps}", f"data.codes_dir={codes}",
                       "model.class_conditional=true", "trainer.progress_bar=false", "data.limit_val=2000", "model.channels=64"]
        pixelcnn_run, pixelcnn_m, _ = run("priors/prior_cifar10", tmp, prior_steps + ["model.layers=6"], eval_overrides=())
        _, snail_m, _ = run("priors/prior_pixelsnail_cifar10", tmp, prior_steps + ["model.blocks=2"], eval_overrides=())
        results["bits_per_dim"] = {"vae": vae_m["val/bits_per_dim"], "vqvae_pixelcnn": pixelcnn_m["val/bits_per_dim"],
                                   "vqvae_pixelsnail": snail_m["val/bits_per_dim"], "vqvae_uniform": vq_m["val/bits_per_dim_uniform"],
                                   "vqvae_nmse": vq_m["val/nmse"], "vae_nmse": vae_m["val/nmse"]}

        levels = {}
        for n_levels in (1, 2, 3):
            _, m, _ = run("vq/vqvae2_cifar10_small", tmp, [f"name=vq2_l{n_levels}", f"model.options.levels={n_levels}",
                                                          f"trainer.max_steps={a.level_steps}", f"trainer.val_every={a.level_steps}",
                                                          "trainer.progress_bar=false"])
            levels[n_levels] = {"mse": m["val/mse"], "nmse": m["val/nmse"], "psnr": m["val/psnr"]}
        results["vqvae2_levels"] = levels

        clf_run, clf_m, _ = run("vq/cifar_classifier", tmp, [f"trainer.max_steps={a.clf_steps}", "model.width=32",
                                                             "data.batch_size=64", f"trainer.val_every={a.clf_steps}",
                                                             "trainer.progress_bar=false"], eval_overrides=())
        judge, prior, vq = load_model(clf_run), load_model(pixelcnn_run), load_model(vq_run)
        with torch.no_grad():
            real_feats = torch.cat([judge.features(real[i : i + 500]) for i in range(0, len(real), 500)]).numpy()

        def draw(label, count, seed):
            labels = torch.full((count,), label)
            return vq.decode_codes(sample_codes(prior, (8, 8), count, seed=seed, labels=labels)).clamp(-0.5, 0.5)

        sample_sets, acceptance = {}, {}
        for threshold in (0.0, 0.5, 0.9):
            images, labels, rates = [], [], []
            for c in range(10):
                seeds = iter(range(1000 * c, 1000 * (c + 1)))
                res = rejection_sample(lambda b: draw(c, b, next(seeds)), judge, target=c, threshold=threshold,
                                       n=a.per_class, batch=a.per_class, max_draws=20 * a.per_class)
                images.append(res.samples)
                labels.append(torch.full((len(res.samples),), c))
                rates.append(res.acceptance_rate)
            sample_sets[threshold] = (torch.cat(images), torch.cat(labels))
            acceptance[threshold] = float(np.mean(rates))
            print(f"threshold {threshold}: {len(sample_sets[threshold][0])} samples, acceptance {acceptance[threshold]:.3f}", flush=True)

        quality = {}
        for threshold, (images, labels) in sample_sets.items():
            with torch.no_grad():
                feats = torch.cat([judge.features(images[i : i + 500]) for i in range(0, len(images), 500)]).numpy()
            precision, recall = precision_recall(real_feats[:2000], feats)
            cas = classification_accuracy_score(images, labels, real, torch.from_numpy(test_labels),
                                                make_model=lambda: paperzoo.create_model("cifar_classifier", width=16),
                                                steps=200, batch=64)
            quality[threshold] = {"fid_style": frechet_distance(real_feats, feats), "precision": precision, "recall": recall,
                                  "cas": cas, "acceptance_rate": acceptance[threshold], "samples": len(images)}
            if a.inception_weights:  # real FID: Inception pool features, images scaled to [0, 1]
                inception = FIDInceptionV3.from_file(a.inception_weights)
                incep = lambda x: torch.cat([inception(x[i:i + 100] + 0.5) for i in range(0, len(x), 100)]).numpy()  # noqa: E731
                with torch.no_grad():
                    quality[threshold]["fid_inception"] = frechet_distance(incep(real), incep(images))
            print(threshold, quality[threshold], flush=True)
        results["samples"] = quality
        results["classifier_accuracy"] = clf_m["val/accuracy"]
    results["minutes"] = (time.perf_counter() - t_start) / 60
    results["settings"] = {k: getattr(a, k) for k in ("steps", "prior_steps", "level_steps", "clf_steps", "per_class")}
    report(results)


def rerun_vae(a):
    import json

    from _results import RESULTS

    results = json.loads((RESULTS / "cifar10_generative.json").read_text())
    results.setdefault("settings", {k: getattr(a, k) for k in ("steps", "prior_steps", "level_steps", "clf_steps", "per_class")})
    with tempfile.TemporaryDirectory() as tmp:
        steps = [f"trainer.max_steps={results['settings']['steps']}", f"trainer.val_every={results['settings']['steps']}"]
        _, vae_m, minutes = run("vq/vae_sonnet_cifar10", Path(tmp), steps + FAST)
    results["bits_per_dim"].update(vae=vae_m["val/bits_per_dim"], vae_nmse=vae_m["val/nmse"])
    results["vae_rerun_note"] = "VAE re-run alone (--vae-only) after the decoder variance became the ML estimate"
    report(results)


def report(results):
    a = argparse.Namespace(**results["settings"])
    quality = results["samples"]
    b = results["bits_per_dim"]
    md1 = table(["model (test split)", "bits/dim", "normalised MSE"], [
        ["VAE (Gaussian latent 8x8x64)", b["vae"], b["vae_nmse"]],
        ["VQ-VAE + Gated PixelCNN prior (class-cond.)", b["vqvae_pixelcnn"], b["vqvae_nmse"]],
        ["VQ-VAE + PixelSNAIL prior (class-cond.)", b["vqvae_pixelsnail"], b["vqvae_nmse"]],
        ["VQ-VAE, uniform prior", b["vqvae_uniform"], b["vqvae_nmse"]],
    ])
    md2 = table(["VQ-VAE-2 levels", "MSE [0,1]", "normalised MSE", "PSNR"],
                [[n, v["mse"], v["nmse"], v["psnr"]] for n, v in results["vqvae2_levels"].items()])
    md3 = table(["rejection threshold", "acceptance", "FID-style", "precision", "recall", "CAS"],
                [[float(t), q["acceptance_rate"], q["fid_style"], q["precision"], q["recall"], q["cas"]] for t, q in quality.items()])
    gap = b["vqvae_pixelcnn"] - b["vae"]
    setting = ("CIFAR-10 (JPEG copy from the data root), train split for training, test split for every number, seed 0; "
               "Sonnet-architecture VAE and VQ-VAE (8x8 latents, batch 32, Adam 3e-4, bf16 + torch.compile); "
               "class-conditional Gated PixelCNN (64 channels, 6 layers) and PixelSNAIL (64 channels, 2 blocks) priors on "
               "the VQ-VAE codes (batch 64, validated on 2,000 test maps); vqvae2_cifar10_small with 1-3 levels; the "
               "cifar_classifier (width 32) as feature extractor and rejection judge; CAS classifiers width 16, 200 steps. "
               "FID-style numbers use paperzoo cifar_classifier features, not Inception.")
    markdown = (f"`bench/cifar10_generative.py`: {setting}\n\n"
                f"Settings: --steps {a.steps}, --prior-steps {a.prior_steps}, --level-steps {a.level_steps}, "
                f"--clf-steps {a.clf_steps}; {results['minutes']:.0f} minutes. Classifier test accuracy "
                f"{results['classifier_accuracy']:.3f}.\n\n{md1}\n\nVQ-VAE + PixelCNN minus VAE: {gap:+.3f} bits/dim "
                f"(paper: +0.16, 4.67 vs 4.51).\n\n{md2}\n\nSamples of the class-conditional Gated PixelCNN prior, "
                f"up to {a.per_class} per class (rejection stops after {20 * a.per_class} draws per class; the 'samples' "
                f"field of the JSON says how many were kept), features of the paperzoo cifar_classifier:\n\n{md3}\n")
    if "vae_rerun_note" in results:
        markdown += f"\n{results['vae_rerun_note']}.\n"
    print(markdown)
    results = {k: v for k, v in results.items() if k not in ("name", "date", "machine", "markdown")}
    write_results("cifar10_generative", results, markdown)


if __name__ == "__main__":
    main()
