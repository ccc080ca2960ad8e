"""Released video weights imported into paperzoo give the reference's logits.

For every importable layout: build the reference model (torchvision 0.28 / pytorchvideo 0.1.5) with
random weights and randomised batch-norm statistics, save it in the reference's own file format,
import it with ``paperzoo weights import``, and compare logits in eval mode on the same clip
(max |diff| <= 1e-4). I3D and C3D are not on PyPI: their checkpoints' exact key / shape tables
(``layouts/``, read off their public code) drive synthetic checkpoints, and the logits are compared
with a functional forward pass written here from the reference code's semantics (TF 'SAME'
padding, AvgPool3d 2x7x7 then logits averaged over time; C3D's conv / pool / fc stack).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pytorchvideo.models import hub
from pytorchvideo.models.resnet import create_resnet
from pytorchvideo.models.slowfast import create_slowfast
from pytorchvideo.models.x3d import create_x3d
from torchvision.models import video as tv

import paperzoo
from _reference import randomized
from paperzoo.video.weights import REFERENCES, class_names

LAYOUTS = Path(__file__).parent / "layouts"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pytorchvideo's torch.jit.script calls
TOLERANCE = 1e-4


def slow_frames(fast: torch.Tensor, alpha: int) -> torch.Tensor:
    """pytorchvideo's PackPathway: the Slow pathway's frames of a Fast clip."""
    return fast.index_select(2, torch.linspace(0, fast.shape[2] - 1, fast.shape[2] // alpha).long())


# (source, name): (reference builder, input clip, paperzoo builder overrides, how the reference reads the clip)
# Smaller crops than the papers' keep CI fast; pytorchvideo's fixed head pools are set to match them.
CASES = {
    ("torchvision", "r3d_18"): (tv.r3d_18, (2, 3, 8, 64, 64), {}, None),
    ("torchvision", "mc3_18"): (tv.mc3_18, (2, 3, 8, 64, 64), {}, None),
    ("torchvision", "r2plus1d_18"): (tv.r2plus1d_18, (2, 3, 8, 64, 64), {}, None),
    ("torchvision", "s3d"): (tv.s3d, (1, 3, 24, 224, 224), {}, None),  # T > 16: the head's 2x7x7 windows matter
    ("pytorchvideo", "x3d_xs"): (lambda: hub.x3d_xs(head_activation=None), (2, 3, 4, 160, 160), {}, None),
    ("pytorchvideo", "x3d_s"): (lambda: hub.x3d_s(head_activation=None), (1, 3, 13, 182, 182), {}, None),  # test crop > train crop
    ("pytorchvideo", "x3d_m"): (lambda: hub.x3d_m(head_activation=None), (1, 3, 16, 224, 224), {}, None),
    ("pytorchvideo", "x3d_l"): (lambda: create_x3d(depth_factor=5.0, head_activation=None, input_clip_length=4, input_crop_size=160),
                                (1, 3, 4, 160, 160), {"frames": 4, "crop": 160}, None),
    ("pytorchvideo", "slowfast_r50"): (lambda: hub.slowfast_r50(head_pool_kernel_sizes=((8, 3, 3), (32, 3, 3))),
                                       (1, 3, 32, 96, 96), {"crop": 96}, lambda x: [slow_frames(x, 4), x]),
    ("pytorchvideo", "slowfast_r50_4x16"): (
        lambda: create_slowfast(slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1),
                                head_pool_kernel_sizes=((4, 3, 3), (32, 3, 3))),
        (1, 3, 32, 96, 96), {"crop": 96}, lambda x: [slow_frames(x, 8), x]),
    ("pytorchvideo", "slowfast_r101"): (lambda: hub.slowfast_r101(head_pool_kernel_sizes=((8, 2, 2), (32, 2, 2))),
                                        (1, 3, 32, 64, 64), {"crop": 64}, lambda x: [slow_frames(x, 4), x]),
    ("pytorchvideo", "slow_r50"): (lambda: create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 3, 3), model_depth=50),
                                   (1, 3, 8, 96, 96), {"crop": 96}, None),
    ("pytorchvideo", "slow_r50_4x16"): (lambda: create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(4, 3, 3), model_depth=50),
                                        (1, 3, 4, 96, 96), {"crop": 96}, None),
}
# the paper-size reference models, for parameter counts on the meta device
PAPER_SIZE = {
    ("torchvision", "r3d_18"): tv.r3d_18, ("torchvision", "mc3_18"): tv.mc3_18, ("torchvision", "r2plus1d_18"): tv.r2plus1d_18,
    ("torchvision", "s3d"): tv.s3d, **{("pytorchvideo", n): getattr(hub, n) for n in ("x3d_xs", "x3d_s", "x3d_m", "x3d_l")},
    ("pytorchvideo", "slowfast_r50"): hub.slowfast_r50, ("pytorchvideo", "slowfast_r101"): hub.slowfast_r101,
    ("pytorchvideo", "slowfast_r50_4x16"): lambda: create_slowfast(slowfast_fusion_conv_kernel_size=(5, 1, 1),
                                                                   slowfast_fusion_conv_stride=(8, 1, 1)),
    ("pytorchvideo", "slow_r50"): hub.slow_r50,
    ("pytorchvideo", "slow_r50_4x16"): lambda: create_resnet(stem_conv_kernel_size=(1, 7, 7), model_depth=50),
}


def import_and_load(cli, tmp_path, source, name, state, suffix=".pth", overrides=None):
    """Save ``state`` as the reference's file, import it with the CLI, return the export's bare model."""
    path = tmp_path / f"{name}{suffix}"
    torch.save(state, path)
    code, out, err = cli("weights", "import", path, "--from", source, "--arch", name, "-o", tmp_path / "export")
    assert code == 0, err
    model = paperzoo.load(tmp_path / "export").model
    if overrides:  # the same weights in a model built for the small test input (only pool sizes change)
        small = REFERENCES[(source, name)].build(**overrides)
        small.load_state_dict(model.state_dict())
        model = small.eval()
    return model


def test_every_layout_has_a_test():
    assert set(REFERENCES) == set(CASES) | {("i3d", "i3d"), ("i3d", "i3d_flow"), ("c3d", "c3d")}


@pytest.mark.parametrize("key", list(CASES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_imported_weights_give_the_reference_logits(cli, tmp_path, key):
    source, name = key
    build, shape, overrides, feed = CASES[key]
    torch.manual_seed(0)
    reference = randomized(build())
    state = reference.state_dict()
    if source == "pytorchvideo":  # pytorchvideo's .pyth files: {"model_state": ..., plus training state}
        state = {"model_state": state, "epoch": 196, "cfg": "TRAIN:\n  ENABLE: True\n"}
    model = import_and_load(cli, tmp_path, source, name, state, ".pyth" if source == "pytorchvideo" else ".pth", overrides)
    x = torch.randn(*shape)
    with torch.no_grad():
        want, got = reference(feed(x) if feed else x), model(x)
    assert want.shape == got.shape
    assert want.abs().max() > 1e-3  # the comparison is not between two near-zero outputs
    assert (want - got).abs().max() <= TOLERANCE


@pytest.mark.parametrize("key", list(PAPER_SIZE), ids=lambda k: f"{k[0]}-{k[1]}")
def test_parameter_counts_match_at_the_paper_size(key):
    with torch.device("meta"):
        theirs = PAPER_SIZE[key]()
        ours = REFERENCES[key].build()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


# --- I3D and C3D: synthetic checkpoints of their exact layouts, functional reference forward passes ---

def synthetic(layout: str, in_channels: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the reference file's keys and shapes (He-scaled weights, sane BN statistics)."""
    table = json.loads((LAYOUTS / layout).read_text())["tensors"]
    g, out = torch.Generator().manual_seed(seed), {}
    for key, shape in table.items():
        if key == "Conv3d_1a_7x7.conv3d.weight":
            shape = [shape[0], in_channels, *shape[2:]]
        if key.endswith("running_var"):
            t = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("bn.weight",)):
            t = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("bias", "running_mean")):
            t = torch.randn(shape, generator=g) * 0.1
        else:
            fan_in = int(torch.tensor(shape[1:]).prod())
            t = torch.randn(shape, generator=g) * (2 / fan_in) ** 0.5
        out[key] = t
    return out


def _tf_same(x, kernel, stride):
    """piergiaj's compute_pad: max(k - s, 0) if n % s == 0 else max(k - n % s, 0), the odd pixel after."""
    pad = []
    for n, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):  # F.pad lists the last dimension first
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pad += [total // 2, total - total // 2]
    return F.pad(x, pad)


def _unit(x, sd, name, kernel, stride=(1, 1, 1)):
    x = F.conv3d(_tf_same(x, kernel, stride), sd[f"{name}.conv3d.weight"], None, stride)
    x = F.batch_norm(x, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"], sd[f"{name}.bn.weight"], sd[f"{name}.bn.bias"],
                     False, 0.0, 1e-3)
    return F.relu(x)


def _pool(x, kernel, stride):
    return F.max_pool3d(_tf_same(x, kernel, stride), kernel, stride)


def _mixed(x, sd, name):
    one = (1, 1, 1)
    return torch.cat([_unit(x, sd, f"{name}.b0", one),
                      _unit(_unit(x, sd, f"{name}.b1a", one), sd, f"{name}.b1b", (3, 3, 3)),
                      _unit(_unit(x, sd, f"{name}.b2a", one), sd, f"{name}.b2b", (3, 3, 3)),
                      _unit(_pool(x, (3, 3, 3), one), sd, f"{name}.b3b", one)], 1)


def i3d_reference(x, sd):
    """The released Kinetics I3D, as piergiaj/pytorch-i3d runs it; logits averaged over time."""
    x = _unit(x, sd, "Conv3d_1a_7x7", (7, 7, 7), (2, 2, 2))
    x = _pool(x, (1, 3, 3), (1, 2, 2))
    x = _unit(_unit(x, sd, "Conv3d_2b_1x1", (1, 1, 1)), sd, "Conv3d_2c_3x3", (3, 3, 3))
    x = _pool(x, (1, 3, 3), (1, 2, 2))
    x = _mixed(_mixed(x, sd, "Mixed_3b"), sd, "Mixed_3c")
    x = _pool(x, (3, 3, 3), (2, 2, 2))
    for block in "bcdef":
        x = _mixed(x, sd, f"Mixed_4{block}")
    x = _pool(x, (2, 2, 2), (2, 2, 2))
    x = _mixed(_mixed(x, sd, "Mixed_5b"), sd, "Mixed_5c")
    x = F.conv3d(F.avg_pool3d(x, (2, 7, 7), 1), sd["logits.conv3d.weight"], sd["logits.conv3d.bias"])
    return x.flatten(2).mean(2)


def c3d_reference(x, sd):
    """DavideA/c3d-pytorch's C3D up to fc8 (its softmax left out)."""
    for names, pool in ((["conv1"], (1, 2, 2)), (["conv2"], (2, 2, 2)), (["conv3a", "conv3b"], (2, 2, 2)),
                        (["conv4a", "conv4b"], (2, 2, 2)), (["conv5a", "conv5b"], (2, 2, 2))):
        for n in names:
            x = F.relu(F.conv3d(x, sd[f"{n}.weight"], sd[f"{n}.bias"], padding=1))
        x = F.max_pool3d(x, pool, pool, padding=(0, 1, 1) if names[0] == "conv5a" else 0)
    x = F.relu(F.linear(x.reshape(len(x), 8192), sd["fc6.weight"], sd["fc6.bias"]))
    x = F.relu(F.linear(x, sd["fc7.weight"], sd["fc7.bias"]))
    return F.linear(x, sd["fc8.weight"], sd["fc8.bias"])


@pytest.mark.parametrize("name,shape", [("i3d", (1, 3, 16, 224, 224)), ("i3d", (1, 3, 17, 225, 225)), ("i3d_flow", (1, 2, 16, 224, 224))])
def test_i3d_import_matches_the_released_models_forward_pass(cli, tmp_path, name, shape):
    state = synthetic("i3d_rgb_imagenet.json", in_channels=shape[1])
    model = import_and_load(cli, tmp_path, "i3d", name, state, ".pt", {"frames": shape[2], "crop": shape[3]})
    x = torch.randn(*shape)
    with torch.no_grad():
        want, got = i3d_reference(x, state), model(x)
    assert want.abs().max() > 1e-2 and (want - got).abs().max() <= TOLERANCE * max(1.0, float(want.abs().max()))


def test_c3d_import_matches_the_released_models_forward_pass(cli, tmp_path):
    state = synthetic("c3d_sports1m.json")
    model = import_and_load(cli, tmp_path, "c3d", "c3d", state, ".pickle")
    x = torch.rand(2, 3, 16, 112, 112) * 255  # C3D reads raw 0-255 pixels
    with torch.no_grad():
        want, got = c3d_reference(x, state), model(x)
    assert want.shape == (2, 487) and (want - got).abs().max() <= TOLERANCE * max(1.0, float(want.abs().max()))
    card = paperzoo.load(tmp_path / "export").card
    assert len(card["inference"]["classes"]) == 487 and card["inference"]["view"]["std"] == [1 / 255] * 3


# --- what a user meets: class names on predictions, create_model(weights=...), bad files ---

def test_an_imported_export_predicts_kinetics_class_names(cli, tmp_path):
    from paperzoo.data.moving_shapes import render_clip
    from paperzoo.io.video import write_video

    import_and_load(cli, tmp_path, "torchvision", "r3d_18", randomized(tv.r3d_18()).state_dict())
    card = paperzoo.load(tmp_path / "export").card
    assert card["source"]["url"].endswith("r3d_18-b3b3357e.pth") and card["inference"]["view"]["mean"] == [0.43216, 0.394666, 0.37645]
    write_video(tmp_path / "clip.mp4", render_clip(7, frames=40, size=48)[0], 25)
    code, out, err = cli("predict", tmp_path / "clip.mp4", "--model", tmp_path / "export", "--clips", 1, "--k", 3, "--json")
    assert code == 0, err
    top = json.loads(out)
    assert len(top) == 3 and all(t["class"] in class_names("kinetics400") for t in top)
    assert paperzoo.load(tmp_path / "export").model.input_spec.rate == 2  # torchvision's 15 fps clips of 30 fps video


def test_create_model_takes_a_released_file_or_an_export(cli, tmp_path):
    reference = randomized(tv.r2plus1d_18())
    model = import_and_load(cli, tmp_path, "torchvision", "r2plus1d_18", reference.state_dict())
    x = torch.randn(1, 3, 8, 64, 64)
    from_file = paperzoo.create_model("r2plus1d_18", weights=tmp_path / "r2plus1d_18.pth")
    from_export = paperzoo.create_model("r2plus1d_18", weights=tmp_path / "export")
    with torch.no_grad():
        want = reference(x)
        for m in (model, from_file, from_export):
            assert (m(x) - want).abs().max() <= TOLERANCE


def test_a_file_of_another_architecture_names_the_first_misfit_and_writes_nothing(cli, tmp_path):
    path = tmp_path / "r3d_18.pth"
    torch.save(tv.r3d_18().state_dict(), path)
    code, _, err = cli("weights", "import", path, "--from", "torchvision", "--arch", "mc3_18", "-o", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "layer2.0.conv1.0.weight" in err and "shape" in err and not (tmp_path / "out").exists()
    code, _, err = cli("weights", "import", path, "--from", "pytorchvideo", "--arch", "x3d_m", "-o", tmp_path / "out")
    assert code == 2 and "'stem.0.weight' has shape (64, 3, 3, 7, 7)" in err and not (tmp_path / "out").exists()


def test_a_damaged_file_is_a_one_line_error_and_writes_nothing(cli, tmp_path):
    path = tmp_path / "x3d_m.pyth"
    torch.save({"model_state": hub.x3d_xs().state_dict()}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a download cut short
    code, _, err = cli("weights", "import", path, "--from", "pytorchvideo", "--arch", "x3d_m", "-o", tmp_path / "out")
    assert code == 2 and "not a readable checkpoint" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    code, _, err = cli("weights", "import", tmp_path / "missing.pth", "--from", "c3d", "--arch", "c3d", "-o", tmp_path / "out")
    assert code == 2 and "no such checkpoint file" in err
    code, _, err = cli("weights", "import", path, "--from", "mmaction", "--arch", "x3d_m", "-o", tmp_path / "out")
    assert code == 2 and "unknown source" in err
