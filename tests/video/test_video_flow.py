"""Optical flow: recovered shifts for every method, warped flow removes camera motion, the 8-bit JPEG
and float16 caches, resumable cache building, `paperzoo data flow`, and the shared frame/flow folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperzoo.errors import DataError
from paperzoo.io.video import write_video
from paperzoo.video.flow import (DEFAULT_BOUND, METHODS, build_flow_cache, cache_folders, compute_flow, dequantize, find_videos,
                                 quantize, read_flow_cache, write_flow_cache)

SHARED_FLOW = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "frames_rgb_flow"
STEP = 2 * DEFAULT_BOUND / 255  # one 8-bit level in pixels


def texture(size: int = 96, seed: int = 0) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).integers(0, 255, (size, size)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, -1)


@pytest.mark.parametrize("method", METHODS)
def test_flow_of_a_translating_pattern_recovers_the_shift(method):
    base = texture()
    # the second frame shows the content 3 px further right and 2 px further up
    first, second = base[16:80, 16:80], base[18:82, 13:77]
    flow = compute_flow(np.stack([rgb(first), rgb(second)]), method)
    assert flow.shape == (1, 64, 64, 2) and flow.dtype == np.float32
    u, v = np.median(flow[0, 16:48, 16:48].reshape(-1, 2), 0)
    assert u == pytest.approx(3, abs=0.2) and v == pytest.approx(-2, abs=0.2)


def test_warped_flow_removes_a_camera_pan_but_keeps_the_actor():
    base = texture(128, seed=1)
    actor = texture(20, seed=2) // 2 + 128
    frames = []
    for t, (pan, walk) in enumerate(((0, 0), (4, 2))):  # the camera pans 4 px; the actor walks 2 px more
        f = base[20:84, 20 + pan : 84 + pan].copy()  # content moves left by the pan
        f[22:42, 22 + walk - pan : 42 + walk - pan] = actor
        frames.append(rgb(f))
    frames = np.stack(frames)
    plain = compute_flow(frames, "dis")[0]
    warped = compute_flow(frames, "dis", warped=True)[0]
    background = np.ones((64, 64), bool)
    background[16:48, 10:50] = False
    background[:4], background[-4:], background[:, :4], background[:, -6:] = False, False, False, False
    assert np.median(plain[background][:, 0]) == pytest.approx(-4, abs=0.3)
    assert np.median(np.abs(warped[background][:, 0])) < 0.3  # camera motion gone
    assert np.median(warped[26:38, 24:34, 0]) == pytest.approx(2, abs=0.6)  # the actor's own motion kept


def test_flow_input_errors_are_one_line_data_errors():
    with pytest.raises(DataError, match="at least 2 frames"):
        compute_flow(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        compute_flow(np.zeros((2, 8, 8, 3), np.float32))
    from paperzoo.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="unknown flow method"):
        compute_flow(np.zeros((2, 8, 8, 3), np.uint8), "brox")


def test_quantisation_round_trip_is_within_half_a_step_and_clips_at_the_bound():
    flow = np.random.default_rng(0).uniform(-25, 25, (3, 8, 8, 2)).astype(np.float32)
    back = dequantize(quantize(flow))
    inside = np.abs(flow) <= DEFAULT_BOUND
    assert np.abs(back - flow)[inside].max() <= STEP / 2 + 1e-5
    np.testing.assert_allclose(back[~inside], np.sign(flow[~inside]) * DEFAULT_BOUND, atol=1e-5)
    assert quantize(np.zeros(1))[0] in (127, 128)  # zero flow is mid-grey, as in denseflow's images


def test_jpeg_cache_round_trip_is_within_quantisation_error_and_npy_is_float16(tmp_path):
    ys, xs = np.mgrid[0:64, 0:64]
    smooth = np.stack([np.sin(xs / 10) * 8, np.cos(ys / 7) * 5], -1)[None].repeat(3, 0).astype(np.float32)
    write_flow_cache(tmp_path / "j", smooth)
    assert sorted(p.name for p in (tmp_path / "j").iterdir())[:2] == ["flow.json", "x_00001.jpg"]
    back = read_flow_cache(tmp_path / "j")
    err = np.abs(back - smooth)
    assert err.mean() <= 0.5 * STEP and err.max() <= 2 * STEP  # half a step of rounding plus JPEG's error
    np.testing.assert_array_equal(read_flow_cache(tmp_path / "j", [2, 0]), back[[2, 0]])

    write_flow_cache(tmp_path / "n", smooth, fmt="npy")
    np.testing.assert_array_equal(read_flow_cache(tmp_path / "n"), smooth.astype(np.float16).astype(np.float32))


def _clip(seed: int, frames: int = 5) -> np.ndarray:
    base = texture(64, seed)
    return np.stack([rgb(base[8:40, 8 + t : 40 + t]) for t in range(frames)])


def test_flow_cache_builds_resumes_and_rebuilds_only_what_is_missing(tmp_path):
    videos = []
    for i, cls in enumerate(("a", "b", "b")):
        videos.append(write_video(tmp_path / "videos" / cls / f"v{i}.mp4", _clip(i)))
    folders = cache_folders(videos, tmp_path / "flow", method="dis", fmt="jpeg")
    assert folders[0] == (tmp_path / "flow" / "videos" / "dis_jpeg" / "a" / "v0").resolve()
    first = build_flow_cache(videos, folders, method="dis", progress=False)
    assert first["computed"] == 3 and first["fields"] == 12 and first["seconds_per_field"] > 0
    assert read_flow_cache(folders[1]).shape == (4, 32, 32, 2)
    import shutil

    shutil.rmtree(folders[2])
    shutil.move(folders[1], folders[1].parent / f".{folders[1].name}.abc.tmp")  # as if killed while writing it
    again = build_flow_cache(videos, folders, method="dis", progress=False)
    assert again["computed"] == 2 and again["cached"] == 1
    assert build_flow_cache(videos, folders, method="dis", progress=False)["computed"] == 0
    assert find_videos(tmp_path / "videos") == sorted(videos)


def test_data_flow_command_precomputes_and_resumes(tmp_path, cli):
    for i in range(2):
        write_video(tmp_path / "videos" / "x" / f"v{i}.mp4", _clip(i, 4))
    code, out, err = cli("data", "flow", tmp_path / "videos", "--method", "dis", "--flow-dir", tmp_path / "flow")
    assert code == 0, err
    assert "computed 2, already cached 0" in out
    code, out, err = cli("data", "flow", tmp_path / "videos", "--method", "dis", "--flow-dir", tmp_path / "flow")
    assert code == 0 and "computed 0, already cached 2" in out
    code, out, err = cli("data", "flow", tmp_path / "videos", "--method", "brox")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, out, err = cli("data", "flow", tmp_path / "nothing")
    assert code == 2 and "not a folder" in err


@pytest.mark.skipif(not SHARED_FLOW.is_dir(), reason="../shared/data/video not beside the repository")
def test_reading_the_shared_frame_and_flow_folder():
    from paperzoo.io.video import read_frame_folder

    flow = read_flow_cache(SHARED_FLOW)  # denseflow's folder: no flow.json, 8-bit, +/-20 px
    assert flow.shape == (5, 240, 320, 2)
    assert np.abs(flow).max() <= DEFAULT_BOUND and abs(float(np.median(flow))) < 0.2
    assert (np.abs(flow) > 1).mean() > 0.001  # some motion (the hand), not a blank field
    frames = read_frame_folder(SHARED_FLOW, range(6))
    ours = compute_flow(frames, "dis")
    assert ours.shape == (5, 240, 320, 2) and np.isfinite(ours).all()
    assert cache_folders([SHARED_FLOW], Path("/unused"), method="tvl1", fmt="jpeg") == [SHARED_FLOW.resolve()]


def test_a_denseflow_frame_folder_is_read_as_it_is_and_never_rewritten(tmp_path):
    """A frame folder with fewer flow fields than frames (like the shared one: 10 frames, 5 fields)."""
    from PIL import Image

    from paperzoo.video.data import ClipReader
    from paperzoo.video.flow import flow_fields

    folder = tmp_path / "clip"
    folder.mkdir()
    frames = _clip(0, 6)
    for i, f in enumerate(frames, start=1):
        Image.fromarray(f).save(folder / f"img_{i:05d}.jpg")
    for i in range(1, 4):  # 3 fields only
        Image.fromarray(np.full((32, 32), 140, np.uint8)).save(folder / f"x_{i:05d}.jpg")
        Image.fromarray(np.full((32, 32), 128, np.uint8)).save(folder / f"y_{i:05d}.jpg")
    before = sorted(p.name for p in folder.iterdir())
    folders = cache_folders([folder], tmp_path / "flow", method="dis", fmt="jpeg")
    assert folders == [folder.resolve()]
    assert build_flow_cache([folder], folders, method="dis", progress=False)["computed"] == 0
    assert sorted(p.name for p in folder.iterdir()) == before
    assert flow_fields(folder) == 3
    reader = ClipReader([folder], [6], ("rgb", "flow"), folders)
    rgb, flow = reader(0, np.arange(6))
    assert rgb.shape == (6, 32, 32, 3) and flow.shape == (6, 32, 32, 2)
    np.testing.assert_allclose(flow[..., 0], dequantize(np.uint8(140)), atol=1e-6)  # frames past field 3 reuse it


def test_true_flow_of_moving_shapes_warps_the_next_frame_onto_this_one():
    """The generator's exact motion: backward-warping frame t+1 by it reproduces frame t on the glyphs."""
    import torch

    from paperzoo.data.moving_shapes import CLASSES, render_clip, true_flow
    from paperzoo.video.motionnet import warp

    gains = []
    for index in range(12):
        frames, label = render_clip(index, frames=8, size=48)
        flow, mask = true_flow(index, frames=8, size=48)
        assert flow.shape == (7, 48, 48, 2) and mask.shape == (7, 48, 48)
        assert not flow[~mask].any()  # the background does not move
        if CLASSES[label] == "static":
            assert np.abs(flow).max() < 1e-6
        if CLASSES[label] in ("down", "right"):  # v (down) / u (right) positive
            assert flow[mask][:, 1 if CLASSES[label] == "down" else 0].min() > 0
        x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255
        m = torch.from_numpy(mask)[:, None].expand(-1, 3, -1, -1)
        if m.any() and CLASSES[label] != "static":
            with_flow = (warp(x[1:], torch.from_numpy(flow).permute(0, 3, 1, 2)) - x[:-1]).abs()[m].mean()
            without = (x[1:] - x[:-1]).abs()[m].mean()
            gains.append(float(with_flow / without))
    assert max(gains) < 0.9 and sum(gains) / len(gains) < 0.45  # edges (anti-aliasing) and occlusions keep some error


def test_flow_errors_on_known_flows():
    from paperzoo.metrics.flow import flow_errors

    true = np.zeros((2, 4, 4, 2))
    true[..., 0] = 3.0
    mask = np.zeros((2, 4, 4), bool)
    mask[:, :2] = True
    assert flow_errors(true, true, mask) == {"epe": 0.0, "cosine": 1.0}
    assert flow_errors(-true, true, mask) == {"epe": 6.0, "cosine": -1.0}
    out = flow_errors(np.zeros_like(true), true, mask)
    assert out["epe"] == 3.0 and out["cosine"] == 0.0
    wrong = true.copy()
    wrong[~mask] = 100.0  # outside the mask: not scored
    assert flow_errors(wrong, true, mask)["epe"] == 0.0
    assert np.isnan(flow_errors(true, true, np.zeros_like(mask))["epe"])
    with pytest.raises(ValueError):
        flow_errors(true[..., :1], true, mask)
