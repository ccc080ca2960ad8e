"""The ``paperzoo`` command. Every user error is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from paperzoo.errors import PaperzooError

EXAMPLES = {
    "paperzoo": """examples:
  paperzoo demo                                   # tour on generated data, writes runs/demo/
  paperzoo list                                   # registered models and bundled configs
  paperzoo train losses/margin_blobs trainer.max_steps=500 model.loss=LogitMarginLoss
  paperzoo train losses/margin_blobs --resume     # continue the newest run of that config
  paperzoo evaluate --model runs/margin_blobs/20260101-120000
  paperzoo export --model runs/margin_blobs/20260101-120000 -o exported/margin
  paperzoo card exported/margin
  paperzoo data info
  paperzoo losses plot -o margin_losses.png""",
    "train": """examples:
  paperzoo train configs/losses/margin_blobs.yaml
  paperzoo train losses/margin_blobs model.loss=SmoothedL1HingeLoss model.loss_params.gamma=0.5
  paperzoo train losses/margin_cifar10 --data-dir ../shared/data
  paperzoo train losses/margin_blobs trainer.devices=2 trainer.strategy=ddp   # 2 CPU processes (gloo)
  paperzoo train losses/margin_blobs trainer.stop_at_step=200   # stop early, then:
  paperzoo train --resume runs/margin_blobs/<timestamp>""",
    "evaluate": "example:\n  paperzoo evaluate --model runs/margin_blobs/<timestamp>",
    "export": "example:\n  paperzoo export --model runs/margin_blobs/<timestamp> -o exported/margin\n  python -c \"import paperzoo; print(paperzoo.load('exported/margin'))\"",
    "zoo": "examples:\n  paperzoo zoo list\n  paperzoo zoo check margin_cifar10 --data-dir ../shared/data\n  paperzoo card zoo:vqvae_sonnet_cifar10\n",
    "weights": """examples:
  paperzoo weights list
  paperzoo weights import --from torchvision --arch r2plus1d_18 r2plus1d_18-91a641e6.pth -o exported/r2plus1d_k400
  paperzoo weights import --from pytorchvideo --arch x3d_m X3D_M.pyth -o exported/x3d_m_k400
  paperzoo predict clip.mp4 --model exported/x3d_m_k400""",
    "card": "examples:\n  paperzoo card exported/margin\n  paperzoo card zoo:margin_cifar10\n  paperzoo card runs/margin_blobs/<timestamp> --json",
    "data": """examples:
  paperzoo data info
  paperzoo data download cifar10
  paperzoo data import cifar10 ~/Downloads/cifar-10-binary.tar.gz
  PAPERZOO_DATA=../shared/data paperzoo data info
  paperzoo data flow data/moving_shapes/videos --method tvl1""",
    "losses": "example:\n  paperzoo losses plot -o margin_losses.png --min -3 --max 3",
    "extract-codes": "examples:\n  paperzoo extract-codes --model runs/vqvae_sonnet_cifar10/<timestamp> -o codes/cifar10 --data cifar10\n  paperzoo train priors/prior_cifar10 data.codes_dir=codes/cifar10",
    "sample": "examples:\n  paperzoo sample --model runs/prior_cifar10/<timestamp> --n 64 -o samples/\n  paperzoo sample --model runs/prior_cifar10_classes/<timestamp> --n 16 --class 3 --temperature 0.9 -o cats/\n  paperzoo sample --model runs/top_prior/<t> --model runs/bottom_prior/<t> --n 16 -o vqvae2-samples/",
    "reconstruct": "examples:\n  paperzoo reconstruct cat.png dog.jpg --model runs/vqvae_sonnet_cifar10/<timestamp> -o recon/\n  paperzoo reconstruct img/*.png --model exported/vqvae -o recon/",
    "demo": "example:\n  paperzoo demo --out runs/demo",
    "predict": "examples:\n  paperzoo data build moving-shapes --out data/moving_shapes\n  paperzoo train video/r3d_18_shapes data.location=data/moving_shapes\n  paperzoo predict data/moving_shapes/videos/left/v_left_002001.mp4 --model runs/r3d_18_shapes/<timestamp>",
    "video": "example:\n  paperzoo video expand --steps 2 --candidate-steps 150 --out runs/x3d_expand",
    "convert-speaker": "examples:\n  paperzoo train vq/vqvae_audio_fsdd\n  paperzoo convert-speaker 3_george_0.wav --to jackson --model runs/vqvae_audio_fsdd/<timestamp> -o 3_as_jackson.wav",
    "separate": "examples:\n  paperzoo train separation/audioslots_fsdd2mix\n  paperzoo separate mix.wav --model runs/audioslots_fsdd2mix/<timestamp> -o separated/",
    "recommend": "examples:\n  paperzoo train recsys/bpr_mf_luxury_beauty\n  paperzoo recommend --model runs/bpr_mf_luxury_beauty/<timestamp> --user A3CJ7MHAS9IMAM --k 10\n  paperzoo recommend --model exported/bpr --user A3CJ7MHAS9IMAM --user A1B2C3 --json",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (and still exit 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add(sub, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES.get(name),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paperzoo", description=__doc__.split("\n")[0].replace("The", "paperzoo: the"),
                     epilog=EXAMPLES["paperzoo"], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _add(sub, "list", "list registered models and bundled configs")
    p.add_argument("--family", help="only this family (e.g. losses)")
    p.add_argument("--flops", action="store_true", help="video models: parameters and GFLOPs (multiply-adds) per view at the paper input")

    p = _add(sub, "train", "train from a YAML config with key.sub=value overrides")
    p.add_argument("config", nargs="?", help="config file or bundled name (e.g. losses/margin_blobs)")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, type-checked against the schema")
    p.add_argument("--resume", nargs="?", const=True, metavar="RUN_DIR",
                   help="continue from RUN_DIR's last checkpoint (no RUN_DIR: the newest run of CONFIG)")
    p.add_argument("--data-dir", help="data root (default: $PAPERZOO_DATA, else ~/.cache/paperzoo)")

    p = _add(sub, "evaluate", "validation metrics of a run's last checkpoint (written to RUN_DIR/eval.json)")
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory (evaluation needs its data config)")
    p.add_argument("--best", action="store_true",
                   help="the validation-best checkpoint instead of the last (runs trained with trainer.keep_best)")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--data-dir")

    p = _add(sub, "export", "write a run's weights, assets and model card (safetensors + card.json; load with paperzoo.load)")
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("-o", "--out", required=True, help="export folder (replaced atomically)")

    p = _add(sub, "card", "print the model card of a run or an export")
    p.add_argument("model", metavar="PATH", help="run directory, export directory or zoo:ENTRY")
    p.add_argument("--json", action="store_true", help="the whole card as JSON")

    p = _add(sub, "weights", "released video weights (torchvision, pytorchvideo, I3D, C3D): list the layouts, import a file as an export")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True, parser_class=_Parser)
    w = wsub.add_parser("list", help="every importable checkpoint: source, name, our architecture, labels, download URL")
    w.add_argument("--json", action="store_true")
    w = wsub.add_parser("import", help="convert a released checkpoint into an export (class names and input spec on its card)")
    w.add_argument("file", help="the checkpoint file (.pth / .pyth / .pt / .pickle / .safetensors)")
    w.add_argument("--from", dest="source", required=True, help="torchvision, pytorchvideo, i3d or c3d")
    w.add_argument("--arch", required=True, help="the source's model name (paperzoo weights list)")
    w.add_argument("-o", "--out", required=True, help="export folder (written only when every tensor fits)")

    p = _add(sub, "zoo", "the shipped pretrained models (offline): list their cards, re-check them on real data")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True, parser_class=_Parser)
    z = zsub.add_parser("list", help="every entry with its data, training command, steps, time, metrics, size, sha256")
    z.add_argument("--json", action="store_true", help="the cards as JSON")
    z = zsub.add_parser("check", help="re-measure each entry's check on its fixed real subset against its card")
    z.add_argument("entries", nargs="*", help="default: every entry")
    z.add_argument("--data-dir", help="data root (default: $PAPERZOO_DATA, else ~/.cache/paperzoo)")

    p = _add(sub, "reconstruct", "encode images to discrete codes and decode them with a trained VQ-VAE")
    p.add_argument("images", nargs="+", help="image files (sides divisible by 4, e.g. 32x32 for CIFAR models)")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of a VQ-VAE")
    p.add_argument("-o", "--out", required=True, help="output folder (replaced atomically)")

    p = _add(sub, "extract-codes", "encode a dataset once with a trained VQ-VAE (uint16 code maps for prior training)")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of a VQ-VAE")
    p.add_argument("-o", "--out", required=True, help="output folder (replaced atomically)")
    p.add_argument("--data", default="cifar10", choices=["cifar10", "shapes"], help="which images to encode")
    p.add_argument("--limit", type=int, help="first N images of each split")
    p.add_argument("--data-dir")

    p = _add(sub, "sample", "sample code maps from a trained prior and decode them into images")
    p.add_argument("--model", dest="priors", action="append", required=True, metavar="PRIOR",
                   help="run directory, export directory or zoo:ENTRY of a prior; for a VQ-VAE-2 give --model once per level")
    p.add_argument("-o", "--out", required=True, help="output folder: samples.png, codes_l*.npy")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--class", dest="label", type=int, help="class index for a class-conditional prior")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int, default=0)

    p = _add(sub, "separate", "split a recording into its sources with a trained AudioSlots run (one wav per slot)")
    p.add_argument("mixture", help="audio file (any sample rate; stereo is downmixed)")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of an AudioSlots model")
    p.add_argument("-o", "--out", required=True, help="output folder (replaced atomically): source_1.wav, source_2.wav, ...")
    p.add_argument("--mask", choices=["ibm", "wiener"], default="ibm")
    p.add_argument("--rate", type=int, help="sample rate of the written sources (default: the input's)")

    p = _add(sub, "convert-speaker", "speaker conversion with a trained audio VQ-VAE: the same words in another voice")
    p.add_argument("audio", help="audio file (any sample rate: resampled; stereo: downmixed)")
    p.add_argument("--to", required=True, dest="speaker", help="target speaker name (as in the training data)")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of a raw-audio VQ-VAE")
    p.add_argument("-o", "--out", required=True, help="output WAV at the input's sample rate (written atomically)")
    p.add_argument("--temperature", type=float, default=1.0, help="WaveNet sampling temperature (default 1)")
    p.add_argument("--seed", type=int, default=0)

    p = _add(sub, "recommend", "top-K items for a user from a trained recommender run (training items excluded)")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of a recommender")
    p.add_argument("--user", required=True, action="append", help="a user's original ID (as in the interaction file); repeat for several")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = _add(sub, "predict", "top-5 action classes of a video (file or frame folder) with a trained video run")
    p.add_argument("video", help="mp4 / avi / webm file, or a folder of img_00001.jpg ... frames")
    p.add_argument("--model", required=True, help="run directory, export directory or zoo:ENTRY of a video classifier")
    p.add_argument("--clips", type=int, default=3, help="uniformly spaced clips averaged (default 3)")
    p.add_argument("--crops", type=int, default=1, choices=[1, 3], help="crops per clip: 1 centre or 3 (default 1)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = _add(sub, "video", "video tools: X3D stepwise expansion")
    vsub = p.add_subparsers(dest="video_command", metavar="ACTION", required=True, parser_class=_Parser)
    d = vsub.add_parser("expand", help="X3D stepwise expansion: expand one axis at a time, train briefly, keep the best")
    d.add_argument("--config", default="video/x3d_xs_shapes", help="training recipe for every candidate (a video config)")
    d.add_argument("--steps", type=int, default=2, help="expansion steps (default 2)")
    d.add_argument("--candidate-steps", type=int, default=150, help="training steps per candidate (default 150)")
    d.add_argument("--growth", type=float, default=2.0, help="FLOP growth per step the axes aim at (informational)")
    d.add_argument("--max-gflops", type=float, help="skip candidates above this many GFLOPs per view")
    d.add_argument("--base", default="frames=1,rate=8,crop=16,depth=1.0,width=1.0,bottleneck=2.25",
                   help="base spec as key=value pairs (default: an X2D-like single-frame net)")
    d.add_argument("--out", required=True, help="output folder: expansion.json and one run per candidate")
    d.add_argument("overrides", nargs="*", help="key.sub=value overrides of the training recipe")

    p = _add(sub, "report", "one self-contained HTML page (config, metrics, curves, images, audio, video, tables) for runs")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("-o", "--out", help="output HTML file (default: RUN_DIR/report.html for one run, else report.html)")
    p.add_argument("--title", default="paperzoo report")

    p = _add(sub, "demo", "train small models on generated data and write results (offline, a few minutes)")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")

    p = _add(sub, "data", "dataset locations, downloads and imports")
    p.add_argument("--data-dir", help="data root (default: $PAPERZOO_DATA, else ~/.cache/paperzoo)")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True, parser_class=_Parser)
    dsub.add_parser("info", help="list datasets, where they are looked for, and whether present")
    d = dsub.add_parser("download", help="download an official release into the data root")
    d.add_argument("name")
    d = dsub.add_parser("import", help="install a dataset from a folder or archive you already have")
    d.add_argument("name")
    d.add_argument("path")
    d = dsub.add_parser("flow", help="precompute optical flow for every video under a folder (resumes where it stopped)")
    d.add_argument("video_dir", help="folder of videos (mp4/avi/webm/mkv/mov) and/or img_*.jpg frame folders")
    d.add_argument("--method", default="farneback", help="farneback (default), dis or tvl1 (needs opencv-contrib)")
    d.add_argument("--format", default="jpeg", help="jpeg (8-bit x_/y_ images, +/-20 px; default) or npy (float16)")
    d.add_argument("--warped", action="store_true", help="warped flow: remove the camera motion first (TSN)")
    d.add_argument("--flow-dir", help="cache root (default: the paperzoo cache, where training looks for it)")
    d = dsub.add_parser("build", help="build a derived dataset (fsdd2mix: two-speaker mixtures from FSDD; "
                                      "moving-shapes: the generated motion-recognition videos)")
    d.add_argument("name", choices=["fsdd2mix", "moving-shapes"])
    d.add_argument("--frames", type=int, default=16, help="moving-shapes: frames per clip (default 16)")
    d.add_argument("--size", type=int, default=32, help="moving-shapes: frame size in pixels, even (default 32)")
    d.add_argument("--seed", type=int, default=0, help="moving-shapes: generator seed (default 0)")
    d.add_argument("--out", help="output folder (default: the paperzoo cache, where training looks for it)")
    d.add_argument("--sample-rate", type=int, default=8000, help="8000 (FSDD's rate) or e.g. 16000 (resampled)")
    for part, n in (("train", 2000), ("val", 200), ("test", 300)):
        d.add_argument(f"--{part}", type=int, help=f"fsdd2mix: mixtures in the {part} part of each split (default {n}); "
                       f"moving-shapes: clips (default train 2000, test 500)")

    p = _add(sub, "losses", "margin-loss utilities")
    lsub = p.add_subparsers(dest="losses_command", metavar="ACTION", required=True, parser_class=_Parser)
    d = lsub.add_parser("plot", help="plot every margin loss and its derivative against the agreement")
    d.add_argument("-o", "--out", default="margin_losses.png")
    d.add_argument("--min", type=float, default=-2.0)
    d.add_argument("--max", type=float, default=2.0)
    return parser


def _split_config(args) -> tuple[str | None, list[str]]:
    """``train --resume RUN_DIR k=v``: argparse takes the first override for CONFIG; give it back."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not Path(config).exists():
        return None, [config, *overrides]
    return config, overrides


def cmd_list(args) -> None:
    from paperzoo.engine.config import bundled_configs
    from paperzoo.registry import list_models

    models = list_models(family=args.family)  # an unknown family fails before anything is printed
    print("models:")
    for m in models:
        print(f"  {m.name:<24} [{m.family}] {m.summary}")
    if args.flops:
        import torch

        from paperzoo.registry import create_model
        from paperzoo.video.base import VideoClassifier, count_parameters, multiply_adds

        print("video models at the paper input, 400 classes (GFLOPs = multiply-adds per view):")
        for m in list_models(family="video"):
            with torch.device("meta"):  # shapes only: paper-size weights are never allocated or initialised
                net = create_model(m.name, num_classes=400)
            if isinstance(net, VideoClassifier) and net.input_spec is not None:  # the 2D Inception-V1 has none
                s = net.input_spec
                print(f"  {m.name:<22} {count_parameters(net) / 1e6:7.2f}M params {multiply_adds(net, copy=False) / 1e9:8.2f} GFLOPs"
                      f"  view {f'{s.segments} segments x ' if s.segments > 1 else ''}{s.frames}x{s.crop}x{s.crop} rate {s.rate}"
                      f" {'+'.join(s.inputs)}")
    configs = [c for c in bundled_configs() if not args.family or c.startswith(args.family + "/")]
    print("configs (paperzoo train NAME):")
    for c in configs:
        print(f"  {c}")


def cmd_train(args) -> None:
    from paperzoo.engine.run import train

    config, overrides = _split_config(args)
    run_dir = train(config, overrides, resume=args.resume, data_dir=args.data_dir)
    print(f"run directory: {run_dir}")


def cmd_evaluate(args) -> None:
    from paperzoo.engine.run import evaluate

    result = evaluate(args.model, args.overrides, data_dir=args.data_dir, checkpoint="best" if args.best else "last")
    print(json.dumps(result["metrics"], indent=2))


def cmd_export(args) -> None:
    from paperzoo.io.bundle import export_run

    print(f"exported to {export_run(args.model, args.out)}")


def cmd_card(args) -> None:
    from paperzoo.io.bundle import read_bundle

    card = read_bundle(args.model).card
    if args.json:
        print(json.dumps(card, indent=2))
        return
    t = card.get("training", {})
    print(f"{card.get('architecture')}  [{card.get('family')}, task {card.get('task')}]")
    print(f"  arguments: {json.dumps(card.get('arguments', {}))}")
    for key, value in card.get("inference", {}).items():
        text = json.dumps(value)
        print(f"  {key}: {text if len(text) <= 100 else text[:97] + '...'}")
    if "source" in card:  # released weights brought in by `paperzoo weights import`
        src = card["source"]
        top1 = f", published Kinetics top-1 {src['published_top1']}" if src.get("published_top1") else ""
        print(f"  imported: {src.get('from')} {src.get('reference')} ({src.get('labels')}{top1}) from {src.get('file')}, "
              f"sha256 {src.get('sha256')}")
        print(f"  source: {src.get('url')}")
        print(f"  command: {src.get('command')}")
    else:
        print(f"  trained: {t.get('steps')} steps, seed {t.get('seed')}, {t.get('world_size', 1)} process(es)")
        print(f"  command: {t.get('command')}")
        print(f"  data: {json.dumps(t.get('data'))}")
    for key, value in sorted(card.get("metrics", {}).items()):
        print(f"  {key:<28} {value:.6g}")
    print(f"  versions: {', '.join(f'{k} {v}' for k, v in card.get('versions', {}).items())}")
    for name, f in card.get("files", {}).items():
        print(f"  {name}: {f['bytes']} bytes, sha256 {f['sha256']}")


def cmd_weights(args) -> None:
    from paperzoo.video import weights

    if args.weights_command == "import":
        out = weights.import_weights(args.file, args.source, args.arch, args.out)
        print(f"imported {args.source} {args.arch} into {out} (paperzoo predict VIDEO --model {out})")
        return
    rows = [{"source": r.source, "name": r.name, "architecture": r.arch, "arguments": r.kwargs, "labels": r.labels,
             "published_top1": r.top1, "url": r.url} for r in weights.REFERENCES.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        top1 = f"{r['published_top1']:.2f}" if r["published_top1"] else "-"
        print(f"{r['source']:<13} {r['name']:<18} -> {r['architecture']:<18} {r['labels']:<12} top-1 {top1:<6} {r['url']}")


def cmd_zoo(args) -> None:
    import paperzoo.zoo as zoo

    names = zoo.entry_names()
    if args.zoo_command == "list":
        cards = {n: zoo.card(n) for n in names}
        if args.json:
            print(json.dumps(cards, indent=2))
            return
        for name, card in cards.items():
            z, t, check = card.get("zoo", {}), card.get("training", {}), card.get("zoo", {}).get("check", {})
            size = sum(f["bytes"] for f in card.get("files", {}).values())
            print(f"zoo:{name}  {card.get('architecture')} [{card.get('family')}]  {size / 1e6:.2f} MB")
            print(f"  {z.get('about', '')}")
            print(f"  data: {json.dumps(t.get('data'))}")
            if z.get("prepare"):
                print(f"  prepare: {z['prepare']}")
            print(f"  command: {t.get('command')}  ({t.get('steps')} steps, seed {t.get('seed')}, "
                  f"{z.get('train_seconds', 0) / 60:.1f} min on {z.get('machine', '?')})")
            shown = {k: v for k, v in card.get("metrics", {}).items() if k.startswith(("val/", "eval/"))}
            print(f"  metrics: {', '.join(f'{k} {v:.4g}' for k, v in sorted(shown.items()))}")
            if check:
                print(f"  check: {check['metric']} {check['value']:.4g} (+- {check['tolerance']:g}) on {check['subset']}")
            print(f"  size / quality: {z.get('tradeoff', '')}")
            for fname, f in card.get("files", {}).items():
                print(f"  {fname}: sha256 {f['sha256']}")
        return
    from paperzoo.zoo.checks import verify

    failed = []
    for name in args.entries or names:
        got, want, ok = verify(zoo.entry_path(name).name, args.data_dir)
        print(f"{'ok  ' if ok else 'FAIL'} zoo:{name}  {got['metric']} {got['value']:.4g} (card {want['value']:.4g} +- {want['tolerance']:g})")
        failed += [] if ok else [name]
    if failed:
        raise PaperzooError(f"{len(failed)} zoo entr{'y' if len(failed) == 1 else 'ies'} drifted from the card: {', '.join(failed)}")


def cmd_data(args) -> None:
    from paperzoo.data import registry

    if args.data_command == "info":
        print(f"data root: {registry.data_root(args.data_dir)}")
        for d in registry.info(args.data_dir):
            state = "present" if d["present"] else ("missing (download or import)" if d["download"] else "missing (import)")
            print(f"  {d['name']:<8} {state:<30} {d['description']}")
    elif args.data_command == "download":
        print(f"installed {args.name} in {registry.download_dataset(args.name, args.data_dir)}")
    elif args.data_command == "flow":
        from paperzoo.video.flow import FORMATS, METHODS, build_flow_cache, cache_folders, find_videos, flow_root

        if args.method not in METHODS or args.format not in FORMATS:
            raise PaperzooError(f"--method must be one of {', '.join(METHODS)} and --format one of {', '.join(FORMATS)}")
        videos = find_videos(args.video_dir)
        if not videos:
            raise PaperzooError(f"no videos or frame folders under {args.video_dir}")
        folders = cache_folders(videos, flow_root(args.flow_dir), method=args.method, fmt=args.format, warped=args.warped)
        done = build_flow_cache(videos, folders, method=args.method, warped=args.warped, fmt=args.format)
        rate = f", {1000 * done['seconds_per_field']:.2f} ms per flow field" if done["seconds_per_field"] else ""
        print(f"{done['videos']} videos: computed {done['computed']}, already cached {done['cached']}{rate}; "
              f"flow in {folders[0].parent if len(folders) == 1 else os.path.commonpath([str(f) for f in folders])}")
    elif args.data_command == "build" and args.name == "moving-shapes":
        from paperzoo.data.moving_shapes import build_moving_shapes

        if not args.out:
            raise PaperzooError("moving-shapes needs --out FOLDER")
        train, test = args.train or 2000, args.test or 500
        out = build_moving_shapes(args.out, train=train, test=test, frames=args.frames, size=args.size, seed=args.seed)
        print(f"built moving shapes ({train} train / {test} test clips) in {out}")
    elif args.data_command == "build":
        from paperzoo.data.fsdd2mix import build_fsdd2mix, default_location

        counts = {"train": args.train or 2000, "val": args.val or 200, "test": args.test or 300}
        if args.sample_rate < 1000 or min(counts.values()) < 1:
            raise PaperzooError("--sample-rate must be >= 1000 and --train/--val/--test >= 1")
        out = Path(args.out) if args.out else default_location(args.sample_rate)
        fsdd = registry.require_dataset("fsdd", args.data_dir)
        print(f"built fsdd2mix in {build_fsdd2mix(fsdd, out, sample_rate=args.sample_rate, counts=counts)}")
    else:
        print(f"installed {args.name} in {registry.import_dataset(args.name, args.path, args.data_dir)}")


def cmd_losses(args) -> None:
    from paperzoo.losses.plot import plot_margin_losses

    if not args.min < args.max:
        raise PaperzooError(f"--min ({args.min}) must be smaller than --max ({args.max})")
    print(f"wrote {plot_margin_losses(args.out, args.min, args.max)}")


def cmd_extract_codes(args) -> None:
    from paperzoo.vq.codes import extract_codes

    if args.limit is not None and args.limit < 1:
        raise PaperzooError(f"--limit must be >= 1, got {args.limit}")
    print(f"wrote {extract_codes(args.model, args.out, source=args.data, data_dir=args.data_dir, limit=args.limit)}")


def cmd_sample(args) -> None:
    from paperzoo.priors.generate import sample_images

    out = sample_images(args.priors, args.out, n=args.n, label=args.label, temperature=args.temperature,
                        top_k=args.top_k, seed=args.seed)
    print(f"wrote {out}/samples.png")


def cmd_reconstruct(args) -> None:
    from paperzoo.vq.reconstruct import reconstruct

    print(f"wrote {reconstruct(args.images, args.model, args.out)}")


def _load_as(path: str, kind: str, verb: str):
    """``paperzoo.load(path)``, checked to be the inference object ``verb`` needs (one-line error otherwise)."""
    import importlib

    from paperzoo.io.bundle import INFERENCE, load

    module, name = INFERENCE[kind].split(":")
    obj = load(path)
    if not isinstance(obj, getattr(importlib.import_module(module), name)):
        what = getattr(obj, "card", {}).get("task") or type(getattr(obj, "model", obj)).__name__
        raise PaperzooError(f"{path} holds a {what} model; `{verb}` needs a {kind} run or export")
    return obj


def _audio_notes(path, rate: int, model_rate: int) -> None:
    """Say on stderr what happens to the input: downmixing, resampling for the model (and back)."""
    import soundfile as sf

    name, channels = Path(path).name, sf.info(str(path)).channels
    if channels > 1:
        print(f"note: {name} has {channels} channels; downmixed to mono", file=sys.stderr)
    if rate != model_rate:
        print(f"note: {name} is {rate} Hz; resampled to {model_rate} Hz for the model, output at {rate} Hz", file=sys.stderr)


def cmd_separate(args) -> None:
    from paperzoo.io.atomic import atomic_dir
    from paperzoo.io.audio import read_audio, resample, write_audio

    if args.rate is not None and args.rate < 1000:
        raise PaperzooError(f"--rate must be >= 1000, got {args.rate}")
    separator = _load_as(args.model, "separation", "separate")
    wave, rate = read_audio(args.mixture)
    _audio_notes(args.mixture, rate, separator.sample_rate)
    sources = separator.separate(wave, rate, mask=args.mask).numpy()
    out_rate = args.rate or rate
    sources = resample(sources, rate, out_rate)
    with atomic_dir(args.out) as tmp:
        for i, source in enumerate(sources):
            write_audio(tmp / f"source_{i + 1}.wav", source, out_rate)
    for i in range(len(sources)):
        print(f"wrote {Path(args.out) / f'source_{i + 1}.wav'} ({out_rate} Hz)")


def cmd_convert_speaker(args) -> None:
    from paperzoo.io.audio import read_audio, write_audio

    converter = _load_as(args.model, "vqvae_audio", "convert-speaker")
    converter.speaker_index(args.speaker)  # an unknown speaker fails before the audio is read
    wave, rate = read_audio(args.audio)
    _audio_notes(args.audio, rate, converter.sample_rate)
    out = converter.convert(wave, rate, args.speaker, temperature=args.temperature, seed=args.seed, progress=True)
    print(f"wrote {write_audio(args.out, out.numpy(), rate)}")


def cmd_recommend(args) -> None:
    if args.k < 1:
        raise PaperzooError(f"--k must be >= 1, got {args.k}")
    recommender = _load_as(args.model, "recommender", "recommend")
    lists = recommender.recommend(args.user, args.k)
    if args.json:
        print(json.dumps([{"user": u, "items": [{"item": i, "score": s} for i, s in items]} for u, items in zip(args.user, lists)],
                         indent=2))
        return
    for user, items in zip(args.user, lists):
        if len(args.user) > 1:
            print(f"user {user}:")
        for rank, (item, score) in enumerate(items, 1):
            print(f"{rank:>3}  {item:<20} {score:.4f}")


def cmd_predict(args) -> None:
    if args.clips < 1 or args.k < 1:
        raise PaperzooError("--clips and --k must be >= 1")
    top = _load_as(args.model, "video", "predict").predict(args.video, clips=args.clips, crops=args.crops, k=args.k)
    if args.json:
        print(json.dumps([{"class": c, "probability": p} for c, p in top], indent=2))
        return
    for rank, (name, prob) in enumerate(top, 1):
        print(f"{rank:>3}  {name:<24} {prob:.4f}")


def cmd_video(args) -> None:
    from paperzoo.engine.video_expand import stepwise_expansion
    from paperzoo.video.x3d import X3DSpec

    try:
        pairs = dict(item.split("=", 1) for item in args.base.split(","))
        base = X3DSpec(**{k: (int(v) if k in ("frames", "rate", "crop", "stem_width") else float(v)) for k, v in pairs.items()})
    except (ValueError, TypeError) as exc:
        raise PaperzooError(f"--base must be key=value pairs of frames, rate, crop, depth, width, bottleneck ({exc})") from None
    if args.steps < 1 or args.candidate_steps < 1:
        raise PaperzooError("--steps and --candidate-steps must be >= 1")
    overrides = [f"trainer.max_steps={args.candidate_steps}", f"trainer.val_every={args.candidate_steps}",
                 f"trainer.checkpoint_every={args.candidate_steps}", *args.overrides]
    history = stepwise_expansion(base, config=args.config, out_dir=args.out, steps=args.steps, growth=args.growth,
                                 max_gflops=args.max_gflops, overrides=overrides)
    print(f"final: {history['final']} (history in {Path(args.out) / 'expansion.json'})")


def cmd_report(args) -> None:
    from paperzoo.report.html import write_report

    out = args.out or (Path(args.run_dirs[0]) / "report.html" if len(args.run_dirs) == 1 else "report.html")
    print(f"wrote {write_report(args.run_dirs, out, args.title)}")


def cmd_demo(args) -> None:
    from paperzoo.demo import run_demo

    run_demo(Path(args.out))


COMMANDS = {"list": cmd_list, "train": cmd_train, "evaluate": cmd_evaluate, "export": cmd_export, "card": cmd_card,
            "data": cmd_data, "zoo": cmd_zoo, "weights": cmd_weights, "losses": cmd_losses, "reconstruct": cmd_reconstruct, "extract-codes": cmd_extract_codes, "sample": cmd_sample,
            "recommend": cmd_recommend, "separate": cmd_separate, "convert-speaker": cmd_convert_speaker, "predict": cmd_predict, "video": cmd_video, "report": cmd_report,
            "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from paperzoo.version import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        COMMANDS[args.command](args)
    except PaperzooError as exc:
        print(f"paperzoo {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print(f"paperzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `paperzoo ... --json | head`: the reader left; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
