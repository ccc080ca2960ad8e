"""The margin losses: conventions at the kinks, closed-form derivatives, traits checked numerically."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from paperzoo.errors import InvalidArgumentError
from paperzoo.losses import (
    MARGIN_LOSSES,
    DWDMarginLoss,
    ExpLoss,
    L1HingeLoss,
    L2HingeLoss,
    L2MarginLoss,
    LogitMarginLoss,
    ModifiedHuberLoss,
    PerceptronLoss,
    SigmoidLoss,
    SmoothedL1HingeLoss,
    ZeroOneLoss,
    get_margin_loss,
)

# every loss, parametrised ones at more than one setting
ALL = [
    ZeroOneLoss(), PerceptronLoss(), L1HingeLoss(), SmoothedL1HingeLoss(0.5), SmoothedL1HingeLoss(2.0),
    ModifiedHuberLoss(), DWDMarginLoss(1.0), DWDMarginLoss(0.5), DWDMarginLoss(3.0), L2MarginLoss(),
    L2HingeLoss(), SigmoidLoss(), LogitMarginLoss(), ExpLoss(),
]
IDS = [repr(loss) for loss in ALL]
SMOOTH_ENOUGH = [loss for loss in ALL if not isinstance(loss, ZeroOneLoss)]  # psi has a usable gradient


def far_from_kinks(loss, a, eps=1e-3):
    keep = np.ones_like(a, dtype=bool)
    for k in loss.kinks():
        keep &= np.abs(a - k) > eps
    return keep


def away_from_kinks(loss, a, eps=1e-3):
    return a[far_from_kinks(loss, a, eps)]


GRID = np.linspace(-4, 4, 4001)


# --- values: the conventions of the issue, at and around each kink -----------------------------------

CASES = [
    (ZeroOneLoss(), [(-1e-12, 1), (0.0, 0), (1e-12, 0), (-3, 1), (3, 0)]),
    (PerceptronLoss(), [(-2, 2), (0, 0), (1e-9, 0), (2, 0)]),
    (L1HingeLoss(), [(0, 1), (1, 0), (1 - 1e-9, 1e-9), (2, 0), (-1, 2)]),
    # gamma = 0.5: quadratic on [0.5, 1], linear 1 - 0.25 - a below 0.5; both give 0.25 at 0.5
    (SmoothedL1HingeLoss(0.5), [(0.5, 0.25), (0.75, 0.0625), (1, 0), (0, 0.75), (-1, 1.75), (2, 0)]),
    (ModifiedHuberLoss(), [(-1, 4), (-2, 8), (0, 1), (1, 0), (3, 0), (-1 - 1e-9, 4 + 4e-9)]),
    # q = 1: linear up to 1/2 (value 1/2 there), then 1 / (4 a)
    (DWDMarginLoss(1.0), [(0.5, 0.5), (1, 0.25), (2, 0.125), (-1, 2)]),
    (DWDMarginLoss(2.0), [(2 / 3, 1 / 3), (1, 4 / 27), (0, 1)]),
    (L2MarginLoss(), [(1, 0), (3, 4), (-1, 4), (0, 1)]),
    (L2HingeLoss(), [(1, 0), (3, 0), (-1, 4), (0, 1)]),
    (SigmoidLoss(), [(0, 1), (50, 0), (-50, 2)]),
    (LogitMarginLoss(), [(0, math.log(2)), (-1000, 1000), (1000, 0), (40, math.exp(-40))]),
    (ExpLoss(), [(0, 1), (1, math.exp(-1)), (-2, math.exp(2))]),
]


@pytest.mark.parametrize("loss,cases", CASES, ids=[repr(c[0]) for c in CASES])
def test_values_follow_the_conventions(loss, cases):
    a = np.array([c[0] for c in cases], dtype=np.float64)
    expected = np.array([c[1] for c in cases], dtype=np.float64)
    np.testing.assert_allclose(loss.psi(a), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss.psi(torch.from_numpy(a)).numpy(), expected, rtol=1e-9, atol=1e-12)


def test_logit_margin_is_stable_in_float32():
    a = torch.tensor([-200.0, -30.0, 0.0, 30.0, 200.0])
    value = LogitMarginLoss().psi(a)
    assert torch.isfinite(value).all()
    assert value[0].item() == pytest.approx(200.0) and value[-1].item() >= 0
    assert torch.isfinite(LogitMarginLoss().dpsi(a)).all()


def test_modified_huber_is_four_times_smoothed_hinge_with_gamma_2():
    np.testing.assert_allclose(ModifiedHuberLoss().psi(GRID), 4 * SmoothedL1HingeLoss(2.0).psi(GRID), atol=1e-12)
    np.testing.assert_allclose(ModifiedHuberLoss().dpsi(GRID), 4 * SmoothedL1HingeLoss(2.0).dpsi(GRID), atol=1e-12)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_continuous_losses_have_no_jumps(loss):
    if isinstance(loss, ZeroOneLoss):
        return
    for k in loss.kinks():
        left, right = loss.psi(np.array([k - 1e-9, k + 1e-9]))
        assert abs(left - right) < 1e-6


# --- derivatives: closed form vs autograd vs finite differences -----------------------------------


@pytest.mark.parametrize("loss", SMOOTH_ENOUGH, ids=[repr(x) for x in SMOOTH_ENOUGH])
def test_dpsi_and_d2psi_match_autograd_away_from_kinks(loss):
    a = torch.from_numpy(away_from_kinks(loss, GRID)).requires_grad_(True)
    (first,) = torch.autograd.grad(loss.psi(a).sum(), a, create_graph=True)
    torch.testing.assert_close(first.detach(), loss.dpsi(a.detach()), rtol=1e-10, atol=1e-12)
    if first.requires_grad:  # piecewise-linear losses have a constant first derivative
        (second,) = torch.autograd.grad(first.sum(), a)
        torch.testing.assert_close(second, loss.d2psi(a.detach()), rtol=1e-8, atol=1e-10)
    else:
        assert torch.all(loss.d2psi(a.detach()) == 0)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_derivatives_match_central_differences(loss):
    a = away_from_kinks(loss, GRID, eps=1e-2)
    h = 1e-6
    fd1 = (loss.psi(a + h) - loss.psi(a - h)) / (2 * h)
    np.testing.assert_allclose(loss.dpsi(a), fd1, rtol=1e-5, atol=1e-6)
    fd2 = (loss.dpsi(a + h) - loss.dpsi(a - h)) / (2 * h)
    np.testing.assert_allclose(loss.d2psi(a), fd2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_derivatives_at_kinks_are_right_sided(loss):
    """The documented rule: at a kink, psi' and psi'' are the limits from the right."""
    for k in loss.kinks():
        at, right = np.array([k]), np.array([k + 1e-9])
        np.testing.assert_allclose(loss.dpsi(at), loss.dpsi(right), atol=1e-6)
        np.testing.assert_allclose(loss.d2psi(at), loss.d2psi(right), atol=1e-6)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_output_target_form_and_autograd_of_the_loss(loss):
    gen = torch.Generator().manual_seed(0)
    output = torch.randn(500, generator=gen, dtype=torch.float64) * 2
    target = torch.where(torch.rand(500, generator=gen) < 0.5, -1.0, 1.0).double()
    # value / deriv / deriv2 in the (output, target) form
    a = output * target
    torch.testing.assert_close(loss.value(output, target), loss.psi(a))
    torch.testing.assert_close(loss.deriv(output, target), target * loss.dpsi(a))
    torch.testing.assert_close(loss.deriv2(output, target), loss.d2psi(a))
    # __call__'s closed-form backward == the closed form, for every reduction
    for reduction, scale in (("sum", 1.0), ("mean", 1 / 500)):
        out = output.clone().requires_grad_(True)
        loss(out, target, reduction=reduction).backward()
        torch.testing.assert_close(out.grad, scale * loss.deriv(output, target))
    if loss in SMOOTH_ENOUGH:  # ... and equals plain autograd through psi away from kinks
        keep = torch.from_numpy(far_from_kinks(loss, a.numpy()))
        out = output.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(loss.psi(out * target).sum(), out)
        torch.testing.assert_close(auto[keep], loss.deriv(output, target)[keep])


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_numpy_and_torch_agree(loss):
    a = GRID
    t = torch.from_numpy(a)
    for name in ("psi", "dpsi", "d2psi"):
        np.testing.assert_allclose(getattr(loss, name)(a), getattr(loss, name)(t).numpy(), rtol=1e-12, atol=1e-12)
    assert loss.psi(np.float32(0.5) * np.ones(3, np.float32)).dtype == np.float32


def test_reductions_and_weights():
    loss = L1HingeLoss()
    output = torch.tensor([2.0, 0.5, -1.0, 0.0])
    target = torch.tensor([1.0, 1.0, 1.0, -1.0])
    elementwise = torch.tensor([0.0, 0.5, 2.0, 1.0])
    torch.testing.assert_close(loss(output, target, reduction="none"), elementwise)
    torch.testing.assert_close(loss(output, target, reduction="sum"), elementwise.sum())
    torch.testing.assert_close(loss(output, target), elementwise.mean())
    w = torch.tensor([1.0, 2.0, 0.0, 1.0])
    torch.testing.assert_close(loss(output, target, reduction="sum", weights=w), (w * elementwise).sum())
    torch.testing.assert_close(loss(output, target, reduction="mean", weights=w), (w * elementwise).sum() / w.sum())
    torch.testing.assert_close(loss(output, target, reduction="none", weights=w), w * elementwise)
    # numpy gives the same numbers
    assert loss(output.numpy(), target.numpy(), reduction="mean", weights=w.numpy()) == pytest.approx(2.0 / 4.0)
    # weighted gradients still flow
    out = output.clone().requires_grad_(True)
    loss(out, target, reduction="sum", weights=w).backward()
    torch.testing.assert_close(out.grad, w * loss.deriv(output, target))


# --- traits, each checked numerically -------------------------------------------------------------

RNG = np.random.default_rng(0)
X, Y, T = RNG.uniform(-5, 5, 20000), RNG.uniform(-5, 5, 20000), RNG.uniform(0, 1, 20000)


def chord_gap(loss, x=X, y=Y, t=T):
    """t psi(x) + (1-t) psi(y) - psi(t x + (1-t) y): >= 0 everywhere iff convex (on the sample)."""
    return t * loss.psi(x) + (1 - t) * loss.psi(y) - loss.psi(t * x + (1 - t) * y)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_convexity_traits(loss):
    gap = chord_gap(loss)
    if loss.convex:
        assert gap.min() >= -1e-9
    else:
        assert gap.min() < -1e-3
    # strictly convex: no chord lies on the graph; not strictly: some chord does (a linear piece)
    x, y = np.full(200, -4.0), np.linspace(-3.9, 4, 200)
    flat = chord_gap(loss, x, y, np.full(200, 0.5))
    flat2 = chord_gap(loss, np.full(200, 1.5), np.linspace(1.6, 6, 200), np.full(200, 0.5))
    if loss.strictly_convex:
        assert gap[np.abs(X - Y) > 1e-3].min() > 0
    elif loss.convex:
        assert min(np.abs(flat).min(), np.abs(flat2).min()) < 1e-12
    # strongly convex with modulus m: the gap is at least m/2 t (1-t) (x-y)^2
    if loss.strongly_convex:
        m = loss.strong_convexity_modulus
        assert (gap - 0.5 * m * T * (1 - T) * (X - Y) ** 2).min() >= -1e-9
    else:  # inf psi'' over a wide range is 0: no positive modulus works
        wide = np.linspace(-40, 40, 8001)
        assert loss.d2psi(away_from_kinks(loss, wide)).min() < 1e-6


def slopes(loss, x, y):
    keep = np.abs(x - y) > 0
    return np.abs(loss.psi(x[keep]) - loss.psi(y[keep])) / np.abs(x[keep] - y[keep])


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_lipschitz_traits(loss):
    wide_x, wide_y = RNG.uniform(-60, 60, 20000), RNG.uniform(-60, 60, 20000)
    kinks = np.array(loss.kinks() or (0.0,))
    straddle_x, straddle_y = kinks - 1e-8, kinks + 1e-8  # pairs across each kink
    s_wide = slopes(loss, np.concatenate([wide_x, X, straddle_x]), np.concatenate([wide_y, X + 1e-4, straddle_y]))
    if loss.lipschitz_continuous:
        L = loss.lipschitz_constant
        assert s_wide.max() <= L * (1 + 1e-6)
        assert s_wide.max() >= 0.95 * L  # and the constant is tight
    else:
        assert s_wide.max() > 10
    # locally Lipschitz: slopes bounded on a compact set; ZeroOne jumps, so its slopes explode at 0
    s_local = slopes(loss, np.concatenate([X, straddle_x]), np.concatenate([Y, straddle_y]))
    if loss.locally_lipschitz_continuous:
        assert s_local.max() < 1e3
    else:
        assert s_local.max() > 1e5


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_differentiability_traits(loss):
    """Left and right difference quotients agree at every kink iff differentiable (same for psi')."""
    h = 1e-7

    def one_sided_gap(f, k):
        left = (f(np.array([k])) - f(np.array([k - h]))) / h
        right = (f(np.array([k + h])) - f(np.array([k]))) / h
        return float(abs(left - right)[0])

    first = [one_sided_gap(loss.psi, k) for k in loss.kinks()]
    second = [one_sided_gap(loss.dpsi, k) for k in loss.kinks()]
    if loss.differentiable:
        assert all(g < 1e-4 for g in first)
    else:
        assert any(g > 0.5 for g in first)
    if loss.twice_differentiable:
        assert all(g < 1e-4 for g in second)
    else:
        assert any(g > 0.1 for g in first + second)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_clipable_trait(loss):
    """Clipable at M: clipping the output into [-M, M] never increases the loss, for either target."""

    def clip_never_hurts(M):
        beyond = np.linspace(M, M + 50, 5001)
        return bool((loss.psi(beyond) >= loss.psi(np.array([M])) - 1e-12).all()
                    and (loss.psi(-beyond) >= loss.psi(np.array([-M])) - 1e-12).all())

    if loss.clipable:
        assert clip_never_hurts(loss.clip_threshold)
    else:
        assert not any(clip_never_hurts(M) for M in (0.5, 1.0, 2.0, 5.0))


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_classification_calibration(loss):
    """Bartlett, Jordan & McAuliffe (2006): for eta != 1/2 the conditional risk
    C(f) = eta psi(f) + (1 - eta) psi(-f) has a strictly smaller infimum on the Bayes side f > 0 than
    on f <= 0. For convex losses this is equivalent to psi'(0) existing and being < 0."""
    f = np.concatenate([np.linspace(-30, 30, 60001), [0.0]])
    verdicts = []
    for eta in (0.55, 0.75, 0.95):
        risk = eta * loss.psi(f) + (1 - eta) * loss.psi(-f)
        verdicts.append(risk[f > 0].min() < risk[f <= 0].min() - 1e-9)
    assert all(verdicts) == loss.classification_calibrated
    if loss.convex:
        differentiable_at_0 = 0.0 not in loss.kinks()
        assert loss.classification_calibrated == (differentiable_at_0 and loss.dpsi(np.array([0.0]))[0] < 0)


@pytest.mark.parametrize("loss", ALL, ids=IDS)
def test_margin_based(loss):
    assert loss.margin_based
    o = RNG.normal(size=100) * 3
    t = np.where(RNG.uniform(size=100) < 0.5, -1.0, 1.0)
    np.testing.assert_array_equal(loss.value(o, t), loss.value(-o, -t))
    np.testing.assert_array_equal(loss.value(o, t), loss.psi(o * t))
    assert set(loss.traits()) >= {"convex", "clipable", "classification_calibrated", "margin_based"}


# --- hypothesis: properties on arbitrary inputs ------------------------------------------------------

finite = st.floats(min_value=-60, max_value=60, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(a=st.lists(finite, min_size=1, max_size=20), which=st.sampled_from(ALL))
def test_losses_are_finite_nonnegative_and_nonincreasing(a, which):
    a = np.array(a)
    value, slope = which.psi(a), which.dpsi(a)
    assert np.isfinite(value).all()
    assert (value >= 0).all()
    if not isinstance(which, L2MarginLoss):  # every loss but L2Margin never rewards a smaller margin
        assert (slope <= 0).all()


@settings(max_examples=100, deadline=None)
@given(output=st.lists(finite, min_size=1, max_size=20), flip=st.booleans(), which=st.sampled_from(ALL))
def test_torch_path_equals_numpy_path(output, flip, which):
    o = np.array(output)
    t = np.where(np.arange(len(o)) % 2 == int(flip), 1.0, -1.0)
    ours = which(torch.from_numpy(o), torch.from_numpy(t), reduction="none").numpy()
    np.testing.assert_allclose(ours, which(o, t, reduction="none"), rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(gamma=st.floats(min_value=1e-3, max_value=10), a=finite)
def test_smoothed_hinge_is_between_hinge_and_shifted_hinge(gamma, a):
    """0 <= hinge - smoothed <= gamma / 2, with equality away from the rounded corner."""
    diff = L1HingeLoss().psi(np.array([a])) - SmoothedL1HingeLoss(gamma).psi(np.array([a]))
    assert -1e-9 <= diff[0] <= gamma / 2 + 1e-9


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: SmoothedL1HingeLoss(0), lambda: SmoothedL1HingeLoss(-1),
                                  lambda: DWDMarginLoss(0), lambda: DWDMarginLoss(-2),
                                  lambda: DWDMarginLoss(float("nan")), lambda: SmoothedL1HingeLoss(float("inf"))])
def test_bad_parameters_raise(make):
    with pytest.raises(InvalidArgumentError, match="must be a finite number > 0"):
        make()


@pytest.mark.parametrize("bad", [[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5]])
def test_targets_must_be_plus_minus_one(bad):
    for fn in (lambda o, t: L1HingeLoss()(o, t), L1HingeLoss().value, L1HingeLoss().deriv):
        with pytest.raises(InvalidArgumentError, match="-1 or \\+1"):
            fn(torch.zeros(2), torch.tensor(bad))
        with pytest.raises(InvalidArgumentError, match="-1 or \\+1"):
            fn(np.zeros(2), np.array(bad))


def test_get_margin_loss_and_errors():
    assert get_margin_loss("DWDMarginLoss", q=2.0) == DWDMarginLoss(2.0)
    assert set(MARGIN_LOSSES) == {type(x).__name__ for x in ALL}
    with pytest.raises(InvalidArgumentError, match="unknown margin loss"):
        get_margin_loss("HingeLoss2")
    with pytest.raises(InvalidArgumentError, match="takes no parameters"):
        get_margin_loss("ExpLoss", q=1)
    with pytest.raises(InvalidArgumentError, match="reduction"):
        L1HingeLoss()(torch.zeros(2), torch.ones(2), reduction="avg")


@pytest.mark.parametrize("loss", [L1HingeLoss(), L2MarginLoss(), LogitMarginLoss(), DWDMarginLoss(2.0)], ids=repr)
def test_chunked_fast_path_equals_the_plain_formula(loss):
    """Tensors longer than CHUNK go through the chunked forward/backward: same values and gradients."""
    from paperzoo.losses.margin import CHUNK

    n = 2 * CHUNK + 12345
    gen = torch.Generator().manual_seed(1)
    output = torch.randn(n, generator=gen, dtype=torch.float64) * 3
    target = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    plain = loss.psi(output * target)
    for reduction, expected, scale in (("sum", plain.sum(), 1.0), ("mean", plain.mean(), 1 / n), ("none", plain, None)):
        out = output.clone().requires_grad_(True)
        value = loss(out, target, reduction=reduction)
        torch.testing.assert_close(value, expected)
        value.sum().backward()
        torch.testing.assert_close(out.grad, (scale or 1.0) * target * loss.dpsi(output * target))
    target[-1] = 0.0  # a bad target in the last chunk is still caught
    with pytest.raises(InvalidArgumentError, match="got 0.0"):
        loss(output, target)
