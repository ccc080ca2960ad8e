"""Runs and exports are self-contained: for every family, a run and its export copied to another
folder (with everything they were trained from moved out of reach), used from a third working
directory, give the same outputs through the Python verb and the CLI verb as in place."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import paperzoo
from paperzoo.io.bundle import export_run


def _wave(rate=8000, seconds=1.1):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 530 * t) * (t > 0.4)).astype(np.float32)


def _inputs(family_runs, folder: Path) -> dict:
    """Inputs that live outside the training folder (the user's own files)."""
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / "mix.wav"
    sf.write(wav, _wave(), 8000, subtype="FLOAT")
    png = folder / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(png)
    video = folder / "clip.mp4"
    shutil.copy(sorted((family_runs["shapes"] / "videos" / "left").glob("*.mp4"))[0], video)
    return {"wav": wav, "png": png, "video": video}


def python_verb(kind: str, model, inputs: dict):
    """The family's Python verb on fixed inputs -> something comparable with ==."""
    if kind == "margin":
        x = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
        return model.scores(x).tolist()
    if kind == "vqvae":
        images = torch.from_numpy(np.array(Image.open(inputs["png"]))).permute(2, 0, 1)[None]
        codes = model.encode(images)
        return codes.tolist(), model.reconstruct(images).tolist()
    if kind == "prior":
        samples = model.sample(3, seed=1)
        return [c.tolist() for c in samples.codes], samples.images.tolist()
    if kind == "separation":
        return model.separate(_wave(), 8000).tolist()
    if kind == "audio":
        return model.convert(_wave(seconds=0.2), 8000, "bob", seed=2).tolist()
    if kind == "video":
        return model.predict(inputs["video"], clips=2, k=3)
    if kind == "recommender":
        return model.recommend(["u1", "u7"], 5)
    raise AssertionError(kind)


def cli_verb(kind: str, model_path: Path, inputs: dict, out: Path, cli) -> object:
    """The family's CLI verb -> its printed JSON or the bytes of what it wrote."""
    commands = {
        "margin": ["card", model_path, "--json"],
        "vqvae": ["reconstruct", inputs["png"], "--model", model_path, "-o", out],
        "prior": ["sample", "--model", model_path, "--n", "4", "--seed", "1", "-o", out],
        "separation": ["separate", inputs["wav"], "--model", model_path, "-o", out],
        "audio": ["convert-speaker", inputs["wav"], "--to", "anna", "--model", model_path, "-o", out / "converted.wav"],
        "video": ["predict", inputs["video"], "--model", model_path, "--json", "--clips", "2"],
        "recommender": ["recommend", "--model", model_path, "--user", "u1", "--user", "u3", "--json"],
    }
    code, stdout, err = cli(*commands[kind])
    assert code == 0, err
    if kind == "margin":
        card = json.loads(stdout)
        return card["architecture"], card["arguments"], card["training"]["steps"]
    if kind in ("video", "recommender"):
        return json.loads(stdout)
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def out_of_reach(folder: Path):
    """Rename ``folder`` (the training data, codes, the original runs) for the duration."""
    away = folder.with_name(folder.name + ".away")
    folder.rename(away)
    try:
        yield
    finally:
        away.rename(folder)


KINDS = ["margin", "vqvae", "prior", "separation", "audio", "video", "recommender"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_copied_run_and_export_infer_as_in_place(kind, family_runs, tmp_path, cli, monkeypatch):
    run = family_runs[kind]
    export = export_run(run, tmp_path / "original_export")
    inputs = _inputs(family_runs, tmp_path / "inputs")
    expected = {"run": python_verb(kind, paperzoo.load(run), inputs), "export": python_verb(kind, paperzoo.load(export), inputs)}
    assert expected["run"] == expected["export"]  # the export is the run's last checkpoint
    expected_cli = cli_verb(kind, run, inputs, tmp_path / "cli_in_place", cli)

    moved = tmp_path / "elsewhere"
    shutil.copytree(run, moved / "run")
    shutil.copytree(export, moved / "export")
    shutil.rmtree(export)
    third = tmp_path / "third"
    third.mkdir()
    monkeypatch.chdir(third)
    with out_of_reach(family_runs["root"]):
        for form in ("run", "export"):
            model = paperzoo.load(moved / form)
            assert python_verb(kind, model, inputs) == expected[form], form
            assert cli_verb(kind, moved / form, inputs, third / f"cli_{form}", cli) == expected_cli, form


def test_card_lists_what_inference_needs(family_runs, tmp_path, cli):
    export = export_run(family_runs["video"], tmp_path / "video_export")
    card = json.loads((export / "card.json").read_text())
    assert card["family"] == "video" and card["architecture"] == "r3d_18"
    assert len(card["inference"]["classes"]) == 10 and "left" in card["inference"]["classes"]
    assert card["inference"]["view"]["frames"] == 4 and card["inference"]["view"]["crop"] == 32
    assert card["training"]["seed"] == 0 and card["training"]["steps"] == 2
    code, out, err = cli("card", export)
    assert code == 0 and "r3d_18" in out and "sha256" in out, err
    # a damaged weights file is refused by its checksum, in one line
    (export / "model.safetensors").write_bytes((export / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    code, _, err = cli("predict", family_runs["shapes"] / "videos" / "left", "--model", export)
    assert code == 2 and "sha256" in err and len(err.strip().splitlines()) == 1


def test_reconstruct_never_overwrites_inputs_that_share_a_name(family_runs, tmp_path, cli):
    rng = np.random.default_rng(1)
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "cat.png")
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(paths[-1])
    code, _, err = cli("reconstruct", *paths, "--model", family_runs["vqvae"], "-o", tmp_path / "out")
    assert code == 0, err
    codec = paperzoo.load(family_runs["vqvae"])
    for path, name in zip(paths, ["cat_reconstruction.png", "cat-2_reconstruction.png"]):
        expected = codec.reconstruct(torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1)[None])[0]
        written = torch.from_numpy(np.array(Image.open(tmp_path / "out" / name))).permute(2, 0, 1).float() / 255
        assert (written - expected).abs().max() <= 0.5 / 255 + 1e-6, name
