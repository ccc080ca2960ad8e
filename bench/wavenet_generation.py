"""WaveNet generation speed on the CPU: compiled (numba, ``vq/wavenet_cpu.py``) vs the torch queue loop vs naive.

Peers, one sample sequence each (batch 1), the same model and Gumbel noise: ``generate`` (the
compiled loop, the default on the CPU), ``generate(compiled=False)`` (Fast WaveNet's per-layer
queues stepped with torch calls) and ``generate_naive`` (a full forward pass per step, short runs
only). Models: the FSDD VQ-VAE decoder as shipped in ``zoo:vqvae_audio_fsdd`` (64 residual / 128
skip channels, 2 x 8 layers, 256 mu-law classes, conditioned on 64-channel latents and a speaker),
the bundled config's narrower default (32 / 64), the paper's decoder size (128 / 256, 3 x 10 layers)
and the code prior of the audio bench (K = 512 classes). Random weights: speed does not depend on
them. Timed after a warm-up (the compile), best of 3, one thread. End to end: the shipped model's
``convert`` (encode + decode) of one real-length input (1 s), as ``paperzoo convert-speaker`` runs it.
Target (issue 24): conversion at >= 2x real time at 8 kHz, i.e. >= 16,000 samples/s for the shipped decoder.
Also checked: the compiled and torch loops give the same samples (fraction equal reported).
Usage: python bench/wavenet_generation.py [--length 16000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.vq.wavenet import WaveNet  # noqa: E402

MODELS = {  # name -> (WaveNet arguments, conditioning channels, sample rate of what it generates or None)
    "FSDD decoder as shipped (64 / 128, 2 x 8 layers)": (dict(residual=64, skip=128, layers=8, cycles=2, local_channels=64, global_classes=6), 64, 8000),
    "FSDD config default (32 / 64, 2 x 8 layers)": (dict(residual=32, skip=64, layers=8, cycles=2, local_channels=64, global_classes=6), 64, 8000),
    "paper decoder (128 / 256, 3 x 10 layers)": (dict(residual=128, skip=256, layers=10, cycles=3, local_channels=64, global_classes=109), 64, 16000),
    "code prior (K = 512, 32 / 64, 2 x 8 layers)": (dict(classes=512, residual=32, skip=64, layers=8, cycles=2, global_classes=6, start=0), 0, None),
}


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def convert_speed(seconds: float = 1.0) -> dict:
    """The shipped audio VQ-VAE converting one input of ``seconds`` (random audio: speed does not depend on it)."""
    import paperzoo

    converter = paperzoo.load("zoo:vqvae_audio_fsdd")
    rate, target = converter.sample_rate, converter.speakers[1]
    wave = torch.rand(int(seconds * rate), generator=torch.Generator().manual_seed(0)) * 0.2 - 0.1
    converter.convert(wave[:640], rate, target)  # compile
    wall = best_of(lambda: converter.convert(wave, rate, target))
    return {"seconds_of_audio": seconds, "wall_seconds": wall, "samples_per_s": wave.numel() / wall,
            "real_time_factor": seconds / wall}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=16000, help="samples per compiled run (the torch loop runs a quarter)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows, results = [], {"settings": vars(args), "models": {}}
    for name, (kwargs, local, rate) in MODELS.items():
        torch.manual_seed(0)
        net = WaveNet(**kwargs).eval()
        n = args.length
        c = torch.randn(1, local, n) if local else None
        g = torch.tensor([1])

        def run(length, **kw):
            return net.generate(length, c, g, generator=torch.Generator().manual_seed(0), **kw)

        run(16)  # compile (or load the cached compile)
        compiled = n / best_of(lambda: run(n))
        loop = (n // 4) / best_of(lambda: run(n // 4, compiled=False), repeats=1)
        naive_n = 200
        t0 = time.perf_counter()
        net.generate_naive(naive_n, c, g, generator=torch.Generator().manual_seed(0))
        naive = naive_n / (time.perf_counter() - t0)
        agree = (run(n // 4) == run(n // 4, compiled=False)).float().mean().item()
        entry = {"compiled_samples_per_s": compiled, "torch_loop_samples_per_s": loop, "naive_samples_per_s": naive,
                 "speedup_vs_torch_loop": compiled / loop, "same_samples_fraction": agree, "sample_rate": rate,
                 "real_time_factor": compiled / rate if rate else None}
        results["models"][name] = entry
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in entry.items()}, flush=True)
        rows.append([name, f"{compiled:,.0f}", f"{loop:,.0f}", f"{naive:,.0f}", f"{compiled / loop:.1f}x",
                     f"{compiled / rate:.2f}x at {rate // 1000} kHz" if rate else "-", f"{agree:.3f}"])
    fsdd = results["models"][next(iter(MODELS))]
    results["convert_end_to_end"] = end_to_end = convert_speed()
    rows.append(["zoo:vqvae_audio_fsdd `convert`, 1 s input (encode + decode)", f"{end_to_end['samples_per_s']:,.0f}", "-", "-", "-",
                 f"{end_to_end['real_time_factor']:.2f}x at 8 kHz", "-"])
    results["claims"] = {"FSDD conversion >= 2x real time at 8 kHz (one thread)": bool(fsdd["real_time_factor"] >= 2),
                         "the shipped model converts 1 s of audio >= 2x real time (one thread)": bool(end_to_end["real_time_factor"] >= 2)}
    text = (f"Script `bench/wavenet_generation.py`: samples per second generating one sequence (batch 1), one thread, best of 3, "
            f"after the compile; random weights, Gumbel-max sampling, {args.length} samples per compiled run.\n\n"
            + table(["model", "compiled (numba)", "torch queue loop", "naive (forward per step)", "compiled / loop",
                     "real time", "same samples as the loop"], rows)
            + "\n\nClaims:\n" + "\n".join(f"- {k}: **{'yes' if v else 'no'}**" for k, v in results["claims"].items()))
    write_results("wavenet_generation", results, text)
    print(text)


if __name__ == "__main__":
    main()
