"""Two-stream family: paper sizes, flow stacking, late fusion arithmetic, linear score fusion, conv
fusion layers (identity start, shapes), TSN consensus / RGB difference / cross-modality init / partial
BN, MotionNet's warping and unsupervised loss, and two-stream I3D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from paperzoo.registry import create_model
from paperzoo.video.base import count_parameters
from paperzoo.video.motionnet import MotionNet, charbonnier, motion_loss, warp
from paperzoo.video.tsn import cross_modality_init, rgb_difference
from paperzoo.video.fusion import fit_score_fusion, fuse_scores
from paperzoo.video.two_stream import stack_flow

SMALL = {"width": 0.125, "crop": 64}


def clip_for(model, batch: int = 2, seed: int = 0) -> torch.Tensor:
    s = model.input_spec
    return torch.randn(batch, s.channels, s.total_frames, s.crop, s.crop, generator=torch.Generator().manual_seed(seed))


def test_paper_sizes_on_the_meta_device():
    spatial = create_model("two_stream_spatial", num_classes=101)
    temporal = create_model("two_stream_temporal", num_classes=101)
    # CNN-M-2048 at 224: conv5 ends 13x13, pool5 6x6x512 -> fc6 4096 -> fc7 2048
    assert spatial.tower.conv_side(224) == 13 and spatial.tower.pooled_side == 6
    conv = 96 * 3 * 49 + 256 * 96 * 25 + 512 * 256 * 9 + 2 * 512 * 512 * 9 + 96 + 256 + 3 * 512
    fc = 512 * 6 * 6 * 4096 + 4096 + 4096 * 2048 + 2048 + 2048 * 101 + 101
    assert count_parameters(spatial) == conv + fc == 90_627_813
    assert temporal.tower.conv[0].in_channels == 20  # L = 10 flow fields, u and v
    assert not any(isinstance(m, torch.nn.LocalResponseNorm) for m in list(temporal.tower.conv)[4:])  # no LRN after conv2
    assert temporal.head.dropout.p == 0.9 and spatial.head.dropout.p == 0.5
    fusion = create_model("conv_fusion", num_classes=101)
    assert fusion.input_spec.segments == 5 and fusion.input_spec.frames == 10
    assert fusion.rgb.channels == 512 and fusion.fuse.kernel_size == (3, 3, 3) and fusion.fuse.in_channels == 1024
    tsn = create_model("tsn", num_classes=101, modality="flow")
    assert tsn.input_spec.segments == 3 and tsn.base.in_channels == 10 and tsn.head.dropout.p == 0.7
    assert create_model("tsn", num_classes=101).head.dropout.p == 0.8
    assert create_model("tsn", num_classes=101, modality="rgb_diff").base.in_channels == 12


def test_stack_flow_orders_u_v_per_field_and_subtracts_each_fields_mean():
    flow = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(1, 2, 3, 4, 4)
    stacked = stack_flow(flow, subtract_mean=False)
    assert stacked.shape == (1, 6, 4, 4)
    torch.testing.assert_close(stacked[0, 2], flow[0, 0, 1])  # u of field 2
    torch.testing.assert_close(stacked[0, 3], flow[0, 1, 1])  # v of field 2
    centred = stack_flow(flow)
    torch.testing.assert_close(centred.mean((2, 3)), torch.zeros(1, 6), atol=1e-5, rtol=0)


def test_late_fusion_averages_softmax_scores_with_its_weights_and_trains_each_stream():
    torch.manual_seed(0)
    model = create_model("two_stream", num_classes=5, weights=(1.0, 1.5), **SMALL).eval()
    x = clip_for(model)
    logits = model.stream_logits(x)
    expected = 0.4 * logits["spatial"].softmax(-1) + 0.6 * logits["temporal"].softmax(-1)
    torch.testing.assert_close(model(x).exp(), expected)
    y = torch.tensor([1, 3])
    loss, parts = model.training_loss(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(logits["spatial"], y) + F.cross_entropy(logits["temporal"], y))
    assert set(parts) == {"spatial_loss", "temporal_loss"}
    # the spatial stream sees only the middle frame's RGB: other frames and the flow do not move it
    changed = x.clone()
    changed[:, :3, 0] += 1
    changed[:, 3:] += torch.randn_like(changed[:, 3:])  # (a constant shift would vanish in the mean subtraction)
    torch.testing.assert_close(model.stream_logits(changed)["spatial"], logits["spatial"])
    assert not torch.allclose(model.stream_logits(changed)["temporal"], logits["temporal"])
    with pytest.raises(ValueError, match="weight"):
        create_model("two_stream", num_classes=5, weights=(1.0, -1.0), **SMALL)


def test_fuse_scores_normalises_weights():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(fuse_scores([a, b], (2, 2)), (a.softmax(-1) + b.softmax(-1)) / 2)


def test_linear_score_fusion_learns_which_stream_to_trust():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (400,), generator=g)
    noise = torch.randn(400, 4, generator=g)
    informative = F.one_hot(labels, 4) * 3 + noise  # right most of the time
    useless = torch.randn(400, 4, generator=g)
    scores = [useless.softmax(-1), informative.softmax(-1)]
    layer = fit_score_fusion([s[:300] for s in scores], labels[:300])
    from paperzoo.video.fusion import stacked_scores

    accuracy = (layer(stacked_scores([s[300:] for s in scores])).argmax(1) == labels[300:]).float().mean()
    assert accuracy >= (informative[300:].argmax(1) == labels[300:]).float().mean() - 0.02
    assert layer.weight[:, 4:].abs().sum() > 2 * layer.weight[:, :4].abs().sum()


@pytest.mark.parametrize("fusion", ["conv", "conv3d"])
def test_conv_fusion_starts_as_the_sum_of_the_two_streams(fusion):
    torch.manual_seed(0)
    model = create_model("conv_fusion", num_classes=5, tower="cnn_m_2048", segments=3, length=5, fusion=fusion, **SMALL)
    rgb, flow = model._maps(clip_for(model))
    assert rgb.shape == flow.shape and rgb.shape[:3] == (2, model.rgb.channels, 3)
    torch.testing.assert_close(model._fused(rgb, flow), rgb + flow)


@pytest.mark.parametrize("fusion", ["sum", "max", "concat", "conv", "conv3d"])
def test_conv_fusion_shapes_and_two_heads(fusion):
    model = create_model("conv_fusion", num_classes=5, tower="cnn_m_2048", segments=3, length=5, fusion=fusion, **SMALL)
    x = clip_for(model)
    rgb, flow = model._maps(x)
    fused = model._fused(rgb, flow)
    assert fused.shape[1] == (2 if fusion == "concat" else 1) * model.rgb.channels
    assert model.pool3d(fused).shape[2] == 1  # 3D pooling over all snippets
    assert model(x).shape == (2, 5) and torch.allclose(model(x).exp().sum(1), torch.ones(2))
    loss, parts = model.training_loss(x, torch.tensor([0, 4]))
    loss.backward()
    assert set(parts) == {"fused_loss", "temporal_loss"} and model.rgb.conv[0].weight.grad is not None


def test_tsn_average_consensus_ignores_segment_order_but_rgb_difference_does_not():
    torch.manual_seed(0)
    model = create_model("tsn", num_classes=5, segments=3, **SMALL).eval()
    x = clip_for(model)  # (B, 3, 3 segments x 1 frame, H, W)
    torch.testing.assert_close(model(x[:, :, [2, 0, 1]]), model(x))
    torch.testing.assert_close(model(x), model.head(model.snippet_features(x)).reshape(2, 3, -1).mean(1))
    diff = create_model("tsn", num_classes=5, segments=3, modality="rgb_diff", **SMALL).eval()
    x = clip_for(diff)  # 3 segments x 5 frames
    segments_swapped = x.reshape(2, 3, 3, 5, 64, 64)[:, :, [1, 2, 0]].reshape(x.shape)
    torch.testing.assert_close(diff(segments_swapped), diff(x))
    frames_reversed = x.reshape(2, 3, 3, 5, 64, 64).flip(3).reshape(x.shape)  # motion backwards
    assert not torch.allclose(diff(frames_reversed), diff(x))


def test_rgb_difference_stacks_consecutive_differences():
    frames = torch.arange(5, dtype=torch.float32).view(1, 1, 5, 1, 1).expand(1, 3, 5, 2, 2) ** 2
    d = rgb_difference(frames)
    assert d.shape == (1, 12, 2, 2)
    torch.testing.assert_close(d[0, ::3, 0, 0], torch.tensor([1.0, 3.0, 5.0, 7.0]))


def test_cross_modality_initialisation_averages_the_rgb_filters():
    rgb = create_model("tsn", num_classes=5, **SMALL)
    flow = create_model("tsn", num_classes=5, modality="flow", **SMALL)
    state = cross_modality_init(rgb.state_dict(), flow)
    flow.load_state_dict(state)
    w_rgb = rgb.base.features.Conv_1a[0].weight
    w_flow = flow.base.features.Conv_1a[0].weight
    assert w_flow.shape[1] == 10
    torch.testing.assert_close(w_flow, w_rgb.mean(1, keepdim=True).expand_as(w_flow))
    torch.testing.assert_close(flow.head.fc.weight, rgb.head.fc.weight)
    from paperzoo.errors import CheckpointError

    with pytest.raises(CheckpointError):
        cross_modality_init({}, flow)


def test_partial_bn_freezes_every_batch_norm_but_the_first():
    model = create_model("tsn", num_classes=5, **SMALL).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns[0].training and bns[0].weight.requires_grad
    assert not any(b.training or b.weight.requires_grad for b in bns[1:])
    before = [b.running_mean.clone() for b in bns]
    model(clip_for(model, 4))
    assert not torch.equal(bns[0].running_mean, before[0])
    assert all(torch.equal(b.running_mean, m) for b, m in zip(bns[1:], before[1:]))
    free = create_model("tsn", num_classes=5, partial_bn=False, **SMALL).train()
    assert all(m.training for m in free.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("dx, dy", [(2, 0), (-3, 1), (0, -2)])
def test_warping_is_exact_for_integer_shifts(dx, dy):
    image = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    moved = torch.roll(image, shifts=(-dy, -dx), dims=(2, 3))  # moved[y, x] = image[y + dy, x + dx]
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0], flow[:, 1] = -dx, -dy  # image[y, x] = moved[y - dy, x - dx]
    back = warp(moved, flow)
    rows = slice(max(dy, 0), 16 + min(dy, 0))
    cols = slice(max(dx, 0), 20 + min(dx, 0))
    torch.testing.assert_close(back[..., rows, cols], image[..., rows, cols], atol=1e-6, rtol=0)


def test_motion_loss_prefers_the_true_flow_and_descends_to_it():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 48, 48, generator=g)
    for _ in range(3):  # smooth, so the photometric loss is not too far from convex over a pixel or two
        base = F.avg_pool2d(base, 5, 1, 2, count_include_pad=False)
    base = (base - base.min()) / (base.max() - base.min())
    first, second = base[..., 8:40, 8:40], base[..., 8:40, 9:41]  # second[x] = first[x + 1]: content moves left
    frames = torch.stack([first, second], 2)
    true = torch.zeros(1, 2, 32, 32)
    true[:, 0] = -1
    assert motion_loss(frames, [true])[0] < motion_loss(frames, [torch.zeros_like(true)])[0]
    flow = torch.zeros(1, 2, 32, 32, requires_grad=True)
    opt = torch.optim.Adam([flow], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        motion_loss(frames, [flow])[0].backward()
        opt.step()
    flow = flow.detach()
    assert flow[0, 0, 8:24, 8:24].median().item() == pytest.approx(-1, abs=0.25)
    assert flow[0, 1, 8:24, 8:24].abs().median().item() < 0.25
    assert charbonnier(torch.zeros(1)).item() == pytest.approx(1e-6**0.4)


def test_motionnet_predicts_every_scale_and_starts_at_zero_flow():
    net = MotionNet(frames=4, width=0.125, levels=4)
    flows = net(torch.randn(2, 3, 4, 32, 32))
    assert [tuple(f.shape) for f in flows] == [(2, 6, 32, 32), (2, 6, 16, 16), (2, 6, 8, 8), (2, 6, 4, 4)]
    assert all(f.abs().max() == 0 for f in flows)
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 3, 4, 30, 30))


def test_hidden_two_stream_trains_motionnet_through_the_classifier():
    model = create_model("hidden_two_stream", num_classes=5, motion_width=0.125, levels=3, length=3, **SMALL)
    assert model.input_spec.inputs == ("rgb",) and model.input_spec.frames == 4
    x = clip_for(model)
    loss, parts = model.training_loss(x, torch.tensor([0, 1]))
    assert {"temporal_ce", "temporal_motion", "temporal_pixel", "temporal_smooth", "temporal_ssim"} <= set(parts)
    loss.backward()
    last = model.streams["temporal"].motionnet.predict[-1]
    assert last.weight.grad.abs().sum() > 0


def test_motion_pretraining_trains_motionnet_alone_then_everything():
    """The paper's schedule: MotionNet on L_motion first (classifier untouched), then end to end."""
    model = create_model("hidden_temporal", num_classes=5, motion_width=0.125, levels=3, length=3, motion_pretrain_steps=2, **SMALL)
    x, y = clip_for(model), torch.tensor([0, 1])
    for step in range(3):
        model.zero_grad()
        loss, parts = model.training_loss(x, y, step=step)  # the video task passes its global step
        loss.backward()
        classifier_grad = sum(p.grad.abs().sum() for p in model.temporal.parameters() if p.grad is not None)
        motion_grad = model.motionnet.predict[-1].weight.grad.abs().sum()
        assert motion_grad > 0
        if step < 2:
            assert classifier_grad == 0 and loss.item() == pytest.approx(parts["motion"].item())
        else:
            assert classifier_grad > 0 and loss.item() == pytest.approx((parts["ce"] + parts["motion"]).item(), rel=1e-5)
    assert "motion_steps_done" not in model.state_dict()  # the schedule is the task's clock, not model state


def _motionnet_gradient(classifier_grad: float, *, motion_only: bool = False):
    """MotionNet's gradient from one training loss (or from its own loss alone), same weights and clip."""
    from paperzoo.video.motionnet import denormalize

    torch.manual_seed(0)
    model = create_model("hidden_temporal", num_classes=5, motion_width=0.125, levels=3, length=3, dropout=0.0,
                         classifier_grad=classifier_grad, **SMALL)
    for p in model.motionnet.predict.parameters():  # leave the zero-flow start, so flow reaches the classifier
        torch.nn.init.normal_(p, std=0.01)
    x, y = clip_for(model), torch.tensor([0, 1])
    if motion_only:
        motion_loss(denormalize(x), model.motionnet(x), smooth=model.smooth_weight)[0].backward()
    else:
        loss, parts = model.training_loss(x, y)
        assert loss.item() == pytest.approx((parts["ce"] + parts["motion"]).item(), rel=1e-5)  # the values do not change
        loss.backward()
        assert sum(p.grad.abs().sum() for p in model.temporal.parameters()) > 0  # the ConvNet learns either way
    return torch.cat([p.grad.flatten() for p in model.motionnet.parameters()])


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_classifier_grad_scales_the_classifier_gradient_that_reaches_motionnet(scale):
    """classifier_grad 0: MotionNet learns from its own loss alone; 0.5: plus half the classifier's gradient."""
    own = _motionnet_gradient(1.0, motion_only=True)
    from_classifier = _motionnet_gradient(1.0) - own
    assert from_classifier.abs().max() > 1e-6
    torch.testing.assert_close(_motionnet_gradient(scale) - own, scale * from_classifier, rtol=1e-3, atol=1e-6)


def test_two_stream_i3d_has_an_rgb_and_a_two_channel_flow_i3d():
    model = create_model("two_stream_i3d", num_classes=400)
    rgb, flow = model.streams["rgb"], model.streams["flow"]
    assert model.input_spec.inputs == ("rgb", "flow") and model.input_spec.channels == 5
    assert rgb.features.Conv_1a[0].in_channels == 3 and flow.features.Conv_1a[0].in_channels == 2
    one_input_channel = 64 * 7 * 7 * 7
    assert count_parameters(model) == 2 * count_parameters(rgb) - one_input_channel
    small = create_model("two_stream_i3d", num_classes=5, width=0.125, frames=8, crop=32)
    assert small(clip_for(small)).shape == (2, 5)


def test_a_flow_tsn_starts_from_a_trained_rgb_tsn(tmp_path):
    import json

    from safetensors.torch import save_file

    from paperzoo.errors import CheckpointError

    options = {"num_classes": 5, **SMALL}
    rgb = create_model("tsn", **options)
    with torch.no_grad():
        rgb.base.features.Conv_1a[0].weight.normal_()
    export = tmp_path / "rgb_export"
    export.mkdir()
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(export / "model.safetensors"))
    (export / "card.json").write_text(json.dumps({"architecture": "tsn", "arguments": options}))
    flow = create_model("tsn", modality="flow", rgb_run=str(export), **options)
    w = rgb.base.features.Conv_1a[0].weight
    torch.testing.assert_close(flow.base.features.Conv_1a[0].weight, w.mean(1, keepdim=True).expand(-1, 10, -1, -1))
    diff_options = {**options, "modality": "rgb_diff"}
    save_file({k: v.contiguous() for k, v in create_model("tsn", **diff_options).state_dict().items()}, str(export / "model.safetensors"))
    (export / "card.json").write_text(json.dumps({"architecture": "tsn", "arguments": diff_options}))
    with pytest.raises(CheckpointError, match="RGB TSN"):
        create_model("tsn", modality="flow", rgb_run=str(export), **options)
