"""Video models: paper shapes (on the meta device: no compute), parameter counts against the
published ones, the R(2+1)D width rule, X3D factors, SlowFast laterals, I3D inflation, T3D transfer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paperzoo.registry import create_model, list_models
from paperzoo.video.base import VideoClassifier, count_parameters, multiply_adds
from paperzoo.video.inception import inception_v1_2d, inflate_state_dict
from paperzoo.video.resnet3d import mid_channels
from paperzoo.video.t3d import FrameClipCorrespondence
from paperzoo.video.x3d import SPECS, round_width

VIDEO_MODELS = [m.name for m in list_models(family="video") if m.name != "inception_v1_2d"]

# published parameter counts with 400 classes (torchvision / pytorchvideo model zoos, the papers)
PUBLISHED = {"r3d_18": 33.37e6, "s3d": 8.32e6, "slowfast_r50": 34.48e6, "x3d_xs": 3.79e6, "x3d_s": 3.79e6, "x3d_m": 3.79e6,
             "x3d_l": 6.15e6}


def test_every_paper_model_is_registered():
    expected = {"c3d", "r3d_18", "r3d_34", "r2plus1d_18", "r2plus1d_34", "t3d", "i3d", "s3d", "s3d_g", "slowfast_r50",
                "slow_only_r50", "fast_only_r50", "x3d_xs", "x3d_s", "x3d_m", "x3d_l", "single_frame_r2d_18", "two_stream_spatial",
                "two_stream_temporal", "two_stream", "conv_fusion", "tsn", "tsn_two_stream", "hidden_temporal", "hidden_two_stream",
                "two_stream_i3d"}
    assert expected <= set(VIDEO_MODELS)


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_output_shape_at_paper_input(name):
    with torch.device("meta"):
        model = create_model(name, num_classes=400)
        x = model.example_input(2)
        assert isinstance(model, VideoClassifier)
        assert model(x).shape == (2, 400)
        assert model.forward_features(x).shape == (2, model.feature_dim)
    spec = model.input_spec
    assert x.shape == (2, spec.channels, spec.segments * spec.frames, spec.crop, spec.crop)


@pytest.mark.parametrize("name,count", sorted(PUBLISHED.items()))
def test_parameter_counts_match_published(name, count):
    with torch.device("meta"):
        n = count_parameters(create_model(name, num_classes=400))
    assert abs(n - count) / count < 0.005, f"{name}: {n} parameters, published {count:.0f}"


def test_r2plus1d_matches_r3d_parameters_and_torchvision_layout():
    with torch.device("meta"):
        r3d = count_parameters(create_model("r3d_18", num_classes=400))
        paper = count_parameters(create_model("r2plus1d_18", num_classes=400))
        tv = count_parameters(create_model("r2plus1d_18", num_classes=400, mid_channels="torchvision"))
    assert abs(paper - r3d) / r3d < 0.01
    assert abs(tv - 31.51e6) / 31.51e6 < 0.005  # torchvision's r2plus1d_18


def test_mid_channel_rule_is_the_papers_formula_on_every_conv():
    # M = floor(t d^2 Nin Nout / (d^2 Nin + t Nout))
    assert mid_channels(64, 64) == (3 * 9 * 64 * 64) // (9 * 64 + 3 * 64) == 144
    assert mid_channels(3, 64, 3, 7) == 83
    with torch.device("meta"):
        net = create_model("r2plus1d_18", num_classes=10)
    spatial = [m for m in net.modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] == 1 and m.kernel_size[1] > 1]
    for conv in spatial:  # each spatial conv feeds a temporal conv; M matches the (in, out) of the pair
        temporal = next(m for m in net.modules() if isinstance(m, nn.Conv3d) and m.in_channels == conv.out_channels
                        and m.kernel_size[1] == 1 and m.kernel_size[0] == 3)
        assert conv.out_channels == mid_channels(conv.in_channels, temporal.out_channels, 3, conv.kernel_size[1])


def test_r3d_stage_shapes_follow_the_paper():
    net = create_model("r3d_18", num_classes=10, width=8)
    x = torch.zeros(1, 3, 16, 112, 112)
    shapes = []
    y = net.stem(x)
    shapes.append(tuple(y.shape[1:]))
    for stage in net.stages:
        y = stage(y)
        shapes.append(tuple(y.shape[1:]))
    assert shapes == [(8, 16, 56, 56), (8, 16, 56, 56), (16, 8, 28, 28), (32, 4, 14, 14), (64, 2, 7, 7)]


def test_c3d_feature_map_before_fc6():
    with torch.device("meta"):
        net = create_model("c3d", num_classes=487)
        assert net.features(net.example_input()).shape == (1, 512, 1, 4, 4)
        assert net.fc[1].in_features == 8192 and net.fc[1].out_features == 4096


def test_x3d_expansion_factors_give_documented_widths_and_depths():
    assert round_width(12, 2.0) == 24 and round_width(54, 1 / 16) == 8
    for name in ("x3d_xs", "x3d_s", "x3d_m"):
        assert SPECS[name].stage_depths() == [3, 5, 11, 7]
        assert SPECS[name].stage_widths() == [24, 48, 96, 192]
    assert SPECS["x3d_l"].stage_depths() == [5, 10, 25, 15]
    with torch.device("meta"):
        net = create_model("x3d_m", num_classes=400)
    inner = [stage[0].conv_a[0].out_channels for stage in net.stages]
    assert inner == [54, 108, 216, 432]  # gamma_b = 2.25 x out width
    assert [len(stage) for stage in net.stages] == [3, 5, 11, 7]
    assert (SPECS["x3d_xs"].frames, SPECS["x3d_s"].frames, SPECS["x3d_m"].frames) == (4, 13, 16)


def test_x3d_flops_match_the_paper_table():
    # X3D paper Table 4: XS 0.60, S 1.96, M 4.73 GFLOPs at the training crop
    for name, paper in (("x3d_xs", 0.60), ("x3d_s", 1.96), ("x3d_m", 4.73)):
        net = create_model(name, num_classes=400)
        assert abs(multiply_adds(net) / 1e9 - paper) / paper < 0.02


def test_slowfast_lateral_shapes_and_pathway_ratios():
    with torch.device("meta"):
        net = create_model("slowfast_r50", num_classes=400)
        seen = []
        hooks = [lat.register_forward_hook(lambda m, i, o: seen.append((tuple(i[0].shape), tuple(o.shape)))) for lat in net.laterals]
        net(net.example_input())
    for h in hooks:
        h.remove()
    # Fast (32 frames, beta C) -> time-strided conv (stride alpha = 8) -> 2 beta C channels at the Slow rate (4 frames)
    assert seen == [((1, 8, 32, 56, 56), (1, 16, 4, 56, 56)), ((1, 32, 32, 56, 56), (1, 64, 4, 56, 56)),
                    ((1, 64, 32, 28, 28), (1, 128, 4, 28, 28)), ((1, 128, 32, 14, 14), (1, 256, 4, 14, 14))]
    assert net.feature_dim == 2048 + 256
    assert net.laterals[0][0].kernel_size == (5, 1, 1) and net.laterals[0][0].stride == (8, 1, 1)


def test_slowfast_ablations_use_one_pathway():
    with torch.device("meta"):
        slow = create_model("slow_only_r50", num_classes=400)
        fast = create_model("fast_only_r50", num_classes=400)
    assert slow.fast is None and slow.laterals is None and slow.feature_dim == 2048
    assert fast.slow is None and fast.feature_dim == 256


def test_inflated_i3d_equals_2d_net_on_a_boring_video():
    torch.manual_seed(0)
    net2d = inception_v1_2d(num_classes=7, width=0.25)
    for m in net2d.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    net2d.eval()
    # the 2D net pads symmetrically, so the 3D net must too (the released I3D's TF 'SAME' padding shifts even sizes)
    net3d = create_model("i3d", num_classes=7, width=0.25, temporal_padding="replicate", padding="symmetric",
                         inflate_from=net2d.state_dict()).eval()
    frame = torch.randn(2, 3, 64, 64)
    clip = frame[:, :, None].expand(-1, -1, 8, -1, -1).contiguous()
    with torch.no_grad():
        torch.testing.assert_close(net3d(clip), net2d(frame), rtol=1e-4, atol=1e-4)
        # the logits are mostly the head's bias: the features, relative to their size, say more
        out2d, out3d = net2d.forward_features(frame), net3d.forward_features(clip)
        scale = out2d.abs().max()
        assert scale > 0
        torch.testing.assert_close(out3d / scale, out2d / scale, rtol=1e-4, atol=1e-4)
    w2 = net2d.features.Conv_1a[0].weight
    w3 = net3d.features.Conv_1a[0].weight
    assert w3.shape == (*w2.shape[:2], 7, *w2.shape[2:])
    torch.testing.assert_close(w3.sum(2), w2)  # repeated over time and divided by t


def test_inflation_rejects_a_mismatched_state_dict():
    from paperzoo.errors import CheckpointError

    with pytest.raises(CheckpointError):
        create_model("i3d", num_classes=7, width=0.25, inflate_from={"foo": torch.zeros(1)})


def test_s3d_g_gates_every_inception_branch_and_s3d_is_separable():
    with torch.device("meta"):
        s3d, s3dg = create_model("s3d", num_classes=400), create_model("s3d_g", num_classes=400)
    assert all(m.gates is None for m in s3d.modules() if hasattr(m, "gates"))
    assert sum(len(m.gates) for m in s3dg.modules() if getattr(m, "gates", None) is not None) == 4 * 9
    full = [m for m in s3d.modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] > 1 and m.kernel_size[1] > 1]
    assert full == []  # no t x k x k conv: every spatio-temporal conv is split


def test_heads_swap_and_features_exclude_the_head():
    net = create_model("r3d_18", num_classes=5, width=4, frames=4, crop=32)
    x = torch.randn(2, 3, 4, 32, 32)
    feats = net.forward_features(x)
    net.reset_head(3)
    assert net(x).shape == (2, 3)
    torch.testing.assert_close(net.forward_features(x), feats)


def test_single_frame_baseline_sees_only_the_middle_frame():
    net = create_model("single_frame_r2d_18", num_classes=4, width=4, crop=32).eval()
    x = torch.randn(1, 3, 8, 32, 32)
    shuffled = x.clone()
    shuffled[:, :, [0, 1, 2, 3, 5, 6, 7]] = x[:, :, [7, 6, 5, 3, 2, 1, 0]]
    torch.testing.assert_close(net(shuffled), net(x))


def test_t3d_ttl_pools_time_and_transfer_trains_only_the_3d_side():
    net3d = create_model("t3d", num_classes=4, blocks=(1, 1, 1, 1), growth=4, stem=8, frames=8, crop=32)
    ttl = net3d.features[5]
    assert [c.kernel_size[0] for c in ttl.branches] == [1, 3, 6]
    net2d = nn.Sequential(nn.Conv2d(3, 6, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    before = [p.clone() for p in net2d.parameters()]
    task = FrameClipCorrespondence(net2d, net3d, dim2d=6, hidden=(16, 8)).train()
    clips = torch.randn(3, 3, 8, 32, 32)
    frames, paired, labels = FrameClipCorrespondence.make_pairs(clips, torch.Generator().manual_seed(0))
    assert frames.shape == (6, 3, 32, 32) and labels.tolist() == [1, 1, 1, 0, 0, 0]
    loss = nn.functional.cross_entropy(task(frames, paired), labels)
    loss.backward()
    assert all(p.grad is None for p in net2d.parameters())
    assert all(p.grad is not None for p in net3d.features.parameters() if p.requires_grad)
    torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.1).step()
    assert all(torch.equal(a, b) for a, b in zip(before, net2d.parameters()))
    assert not net2d.training  # the frozen teacher stays in eval mode


def test_multiply_adds_of_a_conv_match_the_formula():
    net = create_model("c3d", num_classes=4, width=2, fc_dim=8, frames=16, crop=32)
    conv = net.features[0]
    x = torch.zeros(1, 3, 16, 32, 32)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        conv(x)
    assert counter.get_total_flops() // 2 == 2 * 3 * 27 * 16 * 32 * 32  # cout * cin * k^3 * outputs


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_every_weight_is_stored_once_so_exports_work(name):
    """A module registered under two names (e.g. a wrapper's head that is its base net's head) would store
    its weights twice in the state dict, which safetensors (``paperzoo export``) refuses."""
    with torch.device("meta"):
        model = create_model(name, num_classes=400)
    assert len(list(model.named_parameters(remove_duplicate=False))) == len(list(model.named_parameters()))


@pytest.mark.parametrize("name,options", [
    ("r2plus1d_18", {"width": 8, "mid_channels": "torchvision"}), ("mc3_18", {"width": 8}), ("x3d_xs", {"width": 0.5, "crop": 64}),
    ("slowfast_r50_8x8", {"width": 16, "crop": 64}), ("i3d", {"width": 0.125, "frames": 16, "crop": 64}), ("s3d", {"width": 0.125, "frames": 16, "crop": 64}),
    ("tsn", {"width": 0.125, "crop": 64}), ("c3d", {"width": 8, "fc_dim": 64})])
def test_optimize_for_inference_folds_batch_norms_and_keeps_the_logits(name, options):
    from paperzoo.video.speed import optimize_for_inference

    torch.manual_seed(0)
    model = create_model(name, num_classes=7, **options).eval()
    for m in model.modules():  # batch-norm statistics worth folding
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fast = optimize_for_inference(model)
    x = model.example_input(2).normal_()
    with torch.no_grad():
        want, got = model(x), fast(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    convs_then_bn = [s for s in fast.modules() if isinstance(s, nn.Sequential)
                     for a, b in zip(list(s), list(s)[1:]) if isinstance(a, nn.Conv3d) and isinstance(b, nn.BatchNorm3d)]
    assert not convs_then_bn
    assert any(isinstance(m, nn.BatchNorm3d) for m in model.modules()) or name == "c3d" or name == "tsn"  # the original is untouched
    assert all(not p.requires_grad for p in fast.parameters())
