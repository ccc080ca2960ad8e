"""Video in a VQ-VAE's latent space (paper section 4.4) and the 27-bit compression hierarchy
(section 4.2, last experiment), at CPU scale on the generated moving-shapes videos.

Data: moving shapes v2, seed 0: 2,000 train / 500 test clips of 16 frames at 32 x 32, ten motion
classes (the "actions").

1. Frame VQ-VAE: bundled config ``vq/vqvae_moving_shapes`` (vqvae_tiny, K = 128, 8x8 codes per
   frame, frames of the first 500 training clips), ``--vq-steps`` steps.
2. Action-conditioned prior (``paperzoo.vq.video_prior``): a gated PixelCNN per frame conditioned
   on the action and the codes of the ``--context`` previous frames (mixed across space by
   ``--context-layers`` 3x3 layers), trained on the codes of all 2,000 training clips for
   ``--prior-steps`` steps of 16 clips (``--prior-state FILE`` keeps it: loaded when it exists).
   Test NLL (bits per code) of frames 7-16.
3. Continuation on ``--clips`` test clips (evenly over the actions): given the first 6 frames' codes
   and the clip's action, draw the next 10 frames in latent space (each ``--decodes`` setting: a
   sampling temperature, ``greedy`` (the most likely code) or ``topN``; seed 0), then decode all 16 code maps
   once. Per-frame MSE (pixels in [0, 1]) of frames 7-16 against the true continuation, next to two
   references: the VQ-VAE's own reconstruction of the true frames (the floor) and repeating the 6th
   frame (no motion); and "one step": every frame drawn from its true previous frames, which
   separates the prior's own error from the drift of feeding back its samples, beside copying the
   true previous frame's codes (what a prior that learned no motion predicts) and the share of the
   codes that change which the prior gets right. Action agreement: an
   action judge (``--judge`` RUN or zoo entry, else an R3D-18 trained ``--classifier-steps`` steps on
   the real training clips) labels each generated clip; the share it assigns to the conditioning
   action, for the true action and for a different one (action + 5 mod 10) given the same 6 frames,
   and how often the latter is still heard as the true action; beside what the judge can give: the true
   clips through the frame VQ-VAE (the ceiling) and the 6 given frames with frame 6 held (no motion).
   ``--prior-state FILE`` keeps the prior and its frame VQ-VAE (``FILE.vq``) for evaluation-only reruns;
   a prior is refused against codes it was not trained on.
4. Compression hierarchy (``paperzoo.vq.hierarchy``): a second VQ-VAE over the 8x8 code maps with
   3 latents of K = 512 (27 bits per frame) and a PixelCNN decoder, ``--hierarchy-steps`` steps on the
   training frames' codes; test frames "reconstructed" through 27 bits: pixel MSE and the error of the
   frame's mean colour, against a random pairing of test frames (what nothing survives gives).
Writes PNG strips (real above generated) and GIFs and MP4s of real | generated side by side under
``docs/vqvae_video/`` (beside RESULTS.md, like the figures).
Usage: python bench/vqvae_video.py [--vq-steps 1500] [--prior-steps 2000] [--context 2] [--context-layers 0]
    [--prior-state FILE] [--decodes 1 greedy] [--clips 100] [--judge zoo:r3d_18_shapes | --classifier-steps 600]
    [--hierarchy-steps 1500 (0: keep the last numbers)]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, ROOT, bad_input, table, write_results  # noqa: E402
from _training import train_steps  # noqa: E402

import paperzoo  # noqa: E402
from paperzoo.data.moving_shapes import CLASSES, GENERATOR_VERSION, clip_frames, clip_labels  # noqa: E402
from paperzoo.engine.run import quiet_lightning  # noqa: E402
from paperzoo.io.atomic import atomic_dir, atomic_path  # noqa: E402
from paperzoo.io.checkpoints import load_model  # noqa: E402
from paperzoo.io.video import write_video  # noqa: E402
from paperzoo.report.figures import image_grid  # noqa: E402
from paperzoo.vq.task import to_model_pixels  # noqa: E402
from paperzoo.video.transforms import eval_views, sample_clips  # noqa: E402
from paperzoo.vq.hierarchy import fit_compressor  # noqa: E402
from paperzoo.vq.video_prior import LatentVideoPrior, fit_video_prior  # noqa: E402

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


def decode_setting(name: str) -> dict:
    """'greedy' -> the most likely code everywhere; 'topN' -> sampled among the N most likely codes (temperature 1);
    a number -> that sampling temperature."""
    if name == "greedy":
        return {"temperature": 1.0, "top_k": 1}
    if name.startswith("top") and name[3:].isdigit() and int(name[3:]) >= 1:
        return {"temperature": 1.0, "top_k": int(name[3:])}
    try:
        return {"temperature": float(name), "top_k": None}
    except ValueError:
        raise argparse.ArgumentTypeError(f"a temperature, 'greedy' or 'topN' (N >= 1), got {name!r}") from None


def decode_name(name: str) -> str:
    """argparse type of --decodes: the name, once ``decode_setting`` accepts it."""
    decode_setting(name)
    return name


def frame_vqvae(args, out: Path) -> tuple[Path, float]:
    """(run dir, training seconds) of the frame VQ-VAE: the one saved beside ``--prior-state`` (a prior is
    only valid with the codes it was trained on, and a retrained VQ-VAE differs with the thread count),
    else a fresh one."""
    saved = Path(f"{args.prior_state}.vq") if args.prior_state else None
    if saved and saved.is_dir():
        timing = json.loads((saved / "timing.json").read_text())
        args.vq_steps = timing["global_step"]  # the saved model's, whatever --vq-steps says
        return saved, timing["wall_seconds"]
    _, run, seconds = train_steps("vq/vqvae_moving_shapes", args.vq_steps, out, validations=1)
    return run, seconds


def codes_digest(codes: torch.Tensor) -> str:
    return hashlib.sha256(codes.to(torch.int64).numpy().tobytes()).hexdigest()


def trained_prior(args, train_codes, train_labels, k: int, vq_run: Path):
    """The latent video prior: loaded from ``--prior-state`` when that file exists (refused if it was trained on
    other codes), else trained and saved there with its frame VQ-VAE beside it (``<file>.vq``)."""
    options = {"context": args.context, "context_layers": args.context_layers}
    state = Path(args.prior_state) if args.prior_state else None
    digest = codes_digest(train_codes)
    if state and state.is_file():
        saved = torch.load(state, weights_only=True)
        if saved.get("codes_sha256", digest) != digest:  # states saved before the digest: not checked
            bad_input(f"--prior-state {state} was trained on other frame codes (another frame VQ-VAE): "
                      f"restore {state}.vq beside it, or remove the file to train a new prior")
        prior = LatentVideoPrior(num_codes=k, actions=len(CLASSES), **saved["options"])
        prior.load_state_dict(saved["model"])
        return prior.eval(), saved["seconds"], {**saved["options"], "steps": saved["steps"],
                                                "change_weight": saved.get("change_weight", 1.0), "seed": saved.get("seed", 0)}
    t = time.perf_counter()
    prior = fit_video_prior(train_codes, train_labels, k, len(CLASSES), steps=args.prior_steps, batch=16,
                            seed=args.prior_seed, change_weight=args.change_weight, log_every=100, **options)
    seconds = time.perf_counter() - t
    if state:
        if vq_run != Path(f"{state}.vq"):
            with atomic_dir(Path(f"{state}.vq")) as tmp:
                shutil.copytree(vq_run, tmp, dirs_exist_ok=True)
        with atomic_path(state) as tmp:
            torch.save({"model": prior.state_dict(), "options": options, "seconds": seconds, "steps": args.prior_steps,
                        "change_weight": args.change_weight, "seed": args.prior_seed, "codes_sha256": digest}, tmp)
    return prior, seconds, {**options, "steps": args.prior_steps, "change_weight": args.change_weight, "seed": args.prior_seed}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vq-steps", type=int, default=1500)
    p.add_argument("--prior-steps", type=int, default=2000)
    p.add_argument("--context", type=int, default=2, help="previous frames the prior sees")
    p.add_argument("--context-layers", type=int, default=0, help="3x3 layers mixing the previous frames across space")
    p.add_argument("--tag", default="", help="suffix of the results entry (e.g. 'cw5' -> vqvae_video_cw5), beside the main one")
    p.add_argument("--change-weight", type=float, default=1.0,
                   help="prior loss weight of the codes that change from the previous frame (1: the plain likelihood)")
    p.add_argument("--prior-seed", type=int, default=0, help="seed of the prior's initialisation and batches")
    p.add_argument("--prior-state", help="load the prior from this file if it exists, else train it and save it there")
    p.add_argument("--decodes", nargs="+", default=["1", "greedy"], type=decode_name,
                   help="how frames 7-16 are drawn: temperatures, 'greedy' and/or 'topN' (sampled among the N most likely codes); the first is the headline")
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--classifier-steps", type=int, default=600)
    p.add_argument("--judge", help="a trained moving-shapes action classifier (run or zoo entry) instead of training one")
    p.add_argument("--hierarchy-steps", type=int, default=1500, help="0: keep the last run's hierarchy numbers")
    args = p.parse_args(argv)
    name_tagged = NAME + (f"_{args.tag}" if args.tag else "")
    quiet_lightning()
    torch.set_num_threads(2)
    out = Path(tempfile.mkdtemp(prefix="bench_vqvae_video_"))
    vq_run, vq_seconds = frame_vqvae(args, out)
    vq = load_model(vq_run)
    if args.judge:
        classifier, clf_seconds = paperzoo.load(args.judge), 0.0
        judge_name = args.judge
    else:
        _, clf_run, clf_seconds = train_steps("video/r3d_18_shapes", args.classifier_steps, out, validations=1)
        classifier, judge_name = paperzoo.load(clf_run), f"R3D-18, {args.classifier_steps} steps"

    train_clips, test_clips = clip_frames("train"), clip_frames("test")
    train_labels, test_labels = torch.from_numpy(clip_labels("train")), clip_labels("test")
    train_codes, test_codes = encode_clips(vq, train_clips), encode_clips(vq, test_clips)
    k = vq.quantizer.num_codes
    classifier_top1 = float((classify(classifier, test_clips) == test_labels).mean())

    prior, prior_seconds, prior_options = trained_prior(args, train_codes, train_labels, k, vq_run)
    prior_steps = prior_options.pop("steps")
    with torch.no_grad():
        bits = [float(prior.nll(test_codes[i : i + 50], torch.from_numpy(test_labels[i : i + 50]), first=GIVEN)) / math.log(2)
                for i in range(0, len(test_codes), 50)]
    prior_bits = float(np.mean(bits))

    per = max(args.clips // len(CLASSES), 1)
    chosen = np.concatenate([np.flatnonzero(test_labels == c)[:per] for c in range(len(CLASSES))])
    real, labels, codes = test_clips[chosen], test_labels[chosen], test_codes[chosen]
    actions = torch.from_numpy(labels)
    other = (actions + 5) % len(CLASSES)
    recon = decode_clips(vq, codes)
    still = np.repeat(real[:, GIVEN - 1 : GIVEN], FRAMES, axis=1)
    copied = decode_clips(vq, torch.cat([codes[:, :1], codes[:, :-1]], 1))  # frame t shown as the codes of true frame t-1
    references = {"vq_reconstruction": mse01(recon, real)[GIVEN:], "repeat_frame_6": mse01(still, real)[GIVEN:],
                  "copy_previous_codes": mse01(copied, real)[GIVEN:]}
    changed = codes[:, GIVEN:] != codes[:, GIVEN - 1 : -1]  # codes that change from t-1 to t in the real clips
    copy_match = 1 - float(changed.float().mean())
    real_agree = float((classify(classifier, real) == labels).mean())
    # what the judge can give at all: the true clips through the frame VQ-VAE (the generated clips' ceiling), and the
    # 6 given frames then frame 6 held (no motion after the given frames)
    held = np.concatenate([real[:, :GIVEN], np.repeat(real[:, GIVEN - 1 : GIVEN], FRAMES - GIVEN, axis=1)], 1)
    judge_references = {"vq_reconstruction": float((classify(classifier, recon) == labels).mean()),
                        "repeat_frame_6": float((classify(classifier, held) == labels).mean())}
    decodes = {}
    for name in args.decodes:
        setting = decode_setting(name)
        t = time.perf_counter()
        generated = prior.continue_clip(codes[:, :GIVEN], actions, FRAMES - GIVEN, seed=0, **setting)
        counterfactual = prior.continue_clip(codes[:, :GIVEN], other, FRAMES - GIVEN, seed=0, **setting)
        seconds = time.perf_counter() - t
        one_step = prior.predict_next(codes, actions, GIVEN, seed=0, **setting)  # every frame from its true past
        fake, fake_other = decode_clips(vq, generated), decode_clips(vq, counterfactual)
        judged, judged_other = classify(classifier, fake), classify(classifier, fake_other)
        one_step_frames = decode_clips(vq, torch.cat([codes[:, :GIVEN], one_step], 1))
        decodes[name] = {"mse": mse01(fake, real)[GIVEN:].tolist(), "mse_one_step": mse01(one_step_frames, real)[GIVEN:].tolist(),
                         "code_match": float((generated[:, GIVEN:] == codes[:, GIVEN:]).float().mean()),
                         "code_match_one_step": float((one_step == codes[:, GIVEN:]).float().mean()),
                         # the hard part: the codes that do change in the real clip (copying gets none of them)
                         "changed_codes_right_one_step": float((one_step == codes[:, GIVEN:])[changed].float().mean()),
                         "agree_true": float((judged == labels).mean()),
                         "agree_true_one_step": float((classify(classifier, one_step_frames) == labels).mean()),
                         "judged_static": float((judged == CLASSES.index("static")).mean()),
                         "codes_changed_generated": float((generated[:, GIVEN:] != generated[:, GIVEN - 1 : -1]).float().mean()),
                         "agree_other": float((judged_other == other.numpy()).mean()),
                         # the same counterfactual clips heard as the true action: the given frames' motion carried on
                         "true_given_other": float((judged_other == labels).mean()), "seconds": seconds}
        if name == args.decodes[0]:
            media = write_media(ROOT / "docs" / name_tagged, real, fake, labels)
        print(name, {k2: v for k2, v in decodes[name].items() if not isinstance(v, list)}, flush=True)

    hierarchy = run_hierarchy(args, vq, train_codes, test_codes, test_clips, k)
    head = decodes[args.decodes[0]]
    repeat = float(references["repeat_frame_6"].mean())

    def named(d: str) -> str:
        if d == "greedy":
            return "greedy (most likely code)"
        return f"sampled among the {d[3:]} most likely codes" if d.startswith("top") else f"temperature {d}"

    rows = [["frame VQ-VAE: codes per frame, K", f"{tuple(codes.shape[2:])}, {k}"],
            ["prior test NLL, frames 7-16 (bits per code; uniform = log2 K)", f"{prior_bits:.3f} (uniform {math.log2(k):.2f})"],
            ["MSE per frame, frames 7-16: VQ-VAE reconstruction of the true frames (floor)",
             " ".join(f"{v:.4f}" for v in references["vq_reconstruction"])],
            ["  repeating frame 6 (no motion)", " ".join(f"{v:.4f}" for v in references["repeat_frame_6"])]]
    for name, d in decodes.items():
        rows += [[f"  generated, {named(name)}", " ".join(f"{v:.4f}" for v in d["mse"])],
                 [f"  one step from the true past, {named(name)}", " ".join(f"{v:.4f}" for v in d["mse_one_step"])]]
    rows += [["  one step by copying the true previous frame's codes", " ".join(f"{v:.4f}" for v in references["copy_previous_codes"])],
             ["mean MSE frames 7-16: floor / repeat frame 6 / copy previous codes (one step)",
              f"{float(references['vq_reconstruction'].mean()):.4f} / {repeat:.4f} / {float(references['copy_previous_codes'].mean()):.4f}"],
             ["true codes equal to the previous frame's (what copying gets right); codes that change in real clips",
              f"{100 * copy_match:.1f}%; {100 * (1 - copy_match):.1f}%"]]
    for name, d in decodes.items():
        rows += [[f"{named(name)}: mean MSE generated / one step; codes equal to the true ones generated / one step; "
                  "of the codes that change, right one step",
                  f"{np.mean(d['mse']):.4f} / {np.mean(d['mse_one_step']):.4f}; {100 * d['code_match']:.1f}% / "
                  f"{100 * d['code_match_one_step']:.1f}%; {100 * d['changed_codes_right_one_step']:.1f}%"],
                 [f"{named(name)}: judge agrees with the conditioning action, true / another action (same 6 frames); "
                  "conditioned on another action, heard as the true one; generated clips judged static; codes changed from "
                  "frame to frame; judge on the one-step clips (true action)",
                  f"{100 * d['agree_true']:.1f}% / {100 * d['agree_other']:.1f}%; {100 * d['true_given_other']:.1f}%; "
                  f"{100 * d['judged_static']:.1f}%; {100 * d['codes_changed_generated']:.1f}%; {100 * d['agree_true_one_step']:.1f}%"]]
    rows += [[f"action judge ({judge_name}) on real test clips", f"{100 * classifier_top1:.1f}% (these {len(chosen)}: {100 * real_agree:.1f}%)"],
             ["  on these clips through the frame VQ-VAE (ceiling) / 6 given frames, then frame 6 held (no motion)",
              f"{100 * judge_references['vq_reconstruction']:.1f}% / {100 * judge_references['repeat_frame_6']:.1f}%"]]
    if hierarchy:
        rows += [["27-bit hierarchy: pixel MSE through 3 latents / random pair", f"{hierarchy['mse']:.4f} / {hierarchy['mse_random_pair']:.4f}"],
                 ["27-bit hierarchy: mean-colour error / random pair",
                  f"{hierarchy['mean_colour_error']:.4f} / {hierarchy['mean_colour_error_random_pair']:.4f}"],
                 ["27-bit hierarchy: distinct second-level codes used (test frames)", f"{hierarchy['codes_used']}"]]
    claims = {"beats_repeat": float(np.mean(head["mse"])) < repeat, "agrees_true_60": head["agree_true"] >= 0.6,
              "agrees_other_at_most_20": head["agree_other"] <= 0.2, "true_given_other_at_most_20": head["true_given_other"] <= 0.2}
    prior_what = (f"context {prior_options['context']} frames, {prior_options['context_layers']} context layers, "
                  + (f"changing codes weighted {prior_options['change_weight']:g}x in the loss, " if prior_options["change_weight"] != 1 else "")
                  + f"{prior_steps} steps of 16 clips, seed {prior_options['seed']} ({prior_seconds / 60:.1f} min)")
    text = (f"Moving shapes v{GENERATOR_VERSION} (seed 0), 32x32 frames. Frame VQ-VAE `vq/vqvae_moving_shapes` {args.vq_steps} steps "
            f"({vq_seconds / 60:.1f} min); prior: {prior_what}; continuation of {len(chosen)} test clips ({per} per action) from 6 "
            f"given frames, seed 0, each decode below; one step = every frame 7-16 drawn from its true previous frames (no "
            f"feedback of samples). Headline decode: {named(args.decodes[0])}."
            + (f" Hierarchy {hierarchy['steps']} steps on 8,000 frames ({hierarchy['train_seconds'] / 60:.1f} min)." if hierarchy else "")
            + f" Strips, GIFs and MP4s (real | generated) are in `docs/{name_tagged}/`.\n\n" + table(["measure", "value"], rows)
            + "\n\nClaims (headline decode): continuation beats repeating frame 6 on mean MSE of frames 7-16 - "
            + ("**met**" if claims["beats_repeat"] else "**missed**")
            + f"; judge agrees with the true action >= 60% ({100 * head['agree_true']:.1f}%) - "
            + ("**met**" if claims["agrees_true_60"] else "**missed**")
            + f"; conditioned on another action (same 6 frames), the judge hears that action <= 20% ({100 * head['agree_other']:.1f}%) - "
            + ("**met**" if claims["agrees_other_at_most_20"] else "**missed**")
            + f"; or hears the true action <= 20% (the action, not only the given frames, drives the continuation: "
            f"{100 * head['true_given_other']:.1f}%) - " + ("**met**" if claims["true_given_other_at_most_20"] else "**missed**") + "\n")
    write_results(name_tagged, {"settings": vars(args), "prior_bits": prior_bits, "prior_options": prior_options, "copy_match": copy_match,
                         "references": {k2: v.tolist() for k2, v in references.items()}, "decodes": decodes, "claims": claims,
                         "judge": {"name": judge_name, "top1": classifier_top1, "real_clips": real_agree, "seconds": clf_seconds,
                                   "references": judge_references},
                         "hierarchy": hierarchy, "media": media}, text)
    print(text)


def run_hierarchy(args, vq, train_codes, test_codes, test_clips, k: int) -> dict | None:
    """The 27-bit compression hierarchy (3 latents of K = 512 per frame); with --hierarchy-steps 0 the last run's numbers."""
    if not args.hierarchy_steps:
        previous = RESULTS / f"{NAME}.json"
        old = json.loads(previous.read_text()) if previous.is_file() else {}
        return {"steps": old.get("settings", {}).get("hierarchy_steps"), **old["hierarchy"]} if old.get("hierarchy") else None
    frame_codes = train_codes[:500].flatten(0, 1)
    t = time.perf_counter()
    compressor = fit_compressor(frame_codes, k, steps=args.hierarchy_steps)
    seconds = time.perf_counter() - t
    test_frames = test_codes[:, GIVEN].clone()  # one frame per test clip
    latents = compressor.encode(test_frames)
    through = decode_clips(vq, compressor.decode(latents, tuple(test_frames.shape[1:]), seed=0)[:, None])[:, 0]
    originals = test_clips[:, GIVEN]
    shuffled = originals[np.random.default_rng(0).permutation(len(originals))]

    def colour_error(a, b):
        return float(np.abs(a.reshape(len(a), -1, 3).mean(1) - b.reshape(len(b), -1, 3).mean(1)).mean() / 255)

    image_grid([originals[:12], through[:12]], ROOT / "docs" / NAME / "hierarchy_27bits.png", scale=3)
    return {"bits_per_frame": 3 * math.log2(compressor.quantizer.num_codes), "codes_used": int(latents.unique().numel()),
            "mse": float(mse01(through[:, None], originals[:, None]).mean()),
            "mse_random_pair": float(mse01(shuffled[:, None], originals[:, None]).mean()),
            "mean_colour_error": colour_error(through, originals), "mean_colour_error_random_pair": colour_error(shuffled, originals),
            "train_seconds": seconds, "steps": args.hierarchy_steps}


if __name__ == "__main__":
    main()
