"""The video task end to end on a tiny generated dataset: build, train, evaluate, resume-free
predict, damaged videos skipped in training and refused in predict, `list --flops`, `video expand`."""

from __future__ import annotations

import json

import pytest

from conftest import only_run_dir, run_process, write_config
from paperzoo.data.moving_shapes import CLASSES
from paperzoo.video.x3d import X3DSpec

TINY_MODEL = {"name": "r3d_18", "options": {"width": 4, "frames": 4, "rate": 2, "crop": 32}}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from paperzoo.data.moving_shapes import build_moving_shapes

    return build_moving_shapes(tmp_path_factory.mktemp("data") / "ms", train=20, test=10, frames=8, size=32)


def video_config(tmp_path, shapes, **sections):
    data = {"source": "moving_shapes", "location": str(shapes), "batch_size": 4, "short_side": 32}
    return write_config(tmp_path / "video.yaml", tmp_path / "runs", task="video", name="tiny",
                        trainer={"max_steps": 4, "val_every": 4, "checkpoint_every": 4, "log_every": 2},
                        model=sections.pop("model", TINY_MODEL), data={**data, **sections.pop("data", {})}, **sections)


@pytest.mark.slow
def test_train_evaluate_and_predict(tmp_path, shapes, cli):
    cfg = video_config(tmp_path, shapes)
    code, out, err = cli("train", cfg)
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs")
    code, out, err = cli("evaluate", "--model", run)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["val/top5"] >= metrics["val/top1"]
    # the inference object's single centre view is exactly the validation view: the same top-1, video by video
    import paperzoo
    from paperzoo.data.video_lists import read_video_list

    predictor, test = paperzoo.load(run), read_video_list(shapes / "testlist01.txt")
    hits = [predictor.classes[int(predictor.scores(p, clips=1, crops=1).argmax())] == test.classes[y]
            for p, y in zip(test.paths, test.labels)]
    assert metrics["val/top1"] == pytest.approx(sum(hits) / len(hits), abs=1e-6)

    video = next((shapes / "videos" / "left").iterdir())
    code, out, err = cli("predict", video, "--model", run, "--json", "--clips", "2")
    assert code == 0, err
    top = json.loads(out)
    assert len(top) == 5 and {t["class"] for t in top} <= set(CLASSES)
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6

    from PIL import Image

    from paperzoo.io.video import read_video

    folder = tmp_path / "frames"  # a frame folder (img_00001.jpg ...) predicts like a file
    folder.mkdir()
    for i, frame in enumerate(read_video(video)):
        Image.fromarray(frame).save(folder / f"img_{i + 1:05d}.jpg")
    code, out, err = cli("predict", folder, "--model", run, "--k", "3")
    assert code == 0 and len(out.strip().splitlines()) == 3, err

    code, out, err = cli("predict", shapes / "classInd.txt", "--model", run)
    assert code == 2 and "not a readable video" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("predict", video, "--model", tmp_path)
    assert code == 2 and "neither a run directory" in err


def test_reading_chosen_frames_converts_and_keeps_only_those(shapes, monkeypatch):
    """A long video read for a few views must not hold every frame: only the wanted ones (and the last
    decodable frame, the target of indices past the end) are converted to RGB."""
    import numpy as np

    import paperzoo.io.video as video_io

    video = next((shapes / "videos" / "left").iterdir())
    whole = video_io.read_video(video)
    converted = []
    real = video_io.VideoReformatter

    class Counting:  # the compiled converter cannot be subclassed: wrapped
        def __init__(self):
            self.inner = real()

        def reformat(self, frame, *args, **kwargs):
            converted.append(1)
            return self.inner.reformat(frame, *args, **kwargs)

    monkeypatch.setattr(video_io, "VideoReformatter", Counting)
    np.testing.assert_array_equal(video_io.read_video(video, [5, 2, 2, 3]), whole[[5, 2, 2, 3]])
    assert len(converted) == 3  # frames 2, 3 and 5
    converted.clear()
    np.testing.assert_array_equal(video_io.read_video(video, [1, 99]), whole[[1, len(whole) - 1]])
    assert len(converted) == 2  # frame 1 and the last frame


def test_damaged_training_videos_are_skipped_with_a_warning(tmp_path, shapes, capsys):
    import shutil

    from paperzoo.engine.config import build_config
    from paperzoo.video.task import build_data

    copy = tmp_path / "ms"
    shutil.copytree(shapes, copy)
    victim = sorted((copy / "videos" / "up").iterdir())[0]
    victim.write_bytes(b"garbage")
    import yaml

    cfg = build_config(yaml.safe_load(video_config(tmp_path, copy).read_text()))
    data = build_data(cfg)
    assert data.info["skipped"] == 1
    assert len(data.train_clips) + len(data.val_set) == 29
    err = capsys.readouterr().err
    assert "skipped 1 of" in err and "garbage" not in err


def test_training_batches_are_a_function_of_seed_and_step(tmp_path, shapes):
    import torch
    import yaml

    from paperzoo.engine.config import build_config
    from paperzoo.engine.data import StepBatches
    from paperzoo.video.task import build_data

    data = build_data(build_config(yaml.safe_load(video_config(tmp_path, shapes).read_text())))
    first = next(iter(StepBatches((data.train_clips, data.train_labels), 4, 0, lambda: 3)))
    again = next(iter(StepBatches((data.train_clips, data.train_labels), 4, 0, lambda: 3)))
    assert first[0].shape == (4, 3, 4, 32, 32)
    torch.testing.assert_close(first[0], again[0])
    assert torch.equal(first[1], again[1])


def test_list_flops_prints_paper_costs(cli):
    code, out, err = cli("list", "--family", "video", "--flops")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.strip().startswith("x3d_m ") and "GFLOPs" in x)
    assert "3.79M" in line and "4.73 GFLOPs" in line


def test_bad_video_config_is_a_one_line_error(tmp_path, shapes):
    cfg = video_config(tmp_path, shapes, data={"source": str(tmp_path / "list.txt")})
    proc = run_process("train", cfg)
    assert proc.returncode == 2 and "data.val_list is required" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_x3d_expansion_expands_one_axis_per_step(tmp_path, monkeypatch):
    from paperzoo.engine import video_expand

    trained = []

    def fake_train(spec, config, overrides, out_dir, name):  # accuracy grows with frames: motion needs time
        trained.append(name)
        return min(1.0, 0.1 * spec.frames)

    monkeypatch.setattr(video_expand, "train_candidate", fake_train)
    base = X3DSpec(frames=1, rate=4, crop=16, depth=1.0, width=1.0)
    history = video_expand.stepwise_expansion(base, config="unused", out_dir=tmp_path / "x", steps=2, video_frames=8,
                                              video_size=32, log=lambda *_: None)
    assert [s["chosen"] for s in history["steps"]] == ["fast", "fast"]  # ties go to the first axis in AXES order
    first = history["steps"][0]["candidates"]
    assert {c["axis"] for c in first} == set(video_expand.AXES)
    assert all(c["gflops"] > history["base_gflops"] for c in first)
    assert history["final"]["frames"] == 4
    assert json.loads((tmp_path / "x" / "expansion.json").read_text())["final"] == history["final"]


@pytest.mark.slow
def test_x3d_expansion_trains_real_candidates(tmp_path, shapes, cli):
    recipe = video_config(tmp_path, shapes, model={"name": "x3d_xs", "options": {}})
    code, out, err = cli("video", "expand", "--config", recipe, "--steps", "1", "--candidate-steps", "2",
                         "--base", "frames=1,rate=4,crop=16,depth=0.5,width=0.5,bottleneck=1.0", "--out", tmp_path / "exp",
                         "data.limit_val=4")
    assert code == 0, err
    history = json.loads((tmp_path / "exp" / "expansion.json").read_text())
    assert len(history["steps"][0]["candidates"]) == 6 and history["steps"][0]["chosen"] in {
        "fast", "temporal", "spatial", "depth", "width", "bottleneck"}


FLOW_MODELS = {
    "two_stream": {"width": 0.125, "crop": 64, "length": 4},
    "tsn": {"width": 0.125, "crop": 64, "modality": "warped_flow", "segments": 2, "partial_bn": False},
    "hidden_two_stream": {"width": 0.125, "motion_width": 0.125, "levels": 3, "crop": 64, "length": 3},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOW_MODELS))
def test_flow_models_train_from_the_flow_cache_and_predict(tmp_path, shapes, cli, name):
    flow_dir = tmp_path / "flow"
    cfg = video_config(tmp_path, shapes, model={"name": name, "options": FLOW_MODELS[name]},
                       data={"flow_method": "dis", "flow_dir": str(flow_dir), "short_side": 64})
    code, out, err = cli("train", cfg)
    assert code == 0, err
    cached = sorted(flow_dir.rglob("flow.json"))
    if name == "hidden_two_stream":  # RGB only: MotionNet makes its own flow
        assert cached == []
    else:
        assert len(cached) == 30 and all(p.parent.parent.parent.name.startswith("dis_") for p in cached)
        assert ("_warped_" in str(cached[0])) == (name == "tsn")
        x = sorted(cached[0].parent.glob("x_*.jpg"))
        assert len(x) == 7  # 8 frames -> 7 flow fields
    run = only_run_dir(tmp_path / "runs")
    video = next((shapes / "videos" / "zoom_in").iterdir())
    code, out, err = cli("predict", video, "--model", run, "--json", "--k", "3")
    assert code == 0, err
    assert len(json.loads(out)) == 3
    # predict reads only the frames its views use and the flow of only those pairs: the same scores as
    # decoding every frame and computing every flow field (how it worked before)
    import numpy as np
    import torch

    import paperzoo
    from paperzoo.io.video import read_video
    from paperzoo.video.predict import flow_as_trained
    from paperzoo.video.transforms import multi_view_scores

    predictor, frames = paperzoo.load(run), read_video(video)
    view = predictor.view
    flow = flow_as_trained(frames, view.flow_kind, predictor.flow_method, predictor.flow_format) if view.flow_kind else None

    def read_all(idx):
        return (frames[idx] if "rgb" in view.inputs else None, flow[np.minimum(idx, len(flow) - 1)] if flow is not None else None)

    whole = multi_view_scores(predictor.fast, read_all, len(frames), frames=view.frames, rate=view.rate, crop_size=view.crop,
                              short_side=view.short_side, clips=3, crops=1, segments=view.segments, **view.normalization)
    torch.testing.assert_close(predictor.scores(video, clips=3), whole)
    torch.testing.assert_close(predictor.scores(frames, clips=3), whole)


def test_bad_flow_settings_are_config_errors(tmp_path, shapes, cli):
    cfg = video_config(tmp_path, shapes, data={"flow_method": "brox"})
    code, out, err = cli("train", cfg)
    assert code == 2 and "data.flow_method" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("room", ["none", "plenty", "less than one video"])
def test_the_decoded_clip_cache_returns_what_decoding_returns(tmp_path, shapes, room):
    """Cached or not (or a cache too small for one video), the same frames and flow for the same indices,
    including indices past the last frame (clamped, as when decoding)."""
    import numpy as np

    from paperzoo.io.video import read_video
    from paperzoo.video.data import ClipReader
    from paperzoo.video.flow import compute_flow, read_flow_cache, write_flow_cache

    videos = sorted(shapes.glob("videos/*/*.mp4"))[:2]
    flows = []
    for i, video in enumerate(videos):
        flows.append(tmp_path / f"flow{i}")
        write_flow_cache(flows[-1], compute_flow(read_video(video), "farneback"), fmt="npy")
    reader = ClipReader(videos, [8, 8], ("rgb", "flow"), flows, cache_mb=0 if room == "none" else 1)
    if room == "less than one video":
        reader._room = 1000  # bytes: every video is decoded, none kept
    for idx in (np.array([0, 2, 4, 6]), np.array([5, 7, 9, 11]), np.array([3, 3, 1])):
        for i, video in enumerate(videos):
            rgb, flow = reader(i, idx)
            np.testing.assert_array_equal(rgb, read_video(video, idx))
            np.testing.assert_array_equal(flow, read_flow_cache(flows[i], np.minimum(idx, 6)))
    assert bool(reader._cache) == (room == "plenty")
