"""Action-conditioned latent video prior: frames only see earlier frames, the action changes the
prediction, continuation keeps the given frames, and a toy motion is learned."""

from __future__ import annotations

import pytest
import torch

from paperzoo.vq.video_prior import LatentVideoPrior, fit_video_prior


def test_frame_t_depends_only_on_earlier_frames_and_its_own_earlier_positions():
    torch.manual_seed(0)
    prior = LatentVideoPrior(num_codes=8, actions=3, context=2, embed=4, channels=8, layers=3).eval()
    codes = torch.randint(0, 8, (1, 5, 4, 4))
    base = prior(codes, torch.tensor([1]))
    later = codes.clone()
    later[:, 3] = (later[:, 3] + 1) % 8  # change frame 3 entirely
    changed = prior(later, torch.tensor([1]))
    torch.testing.assert_close(changed[:, :3], base[:, :3])  # frames 0-2 do not see frame 3
    assert not torch.allclose(changed[:, 4], base[:, 4])  # frame 4 does (context)
    far = codes.clone()
    far[:, 0] = (far[:, 0] + 1) % 8
    torch.testing.assert_close(prior(far, torch.tensor([1]))[:, 3:], base[:, 3:])  # beyond the 2-frame context
    inside = codes.clone()
    inside[:, 2, 3, 3] = (inside[:, 2, 3, 3] + 1) % 8  # the last position of frame 2
    torch.testing.assert_close(prior(inside, torch.tensor([1]))[:, 2], base[:, 2])  # nothing in frame 2 sees it


def test_the_context_encoder_lets_a_position_see_its_neighbours_in_earlier_frames():
    torch.manual_seed(0)
    codes = torch.randint(0, 8, (1, 3, 4, 4))
    neighbour = codes.clone()
    neighbour[:, 1, 2, 3] = (neighbour[:, 1, 2, 3] + 1) % 8  # frame 1, one position right of (2, 2)
    for layers, sees in ((0, False), (2, True)):
        prior = LatentVideoPrior(num_codes=8, actions=3, context=1, embed=4, channels=8, layers=3, context_layers=layers).eval()
        a = torch.tensor([1])
        base, moved = prior(codes, a)[:, 2], prior(neighbour, a)[:, 2]  # frame 2's codes are the same: only context differs
        assert torch.allclose(base[..., 0, 0], moved[..., 0, 0])  # 3 columns from (2, 3): beyond 2 layers' 5x5 field
        assert (not torch.allclose(base[..., 2, 2], moved[..., 2, 2])) == sees  # a neighbour: seen only through the encoder


def test_the_action_changes_the_prediction():
    torch.manual_seed(0)
    prior = LatentVideoPrior(num_codes=8, actions=3, embed=4, channels=8, layers=3).eval()
    codes = torch.randint(0, 8, (2, 4, 4, 4))
    assert not torch.allclose(prior(codes, torch.tensor([0, 0])), prior(codes, torch.tensor([2, 2])))


def _moving_dot(action: int, frames: int = 6, size: int = 4) -> torch.Tensor:
    """Code maps of a single 'object' code 1 on background 0 moving right (0) or down (1), wrapping."""
    clip = torch.zeros(frames, size, size, dtype=torch.long)
    for t in range(frames):
        r, c = (0, t % size) if action == 0 else (t % size, 0)
        clip[t, r, c] = 1
    return clip


def test_continuation_keeps_the_given_frames_and_follows_a_learned_motion():
    codes = torch.stack([_moving_dot(a) for a in (0, 1)] * 8)
    actions = torch.tensor([0, 1] * 8)
    prior = fit_video_prior(codes, actions, 2, 2, steps=300, batch=16, lr=1e-2, context=1, embed=4, channels=16, layers=4)
    given = codes[:2, :3]
    out = prior.continue_clip(given, actions[:2], 3, temperature=0.1)
    assert out.shape == (2, 6, 4, 4)
    torch.testing.assert_close(out[:, :3], given)
    assert (out[:, 3:] == codes[:2, 3:]).float().mean() > 0.95  # the dot keeps moving the way its action says
    swapped = prior.continue_clip(given, actions[:2].flip(0), 3, temperature=0.1)
    assert not torch.equal(swapped[:, 3:], out[:, 3:])  # the action, not only the context, drives it


def test_one_step_prediction_from_the_true_past_is_continuation_by_one_frame():
    torch.manual_seed(0)
    prior = LatentVideoPrior(num_codes=8, actions=3, context=2, embed=4, channels=8, layers=3, context_layers=2).eval()
    codes, actions = torch.randint(0, 8, (3, 5, 4, 4)), torch.tensor([0, 2, 1])
    for top_k in (None, 1):
        one = prior.predict_next(codes, actions, 4, seed=0, top_k=top_k)
        torch.testing.assert_close(one, prior.continue_clip(codes[:, :4], actions, 1, seed=0, top_k=top_k)[:, 4:])
    steps = prior.predict_next(codes, actions, 2, top_k=1)  # frames 2, 3, 4, each from its own true past
    assert steps.shape == (3, 3, 4, 4)
    torch.testing.assert_close(steps[:, 1], prior.continue_clip(codes[:, :3], actions, 1, top_k=1)[:, 3])


def test_three_latents_carry_what_the_pixelcnn_decoder_cannot_guess():
    from paperzoo.vq.hierarchy import fit_compressor

    # first-level maps: one of 4 "scenes" (which code fills the map), plus per-map noise the 27 bits can skip
    g = torch.Generator().manual_seed(0)
    scene = torch.randint(0, 4, (256,), generator=g)
    maps = scene[:, None, None].expand(-1, 4, 4).clone()
    noise = torch.rand(256, 4, 4, generator=g) < 0.1
    maps[noise] = 4
    model = fit_compressor(maps, 5, steps=150, batch=64, lr=3e-3, num_codes=16, dim=8, hidden=16, channels=16, layers=3)
    latents = model.encode(maps[:32])
    assert latents.shape == (32, 3) and latents.max() < 16
    decoded = model.decode(latents, (4, 4), temperature=0.1)
    majority = decoded.flatten(1).mode(1).values
    assert (majority == scene[:32]).float().mean() > 0.9  # the scene survives 3 codes, the noise need not


def test_change_weight_weights_only_the_codes_that_change():
    """``nll(change_weight=w)``: the weighted mean of the per-code NLL, weight w where a code differs from the
    previous frame's code at its position (frame 0 never counts as changed), 1 elsewhere."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    prior = LatentVideoPrior(num_codes=8, actions=3, embed=4, channels=8, layers=3).eval()
    codes, actions = torch.randint(0, 3, (2, 4, 4, 4)), torch.tensor([0, 2])
    with torch.no_grad():
        per_code = F.cross_entropy(prior(codes, actions)[:, 1:].flatten(0, 1), codes[:, 1:].flatten(0, 1), reduction="none")
        changed = (codes[:, 1:] != codes[:, :-1]).flatten(0, 1)
        weight = torch.where(changed, 5.0, 1.0)
        torch.testing.assert_close(prior.nll(codes, actions, first=1, change_weight=5.0), (per_code * weight).sum() / weight.sum())
        torch.testing.assert_close(prior.nll(codes, actions, first=1, change_weight=1.0), per_code.mean())
        still = codes[:, :1].expand(-1, 4, -1, -1)  # nothing changes: every weight is 1
        torch.testing.assert_close(prior.nll(still, actions, change_weight=5.0), prior.nll(still, actions))
    with pytest.raises(ValueError, match="change_weight"):
        fit_video_prior(codes, actions, 8, 3, steps=1, change_weight=0.5)


def test_a_logged_fit_prints_its_learning_curve_and_learns_the_same(capsys):
    codes = torch.randint(0, 4, (8, 3, 2, 2))
    actions = torch.zeros(8, dtype=torch.long)
    quiet = fit_video_prior(codes, actions, 4, 1, steps=5, batch=4, channels=8, layers=2, embed=4)
    logged = fit_video_prior(codes, actions, 4, 1, steps=5, batch=4, channels=8, layers=2, embed=4, log_every=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]  # every 2 steps and the last
    assert all(float(line.split()[3]) > 0 for line in lines)
    for a, b in zip(quiet.state_dict().values(), logged.state_dict().values()):
        assert torch.equal(a, b)  # logging reads the loss, it does not change the fit
