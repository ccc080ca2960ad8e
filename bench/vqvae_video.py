"""Video in a VQ-VAE's latent space (paper section 4.4) and the 27-bit compression hierarchy
(section 4.2, last experiment), at CPU scale on the generated moving-shapes videos.

Data: moving shapes v2, seed 0: 2,000 train / 500 test clips of 16 frames at 32 x 32, ten motion
classes (the "actions").

1. Frame VQ-VAE: bundled config ``vq/vqvae_moving_shapes`` (vqvae_tiny, K = 128, 8x8 codes per
   frame, frames of the first 500 training clips), ``--vq-steps`` steps.
2. Action-conditioned prior (``paperzoo.vq.video_prior``): a gated PixelCNN per frame conditioned
   on the action and the codes of the 2 previous frames, trained on the codes of all 2,000 training
   clips for ``--prior-steps`` steps of 16 clips. Test NLL (bits per code) of frames 7-16.
3. Continuation on ``--clips`` test clips (evenly over the actions): given the first 6 frames' codes
   and the clip's action, sample the next 10 frames in latent space (temperature 1, seed 0), then
   decode all 16 code maps once. Per-frame MSE (pixels in [0, 1]) of frames 7-16 against the true
   continuation, next to two references: the VQ-VAE's own reconstruction of the true frames (the
   floor) and repeating the 6th frame (no motion). Action agreement: an R3D-18 action classifier
   (bundled ``video/r3d_18_shapes``, ``--classifier-steps`` steps on the real training clips)
   labels each generated clip; the share it assigns to the conditioning action, for the true action
   and for a different one (action + 5 mod 10) given the same 6 frames.
4. Compression hierarchy (``paperzoo.vq.hierarchy``): a second VQ-VAE over the 8x8 code maps with
   3 latents of K = 512 (27 bits per frame) and a PixelCNN decoder, ``--hierarchy-steps`` steps on the
   training frames' codes; test frames "reconstructed" through 27 bits: pixel MSE and the error of the
   frame's mean colour, against a random pairing of test frames (what nothing survives gives).
Writes PNG strips (real above generated) and GIFs and MP4s of real | generated side by side under
``docs/vqvae_video/`` (beside RESULTS.md, like the figures).
Usage: python bench/vqvae_video.py [--vq-steps 1500] [--prior-steps 2000] [--clips 100] [--classifier-steps 600] [--hierarchy-steps 1500]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import ROOT, table, write_results  # noqa: E402
from _training import train_steps, validation_summary  # noqa: E402

import paperzoo  # noqa: E402
from paperzoo.data.moving_shapes import CLASSES, GENERATOR_VERSION, clip_frames, clip_labels  # noqa: E402
from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.io.checkpoints import load_model  # noqa: E402
from paperzoo.io.video import write_video  # noqa: E402
from paperzoo.report.figures import image_grid  # noqa: E402
from paperzoo.vq.task import to_model_pixels  # noqa: E402
from paperzoo.video.transforms import eval_views, sample_clips  # noqa: E402
from paperzoo.vq.hierarchy import fit_compressor  # noqa: E402
from paperzoo.vq.video_prior import fit_video_prior  # noqa: E402

NAME = "vqvae_video"
GIVEN, FRAMES = 6, 16


@torch.no_grad()
def encode_clips(vq, clips: np.ndarray, batch: int = 512) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> codes (N, T, h, w)."""
    frames = torch.from_numpy(clips).flatten(0, 1)
    codes = torch.cat([vq.encode(to_model_pixels(frames[i : i + batch])) for i in range(0, len(frames), batch)])
    return codes.reshape(*clips.shape[:2], *codes.shape[1:])


@torch.no_grad()
def decode_clips(vq, codes: torch.Tensor, batch: int = 512) -> np.ndarray:
    """codes (N, T, h, w) -> (N, T, H, W, 3) uint8."""
    flat = codes.flatten(0, 1)
    x = torch.cat([vq.decode_codes(flat[i : i + batch]) for i in range(0, len(flat), batch)])
    frames = ((x + 0.5).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    return frames.reshape(*codes.shape[:2], *frames.shape[1:])


def mse01(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame MSE of uint8 frames on the [0, 1] scale, averaged over clips: (T,)."""
    return ((a.astype(np.float32) / 255 - b.astype(np.float32) / 255) ** 2).mean(axis=(0, 2, 3, 4))


@torch.no_grad()
def classify(task, clips: np.ndarray) -> np.ndarray:
    """Action predicted for each uint8 clip (N, T, H, W, 3): one centre view, as in validation."""
    view = task.view
    idx = sample_clips(clips.shape[1], view.frames, view.rate, "uniform")[0]
    x = torch.cat([eval_views(c[idx], view.crop, view.short_side, 1) for c in clips])
    return torch.cat([task.model(x[i : i + 64]).argmax(1) for i in range(0, len(x), 64)]).numpy()


def write_media(out: Path, real: np.ndarray, fake: np.ndarray, labels: np.ndarray, count: int = 6) -> list[str]:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in np.linspace(0, len(real) - 1, min(count, len(real))).round().astype(int):  # spread over the actions
        name = f"{i:02d}_{CLASSES[labels[i]]}"
        image_grid([real[i], fake[i]], out / f"{name}_strip.png", scale=2)
        both = np.concatenate([real[i], fake[i]], axis=2)  # real | generated
        big = [Image.fromarray(f).resize((both.shape[2] * 3, both.shape[1] * 3), Image.NEAREST) for f in both]
        big[0].save(out / f"{name}.gif", save_all=True, append_images=big[1:], duration=120, loop=0)
        write_video(out / f"{name}.mp4", np.stack([np.asarray(b) for b in big]), fps=8)
        written += [f"{name}_strip.png", f"{name}.gif", f"{name}.mp4"]
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vq-steps", type=int, default=1500)
    p.add_argument("--prior-steps", type=int, default=2000)
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--classifier-steps", type=int, default=600)
    p.add_argument("--hierarchy-steps", type=int, default=1500)
    args = p.parse_args(argv)
    quiet_lightning()
    torch.set_num_threads(2)
    out = Path(tempfile.mkdtemp(prefix="bench_vqvae_video_"))
    _, vq_run, vq_seconds = train_steps("vq/vqvae_moving_shapes", args.vq_steps, out, validations=1)
    vq = load_model(vq_run)
    _, clf_run, clf_seconds = train_steps("video/r3d_18_shapes", args.classifier_steps, out, validations=1)
    classifier = paperzoo.load(clf_run)
    classifier_top1 = validation_summary(clf_run)["top1"]

    train_clips, test_clips = clip_frames("train"), clip_frames("test")
    train_labels, test_labels = torch.from_numpy(clip_labels("train")), clip_labels("test")
    train_codes, test_codes = encode_clips(vq, train_clips), encode_clips(vq, test_clips)
    k = vq.quantizer.num_codes

    t = time.perf_counter()
    prior = fit_video_prior(train_codes, train_labels, k, len(CLASSES), steps=args.prior_steps, batch=16)
    prior_seconds = time.perf_counter() - t
    with torch.no_grad():
        bits = [float(prior.nll(test_codes[i : i + 50], torch.from_numpy(test_labels[i : i + 50]), first=GIVEN)) / math.log(2)
                for i in range(0, len(test_codes), 50)]
    prior_bits = float(np.mean(bits))

    per = max(args.clips // len(CLASSES), 1)
    chosen = np.concatenate([np.flatnonzero(test_labels == c)[:per] for c in range(len(CLASSES))])
    real, labels, codes = test_clips[chosen], test_labels[chosen], test_codes[chosen]
    actions = torch.from_numpy(labels)
    other = (actions + 5) % len(CLASSES)
    t = time.perf_counter()
    generated = prior.continue_clip(codes[:, :GIVEN], actions, FRAMES - GIVEN, seed=0)
    counterfactual = prior.continue_clip(codes[:, :GIVEN], other, FRAMES - GIVEN, seed=0)
    generation_seconds = time.perf_counter() - t
    fake, fake_other, recon = decode_clips(vq, generated), decode_clips(vq, counterfactual), decode_clips(vq, codes)
    still = np.repeat(real[:, GIVEN - 1 : GIVEN], FRAMES, axis=1)
    mse = {"generated": mse01(fake, real)[GIVEN:], "vq_reconstruction": mse01(recon, real)[GIVEN:], "repeat_frame_6": mse01(still, real)[GIVEN:]}
    agree_true = float((classify(classifier, fake) == labels).mean())
    agree_other = float((classify(classifier, fake_other) == other.numpy()).mean())
    real_agree = float((classify(classifier, real) == labels).mean())
    media = write_media(ROOT / "docs" / NAME, real, fake, labels)

    # compression hierarchy: 3 latents (27 bits) per frame
    frame_codes = train_codes[:500].flatten(0, 1)
    t = time.perf_counter()
    compressor = fit_compressor(frame_codes, k, steps=args.hierarchy_steps)
    hierarchy_seconds = time.perf_counter() - t
    test_frames = test_codes[:, GIVEN].clone()  # one frame per test clip
    latents = compressor.encode(test_frames)
    through = decode_clips(vq, compressor.decode(latents, tuple(test_frames.shape[1:]), seed=0)[:, None])[:, 0]
    originals = test_clips[:, GIVEN]
    shuffled = originals[np.random.default_rng(0).permutation(len(originals))]

    def colour_error(a, b):
        return float(np.abs(a.reshape(len(a), -1, 3).mean(1) - b.reshape(len(b), -1, 3).mean(1)).mean() / 255)

    hierarchy = {"bits_per_frame": 3 * math.log2(compressor.quantizer.num_codes), "codes_used": int(latents.unique().numel()),
                 "mse": float(mse01(through[:, None], originals[:, None]).mean()),
                 "mse_random_pair": float(mse01(shuffled[:, None], originals[:, None]).mean()),
                 "mean_colour_error": colour_error(through, originals), "mean_colour_error_random_pair": colour_error(shuffled, originals),
                 "train_seconds": hierarchy_seconds}
    image_grid([originals[:12], through[:12]], ROOT / "docs" / NAME / "hierarchy_27bits.png", scale=3)

    rows = [
        ["frame VQ-VAE: codes per frame, K", f"{tuple(codes.shape[2:])}, {k}"],
        ["prior test NLL, frames 7-16 (bits per code; uniform = log2 K)", f"{prior_bits:.3f} (uniform {math.log2(k):.2f})"],
        ["MSE per frame, frames 7-16: generated", " ".join(f"{v:.4f}" for v in mse["generated"])],
        ["  VQ-VAE reconstruction of the true frames (floor)", " ".join(f"{v:.4f}" for v in mse["vq_reconstruction"])],
        ["  repeating frame 6 (no motion)", " ".join(f"{v:.4f}" for v in mse["repeat_frame_6"])],
        ["mean MSE frames 7-16: generated / floor / repeat", f"{mse['generated'].mean():.4f} / {mse['vq_reconstruction'].mean():.4f} / "
         f"{mse['repeat_frame_6'].mean():.4f}"],
        [f"action classifier (R3D-18, {args.classifier_steps} steps) on real test clips", f"{100 * classifier_top1:.1f}% (these {len(chosen)}: {100 * real_agree:.1f}%)"],
        ["classifier agrees with the conditioning action: true action", f"{100 * agree_true:.1f}%"],
        ["classifier agrees with the conditioning action: another action, same 6 frames", f"{100 * agree_other:.1f}%"],
        ["27-bit hierarchy: pixel MSE through 3 latents / random pair", f"{hierarchy['mse']:.4f} / {hierarchy['mse_random_pair']:.4f}"],
        ["27-bit hierarchy: mean-colour error / random pair", f"{hierarchy['mean_colour_error']:.4f} / {hierarchy['mean_colour_error_random_pair']:.4f}"],
        ["27-bit hierarchy: distinct second-level codes used (test frames)", f"{hierarchy['codes_used']}"],
    ]
    text = (f"Moving shapes v{GENERATOR_VERSION} (seed 0), 32x32 frames. Frame VQ-VAE `vq/vqvae_moving_shapes` {args.vq_steps} steps "
            f"({vq_seconds / 60:.1f} min); prior {args.prior_steps} steps of 16 clips ({prior_seconds / 60:.1f} min); continuation of "
            f"{len(chosen)} test clips from 6 given frames, temperature 1, seed 0 ({generation_seconds:.0f} s for both conditions); "
            f"hierarchy {args.hierarchy_steps} steps on 8,000 frames ({hierarchy_seconds / 60:.1f} min). Strips, GIFs and MP4s (real | "
            f"generated) and `hierarchy_27bits.png` (originals above their 27-bit reconstructions) are in `docs/{NAME}/`.\n\n"
            + table(["measure", "value"], rows) + "\n")
    write_results(NAME, {"settings": vars(args), "prior_bits": prior_bits, "mse": {k2: v.tolist() for k2, v in mse.items()},
                         "agreement": {"true_action": agree_true, "other_action": agree_other, "real_clips": real_agree,
                                       "classifier_top1": classifier_top1},
                         "hierarchy": hierarchy, "media": media, "classifier_seconds": clf_seconds}, text)
    print(text)


if __name__ == "__main__":
    main()
