"""Bad inputs, one test each, through the ``paperzoo`` command a user would type: a one-line error on
stderr, exit status 2, and nothing half-written where the output would have gone. Unusual but valid
inputs (24-bit / float / odd-rate / stereo audio, grayscale / RGBA images, duplicate interactions)
must work and give the right shape of output.

One tiny trained run per command is shared by the module (a few seconds each)."""

from __future__ import annotations

import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from PIL import Image

from conftest import TINY_TRAINER, write_config


@pytest.fixture(scope="module")
def runs(family_runs):
    """{kind: run dir} for margin, vqvae, prior, separation, vqvae_audio, video and recommender (conftest)."""
    return family_runs


def assert_user_error(result, out: Path | None = None, match: str | None = None) -> None:
    """Exit 2, exactly one line on stderr naming the command, no traceback, no output or temporary left."""
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and ": error: " in lines[0] and "Traceback" not in err, err
    if match:
        assert match in lines[0], lines[0]
    if out is not None:
        assert not out.exists(), f"{out} was written"
        assert not list(out.parent.glob(f".{out.name}*")), "a temporary file was left behind"


# --- audio: `paperzoo separate` and `paperzoo convert-speaker` -----------------------------------------

def _wave(seconds=0.5, rate=8000, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * 300 * t) * np.hanning(len(t))
    return np.stack([wave] * channels, 1) if channels > 1 else wave


def _pcm16_bytes(wave, rate=8000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _nan_wav(p: Path, bad: float) -> None:
    wave = _wave().astype(np.float32)
    wave[100] = bad
    sf.write(p, wave, 8000, subtype="FLOAT")


BAD_AUDIO = {
    "truncated_wav": (lambda p: p.write_bytes(_pcm16_bytes(_wave())[: 44 + 2000]), "truncated"),  # header says 4000 samples
    "truncated_inside_header": (lambda p: p.write_bytes(_pcm16_bytes(_wave())[:30]), "not a readable audio file"),
    "corrupt_wav": (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4), "not a readable audio file"),
    "not_audio_at_all": (lambda p: p.write_text("hello, I am a text file\n"), "not a readable audio file"),
    "zero_length_wav": (lambda p: sf.write(p, np.zeros(0, np.int16), 8000), "empty"),
    "nan_samples": (lambda p: _nan_wav(p, np.nan), "NaN or Inf"),
    "inf_samples": (lambda p: _nan_wav(p, np.inf), "NaN or Inf"),
    "all_silence": (lambda p: sf.write(p, np.zeros(4000, np.int16), 8000), "silence"),
    "missing_file": (lambda p: None, "not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_AUDIO))
def test_bad_audio_for_separate(case, runs, tmp_path, cli):
    make, message = BAD_AUDIO[case]
    make(tmp_path / "in.wav")
    out = tmp_path / "separated"
    assert_user_error(cli("separate", tmp_path / "in.wav", "--model", runs["separation"], "-o", out), out, message)


@pytest.mark.parametrize("case", ["truncated_wav", "corrupt_wav", "zero_length_wav", "nan_samples"])
def test_bad_audio_for_convert_speaker(case, runs, tmp_path, cli):
    make, message = BAD_AUDIO[case]
    make(tmp_path / "in.wav")
    out = tmp_path / "converted.wav"
    assert_user_error(cli("convert-speaker", tmp_path / "in.wav", "--to", "bob", "--model", runs["audio"], "-o", out), out, message)


GOOD_AUDIO = {  # name: (subtype, rate, channels)
    "pcm24": ("PCM_24", 8000, 1), "float32": ("FLOAT", 8000, 1), "float64": ("DOUBLE", 8000, 1), "pcm8_unsigned": ("PCM_U8", 8000, 1),
    "rate_11025": ("PCM_16", 11025, 1), "rate_44100_stereo": ("PCM_16", 44100, 2), "rate_96000_24bit": ("PCM_24", 96000, 1),
    "rate_7000_odd": ("PCM_16", 7000, 1),
}


@pytest.mark.parametrize("case", sorted(GOOD_AUDIO))
def test_unusual_but_valid_audio_is_read_and_resampled(case, runs, tmp_path, cli):
    subtype, rate, channels = GOOD_AUDIO[case]
    sf.write(tmp_path / "in.wav", _wave(0.5, rate, channels), rate, subtype=subtype)
    code, _, err = cli("separate", tmp_path / "in.wav", "--model", runs["separation"], "-o", tmp_path / "out")
    assert code == 0, err
    assert ("resampled to 8000 Hz" in err) == (rate != 8000)  # the model's rate; the sources come back at the input's
    assert ("downmixed" in err) == (channels > 1)
    for f in sorted((tmp_path / "out").glob("source_*.wav")):
        info = sf.info(f)
        assert info.samplerate == rate and info.channels == 1 and info.frames == rate // 2
    code, _, err = cli("convert-speaker", tmp_path / "in.wav", "--to", "anna", "--model", runs["audio"], "-o", tmp_path / "c.wav")
    assert code == 0, err
    info = sf.info(tmp_path / "c.wav")  # converted speech, like separated sources, at the input's rate and length
    assert info.samplerate == rate and info.frames == rate // 2


# --- images: `paperzoo reconstruct` ----------------------------------------------------------------------

def _jpeg_bytes(mode="RGB", size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(buf, "JPEG")
    return buf.getvalue()


BAD_IMAGES = {
    "corrupt_jpeg": (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8), "cannot read image"),
    "truncated_jpeg": (lambda p: p.write_bytes(_jpeg_bytes()[:300]), "cannot read image"),
    "empty_file": (lambda p: p.write_bytes(b""), "cannot read image"),
    "side_not_divisible_by_4": (lambda p: Image.new("RGB", (30, 30)).save(p, "JPEG"), "divisible by 4"),
    "missing_file": (lambda p: None, "no such file"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_for_reconstruct(case, runs, tmp_path, cli):
    make, message = BAD_IMAGES[case]
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(good)
    make(bad)
    out = tmp_path / "recon"
    assert_user_error(cli("reconstruct", good, bad, "--model", runs["vqvae"], "-o", out), out, message)  # all or nothing


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_grayscale_rgba_palette_and_16_bit_images_are_converted(mode, runs, tmp_path, cli):
    rgb = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    image = rgb.convert("L").convert("I;16") if mode == "I;16" else rgb.convert(mode)
    path = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    image.save(path)
    code, _, err = cli("reconstruct", path, "--model", runs["vqvae"], "-o", tmp_path / "out")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "in_reconstruction.png") as r:
        assert r.mode == "RGB" and r.size == (48, 32)


# --- video: `paperzoo predict` -----------------------------------------------------------------------------

def _zero_frame_mp4(p: Path) -> None:
    import av

    with av.open(str(p), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()  # a header and no frames (mp4 then keeps no video track)


def _truncated_mp4(p: Path, shapes: Path) -> None:
    data = sorted((shapes / "videos" / "left").glob("*.mp4"))[0].read_bytes()
    p.write_bytes(data[: len(data) // 3])


BAD_VIDEOS = {
    "corrupt_mp4": (lambda p, s: p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16), "not a readable video"),
    "zero_frame_mp4": (lambda p, s: _zero_frame_mp4(p), "no video stream"),
    "truncated_mp4": (_truncated_mp4, "not a readable video"),
    "empty_file": (lambda p, s: p.write_bytes(b""), "not a readable video"),
    "empty_frame_folder": (lambda p, s: p.mkdir(), "no frames named like img_00001.jpg"),
    "missing_file": (lambda p, s: None, "not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_videos_for_predict(case, runs, tmp_path, cli):
    make, message = BAD_VIDEOS[case]
    path = tmp_path / ("frames" if case == "empty_frame_folder" else "clip.mp4")
    make(path, runs["shapes"])
    assert_user_error(cli("predict", path, "--model", runs["video"]), None, message)


# --- interactions: `paperzoo train recsys/...` and `paperzoo recommend` -------------------------------------

def _rec_config(tmp_path: Path, target: Path) -> Path:
    return write_config(tmp_path / "rec.yaml", tmp_path / "runs", task="recommender", name="rec", trainer=TINY_TRAINER,
                        model={"name": "bpr_mf", "dim": 4}, data={"target": str(target), "k_core": 0, "batch_size": 8})


BAD_INTERACTIONS = {
    "empty_file": ("", "empty"),
    "header_only": ("user_id,item_id,rating,timestamp\n", "no interactions"),
    "missing_column": ("user_id,rating\nu1,5\n", "column"),
    "bad_timestamp": ("user_id,item_id,rating,timestamp\nu1,i1,5,yesterday\n", "timestamp"),
}


@pytest.mark.parametrize("case", sorted(BAD_INTERACTIONS))
def test_bad_interaction_files_for_train(case, tmp_path, cli):
    text, message = BAD_INTERACTIONS[case]
    (tmp_path / "target.csv").write_text(text)
    assert_user_error(cli("train", _rec_config(tmp_path, tmp_path / "target.csv")), tmp_path / "runs", message)


def test_duplicate_interaction_rows_are_merged(tmp_path):
    from paperzoo.data.interactions import read_interactions

    rows = ["user_id,item_id,rating,timestamp", "u1,i1,5,1000", "u1,i1,4,2000", "u1,i1,5,1000", "u2,i1,3,1500"]
    (tmp_path / "dup.csv").write_text("\n".join(rows) + "\n")
    data = read_interactions(tmp_path / "dup.csv")
    assert len(data) == 2  # one (u1, i1) pair kept: the earliest, as the docs say
    assert sorted(data.times.tolist()) == [1000, 1500]


@pytest.mark.parametrize("user,k,message", [("nobody", 5, "unknown user"), ("", 5, "unknown user"), ("u1", 0, "--k"),
                                            ("u1", -3, "--k")])
def test_unknown_user_and_bad_k_for_recommend(user, k, message, runs, cli):
    assert_user_error(cli("recommend", "--model", runs["recommender"], "--user", user, "--k", k), None, message)


# --- configs ---------------------------------------------------------------------------------------------------

def _config_with(path: Path, runs_dir: Path, edit=None, text: str | None = None) -> Path:
    """The tiny margin config, edited (a function of the YAML dict), or replaced by raw text."""
    write_config(path, runs_dir)
    if text is not None:
        path.write_text(text)
    elif edit is not None:
        cfg = yaml.safe_load(path.read_text())
        edit(cfg)
        path.write_text(yaml.safe_dump(cfg))
    return path


BAD_CONFIGS = {  # name: (config edit or raw text, overrides, what the message names)
    "malformed_yaml": ("task: margin_classifier\nname: [unclosed\n", [], "not valid YAML"),
    "not_a_mapping": ("- just\n- a list\n", [], "mapping"),
    "unknown_task": ("task: no_such_task\nname: x\n", [], "no_such_task"),
    "unknown_key_in_file": (lambda c: c["trainer"].update(max_stepz=3), [], "max_stepz"),
    "unknown_section_in_file": (lambda c: c.update(trainr={"max_steps": 3}), [], "trainr"),
    "wrong_type_in_file": (lambda c: c["trainer"].update(max_steps="many"), [], "max_steps"),
    "unknown_key_override": (None, ["trainer.max_stepz=3"], "max_stepz"),
    "wrong_type_override": (None, ["trainer.max_steps=many"], "max_steps"),
    "negative_max_steps": (None, ["trainer.max_steps=-5"], "max_steps"),
    "negative_batch_size": (None, ["data.batch_size=-4"], "batch_size"),
    "zero_batch_size": (None, ["data.batch_size=0"], "batch_size"),
    "negative_lr": (None, ["optim.lr=-0.1"], "lr"),
    "override_without_equals": (None, ["trainer.max_steps"], "override"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configs_for_train(case, tmp_path, cli):
    change, overrides, message = BAD_CONFIGS[case]
    text = change if isinstance(change, str) else None
    config = _config_with(tmp_path / "c.yaml", tmp_path / "runs", edit=None if text else change, text=text)
    assert_user_error(cli("train", config, *overrides), tmp_path / "runs", message)


def test_a_missing_config_file_for_train(tmp_path, cli):
    assert_user_error(cli("train", tmp_path / "nope.yaml"), None, "not found")


@pytest.mark.parametrize("task,key", [("vqvae", "data.batch_size=-1"), ("video", "data.batch_size=0"), ("separation", "data.batch_size=-2"),
                                      ("audio", "data.batch_size=0"), ("recommender", "data.batch_size=-8"), ("video", "data.short_side=-32")])
def test_negative_sizes_are_refused_by_every_task(task, key, runs, tmp_path, cli):
    """The same run's config with one size made non-positive: refused before anything is written."""
    config = tmp_path / "c.yaml"
    cfg = yaml.safe_load((runs[task] / "config.yaml").read_text())
    cfg["out_dir"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(cfg))
    assert_user_error(cli("train", config, key), tmp_path / "runs", key.split("=")[0])


# --- checkpoints -------------------------------------------------------------------------------------------------

WRONG_MODEL = [  # (command, the run it needs, the run given instead)
    ("predict", "video", "margin"), ("reconstruct", "vqvae", "separation"), ("separate", "separation", "video"),
    ("convert-speaker", "audio", "vqvae"), ("recommend", "recommender", "audio"), ("sample", "prior", "vqvae"),
]


def _command(command: str, run: Path, tmp_path: Path, runs) -> tuple[list, Path | None]:
    wav = tmp_path / "in.wav"
    sf.write(wav, _wave(), 8000)
    png = tmp_path / "in.png"
    Image.new("RGB", (32, 32)).save(png)
    video = sorted((runs["shapes"] / "videos" / "left").glob("*.mp4"))[0]
    out = tmp_path / "out"
    return {"predict": (["predict", video, "--model", run], None),
            "reconstruct": (["reconstruct", png, "--model", run, "-o", out], out),
            "separate": (["separate", wav, "--model", run, "-o", out], out),
            "convert-speaker": (["convert-speaker", wav, "--to", "bob", "--model", run, "-o", out], out),
            "recommend": (["recommend", "--model", run, "--user", "u1"], None),
            "sample": (["sample", "--model", run, "--n", "2", "-o", out], out),
            "evaluate": (["evaluate", "--model", run], None),
            "export": (["export", "--model", run, "-o", out], out)}[command]


@pytest.mark.parametrize("command,needs,given", WRONG_MODEL)
def test_a_run_of_another_model_is_refused(command, needs, given, runs, tmp_path, cli):
    args, out = _command(command, runs[given], tmp_path, runs)
    assert_user_error(cli(*args), out)


class _Exploit:
    """Unpickling this runs code: it creates the marker file (harmless, but proof of execution)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("command", ["evaluate", "export", "predict", "reconstruct", "separate", "recommend"])
def test_a_pickle_that_runs_code_is_refused(command, runs, tmp_path, cli):
    kind = {"evaluate": "margin", "export": "margin", "predict": "video", "reconstruct": "vqvae", "separate": "separation",
            "recommend": "recommender"}[command]
    run = tmp_path / "run"
    shutil.copytree(runs[kind], run)
    marker = tmp_path / "pwned"
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.unlink()  # a hard link to the step checkpoint: replace it, do not write through it
    with open(ckpt, "wb") as f:
        pickle.dump({"state_dict": _Exploit(marker), "global_step": 1}, f)
    args, out = _command(command, run, tmp_path, runs)
    assert_user_error(cli(*args), out)
    assert not marker.exists(), "the checkpoint's code was executed"


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_torn_checkpoint_is_a_one_line_error(damage, runs, tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(runs["margin"], run)
    ckpt = run / "checkpoints" / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.unlink()
    ckpt.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": bytes(range(256)) * 64}[damage])
    assert_user_error(cli("evaluate", "--model", run), None, "cannot read checkpoint")
    assert_user_error(cli("train", "--resume", run), None, "cannot read checkpoint")
