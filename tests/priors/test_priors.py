"""Gated PixelCNN prior: causality (no leak, no blind spot), conditioning, samplers, learning."""

import pytest
import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.priors import GatedPixelCNN, sample_fast, sample_naive


def conditioning(kind, h, w):
    """(model kwargs, labels, condition map) for the conditioning variants the causality tests cover."""
    if kind == "class":
        return {"num_classes": 3}, torch.tensor([1]), None
    if kind == "spatial":
        return {"cond_channels": 2}, None, torch.randn(1, 2, h, w, dtype=torch.float64)
    return {}, None, None


def raster_prefix(h, w, r, s):
    """Boolean (h, w) map of the positions before (r, s) in raster order."""
    earlier = torch.zeros(h, w, dtype=torch.bool)
    earlier.view(-1)[: r * w + s] = True
    return earlier


def dependency_map(model, h, w, r, s, labels=None, cond=None):
    """Which input positions the logits at (r, s) depend on, from the gradient wrt the embedded input."""
    x = torch.randn(1, model.embed.embedding_dim, h, w, dtype=torch.float64, requires_grad=True)
    model.forward_embedded(x, labels, cond)[:, :, r, s].sum().backward()
    return x.grad.abs().sum(1)[0] > 0


@pytest.mark.parametrize("kernel,layers", [(3, 6), (5, 3)])
@pytest.mark.parametrize("kind", ["none", "class", "spatial"])
def test_causal_without_blind_spot(kernel, layers, kind):
    torch.manual_seed(0)
    h = w = 6
    extra, labels, cond = conditioning(kind, h, w)
    model = GatedPixelCNN(num_codes=8, channels=8, layers=layers, kernel=kernel, **extra).double()
    for r in range(h):
        for s in range(w):
            seen = dependency_map(model, h, w, r, s, labels, cond)
            earlier = raster_prefix(h, w, r, s)
            assert not (seen & ~earlier).any(), f"({r},{s}) sees the current or a later position"
            # the receptive field covers every earlier position within (layers) rows, incl. upper right
            reach = torch.zeros(h, w, dtype=torch.bool)
            for rr in range(max(0, r - layers * (kernel // 2)), r + 1):
                reach[rr] = True
            assert torch.equal(seen, earlier & reach), f"blind spot at ({r},{s})"


def test_first_layer_alone_is_mask_a():
    """With the minimum depth, position (r, s) still never sees itself; (r, s-1) and (r-1, s+1) are seen."""
    model = GatedPixelCNN(num_codes=4, channels=4, layers=2, kernel=3).double()
    seen = dependency_map(model, 5, 5, 2, 2)
    assert not seen[2, 2] and seen[2, 1] and seen[1, 3] and not seen[2, 3] and not seen[3, 2]


def test_conditioning_changes_the_logits():
    torch.manual_seed(0)
    codes = torch.randint(0, 8, (2, 4, 4))
    model = GatedPixelCNN(num_codes=8, channels=8, layers=3, num_classes=4, cond_channels=2)
    cond = torch.randn(2, 2, 4, 4)
    a = model(codes, torch.tensor([0, 0]), cond)
    assert not torch.allclose(a, model(codes, torch.tensor([1, 1]), cond))
    assert not torch.allclose(a, model(codes, torch.tensor([0, 0]), cond + 1))


@pytest.mark.parametrize("options", [{}, {"temperature": 0.7, "top_k": 3}])
def test_fast_sampler_equals_naive(options):
    torch.manual_seed(1)
    model = GatedPixelCNN(num_codes=16, channels=16, layers=4, num_classes=3, cond_channels=2).double().eval()
    labels, cond = torch.tensor([0, 2, 1]), torch.randn(3, 2, 7, 5, dtype=torch.float64)
    a = sample_naive(model, (7, 5), 3, seed=11, labels=labels, cond=cond, **options)
    b = sample_fast(model, (7, 5), 3, seed=11, labels=labels, cond=cond, **options)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample_fast(model, (7, 5), 3, seed=12, labels=labels, cond=cond, **options))
    if options:  # top-k: every drawn code is among the k most likely at its position
        logits = model(a, labels, cond)
        topk = logits.topk(3, dim=1).indices
        assert (topk == a[:, None]).any(1).all()


def test_float32_fast_sampler_matches_too():
    torch.manual_seed(2)
    model = GatedPixelCNN(num_codes=32, channels=32, layers=5).eval()
    assert torch.equal(sample_naive(model, (6, 6), 4, seed=3), sample_fast(model, (6, 6), 4, seed=3))


def fit_constant_maps(model, side: int, steps: int) -> float:
    """Train on maps that repeat one random code (of 6) everywhere; returns the last loss (nats/code)."""
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(steps):
        loss = model.nll(torch.randint(0, 6, (32, 1, 1)).expand(32, side, side).contiguous())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_prior_learns_constant_maps():
    """Each training map is one code repeated: the prior must learn that the first code decides all."""
    torch.manual_seed(3)
    model = GatedPixelCNN(num_codes=6, channels=16, layers=4)
    loss = fit_constant_maps(model, 5, 150)
    assert loss < 0.1 * torch.log(torch.tensor(6.0)).item()  # far below the uniform 1.79 nats / 25
    samples = sample_fast(model.eval(), (5, 5), 8, seed=0, temperature=0.5)
    assert (samples == samples[:, :1, :1]).float().mean() > 0.95


def test_sampler_arguments():
    model = GatedPixelCNN(num_codes=4, channels=4, layers=2, num_classes=2)
    with pytest.raises(InvalidArgumentError, match="class-conditional"):
        sample_fast(model, (2, 2), 1)
    with pytest.raises(InvalidArgumentError, match="temperature"):
        sample_fast(model, (2, 2), 1, temperature=0, labels=torch.tensor([0]))


@pytest.mark.parametrize("kind", ["none", "class", "spatial"])
def test_pixelsnail_is_causal_and_attention_removes_the_blind_spot(kind):
    from paperzoo.priors import PixelSNAIL

    torch.manual_seed(0)
    h = w = 5
    extra, labels, cond = conditioning(kind, h, w)
    model = PixelSNAIL(num_codes=8, channels=8, blocks=2, res_per_block=1, heads=2, dropout=0.0, **extra).double().eval()
    for r in range(h):
        for s in range(w):
            seen = dependency_map(model, h, w, r, s, labels, cond)
            assert torch.equal(seen, raster_prefix(h, w, r, s)), f"({r},{s})"  # every earlier position, nothing else


def test_pixelsnail_without_attention_would_have_a_blind_spot():
    """The control for the test above: the masked convolutions alone miss the upper right."""
    from paperzoo.priors.pixelsnail import MaskedConv2d

    first, second = MaskedConv2d(1, 1, 3, False).double(), MaskedConv2d(1, 1, 3, True).double()
    x = torch.randn(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    second(torch.tanh(first(x)))[0, 0, 3, 1].backward()
    seen = x.grad[0, 0] != 0
    assert not seen[1, 4] and seen[2, 2]  # (r-2, s+3) unreachable, although earlier in raster order


def test_pixelsnail_samples_and_trains(tmp_path):
    from paperzoo.priors import PixelSNAIL, sample_codes

    torch.manual_seed(4)
    model = PixelSNAIL(num_codes=6, channels=16, blocks=1, res_per_block=1, heads=2, dropout=0.0)
    assert fit_constant_maps(model, 4, 100) < 0.5
    samples = sample_codes(model.eval(), (4, 4), 6, seed=1, temperature=0.5)
    assert samples.shape == (6, 4, 4) and (samples == samples[:, :1, :1]).float().mean() > 0.9


@pytest.mark.parametrize("conditioning, kernel", [("none", 3), ("class", 3), ("spatial", 3), ("none", 5)])
def test_pixelsnail_cached_sampler_equals_naive(conditioning, kernel):
    from paperzoo.priors import PixelSNAIL
    from paperzoo.priors.snail_sampler import sample_pixelsnail_fast

    torch.manual_seed(7)
    kw = {"class": {"num_classes": 3}, "spatial": {"cond_channels": 2}, "none": {}}[conditioning]
    model = PixelSNAIL(num_codes=7, channels=16, blocks=2, res_per_block=2, heads=2, dropout=0.1, kernel=kernel,
                       **kw).eval().double()
    labels = torch.tensor([0, 2, 1]) if conditioning == "class" else None
    cond = torch.randn(3, 2, 5, 4, dtype=torch.float64) if conditioning == "spatial" else None
    a = sample_naive(model, (5, 4), 3, seed=5, labels=labels, cond=cond, temperature=1.3)
    b = sample_pixelsnail_fast(model, (5, 4), 3, seed=5, labels=labels, cond=cond, temperature=1.3)
    assert torch.equal(a, b)
    assert len(torch.unique(a)) > 2  # a real draw, not a constant map
    with pytest.raises(ValueError, match="eval mode"):
        sample_pixelsnail_fast(model.train(), (5, 4), 3, labels=labels, cond=cond)


def test_codes_as_map_is_an_autoregressive_order_over_every_latent():
    """(B, G, h, w) -> (B, h*G, w) and back; in the map's raster order, latent g of a position comes after
    every latent of the image rows above, after latent g-1 of the same position, and right below it."""
    from paperzoo.priors.layout import codes_as_map, map_as_codes

    b, g, h, w = 2, 3, 4, 5
    codes = torch.randint(0, 50, (b, g, h, w))
    code_map = codes_as_map(codes)
    assert code_map.shape == (b, h * g, w) and torch.equal(map_as_codes(code_map, g), codes)
    # each latent's raster position in the map, indexed [g, i, j]
    order = map_as_codes(torch.arange(h * g * w).reshape(1, h * g, w), g)[0]
    assert torch.equal(order[1:] - order[:-1], torch.full((g - 1, h, w), w))  # latent g sits right below g-1
    assert order[:, 1:].min() > order[:, :1].max()  # image row i after all of row 0
    with pytest.raises(InvalidArgumentError, match="latents per position"):
        map_as_codes(code_map, 5)  # 12 rows are not 5 latents per position


def test_prior_over_several_latents_per_position_sees_the_earlier_latent():
    """Latent 1 of every position copies latent 0 (independent uniform otherwise): a prior on the map of
    ``codes_as_map`` must learn that, costing ~log 6 nats for latent 0 and ~0 for latent 1 (mean ~0.9)."""
    from paperzoo.priors.layout import codes_as_map

    torch.manual_seed(0)
    model = GatedPixelCNN(num_codes=6, channels=16, layers=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        first = torch.randint(0, 6, (32, 1, 4, 4))
        code_map = codes_as_map(torch.cat([first, first], dim=1))
        loss = model.nll(code_map)
        opt.zero_grad()
        loss.backward()
        opt.step()
    uniform = torch.log(torch.tensor(6.0)).item()
    assert loss.item() < 0.6 * uniform  # the copies are free: ~0.5 * log 6 = 0.9 nats, not 1.79
