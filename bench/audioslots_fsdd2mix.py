"""AudioSlots at CPU scale: the paper's Table 1 on fsdd2mix (two FSDD speakers per 1 s mixture).

Data: fsdd2mix built from ../shared/data/fsdd at 8 kHz with fixed seeds (2,000 train / 200 val /
300 test mixtures per split; utterances overlap by at least half of the shorter one): the
``seen`` split (test takes 0-4 of every speaker) and the ``unseen`` split (speakers nicolas and
yweweler held out). STFT: the paper's scaled to 8 kHz (window 256, hop 62; a 0.5 s chunk is 129 x
65 bins), magnitude^0.3.
Rows, as in the paper's Table 1: Oracle (true source magnitudes as masks) with 0.5 s and 1 s chunks;
Autoencoder (one slot, each source reconstructs itself; its output used as the mask);
AudioSlots with 0.5 s and 1 s chunks; AudioSlots with Slot Attention (3 iterations) in place of the
query transformer, which the paper's discussion reports as similar. Each trained model: audioslots_small, --steps steps of
batch 16 (Adam 1e-3, 150 warm-up steps, cosine, bf16 autocast), seed 0. Every number is the mean over the test
mixtures of SI-SNR / SI-SNRi (dB), IBM and Wiener-like masks; chunk order by oracle alignment (the
paper's protocol) and by the reference-free overlap alignment. Real-time factor: separation time
(IBM, reference-free) / audio duration on this CPU.
Targets (from the paper's ratios): AudioSlots SI-SNRi >= 75% of Oracle-IBM SI-SNRi; AudioSlots
within 1 dB of the Autoencoder.
Decoder ablation (``--decoder-ablation``, seen split): the Autoencoder (the decoder's ceiling) and
AudioSlots (0.5 s) trained with each decoder variant of DECODERS at the same steps and seed, with
each run's validation SI-SNRi curve (IBM, oracle alignment, 100 validation mixtures).
Usage: PAPERZOO_DATA=../shared/data python bench/audioslots_fsdd2mix.py [--steps 3000] [--splits seen unseen]
       PAPERZOO_DATA=../shared/data python bench/audioslots_fsdd2mix.py --decoder-ablation [--steps 1200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _conv_tasnet import score_conv_tasnet, train_conv_tasnet  # noqa: E402
from _results import RESULTS, ROOT, bad_input, table, validation_log, write_results  # noqa: E402

from paperzoo.data.fsdd2mix import ensure_fsdd2mix  # noqa: E402
from paperzoo.engine.run import quiet_lightning, train  # noqa: E402
from paperzoo.metrics.audio import separation_scores  # noqa: E402
from paperzoo.report.figures import spectrogram_figure  # noqa: E402
from paperzoo.separation.separate import oracle_estimator, score_examples, separate_with  # noqa: E402
from paperzoo.separation.spectral import STFTConfig, stft  # noqa: E402
import paperzoo  # noqa: E402
import paperzoo.zoo  # noqa: E402
from paperzoo.separation.task import load_mixtures  # noqa: E402

RATE = 8000
DOCS = ROOT / "docs"  # figures sit beside RESULTS.md, which links them


# variants of the ablation: label -> overrides (audioslots_small's decoder is the 64x3 MLP, its loss the paper's MSE)
DECODERS = {
    "MLP 64x3, 6 bands (CPU default)": [],
    "MLP 64x3 + FiLM": ["model.options.decoder_film=true"],
    "MLP 128x4 + FiLM": ["model.options.decoder_film=true", "model.options.decoder_hidden=128",
                         "model.options.decoder_layers=4"],
    "MLP 64x3, magnitude-weighted MSE (w=1)": ["loss.magnitude_weight=1"],
}


# the trained rows: label -> overrides of separation/audioslots_fsdd2mix
TRAINED = [("Autoencoder (0.5 s)", ["model.variant=autoencoder"]), ("AudioSlots (0.5 s)", []),
           ("AudioSlots (1 s)", ["stft.chunk_seconds=1.0"]),
           # the paper's discussion: Slot Attention in place of the query transformer, 3 iterations as in
           # Locatello et al. (the transformer has 2 layers here); slots drawn from the seeded global RNG
           ("AudioSlots, Slot Attention (0.5 s)", ["model.slot_module=slot_attention", "model.options.depth=3"])]


def stft_config(chunk_seconds: float) -> STFTConfig:
    return STFTConfig(chunk_seconds=chunk_seconds).scaled(RATE)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--splits", nargs="*", default=["seen", "unseen"])
    p.add_argument("--test-limit", type=int, help="first N test mixtures only")
    p.add_argument("--only", nargs="*", help="rows to run (e.g. 'AudioSlots (0.5 s)' 'Conv-TasNet'; bare --only: none, e.g. with --zoo), or with --decoder-ablation the variants to run (merged with the earlier run's other rows); default: all")
    p.add_argument("--tag", default="", help="suffix of the results entry (e.g. 'long' -> audioslots_fsdd2mix_long)")
    p.add_argument("--decoder-ablation", action="store_true", help="run the decoder ablation (seen split) instead")
    p.add_argument("--set", nargs="*", default=[], help="overrides for every trained AudioSlots row (e.g. model.options.decoder_film=true)")
    p.add_argument("--peer-seconds", type=float, help="Conv-TasNet's CPU budget when the AudioSlots (0.5 s) row is not run")
    p.add_argument("--zoo", action="store_true", help="also score zoo:audioslots_fsdd2mix (trained on the seen split)")
    p.add_argument("--runs", nargs="*", default=[], metavar="LABEL=RUN_DIR",
                   help="also score these finished runs of separation/audioslots_fsdd2mix as the rows LABEL (each in the split it "
                        "was trained on; its command and wall time are reported), e.g. 'AudioSlots (0.5 s)=runs/...'")
    args = p.parse_args(argv)
    quiet_lightning()
    if args.decoder_ablation:
        return decoder_ablation(args)
    rows = [label for label, _ in TRAINED] + ["Conv-TasNet"]
    if args.only is not None and set(args.only) - set(rows):
        p.error(f"unknown rows {sorted(set(args.only) - set(rows))}; rows: {', '.join(rows)} (bare --only: none, e.g. with --zoo)")
    finished = finished_runs(args.runs, [label for label, _ in TRAINED])
    if args.only is not None and "Conv-TasNet" in args.only and "AudioSlots (0.5 s)" not in args.only and args.peer_seconds is None:
        timed = {split for split, runs in finished.items() if any(label == "AudioSlots (0.5 s)" for label, _ in runs)}
        if (set(args.splits) | set(finished)) - timed:  # refused before hours of work, not after
            bad_input("the Conv-TasNet row needs --peer-seconds when the AudioSlots (0.5 s) row is not run")
    t_start = time.perf_counter()
    root = ensure_fsdd2mix(None, RATE)
    out = Path(tempfile.mkdtemp(prefix="bench_audioslots_"))
    results = {"settings": vars(args), "splits": {}}
    for split in [*args.splits, *(s for s in finished if s not in args.splits)]:
        mix, ref = load_mixtures(root / split / "metadata" / "mixture_test_mix_clean.csv", RATE, args.test_limit)
        rows, figure = {}, None
        for chunk in (0.5, 1.0):
            cfg = stft_config(chunk)
            rows[f"Oracle ({chunk:g} s)"] = score_examples(oracle_estimator(cfg), mix, ref, cfg, aligns=("oracle",))
            print(split, f"Oracle ({chunk:g} s)", rows[f"Oracle ({chunk:g} s)"], flush=True)
        if args.zoo and split == "seen":
            separator = paperzoo.load("zoo:audioslots_fsdd2mix")
            with torch.no_grad():
                rows["zoo:audioslots_fsdd2mix"] = score_examples(separator.estimator(), mix, ref, separator.stft_cfg)
                # what a user gets from one mixture: `separate()` (IBM, reference-free alignment), mixture by mixture
                rows["zoo:audioslots_fsdd2mix"]["separate_si_snri_per_mixture"] = [
                    separation_scores(separator.separate(m, RATE), r, m)["si_snri"] for m, r in zip(mix, ref)]
            print(split, "zoo", rows["zoo:audioslots_fsdd2mix"], flush=True)
        for label, extra in TRAINED:
            if args.only is not None and label not in args.only:
                continue
            t0 = time.perf_counter()
            run = train("separation/audioslots_fsdd2mix", [f"out_dir={out}", f"name={split}_{len(rows)}", f"data.split={split}",
                                                      f"trainer.max_steps={args.steps}", "trainer.progress_bar=false",
                                                      f"trainer.val_every={args.steps // 4}", f"trainer.checkpoint_every={args.steps}",
                                                      *args.set, *extra])
            rows[label] = score_run(run, mix, ref, time.perf_counter() - t0)
            print(split, label, {k: round(v, 3) for k, v in rows[label].items() if k != "curve"}, flush=True)
            if label == "AudioSlots (0.5 s)":
                figure = example_figure(run, mix, ref, split, args.tag)
        for label, run in finished.get(split, []):  # --runs: finished runs scored as rows
            rows[label] = score_run(run, mix, ref, json.loads((run / "timing.json").read_text())["wall_seconds"])
            rows[label]["command"] = (run / "command.txt").read_text().strip()
            print(split, label, {k: v for k, v in rows[label].items() if k != "curve"}, flush=True)
            if label == "AudioSlots (0.5 s)":
                figure = example_figure(run, mix, ref, split, args.tag)
        if args.only is None or "Conv-TasNet" in args.only:
            seconds = rows["AudioSlots (0.5 s)"]["train_seconds"] if "AudioSlots (0.5 s)" in rows else args.peer_seconds
            meta = root / split / "metadata"
            train_mix, train_src = load_mixtures(meta / "mixture_train_mix_clean.csv", RATE)
            val_mix, val_src = load_mixtures(meta / "mixture_val_mix_clean.csv", RATE)
            model, info = train_conv_tasnet(train_mix, train_src, val_mix, val_src, seconds, RATE)
            torch.save(model.state_dict(), out / f"conv_tasnet_{split}.pt")  # a long peer run is kept, not only scored
            print(f"Conv-TasNet weights: {out / f'conv_tasnet_{split}.pt'}", flush=True)
            rows["Conv-TasNet (asteroid)"] = {**score_conv_tasnet(model, mix, ref), **info, "train_seconds": seconds}
            print(split, "Conv-TasNet", rows["Conv-TasNet (asteroid)"], flush=True)
        results["splits"][split] = {"test_mixtures": len(mix), "rows": rows, "claims": claims(rows), "figure": figure.name if figure else None}
    results["total_minutes"] = (time.perf_counter() - t_start) / 60
    write_results("audioslots_fsdd2mix" + (f"_{args.tag}" if args.tag else ""), results, markdown(results))
    print(markdown(results))


def score_run(run: Path, mix, ref, train_seconds: float) -> dict:
    """One trained row: SI-SNR(i) on the test mixtures (the autoencoder: oracle alignment only, it has no
    slots to align), the real-time factor of reference-free separation, training time and curve."""
    task = paperzoo.load(run)
    autoencoder = task.variant == "autoencoder"
    with torch.no_grad():
        scores = score_examples(task.estimator(), mix, ref, task.stft_cfg, aligns=("oracle",) if autoencoder else ("oracle", "overlap"))
        t0 = time.perf_counter()
        if not autoencoder:
            for m in mix:
                separate_with(task.estimator(), m, task.stft_cfg, mask="ibm", align="overlap")
            scores["real_time_factor"] = (time.perf_counter() - t0) / (mix.shape[0] * mix.shape[1] / RATE)
    return {**scores, "train_seconds": train_seconds, "curve": validation_curve(run)}


def example_figure(run: Path, mix, ref, split: str, tag: str) -> Path:
    """Spectrograms of test mixture 0: mixture, references, AudioSlots' IBM estimates."""
    task = paperzoo.load(run)
    with torch.no_grad():
        est = separate_with(task.estimator(), mix[0], task.stft_cfg, mask="ibm", align="oracle", references=ref[0])
    cfg = task.stft_cfg
    return spectrogram_figure(stft(mix[0], cfg).abs().numpy(), stft(ref[0], cfg).abs().numpy(), stft(est, cfg).abs().numpy(),
                              DOCS / f"audioslots_fsdd2mix{'_' + tag if tag else ''}_{split}.png", RATE,
                              f"fsdd2mix {split}, test mixture 0: AudioSlots (0.5 s), IBM")


def finished_runs(specs: list[str], labels: list[str]) -> dict[str, list[tuple[str, Path]]]:
    """--runs LABEL=RUN_DIR items grouped by the split each run was trained on (its config's data.split)."""
    out: dict[str, list[tuple[str, Path]]] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        run = Path(path)
        if not sep or label not in labels:
            bad_input(f"--runs takes LABEL=RUN_DIR with LABEL one of: {', '.join(labels)}; got {spec!r}")
        if not (run / "timing.json").is_file():
            bad_input(f"--runs: {run} is not a finished training run (no timing.json)")
        split = yaml.safe_load((run / "config.yaml").read_text())["data"]["split"]
        out.setdefault(split, []).append((label, run))
    return out


def validation_curve(run_dir: Path) -> list[tuple[int, float]]:
    """(step, val/si_snri) pairs logged by the run."""
    return [(r["step"], r["val/si_snri"]) for r in validation_log(run_dir) if "val/si_snri" in r]


def decoder_ablation(args) -> None:
    t_start = time.perf_counter()
    root = ensure_fsdd2mix(None, RATE)
    out = Path(tempfile.mkdtemp(prefix="bench_audioslots_ablation_"))
    mix, ref = load_mixtures(root / "seen" / "metadata" / "mixture_test_mix_clean.csv", RATE, args.test_limit)
    oracle = score_examples(oracle_estimator(stft_config(0.5)), mix, ref, stft_config(0.5), masks=("ibm",), aligns=("oracle",))
    results = {"settings": vars(args), "oracle_ibm_si_snri": oracle["ibm/oracle/si_snri"], "rows": {}}
    name = "audioslots_fsdd2mix_decoder" + (f"_{args.tag}" if args.tag else "")
    if args.only:  # run these variants only; keep the earlier run's rows of the others (same steps and test set)
        unknown = set(args.only) - set(DECODERS)
        if unknown:
            bad_input(f"unknown ablation variants {sorted(unknown)}; variants: {', '.join(DECODERS)}")
        earlier = json.loads((RESULTS / f"{name}.json").read_text())
        if (earlier["settings"]["steps"], earlier["settings"]["test_limit"]) != (args.steps, args.test_limit):
            bad_input(f"{name}.json was run with --steps {earlier['settings']['steps']}: run the same to merge")
        results["rows"] = {k: v for k, v in earlier["rows"].items() if k not in args.only}
        results["earlier_minutes"] = earlier["total_minutes"]
    for label, overrides in DECODERS.items():
        if args.only and label not in args.only:
            continue
        row = {}
        for variant in ("autoencoder", "separation"):
            t0 = time.perf_counter()
            run = train("separation/audioslots_fsdd2mix", [f"out_dir={out}", f"name={variant}_{len(results['rows'])}",
                                                          f"trainer.max_steps={args.steps}", "trainer.progress_bar=false",
                                                          f"trainer.val_every={args.steps // 6}",
                                                          f"trainer.checkpoint_every={args.steps}", f"model.variant={variant}",
                                                          *overrides])
            task = paperzoo.load(run)
            with torch.no_grad():
                scores = score_examples(task.estimator(), mix, ref, task.stft_cfg, masks=("ibm",),
                                        aligns=("oracle",) if variant == "autoencoder" else ("oracle", "overlap"))
            row[variant] = {**scores, "train_seconds": time.perf_counter() - t0, "curve": validation_curve(run),
                            "parameters": sum(p.numel() for p in task.model.parameters())}
            print(label, variant, {k: v for k, v in row[variant].items() if k != "curve"}, flush=True)
        results["rows"][label] = row
    results["rows"] = {k: results["rows"][k] for k in DECODERS if k in results["rows"]}  # table order
    results["total_minutes"] = (time.perf_counter() - t_start) / 60 + results.get("earlier_minutes", 0)
    text = ablation_markdown(results, len(mix))
    write_results(name, results, text)
    print(text)


def ablation_markdown(results: dict, test_mixtures: int) -> str:
    rows = []
    for label, row in results["rows"].items():
        auto, slots = row["autoencoder"], row["separation"]
        rows.append([label, f"{slots['parameters'] / 1e6:.2f} M", f"{auto['ibm/oracle/si_snri']:.2f}",
                     f"{slots['ibm/oracle/si_snri']:.2f}", f"{slots['ibm/overlap/si_snri']:.2f}",
                     f"{100 * slots['ibm/oracle/si_snri'] / results['oracle_ibm_si_snri']:.0f}%",
                     f"{slots['train_seconds'] / 60:.1f}",
                     ", ".join(f"{s}: {v:.1f}" for s, v in slots["curve"])])
    text = (f"Script `bench/audioslots_fsdd2mix.py --decoder-ablation`: fsdd2mix seen split, {test_mixtures} test mixtures, "
            f"IBM SI-SNRi (dB); each model audioslots_small with the decoder and loss named, {results['settings']['steps']} steps of batch 16, seed 0 "
            f"(0.5 s chunks). Oracle IBM: {results['oracle_ibm_si_snri']:.2f} dB. Total {results['total_minutes']:.0f} min.\n\n"
            + table(["variant", "AudioSlots params", "Autoencoder", "AudioSlots / oracle align", "AudioSlots / ref-free",
                     "% of oracle IBM", "AudioSlots train min", "AudioSlots val SI-SNRi by step"], rows))
    default = next(iter(results["rows"].values()))
    slots_gains = [r["separation"]["ibm/oracle/si_snri"] for r in results["rows"].values()]
    best_auto = max(results["rows"], key=lambda k: results["rows"][k]["autoencoder"]["ibm/oracle/si_snri"])
    best_slots = max(results["rows"], key=lambda k: results["rows"][k]["separation"]["ibm/oracle/si_snri"])
    text += (f"\n\nReading: the Autoencoder (the decoder's ceiling) is best with {best_auto} "
             f"({results['rows'][best_auto]['autoencoder']['ibm/oracle/si_snri']:.2f} dB vs "
             f"{default['autoencoder']['ibm/oracle/si_snri']:.2f} for the default); AudioSlots at these steps is best with "
             f"{best_slots} ({results['rows'][best_slots]['separation']['ibm/oracle/si_snri']:.2f} dB vs "
             f"{default['separation']['ibm/oracle/si_snri']:.2f}), its spread across variants "
             f"{max(slots_gains) - min(slots_gains):.2f} dB"
             + (": within 0.5 dB, so at this budget no variant moves separation." if max(slots_gains) - min(slots_gains) < 0.5 else "."))
    return text


def claims(rows: dict) -> dict:
    slots, oracle, auto = rows.get("AudioSlots (0.5 s)"), rows["Oracle (0.5 s)"], rows.get("Autoencoder (0.5 s)")
    out = {}
    if slots:
        out["AudioSlots SI-SNRi >= 75% of Oracle-IBM SI-SNRi (IBM, oracle alignment)"] = bool(
            slots["ibm/oracle/si_snri"] >= 0.75 * oracle["ibm/oracle/si_snri"])
    if slots and auto:
        out["AudioSlots within 1 dB of the Autoencoder (IBM SI-SNRi)"] = bool(
            abs(slots["ibm/oracle/si_snri"] - auto["ibm/oracle/si_snri"]) <= 1.0)
    return out


def markdown(results: dict) -> str:
    s = results["settings"]
    rows_run = {label for res in results["splits"].values() for label in res["rows"]}
    tested = {res.get("test_mixtures", 300) for res in results["splits"].values()}  # older entries: always 300
    about = [f"Script `bench/audioslots_fsdd2mix.py`: fsdd2mix test split ({'/'.join(map(str, sorted(tested)))} mixtures of 1 s, "
             "8 kHz), mean dB."]
    trained = {label for label, _ in TRAINED}
    if any(label in trained and "command" not in r for res in results["splits"].values() for label, r in res["rows"].items()):
        about.append(f"Trained rows: audioslots_small, {s['steps']} steps of batch 16, seed 0{' with ' + ' '.join(s['set']) if s.get('set') else ''}.")
    for split, res in results["splits"].items():  # --runs rows: trained by their own command
        about += [f"{label} ({split}): `{r['command']}`, seed 0, {r['train_seconds'] / 60:.0f} min wall time on this "
                  f"machine (other jobs may have shared it)." for label, r in res["rows"].items() if "command" in r]
    if "zoo:audioslots_fsdd2mix" in rows_run:
        card = paperzoo.zoo.card("audioslots_fsdd2mix")
        about.append(f"zoo:audioslots_fsdd2mix: the shipped entry, `{card['training']['command']}` ({card['training']['steps']} "
                     f"steps, {card['zoo']['train_seconds'] / 60:.0f} min wall time on this machine, which other jobs may have shared).")
        per = next((res["rows"]["zoo:audioslots_fsdd2mix"].get("separate_si_snri_per_mixture") for res in results["splits"].values()
                    if "zoo:audioslots_fsdd2mix" in res["rows"]), None)
        if per:  # a user's single mixture: the spread, not only the mean
            about.append(f"Through `separate()` (IBM, reference-free alignment) mixture by mixture: median {np.median(per):.2f} dB, "
                         f"10th percentile {np.percentile(per, 10):.2f}, {100 * np.mean(np.array(per) >= 6):.0f}% of the {len(per)} "
                         "held-out mixtures at >= 6 dB SI-SNRi.")
        curve = card["zoo"].get("validation_curve", [])
        if curve:  # the learning curve: budget vs ceiling
            about.append("Its validation SI-SNRi (IBM, oracle alignment, 100 validation mixtures) by step: "
                         + ", ".join(f"{r['step'] + 1}: {r['val/si_snri']:.2f}" for r in curve) + ".")
    if "Conv-TasNet (asteroid)" in rows_run:
        about.append("Conv-TasNet (asteroid 0.7.0, its WHAM! sep_clean recipe: 512 filters of 16 / stride 8, 8x3 TCN blocks "
                     "128/512/128, PIT neg. SI-SDR, Adam 1e-3, halved on plateau, clip 5; batch 4, float32), trained for the "
                     "same CPU seconds as the AudioSlots (0.5 s) row of this run or, without one, --peer-seconds "
                     f"({s.get('peer_seconds')}); scored on its waveforms.")
    parts = [" ".join(about) + f" Total {results.get('total_minutes', 0):.0f} min on CPU. Columns: mask / chunk alignment."]
    cols = [("ibm/oracle", "IBM / oracle"), ("wiener/oracle", "Wiener / oracle"), ("ibm/overlap", "IBM / ref-free"),
            ("wiener/overlap", "Wiener / ref-free")]
    for split, res in results["splits"].items():
        rows = []
        for label, r in res["rows"].items():
            cells = [f"{r[f'{c}/si_snr']:.2f} / {r[f'{c}/si_snri']:.2f}" if f"{c}/si_snr" in r else "-" for c, _ in cols]
            if "waveform/si_snr" in r:  # a waveform separator: no masks, no chunks
                cells = [f"{r['waveform/si_snr']:.2f} / {r['waveform/si_snri']:.2f} (waveform)"] + ["-"] * (len(cols) - 1)
                label = f"{label}, {r['steps']} steps of {r['batch']} in {r['train_seconds'] / 60:.0f} min"
            rtf = f"{r['real_time_factor']:.3f}" if "real_time_factor" in r else "-"
            rows.append([label, *cells, rtf])
        checks = "\n".join(f"- {name}: **{'yes' if ok else 'no'}**" for name, ok in res["claims"].items())
        curves = [f"- {label}: " + ", ".join(f"{step + 1}: {v:.2f}" for step, v in r["curve"])
                  for label, r in res["rows"].items() if r.get("curve")]
        if curves:  # budget vs ceiling
            checks += "\n\nValidation SI-SNRi by step (IBM, oracle alignment, 100 validation mixtures):\n" + "\n".join(curves)
        figure = [f"![example]({res['figure']})", ""] if res["figure"] else []
        parts += ["", f"### {split} speakers (SI-SNR / SI-SNRi)", "",
                  table(["method", *(name for _, name in cols), "real-time factor"], rows), "", *figure, "Claims:", checks]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
