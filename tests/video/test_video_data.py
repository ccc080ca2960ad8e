"""Video data: decoding (shared real clips, generated mp4s, damaged files), frame folders, annotation
lists, clip samplers, transforms, multi-view averaging, and the moving-shapes generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from paperzoo.data.moving_shapes import CLASSES, build_moving_shapes, render_clip
from paperzoo.data.video_lists import read_video_list
from paperzoo.errors import DataError
from paperzoo.io.video import read_frame_folder, read_video, video_info, write_video
from paperzoo.video.transforms import (multi_view_scores, sample_clips, short_side_scale, eval_views, three_crops, to_tensor,
                                       train_view)

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "video"
needs_shared = pytest.mark.skipif(not SHARED_VIDEO.is_dir(), reason="../shared/data/video not present")


@needs_shared
def test_decodes_the_shared_mp4_and_avi():
    info = video_info(SHARED_VIDEO / "test.mp4")
    assert (info.num_frames, info.height, info.width, info.fps) == (300, 256, 340, 30.0)
    clip = read_video(SHARED_VIDEO / "test.mp4", [0, 10, 299])
    assert clip.shape == (3, 256, 340, 3) and clip.dtype == np.uint8 and clip.std() > 10
    avi = read_video(SHARED_VIDEO / "test.avi", range(0, 164, 40))
    assert avi.shape == (5, 240, 320, 3)
    demo = video_info(SHARED_VIDEO / "demo.mp4")
    assert demo.num_frames > 100


@needs_shared
def test_reads_the_shared_frame_folder_and_flow():
    folder = SHARED_VIDEO / "frames_rgb_flow"
    assert video_info(folder).num_frames == 10
    rgb = read_video(folder, [0, 9])
    assert rgb.shape == (2, 240, 320, 3)
    flow_x = read_frame_folder(folder, range(5), prefix="x")
    assert flow_x.shape == (5, 240, 320) and 100 < flow_x.mean() < 156  # 8-bit flow centred on 128


def test_generated_mp4_round_trips(tmp_path):
    frames, _ = render_clip(3, frames=12, size=32)
    path = write_video(tmp_path / "clip.mp4", frames, fps=25)
    back = read_video(path)
    assert back.shape == frames.shape
    luma = np.array([0.299, 0.587, 0.114])
    mse = np.mean((back.astype(float) @ luma - frames.astype(float) @ luma) ** 2)
    assert 10 * np.log10(255**2 / mse) > 35  # H.264 crf 18: luma PSNR above 35 dB (chroma is 4:2:0, blurrier)
    np.testing.assert_array_equal(read_video(path, [5, 2, 50]), back[[5, 2, 11]])  # past the end: clamped
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_files_are_one_line_data_errors(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    for call in (lambda: video_info(bad), lambda: read_video(bad)):
        with pytest.raises(DataError) as err:
            call()
        assert "\n" not in str(err.value) and "bad.mp4" in str(err.value)
    with pytest.raises(DataError, match="not found"):
        read_video(tmp_path / "missing.mp4")


def test_truncated_mp4_is_an_error_not_a_crash(tmp_path):
    frames, _ = render_clip(1, frames=8, size=32)
    good = write_video(tmp_path / "good.mp4", frames).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError):
        read_video(cut)


def test_write_video_rejects_odd_sizes_and_wrong_dtypes(tmp_path):
    with pytest.raises(DataError, match="even"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 31, 32, 3), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 32, 32, 3), np.float32))
    assert not (tmp_path / "x.mp4").exists()


def test_moving_shapes_is_deterministic_and_motion_only():
    a, la = render_clip(7, seed=1, frames=15)
    b, lb = render_clip(7, seed=1, frames=15)
    np.testing.assert_array_equal(a, b)
    assert la == lb
    assert not np.array_equal(a, render_clip(7, seed=2, frames=15)[0])
    # opposite motions of the same clip index share every random draw: the middle frame is identical,
    # so no single frame tells the direction
    for first, second in (("right", "left"), ("up", "down"), ("rotate_cw", "rotate_ccw"), ("zoom_in", "zoom_out")):
        x, _ = render_clip(5, frames=15, label=CLASSES.index(first))
        y, _ = render_clip(5, frames=15, label=CLASSES.index(second))
        np.testing.assert_array_equal(x[7], y[7])
        assert not np.array_equal(x[0], y[0])
    static, _ = render_clip(5, frames=15, label=CLASSES.index("static"))
    assert all(np.array_equal(static[0], f) for f in static)


def test_moving_shapes_middle_frame_pose_does_not_depend_on_the_class():
    """The mid-clip centre, angle and scale have one distribution for all ten classes (no position leak)."""
    from scipy.stats import ks_2samp

    from paperzoo.data.moving_shapes import MID_HIGH, MID_LOW, _trajectory

    frames, draws = 15, 300
    middle = {}
    for cls in CLASSES:
        rng = np.random.default_rng(0)
        poses = []
        for _ in range(draws):
            centres, angles, scales = _trajectory(cls, rng, frames, glyph_size=0.3)
            poses.append((*centres[frames // 2], angles[frames // 2] % (2 * np.pi), scales[frames // 2]))
        middle[cls] = np.array(poses)
    for cls, pose in middle.items():
        assert MID_LOW <= pose[:, :2].min() and pose[:, :2].max() <= MID_HIGH, cls
        np.testing.assert_allclose(pose[:, 3], 1.0)
        for axis in range(3):  # x, y, angle against the static class
            assert ks_2samp(pose[:, axis], middle["static"][:, axis]).pvalue > 1e-3, (cls, axis)
    # and far movers really do reach the frame's edges at the clip's ends
    rng = np.random.default_rng(1)
    ends = np.concatenate([_trajectory("right", rng, frames, 0.3)[0][[0, -1], 0] for _ in range(draws)])
    assert ends.min() < 0.1 and ends.max() > 0.9


def test_build_moving_shapes_writes_a_ucf101_layout(tmp_path):
    root = build_moving_shapes(tmp_path / "ms", train=12, test=6, frames=8, size=32, seed=3)
    train, test = read_video_list(root / "trainlist01.txt"), read_video_list(root / "testlist01.txt")
    assert train.classes == list(CLASSES) and len(train) == 12 and len(test) == 6
    assert sorted(set(train.labels)) == list(range(10))
    for path, label in zip(test.paths, test.labels):
        assert path.parent.name == CLASSES[label]
        assert read_video(path).shape == (8, 32, 32, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_annotation_list_formats(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (tmp_path / "trainlist01.txt").write_text("Archery/v_a.avi 1\nBowling/v_b.avi 2\n")
    (tmp_path / "testlist01.txt").write_text("Bowling/v_c.avi\n")
    ucf = read_video_list(tmp_path / "trainlist01.txt")
    assert ucf.labels == [0, 1] and ucf.paths[1] == tmp_path / "videos" / "Bowling" / "v_b.avi"
    assert read_video_list(tmp_path / "testlist01.txt").labels == [1]  # label from the folder name

    kin = tmp_path / "k" / "val.csv"
    kin.parent.mkdir()
    kin.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,12,22,val\nzumba,xyz,0,10,val\n")
    kl = read_video_list(kin)
    assert kl.classes == ["abseiling", "zumba"] and kl.labels == [0, 1]
    assert kl.paths[0] == tmp_path / "k" / "val" / "abseiling" / "abc_000012_000022.mp4"

    plain_dir = tmp_path / "p"
    plain_dir.mkdir()
    (plain_dir / "list.txt").write_text("a/x.mp4 0\nb/y.mp4 2\n")
    pl = read_video_list(plain_dir / "list.txt", video_dir=tmp_path)
    assert pl.labels == [0, 2] and pl.paths[0] == tmp_path / "a" / "x.mp4"


@pytest.mark.parametrize("text,match", [("Archery/v_a.avi 9\n", "not in 1..2"), ("a b c\n", "expected")])
def test_malformed_lists_name_the_line(tmp_path, text, match):
    (tmp_path / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (tmp_path / "trainlist01.txt").write_text(text)
    with pytest.raises(DataError, match=match) as err:
        read_video_list(tmp_path / "trainlist01.txt")
    assert "trainlist01.txt:1" in str(err.value)


def test_clip_samplers():
    rng = np.random.default_rng(0)
    clips = sample_clips(100, 8, 4, "random", num_clips=50, rng=rng)
    assert clips.shape == (50, 8) and (np.diff(clips, axis=1) == 4).all() and clips.max() <= 99
    uniform = sample_clips(100, 8, 2, "uniform", num_clips=3)
    assert uniform[0, 0] == 0 and uniform[-1, -1] == 99 and uniform[1, 0] == 42
    dense = sample_clips(40, 4, 2, "dense")
    assert dense[:, 0].tolist() == [0, 7, 14, 21, 28]
    short = sample_clips(5, 4, 3, "uniform")  # span 10 > 5 frames: the last frame repeats
    assert short.tolist() == [[0, 3, 4, 4]]


def test_transforms_shapes_and_crops():
    frames = np.random.default_rng(0).integers(0, 255, (4, 60, 80, 3), dtype=np.uint8)
    x = to_tensor(frames)
    assert x.shape == (3, 4, 60, 80) and 0 <= x.min() and x.max() <= 1
    assert short_side_scale(x, 30).shape == (3, 4, 30, 40)
    crops = three_crops(short_side_scale(x, 30), 30)
    assert [tuple(c.shape) for c in crops] == [(3, 4, 30, 30)] * 3
    torch.testing.assert_close(crops[0], short_side_scale(x, 30)[..., :30])
    assert train_view(frames, 28, 32, np.random.default_rng(0)).shape == (3, 4, 28, 28)
    assert eval_views(frames, 30, 30, crops=3).shape == (3, 3, 4, 30, 30)


def test_multi_view_scores_average_softmax_over_clips_and_crops():
    video = np.random.default_rng(1).integers(0, 255, (40, 36, 48, 3), dtype=np.uint8)
    seen = []

    def model(x):
        seen.append(x.shape[0])
        return x.mean(dim=(1, 2, 3, 4))[:, None] * torch.tensor([[1.0, -1.0, 0.5]])

    probs = multi_view_scores(model, lambda idx: (video[idx], None), 40, frames=4, rate=2, crop_size=32, short_side=32, clips=4, crops=3)
    assert sum(seen) == 12 and probs.shape == (3,)
    views = torch.cat([eval_views(video[i], 32, 32, 3) for i in sample_clips(40, 4, 2, "uniform", num_clips=4)])
    torch.testing.assert_close(probs, model(views).softmax(-1).mean(0))


def test_flow_channels_move_with_the_pixels_and_keep_pixel_units():
    from paperzoo.video.transforms import horizontal_flip, to_clip

    rgb = np.full((2, 16, 32, 3), 255, np.uint8)
    flow = np.zeros((2, 16, 32, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.0, 2.0
    x = to_clip(rgb, flow)
    assert x.shape == (5, 2, 16, 32)
    scaled = short_side_scale(x, 32, flow=True)  # 16x32 -> 32x64: displacements double
    assert scaled.shape == (5, 2, 32, 64)
    torch.testing.assert_close(scaled[3], torch.full((2, 32, 64), 2.0))
    torch.testing.assert_close(scaled[4], torch.full((2, 32, 64), 4.0))
    torch.testing.assert_close(scaled[0], torch.ones(2, 32, 64))  # RGB values are not scaled
    flipped = horizontal_flip(x, flow=True)
    torch.testing.assert_close(flipped[3], -x[3])  # u changes sign
    torch.testing.assert_close(flipped[4], x[4])
    view = train_view(rgb, 16, 16, np.random.default_rng(0), flip=False, flow=flow)
    torch.testing.assert_close(view[:3], torch.full((3, 2, 16, 16), (1 - 0.45) / 0.225))  # RGB normalised
    torch.testing.assert_close(view[3:], torch.stack([torch.full((2, 16, 16), 1.0), torch.full((2, 16, 16), 2.0)]))
    only_flow = eval_views(None, 16, 16, 1, flow=flow)
    assert only_flow.shape == (1, 2, 2, 16, 16)


def test_segment_sampling_takes_one_snippet_from_each_equal_segment():
    from paperzoo.video.transforms import sample_segments, sample_view

    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = sample_segments(90, 3, 5, "random", rng=rng)[0].reshape(3, 5)
        assert (np.diff(idx, axis=1) == 1).all()  # consecutive frames inside a snippet
        starts = idx[:, 0]
        assert (starts >= [0, 28, 57]).all() and (starts < [29, 58, 86]).all()  # inside its own segment
    centre = sample_segments(90, 3, 1, "uniform")[0]
    np.testing.assert_array_equal(centre, [15, 45, 75])  # segment centres of 0-29, 30-59, 60-89
    several = sample_segments(90, 3, 1, "uniform", num_clips=2)
    assert several.shape == (2, 3) and (several[0] < several[1]).all()
    assert sample_segments(4, 3, 5, "random", rng=rng).max() <= 3  # short video: clamped, not out of range
    np.testing.assert_array_equal(sample_view(40, 4, 2, 1, "uniform"), sample_clips(40, 4, 2, "uniform"))
