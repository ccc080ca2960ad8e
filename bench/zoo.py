"""Train, export and check the model zoo (``src/paperzoo/zoo/<entry>/``) on the real data.

Each entry is one ``paperzoo train`` command (its card shows it: rerunning it reproduces the
weights, same seed, same numbers within noise), exported with ``paperzoo export``, then its check
(``paperzoo.zoo.checks``) is measured on a small fixed real subset and written onto the card with
a tolerance, so CI can re-measure it. Runs go to ``runs/zoo/`` (kept: a rerun only re-exports).

Usage: PAPERZOO_DATA=../shared/data python bench/zoo.py [ENTRY ...] [--retrain]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, validation_log, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "zoo"
ZOO = ROOT / "src" / "paperzoo" / "zoo"
PAPERZOO = [str(Path(sys.executable).parent / "paperzoo")]  # the entry point: cards show `paperzoo train ...`

# entry: config, overrides, what it is for, the size / quality trade-off, check tolerance
ENTRIES = {
    "margin_cifar10": dict(
        config="losses/margin_cifar10", overrides=[],
        about="linear L1-hinge margin classifier, CIFAR-10 airplane (-1) vs automobile (+1) from raw pixels",
        tradeoff="3072 weights + the standardisation: the model is as small as the problem",
        tolerance=0.002),
    "vqvae_sonnet_cifar10": dict(
        config="vq/vqvae_sonnet_cifar10", overrides=[],  # float32: bf16 is emulated (slow) on CPUs without bf16 units
        about="VQ-VAE (van den Oord et al. 2017), the DeepMind Sonnet example's CIFAR-10 setting: 8x8 latents, K=512",
        tradeoff="the paper-scale CIFAR-10 model at its full 10k-step schedule (float32 weights)",
        tolerance=1e-4),
    "prior_cifar10": dict(
        config="priors/prior_cifar10", needs="vqvae_sonnet_cifar10",
        overrides=["model.class_conditional=true", "model.channels=64", "model.layers=6", "trainer.max_steps=3000",
                   "trainer.val_every=1000", "trainer.checkpoint_every=1000", "data.codes_dir=codes/cifar10"],
        about="class-conditional Gated PixelCNN over the VQ-VAE's CIFAR-10 codes (ships with that VQ-VAE inside)",
        tradeoff="64 channels x 6 layers, 3000 steps: the paper's prior is 128 x 15 for far longer; "
                 "this one fits a 2-core CPU and its sampler is fast",
        tolerance=0.01),
    "bpr_mf_luxury_beauty": dict(
        config="recsys/bpr_mf_luxury_beauty", overrides=["trainer.max_steps=4000", "trainer.val_every=500"],
        about="BPR-MF (Rendle et al. 2009), dim 64, on Amazon 2018 Luxury Beauty (5-core, chronological leave-one-out)",
        tradeoff="the full model: every user and item embedding of the dataset (3,819 users, 1,581 items)",
        tolerance=1e-4),
    "audioslots_fsdd2mix": dict(
        # bf16 autocast, the config's: 2x faster here (AMX). The magnitude-weighted loss (W = 1; the decoder
        # ablation's only variant that moved separation) at 12000 steps beat the paper's MSE at 20000 (validation
        # 8.54 vs 7.38 dB); warm-up 100 = the paper's proportion (2,500 of 300k steps). 18000 steps: the 12000-step
        # model continued for 5000 more gained 0.4 dB (RESULTS: audioslots_fsdd2mix_cont), so the budget goes into one
        # schedule; a wider encoder and slot transformer trailed at equal steps (RESULTS: audioslots_capacity)
        config="separation/audioslots_fsdd2mix",
        overrides=["trainer.max_steps=18000", "trainer.val_every=1000", "trainer.checkpoint_every=1000", "optim.warmup_steps=100",
                   "loss.magnitude_weight=1"],
        about="AudioSlots (Reddy et al. 2023) at CPU scale on fsdd2mix: two FSDD speakers per 1 s mixture, 8 kHz; "
              "trained with the magnitude-weighted MSE (loss.magnitude_weight=1, not the paper's plain MSE)",
        tradeoff="audioslots_small (one ResNet block per stage, 2-layer query transformer of width 128, 3-layer decoder "
                 "of 64) at 18000 steps of batch 16: below the paper's separation quality (see docs/RESULTS.md, AudioSlots)",
        tolerance=0.05),
    "vqvae_audio_fsdd": dict(
        config="vq/vqvae_audio_fsdd",
        # context_layers=4 (the codes' neighbours condition each sample; not in the paper): against the same run without
        # it (seed, steps, widths): 4.52 vs 4.56 test bits per sample, conversions heard as the target 77% vs 53%, digits
        # kept alike (35% vs 28% of conversions, 30% vs 37% of reconstructions, +-6 points; RESULTS: vqvae_audio_ctx4).
        # Hop 64 kept: downsamplings=5 (4 ms codes) kept the digits alike and the target voice in 52%, not 77% (vqvae_audio_hop32)
        overrides=["model.options.residual=64", "model.options.skip=128", "model.options.context_layers=4", "trainer.max_steps=5000",
                   "trainer.val_every=500", "trainer.checkpoint_every=500"],
        about="raw-audio VQ-VAE (van den Oord et al. 2017, section 4.3) on FSDD (6 speakers, 8 kHz): 64x strided encoder, "
              "K = 512 codes, WaveNet decoder given the codes and a speaker id; `paperzoo convert-speaker` uses it",
        tradeoff="WaveNet of 64 residual / 128 skip channels, 2 cycles of dilations 1..128 (64 ms), conditioned on the codes "
                 "through 4 residual convolutions (each sample sees its code and 4 either side), 5000 steps of 8 x 2,048 "
                 "samples on one CPU thread: far smaller and shorter-trained than the paper's decoder; what it keeps of the digit "
                 "and the voice is measured in docs/RESULTS.md (vqvae_audio_ctx4; vqvae_audio: the same without the context)",
        tolerance=1e-3),
    "pcrec_gin_grocery2014": dict(
        config="recsys/pcrec_pretrain",
        overrides=["data.source=grocery2014", "data.subgraph.max_hops=2", "trainer.max_steps=10000", "trainer.val_every=1000",
                   "trainer.checkpoint_every=10000"],
        about="PCRec's pre-trained GIN encoder (Wang et al. 2021; GCC-style MoCo on r = 2 ego subgraphs) on Grocery 2014: "
              "fine-tuning reads it with init.pretrained=zoo:pcrec_gin_grocery2014 (strategy 3: it generates the initial embeddings)",
        tradeoff="the full encoder (5 GIN layers of 64), 10,000 steps of batch 32: view matching is flat from 1,000 steps, but "
                 "fine-tuned strategy 3 gains from the longer training (docs/RESULTS.md, pcrec_pretrain_curve)",
        tolerance=0.005),
    "r3d_18_shapes": dict(
        config="video/r3d_18_shapes", overrides=[],
        about="R3D-18 (Tran et al. 2018) at width 16 on moving shapes (10 motion classes; motion is the only label)",
        tradeoff="width 16 (paper 64), 8x2 frames at 32x32: a CPU-scale 3D CNN",
        tolerance=0.011),
    "tsn_flow_shapes": dict(
        config="video/tsn_flow_shapes", overrides=[],
        about="TSN flow stream (Wang et al. 2016), 3 segments of 5 Farneback flow fields, on moving shapes",
        tradeoff="BN-Inception at width 0.25, 64x64 crops: a CPU-scale flow stream",
        tolerance=0.011),
}


def run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def latest_run(name: str) -> Path | None:
    runs = sorted((RUNS / "runs" / name).glob("2*")) if (RUNS / "runs" / name).is_dir() else []
    return runs[-1] if runs else None


def train(entry: str, spec: dict, retrain: bool) -> Path:
    name = spec["config"].split("/")[-1]
    run_dir = latest_run(name)
    if run_dir is None or retrain or not (run_dir / "timing.json").is_file():
        if spec.get("needs"):  # the prior trains on the codes of the VQ-VAE entry
            run(PAPERZOO + ["extract-codes", "--model", f"zoo:{spec['needs']}", "-o", "codes/cifar10"], RUNS)
        run(PAPERZOO + ["train", spec["config"], *spec["overrides"]], RUNS)
        run_dir = latest_run(name)
    return run_dir


def build(entry: str, spec: dict, retrain: bool) -> dict:
    from paperzoo.zoo import checks

    run_dir = train(entry, spec, retrain)
    out = ZOO / entry
    if out.exists():
        shutil.rmtree(out)
    run(PAPERZOO + ["export", "--model", str(run_dir), "-o", str(out)], RUNS)
    card_path = out / "card.json"
    card = json.loads(card_path.read_text())
    timing = json.loads((run_dir / "timing.json").read_text())
    card["zoo"] = {"about": spec["about"], "tradeoff": spec["tradeoff"], "train_seconds": timing["wall_seconds"],
                   "machine": f"{os.cpu_count()} CPU cores", "validation_curve": validation_log(run_dir)}
    if spec.get("needs"):  # run before the training command
        card["zoo"]["prepare"] = f"paperzoo extract-codes --model zoo:{spec['needs']} -o codes/cifar10"
    card_path.write_text(json.dumps(card, indent=2))
    start = time.perf_counter()
    check = checks.measure(entry)
    check["tolerance"] = spec["tolerance"]
    check["seconds"] = round(time.perf_counter() - start, 1)
    card["zoo"]["check"] = check
    card_path.write_text(json.dumps(card, indent=2))
    print(f"{entry}: {check['metric']} {check['value']:.4f} on {check['subset']}")
    return card


def write_zoo_results() -> None:
    """One row per shipped entry (all of them, not only the ones built in this run)."""
    import paperzoo.zoo as zoo

    rows, cards = [], {}
    for name in zoo.entry_names():
        card = cards[name] = zoo.card(name)
        z, t, check = card["zoo"], card["training"], card["zoo"]["check"]
        size = sum(f["bytes"] for f in card["files"].values()) / 1e6
        reference = f"{check['baseline_name']} {check['baseline']:.4g}" if "baseline" in check else "-"
        rows.append([f"zoo:{name}", card["architecture"], f"`{t['command']}`", t["steps"], t["seed"],
                     f"{z['train_seconds'] / 60:.1f}", f"{size:.2f}", check["metric"], f"{check['value']:.4g} (± {check['tolerance']:g})",
                     reference, check["subset"]])
    total = sum(f["bytes"] for c in cards.values() for f in c["files"].values()) / 1e6
    markdown = (f"`bench/zoo.py`: the shipped weights (`paperzoo zoo list`), each trained by the command shown on the real data "
                f"in `../shared/data` (seed as shown; a prior first runs its card's `prepare` command), exported, and checked: "
                f"the check is re-measured in CI (`tests/test_zoo.py`) on the subset named, within the tolerance shown. "
                f"Train minutes are wall time on this machine. Total size {total:.1f} MB.\n\n"
                + table(["entry", "architecture", "command", "steps", "seed", "train min", "MB", "check", "value", "reference", "subset"], rows))
    write_results("zoo", {"entries": cards}, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("entries", nargs="*", help=f"default: all of {', '.join(ENTRIES)}")
    parser.add_argument("--retrain", action="store_true", help="train again even when a finished run exists")
    args = parser.parse_args()
    os.environ.setdefault("PAPERZOO_DATA", str(ROOT.parent / "shared" / "data"))
    unknown = set(args.entries) - set(ENTRIES)
    if unknown:
        parser.error(f"unknown entries {sorted(unknown)}; entries: {', '.join(ENTRIES)}")
    RUNS.mkdir(parents=True, exist_ok=True)
    for entry in args.entries or ENTRIES:
        build(entry, ENTRIES[entry], args.retrain)
    write_zoo_results()


if __name__ == "__main__":
    main()
