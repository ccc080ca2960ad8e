"""The model zoo: shipped weights load offline (sha256 checked), every entry re-measures the
number on its card on real data (CI has ../shared/data), and bad names or files are one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch

import paperzoo
import paperzoo.zoo as zoo
from paperzoo.errors import CheckpointError, InvalidArgumentError
from paperzoo.io.bundle import read_bundle, sha256

ENTRIES = zoo.entry_names()
# the real data: $PAPERZOO_DATA, else the shared folder beside the checkout (where CI has it)
SHARED_DATA = Path(os.environ.get("PAPERZOO_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_the_zoo_ships_entries():
    assert "margin_cifar10" in ENTRIES  # the package data made it into the install
    total = sum(f["bytes"] for n in ENTRIES for f in zoo.card(n)["files"].values())
    assert total < 40e6, f"the zoo is {total / 1e6:.1f} MB; keep it about 30 MB"


@pytest.mark.parametrize("name", ENTRIES)
def test_every_card_is_complete_and_its_files_match(name):
    card = zoo.card(name)
    for key in ("architecture", "arguments", "inference", "training", "metrics", "versions", "files", "zoo"):
        assert key in card, key
    assert card["training"]["command"].startswith("paperzoo train ")
    assert not re.search(r"(^| )(out_dir|name|trainer\.progress_bar)=", card["training"]["command"])  # where, not what
    assert card["training"]["steps"] > 0 and card["zoo"]["train_seconds"] > 0
    check = card["zoo"]["check"]
    assert {"metric", "value", "tolerance", "subset"} <= set(check)
    for fname, f in card["files"].items():
        assert sha256(zoo.entry_path(name) / fname) == f["sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_still_measures_its_card(name):
    if not (SHARED_DATA / "cifar10").is_dir():
        pytest.skip("needs the real data (PAPERZOO_DATA=../shared/data; CI has it)")
    from paperzoo.zoo.checks import verify

    got, want, ok = verify(name, SHARED_DATA)
    assert ok, f"{name}: {got['metric']} {got['value']:.5f}, card {want['value']:.5f} +- {want['tolerance']}"


def test_create_model_pretrained_loads_the_shipped_weights():
    model = paperzoo.create_model("margin_linear", pretrained=True)
    state = read_bundle("zoo:margin_cifar10").state
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert not model.training and model.card["architecture"] == "margin_linear"
    assert paperzoo.create_model("margin_cifar10", pretrained=True).linear.in_features == 3072  # by entry name too


def test_pretrained_with_a_new_head_keeps_the_rest(recwarn):
    name = next((n for n in ENTRIES if zoo.card(n)["task"] == "video"), None)
    if name is None:
        pytest.skip("no video entry shipped")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = paperzoo.create_model(name, pretrained=True, num_classes=3)
    assert any("re-initialised" in str(w.message) for w in caught)
    state = read_bundle(f"zoo:{name}").state
    own = model.state_dict()
    kept = [k for k, v in state.items() if own[k].shape == v.shape]
    assert len(kept) >= len(state) - 2 and all(torch.equal(own[k], state[k]) for k in kept)


def test_unknown_entries_are_one_line_errors(cli):
    with pytest.raises(InvalidArgumentError, match="unknown zoo entry 'nope'; entries: .*margin_cifar10"):
        paperzoo.load("zoo:nope")
    with pytest.raises(InvalidArgumentError, match="no pretrained weights for 'c3d'"):
        paperzoo.create_model("c3d", pretrained=True)
    code, _, err = cli("card", "zoo:nope")
    assert code == 2 and err.count("\n") == 1 and "unknown zoo entry" in err
    code, _, err = cli("zoo", "check", "nope")
    assert code == 2 and "unknown zoo entry" in err


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "zoo"
    shutil.copytree(zoo.entry_path("margin_cifar10"), fake / "margin_cifar10")
    weights = fake / "margin_cifar10" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(zoo, "ZOO_DIR", fake)
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        paperzoo.load("zoo:margin_cifar10")


def test_zoo_list_prints_every_card(cli):
    code, out, _ = cli("zoo", "list")
    assert code == 0
    for name in ENTRIES:
        assert f"zoo:{name}" in out
    assert "command: paperzoo train" in out and "sha256" in out
    code, out, _ = cli("zoo", "list", "--json")
    assert code == 0 and set(json.loads(out)) == set(ENTRIES)


def _entry_of(task: str) -> str | None:
    return next((n for n in ENTRIES if zoo.card(n)["task"] == task), None)


@pytest.mark.parametrize("task", ["vqvae", "prior", "separation", "video", "recommender", "vqvae_audio"])
def test_every_model_verb_takes_a_zoo_entry(cli, tmp_path, task):
    """The CLI verbs read ``--model zoo:ENTRY`` like a run or an export (tiny generated inputs)."""
    import numpy as np
    from PIL import Image

    name = _entry_of(task)
    if name is None:
        pytest.skip(f"no {task} entry shipped")
    model = f"zoo:{name}"
    if task == "vqvae":
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "x.png")
        args = ("reconstruct", tmp_path / "x.png", "--model", model, "-o", tmp_path / "out")
    elif task == "prior":
        args = ("sample", "--model", model, "--n", 2, "-o", tmp_path / "out")
    elif task == "separation":
        from paperzoo.io.audio import write_audio

        t = np.arange(8000) / 8000
        write_audio(tmp_path / "mix.wav", (0.1 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)).astype(np.float32), 8000)
        args = ("separate", tmp_path / "mix.wav", "--model", model, "-o", tmp_path / "out")
    elif task == "vqvae_audio":
        from paperzoo.io.audio import write_audio
        from paperzoo.io.bundle import read_bundle

        t = np.arange(1600) / 16000  # 0.1 s at another rate than the model's
        write_audio(tmp_path / "in.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
        speaker = read_bundle(model).info["speakers"][0]
        args = ("convert-speaker", tmp_path / "in.wav", "--to", speaker, "--model", model, "-o", tmp_path / "out.wav")
    elif task == "video":
        from paperzoo.data.moving_shapes import render_clip
        from paperzoo.io.video import write_video

        write_video(tmp_path / "clip.mp4", render_clip(99_999, frames=16, size=32)[0], 25)
        args = ("predict", tmp_path / "clip.mp4", "--model", model, "--clips", 1)
    else:
        from paperzoo.io.bundle import read_bundle

        args = ("recommend", "--model", model, "--user", read_bundle(model).info["user_ids"][0], "--k", 3)
    code, out, err = cli(*args)
    assert code == 0, err
    assert out.strip()
