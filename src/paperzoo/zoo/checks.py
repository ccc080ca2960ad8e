"""Re-measure a zoo entry on a small fixed real subset and compare with the number on its card.

Each family's check uses only the entry's inference object (what a user gets from
``paperzoo.load("zoo:NAME")``) and real data, read in a fixed order, so the value is the same on
every machine up to float rounding; ``tolerance`` on the card absorbs that rounding and nothing
more. ``paperzoo zoo check`` runs them; CI runs one test per entry.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

import paperzoo.zoo as zoo
from paperzoo.data.registry import require_dataset
from paperzoo.errors import PaperzooError
from paperzoo.io.bundle import load


def _cifar10_test(data_dir, classes=None, per_class=None):
    from paperzoo.data.images import load_image_folder

    images, labels = load_image_folder(require_dataset("cifar10", data_dir), "test", classes, per_class)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255), torch.from_numpy(labels)


def check_margin(model, card, data_dir) -> dict:
    classes = list(card["inference"]["classes"])
    images, labels = _cifar10_test(data_dir, classes)
    y = torch.where(labels == 1, 1, -1)
    pixels = images.permute(0, 2, 3, 1).flatten(1)  # the task's features: (H, W, C) pixels flattened
    accuracy = (model.predict(pixels) == y).float().mean().item()
    return {"metric": "test accuracy", "value": accuracy, "higher_is_better": True,
            "subset": f"CIFAR-10 test, all {len(y)} images of {' / '.join(classes)}"}


def check_vqvae(model, card, data_dir) -> dict:
    images, _ = _cifar10_test(data_dir, per_class=20)
    mse = (model.reconstruct(images) - images).pow(2).mean().item()
    return {"metric": "reconstruction MSE ([0, 1] pixels)", "value": mse, "higher_is_better": False,
            "subset": "CIFAR-10 test, the first 20 images of each class (200, sorted file names)"}


@torch.no_grad()
def check_prior(model, card, data_dir) -> dict:
    images, labels = _cifar10_test(data_dir, per_class=20)
    codes = model.vqvae.encode(images - 0.5)
    nats = model.nll(codes, labels)
    return {"metric": "bits per code (its VQ-VAE's codes of real images)", "value": nats / np.log(2), "higher_is_better": False,
            "subset": "CIFAR-10 test, the first 20 images of each class (200, sorted file names), with their labels"}


def check_video(model, card, data_dir, clips: int = 100) -> dict:
    """Top-1 on the first ``clips`` test clips of the moving-shapes dataset the entry was trained on
    (rendered by the seeded generator and encoded as training reads them: mp4)."""
    from paperzoo.data.moving_shapes import CLASSES, render_clip
    from paperzoo.io.video import write_video

    data = card["training"]["data"]
    train, frames, size = data.get("shapes_train", 2000), data.get("shapes_frames", 16), data.get("shapes_size", 32)
    hits = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(train, train + clips):  # the test split follows the train clips (build_moving_shapes)
            rendered, label = render_clip(index, seed=0, frames=frames, size=size, label=index % len(CLASSES))
            path = Path(tmp) / f"{index}.mp4"
            write_video(path, rendered, 25)
            hits += model.predict(path, clips=1, crops=1, k=1)[0][0] == CLASSES[label]
    return {"metric": "top-1 (one centre view)", "value": hits / clips, "higher_is_better": True,
            "subset": f"moving shapes test clips {train}..{train + clips - 1} (generator seed 0, {frames} frames, {size}x{size})"}


def check_recommender(model, card, data_dir) -> dict:
    """NDCG@20 on the test split (each user's last interaction), full ranking, training and
    validation items masked: the protocol of the recommender task's test evaluation."""
    from paperzoo.data.interactions import leave_one_out, load_domain
    from paperzoo.metrics.ranking import topk_metrics

    d, seed = card["training"]["data"], card["training"].get("seed", 0)
    split = leave_one_out(load_domain(d["target"], data_dir, k=d["k_core"]), mode=d["split"], seed=seed)
    if split.data.user_ids.tolist() != model.user_ids.tolist() or split.data.item_ids.tolist() != model.item_ids.tolist():
        raise PaperzooError(f"the {d['target']} data no longer matches the entry's user / item IDs")
    masked = tuple(np.concatenate(p) for p in zip(split.pairs("train"), split.pairs("valid")))
    n_users, n_items = split.data.num_users, split.data.num_items
    metrics = topk_metrics(model.model.scores, n_users, n_items, split.pairs("test"), masked)
    popularity = torch.from_numpy(np.bincount(split.pairs("train")[1], minlength=n_items)).float()
    baseline = topk_metrics(lambda users: popularity.expand(len(users), -1), n_users, n_items, split.pairs("test"), masked)
    return {"metric": "test NDCG@20 (full ranking)", "value": metrics["ndcg@20"], "higher_is_better": True,
            "recall@20": metrics["recall@20"], "baseline": baseline["ndcg@20"], "baseline_name": "popularity ranking",
            "subset": f"{d['target']} {d['k_core']}-core, every user's last interaction ({len(split.test)} users)"}


def check_separation(model, card, data_dir, mixtures: int = 40) -> dict:
    """Mean SI-SNRi of ``model.separate`` (reference-free chunk alignment, IBM: what a user gets) on
    the first ``mixtures`` test mixtures of the split the entry was trained on."""
    from paperzoo.data.fsdd2mix import build_fsdd2mix, read_mixture_csv
    from paperzoo.io.audio import read_audio
    from paperzoo.metrics.audio import separation_scores

    d = card["training"]["data"]
    rate, split = d.get("sample_rate", 8000), d.get("split", "seen")
    gains = []
    with tempfile.TemporaryDirectory() as tmp:  # the first test mixtures of fsdd2mix, identical to a full build's
        root = build_fsdd2mix(require_dataset("fsdd", data_dir), Path(tmp) / "fsdd2mix", splits=(split,), sample_rate=rate,
                              counts={"train": 0, "val": 0, "test": mixtures})
        rows = read_mixture_csv(root / split / "metadata" / "mixture_test_mix_clean.csv")
        for _, mix_path, source_paths in rows:
            mix = torch.from_numpy(read_audio(mix_path, rate)[0])
            refs = torch.stack([torch.from_numpy(read_audio(p, rate)[0]) for p in source_paths])
            gains.append(separation_scores(model.separate(mix, rate), refs, mix)["si_snri"])
    return {"metric": "SI-SNRi dB (separate(): IBM, reference-free alignment)", "value": float(np.mean(gains)),
            "higher_is_better": True, "subset": f"fsdd2mix {split} test, the first {len(rows)} mixtures ({rate} Hz)"}


@torch.no_grad()
def check_voice(model, card, data_dir, samples: int = 2048) -> dict:
    """Test cross-entropy (bits per sample, teacher forcing) of the raw-audio VQ-VAE on the first
    ``samples`` of take 0 of every speaker and digit (FSDD's test takes), peak-normalised as in training:
    deterministic, unlike sampled audio."""
    from paperzoo.data.fsdd2mix import fsdd_recordings
    from paperzoo.io.audio import read_audio
    from paperzoo.vq.wavenet import mu_law_encode

    d = card["training"]["data"]
    rows = [r for r in fsdd_recordings(require_dataset(d.get("source", "fsdd"), data_dir)) if r[3] == 0]
    waves = []
    for path, *_ in rows:
        w = read_audio(path, model.sample_rate, quiet=True)[0]
        w = torch.from_numpy(w * (model.peak / np.abs(w).max())).float()
        waves.append(torch.nn.functional.pad(w, (0, max(samples - len(w), 0)))[:samples])
    wave = torch.stack(waves)
    speaker = torch.tensor([model.speaker_index(r[2]) for r in rows])
    logits, _ = model.model(wave, speaker)
    bits = torch.nn.functional.cross_entropy(logits, mu_law_encode(wave)).item() / np.log(2)
    return {"metric": "test bits per sample (teacher forcing; 8 = uniform over 256 mu-law levels)", "value": bits,
            "higher_is_better": False, "subset": f"FSDD take 0 of every speaker and digit ({len(rows)} recordings), first {samples} samples"}


@torch.no_grad()
def check_graph_pretrain(model, card, data_dir) -> dict:
    """The pre-training's own validation: its fixed validation nodes of the source graph, two sampled
    subgraph views each (the validation seed), the share whose first view's nearest second view is its own."""
    from paperzoo.engine.config import build_config
    from paperzoo.recsys.contrastive import in_batch_logits
    from paperzoo.recsys.pretrain_task import build_data, sample_views

    cfg = build_config(card["training"]["config"], [], source="zoo card")
    data = build_data(cfg, data_dir)
    nodes = data.val_tensors[0].numpy()
    rng = np.random.default_rng([cfg.seed, 999_983, 0])  # validation_step's generator for its one batch
    views = [sample_views(data.info["graph"], nodes, cfg.data.subgraph, rng, eig_dim=cfg.model.eig_dim, random_signs=False)
             for _ in range(2)]
    logits = in_batch_logits(model(views[0]), model(views[1]), cfg.contrast.temperature)
    top1 = (logits.argmax(1) == torch.arange(len(nodes))).float().mean().item()
    return {"metric": f"view-match top-1 among {len(nodes)} nodes (chance {1 / len(nodes):.4f})", "value": top1,
            "higher_is_better": True, "subset": f"{cfg.data.source}: the pre-training's {len(nodes)} validation nodes, "
                                                 f"r = {cfg.data.subgraph.max_hops} views"}


CHECKS = {"margin_classifier": check_margin, "vqvae_audio": check_voice, "graph_pretrain": check_graph_pretrain, "vqvae": check_vqvae, "prior": check_prior, "video": check_video, "recommender": check_recommender,
          "separation": check_separation}


def measure(name: str, data_dir=None) -> dict:
    """The check of entry ``name`` measured now."""
    card = zoo.card(name)
    check = CHECKS.get(card.get("task"))
    if check is None:
        raise PaperzooError(f"zoo entry {name!r}: no check for task {card.get('task')!r}")
    return check(load(zoo.PREFIX + name), card, data_dir)


def verify(name: str, data_dir=None) -> tuple[dict, dict, bool]:
    """(measured, expected from the card, within tolerance)."""
    expected = zoo.card(name).get("zoo", {}).get("check")
    if not expected:
        raise PaperzooError(f"zoo entry {name!r} has no check on its card")
    got = measure(name, data_dir)
    return got, expected, abs(got["value"] - expected["value"]) <= expected["tolerance"]
