"""Fuzzing every file reader and the config loader: on any input they return a result or raise a
``PaperzooError`` (the CLI's one-line error, exit 2) - never another exception, a hang or a crash.

Inputs are valid files with random damage (bytes flipped, cut, inserted, duplicated) and random
bytes. ``PAPERZOO_FUZZ_EXAMPLES`` sets the examples per reader (CI default 25; e.g. 2000 locally).
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from paperzoo.errors import PaperzooError

EXAMPLES = int(os.environ.get("PAPERZOO_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("PAPERZOO_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def damaged(draw, seed: bytes) -> bytes:
    """``seed`` with up to 4 random edits, or (1 in 8) random bytes."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.binary(max_size=4096))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            data = data[:at] if draw(st.booleans()) else data[:at] + data[at + draw(st.integers(1, 64)):]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "duplicate":
            data[at:at] = data[at: at + draw(st.integers(1, 256))]
        elif kind == "zero":
            data[at: at + draw(st.integers(1, 256))] = bytes(min(256, len(data) - at))
    return bytes(data)


def only_user_errors(read, data: bytes, name: str) -> None:
    """Write ``data`` to a fresh file called ``name`` and call ``read(path)``: a result or a PaperzooError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            read(path)
        except PaperzooError as exc:
            assert str(exc) and "\n" not in str(exc).strip(), repr(exc)  # a one-line message


def _wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(np.arange(2000) / 7.0)).astype(np.float32), 8000, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def _mp4() -> bytes:
    from paperzoo.io.video import write_video

    with tempfile.TemporaryDirectory() as tmp:
        frames = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
        return write_video(Path(tmp) / "v.mp4", frames, fps=5).read_bytes()


def _checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": {"model.w": torch.ones(3)}, "global_step": 3, "paperzoo": {"version": "0"}}, buf)
    return buf.getvalue()


SEEDS = {"wav": _wav(), "png": _image("PNG"), "jpeg": _image("JPEG"), "mp4": _mp4(), "ckpt": _checkpoint()}


@FUZZ
@given(data=damaged(SEEDS["wav"]))
def test_fuzz_audio_reader(data):
    from paperzoo.io.audio import read_audio

    def read(path):
        wave, rate = read_audio(path, 8000, quiet=True)
        assert wave.dtype == np.float32 and wave.ndim == 1 and len(wave) > 0 and np.isfinite(wave).all()

    only_user_errors(read, data, "in.wav")


@FUZZ
@given(data=st.one_of(damaged(SEEDS["png"]), damaged(SEEDS["jpeg"])))
def test_fuzz_image_reader(data):
    from paperzoo.vq.reconstruct import read_rgb

    def read(path):
        image = read_rgb(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3

    only_user_errors(read, data, "in.img")


@FUZZ
@given(data=damaged(SEEDS["mp4"]))
def test_fuzz_video_reader(data):
    from paperzoo.io.video import read_video

    def read(path):
        frames = read_video(path)
        assert frames.dtype == np.uint8 and frames.ndim == 4 and len(frames) > 0

    only_user_errors(read, data, "in.mp4")


@FUZZ
@given(images=st.lists(st.one_of(damaged(SEEDS["jpeg"]), st.just(SEEDS["jpeg"])), min_size=1, max_size=4),
       names=st.sampled_from([("img_{:05d}.jpg", 1), ("img_{:05d}.jpg", 2), ("frame{:d}.jpg", 1)]))
def test_fuzz_frame_folders(images, names):
    from paperzoo.io.video import read_frame_folder

    pattern, start = names
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(images):
            (Path(tmp) / pattern.format(i + start)).write_bytes(data)
        try:
            frames = read_frame_folder(tmp)
            assert frames.shape[0] == len(images)
        except PaperzooError:
            pass


@FUZZ
@given(fields=st.lists(st.one_of(damaged(SEEDS["jpeg"]), st.just(SEEDS["jpeg"])), min_size=1, max_size=3))
def test_fuzz_flow_cache(fields):
    from paperzoo.video.flow import read_flow_cache

    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(fields):
            (Path(tmp) / f"x_{i + 1:05d}.jpg").write_bytes(data)
            (Path(tmp) / f"y_{i + 1:05d}.jpg").write_bytes(SEEDS["jpeg"])
        try:
            flow = read_flow_cache(tmp)
            assert np.isfinite(flow).all()
        except PaperzooError:
            pass


CSV = "user_id,item_id,rating,timestamp\nu1,i1,5,1000\nu2,i1,4,2000-01-02\nu1,i2,3,1500\n"
INTER = "user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1000\nu2\ti2\t2000\n"
TEXT = st.text(alphabet=st.sampled_from(list("ui0123456789,\t\n:.-_ x\"'") + ["\x00", "é", "\r"]), max_size=300)


@FUZZ
@given(text=st.one_of(TEXT, damaged(CSV.encode()).map(lambda b: b.decode("latin-1"))), suffix=st.sampled_from([".csv", ".tsv", ".inter"]))
def test_fuzz_interaction_reader(text, suffix):
    from paperzoo.data.interactions import read_interactions

    def read(path):
        data = read_interactions(path)
        assert len(data) > 0 and data.users.max() < data.num_users and data.items.max() < data.num_items

    only_user_errors(read, (INTER if suffix == ".inter" and not text else text).encode("utf-8", "surrogateescape"), f"in{suffix}")


@FUZZ
@given(text=st.one_of(TEXT, damaged(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nYoYo/v_YoYo_g25_c05.avi 2\n").map(
    lambda b: b.decode("latin-1"))), kind=st.sampled_from(["ucf", "kinetics", "plain"]))
def test_fuzz_video_lists(text, kind):
    from paperzoo.data.video_lists import read_kinetics_csv, read_plain_list, read_ucf101

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("list.csv" if kind == "kinetics" else "trainlist01.txt")
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        (Path(tmp) / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 YoYo\n")
        reader = {"ucf": lambda p: read_ucf101(p, Path(tmp) / "classInd.txt"), "kinetics": read_kinetics_csv, "plain": read_plain_list}[kind]
        try:
            reader(path)
        except PaperzooError:
            pass


@FUZZ
@given(text=st.one_of(damaged(b"mixture_ID,mixture_path,source_1_path,source_2_path,length\nm1,a.wav,b.wav,c.wav,8000\n").map(
    lambda b: b.decode("latin-1")), TEXT))
def test_fuzz_mixture_metadata(text):
    from paperzoo.data.fsdd2mix import read_mixture_csv

    only_user_errors(read_mixture_csv, text.encode("utf-8", "surrogateescape"), "mixture_test_mix_clean.csv")


YAML_SEED = yaml.safe_dump({"task": "margin_classifier", "name": "fuzz", "trainer": {"max_steps": 5, "val_every": 5},
                            "model": {"loss": "LogitMarginLoss"}, "data": {"source": "blobs", "batch_size": 8}})
KEYS = ["trainer.max_steps", "trainer.val_every", "data.batch_size", "model.loss", "optim.lr", "seed", "name", "trainer.devices",
        "model.loss_params.gamma", "data.dim", "nope", "trainer", "optim.betas"]
VALUES = st.one_of(st.integers(-10, 10).map(str), st.sampled_from(["", "x", "null", "[1,2]", "{a: 1}", "1e309", "nan", "true", "'5'",
                                                                   "LogitMarginLoss", "[", "}", "\x00"]))


@FUZZ
@given(text=damaged(YAML_SEED.encode()).map(lambda b: b.decode("latin-1")),
       overrides=st.lists(st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=3))
def test_fuzz_config_loader(text, overrides):
    from paperzoo.engine.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="latin-1")
        try:
            cfg = load_config(path, overrides)
            assert cfg.trainer.max_steps > 0 and cfg.data.batch_size > 0
        except PaperzooError as exc:
            assert "\n" not in str(exc).strip()


@FUZZ
@given(data=damaged(SEEDS["ckpt"]))
def test_fuzz_checkpoint_reader(data):
    from paperzoo.io.checkpoints import read_checkpoint

    only_user_errors(read_checkpoint, data, "last.ckpt")


@FUZZ
@given(weights=damaged(b""), config=st.one_of(TEXT, st.just('{"architecture": "margin_linear", "arguments": {"in_features": 3}}')))
def test_fuzz_export_loader(weights, config):
    from safetensors.torch import save

    from paperzoo.io.bundle import load as load_export

    good = save({"linear.weight": torch.ones(1, 3), "linear.bias": torch.zeros(1)})
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "card.json").write_text(config)
        (Path(tmp) / "model.safetensors").write_bytes(weights or good)
        try:
            load_export(tmp)
        except PaperzooError:
            pass


@FUZZ
@given(data=damaged(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)))
def test_fuzz_cifar10_batch_reader(data):
    from paperzoo.data.cifar10 import read_python_batch

    def read(path):
        images, labels = read_python_batch(path)
        assert len(images) == len(labels)

    only_user_errors(read, data, "data_batch_1")


@pytest.mark.skipif(EXAMPLES < 1, reason="PAPERZOO_FUZZ_EXAMPLES=0")
def test_the_damage_strategy_really_damages():
    """The fuzzers are only as good as their inputs: most damaged WAVs must differ from the seed."""
    from hypothesis import find

    find(damaged(SEEDS["wav"]), lambda d: d != SEEDS["wav"] and len(d) < len(SEEDS["wav"]))
    find(damaged(SEEDS["wav"]), lambda d: d != SEEDS["wav"] and len(d) > len(SEEDS["wav"]))
