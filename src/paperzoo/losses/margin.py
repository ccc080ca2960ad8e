"""The margin-based classification losses of the "Margin-based Loss" post (000_*.txt).

A margin-based loss depends on the prediction ``output = f(x)`` and the target ``y`` in {-1, +1}
only through the *agreement* ``a = y * f(x)``::

    L(output, target) = psi(target * output)                       (post: V(f(x), y) = phi(y f(x)))

Definitions and argument order follow JuliaML LossFunctions.jl, the reference library of the post:

================================  =============================================================
class                             psi(a)
================================  =============================================================
ZeroOneLoss                       1 if a < 0 else 0               (so psi(0) = 0)
PerceptronLoss                    max(0, -a)
L1HingeLoss                       max(0, 1 - a)
SmoothedL1HingeLoss(gamma > 0)    0.5/gamma * max(0, 1-a)^2  if a >= 1 - gamma, else 1 - gamma/2 - a
ModifiedHuberLoss                 max(0, 1-a)^2 if a >= -1, else -4a      (= 4 * SmoothedL1Hinge(2))
DWDMarginLoss(q > 0)              1 - a if a <= q/(q+1), else q^q / ((q+1)^(q+1) a^q)
L2MarginLoss                      (1 - a)^2
L2HingeLoss                       max(0, 1 - a)^2
SigmoidLoss                       1 - tanh(a)
LogitMarginLoss                   log(1 + exp(-a)), computed as softplus(-a) (no overflow)
ExpLoss                           exp(-a)
================================  =============================================================

Conventions (they differ between libraries, so they are written down here once):

* argument order is ``(output, target)``; targets must be exactly -1 or +1 (``InvalidArgumentError``
  otherwise — a 0/1 encoding would silently turn every negative example into a zero-loss one);
* derivatives are with respect to the *output*: ``deriv = target * psi'(a)`` and
  ``deriv2 = target^2 * psi''(a) = psi''(a)``;
* at a kink (a point where psi' or psi'' jumps) the derivative returned is the one-sided derivative
  from the right, lim_{t -> a+}. For a convex psi the right derivative is always a subgradient, so
  subgradient methods are correct with it. LossFunctions.jl mixes sides (e.g. ModifiedHuber
  psi''(1) = 2 but L2Hinge psi''(1) = 0); here every loss uses the same rule;
* ZeroOne is piecewise constant: its derivative is 0 everywhere it exists (and, by the rule above,
  at a = 0 too).

Traits (``convex`` ... ``margin_based``) are derived from the definitions, not copied; the tests
check each one numerically. Where the sources disagree with the derivation, the class docstring
says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from paperzoo.errors import InvalidArgumentError

__all__ = [
    "MarginLoss",
    "ZeroOneLoss",
    "PerceptronLoss",
    "L1HingeLoss",
    "SmoothedL1HingeLoss",
    "ModifiedHuberLoss",
    "DWDMarginLoss",
    "L2MarginLoss",
    "L2HingeLoss",
    "SigmoidLoss",
    "LogitMarginLoss",
    "ExpLoss",
    "MARGIN_LOSSES",
    "get_margin_loss",
]

TRAIT_NAMES = (
    "convex",
    "strictly_convex",
    "strongly_convex",
    "differentiable",
    "twice_differentiable",
    "lipschitz_continuous",
    "locally_lipschitz_continuous",
    "clipable",
    "classification_calibrated",
    "margin_based",
)


# --- one small set of elementwise ops for torch tensors and numpy arrays --------------------------


class _TorchOps:
    where = staticmethod(torch.where)
    exp = staticmethod(torch.exp)
    tanh = staticmethod(torch.tanh)
    sigmoid = staticmethod(torch.sigmoid)

    @staticmethod
    def softplus(x):
        # log(1 + e^x) without F.softplus's linear cut-off above 20 (a 1e-9 relative error)
        return torch.logaddexp(x, x.new_zeros(()))
    relu = staticmethod(torch.relu)
    full_like = staticmethod(torch.full_like)

    @staticmethod
    def cast(mask, like):
        return mask.to(like.dtype)


class _NumpyOps:
    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    tanh = staticmethod(np.tanh)
    sigmoid = staticmethod(scipy.special.expit)
    full_like = staticmethod(np.full_like)

    @staticmethod
    def softplus(x):
        return np.logaddexp(0.0, x)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0.0)

    @staticmethod
    def cast(mask, like):
        return mask.astype(like.dtype)


def _ops(a):
    return _TorchOps if isinstance(a, torch.Tensor) else _NumpyOps


def _as_array(x):
    """Tensors stay tensors; anything else becomes a floating numpy array."""
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise InvalidArgumentError(f"{name} must be a finite number > 0, got {value}")
    return value


# Large CPU tensors are processed in cache-sized chunks: every full-size temporary costs a fresh
# allocation (page faults) and a trip through memory, which made the plain elementwise version
# 2-3x slower than torch's fused built-ins. Chunk temporaries are reused from the heap and stay in
# cache. Other devices (GPU: caching allocator, one kernel per op) use whole tensors.
CHUNK = 1 << 19


def _chunks(*tensors):
    """Yield aligned slices of flattened tensors: whole tensors off-CPU or when small."""
    flat = [x.reshape(-1) for x in tensors]
    n = flat[0].numel()
    if flat[0].device.type != "cpu" or n <= CHUNK:
        yield 0, n, flat
        return
    for start in range(0, n, CHUNK):
        yield start, min(start + CHUNK, n), [x[start : start + CHUNK] for x in flat]


def check_targets(target) -> None:
    """Raise ``InvalidArgumentError`` unless every target is exactly -1 or +1."""
    if isinstance(target, torch.Tensor):
        ok = not any(bool(torch.any(t.abs() != 1)) for _, _, (t,) in _chunks(target))
    else:
        ok = bool(np.all(np.abs(np.asarray(target)) == 1))
    if not ok:
        bad = target[(target != 1) & (target != -1)]
        example = bad.reshape(-1)[0].item()
        raise InvalidArgumentError(
            f"margin-loss targets must be -1 or +1, got {example!r}; map 0/1 labels with y = 2*label - 1"
        )


class _MarginFunction(torch.autograd.Function):
    """psi(target * output) with the closed-form backward ``grad * target * psi'(a)``.

    ``scale`` is None for the elementwise loss, else the loss is ``scale * sum(psi)`` (fusing the
    reduction: no full-size loss tensor). The agreement is recomputed chunk by chunk in backward
    instead of being stored.
    """

    @staticmethod
    def forward(ctx, output, target, loss, scale):
        ctx.save_for_backward(output, target)
        ctx.loss, ctx.scale = loss, scale
        value = None if scale is not None else torch.empty_like(output)
        sums, bad = [], []
        for start, end, (o, t) in _chunks(output, target):
            bad.append(torch.any(t.abs() != 1))  # the target check, while the chunk is in cache
            if value is None:
                sums.append(loss._chunk_sum(o, t))
            else:
                value.view(-1)[start:end].copy_(loss.psi(o * t))
        if bool(torch.stack(bad).any()):
            check_targets(target)  # raises with an example of a bad value
        if value is None:
            return (torch.stack(sums).sum() * scale).to(output.dtype)
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        output, target = ctx.saved_tensors
        result = torch.empty_like(output)
        if ctx.scale is not None:
            factor = grad * ctx.scale
            for _, _, (o, t, r) in _chunks(output, target, result):
                ctx.loss._chunk_grad(o, t, factor, r)
        else:
            grad = grad.expand_as(output).contiguous()
            for _, _, (o, t, r, g) in _chunks(output, target, result, grad):
                ctx.loss._chunk_grad(o, t, g, r)
        return result, None, None, None


class MarginLoss:
    """Base class. Subclasses define ``psi``, ``dpsi``, ``d2psi`` on the agreement and the traits.

    Shapes: ``output`` any shape ``(*)``; ``target`` broadcastable to it, values in {-1, +1};
    ``value``/``deriv``/``deriv2`` return ``(*)``; ``__call__`` reduces (``"none" | "mean" | "sum"``,
    optionally weighted by ``weights`` of shape ``(*)``). Works on torch tensors (differentiable,
    closed-form backward) and numpy arrays (float64 unless given another float dtype).
    """

    # traits, derived per loss (see each class); the tests check them numerically
    convex = False
    strictly_convex = False
    strongly_convex = False
    differentiable = False
    twice_differentiable = False
    lipschitz_continuous = False
    locally_lipschitz_continuous = False
    clipable = False
    classification_calibrated = False
    margin_based = True
    # the numbers behind the traits: |psi(a) - psi(b)| <= L |a - b|; psi'' >= m; clipping the
    # output to [-M, M] never increases the loss
    lipschitz_constant: float | None = None
    strong_convexity_modulus: float | None = None
    clip_threshold: float | None = None

    # --- agreement form: psi(a), psi'(a), psi''(a) --------------------------------------------
    def psi(self, a):
        raise NotImplementedError

    def dpsi(self, a):
        raise NotImplementedError

    def d2psi(self, a):
        raise NotImplementedError

    def kinks(self) -> tuple[float, ...]:
        """Agreements where psi, psi' or psi'' is not continuous (derivatives are one-sided there)."""
        return ()

    # the two kernels of the torch fast path, on flat chunks; a loss may fuse them further
    def _chunk_sum(self, output, target):
        """sum psi(target * output), accumulated in float64."""
        return self.psi(output * target).sum(dtype=torch.float64)

    def _chunk_grad(self, output, target, factor, out) -> None:
        """out = factor * target * psi'(target * output)."""
        torch.mul(self.dpsi(output * target).mul_(target), factor, out=out)

    def traits(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in TRAIT_NAMES}

    # --- (output, target) form -------------------------------------------------------------------
    def agreement(self, output, target):
        output, target = _as_array(output), _as_array(target)
        check_targets(target)
        return output * target

    def value(self, output, target):
        return self.psi(self.agreement(output, target))

    def deriv(self, output, target):
        """dL/d(output) = target * psi'(target * output)."""
        target = _as_array(target)
        return target * self.dpsi(self.agreement(output, target))

    def deriv2(self, output, target):
        """d2L/d(output)^2 = target^2 * psi''(a) = psi''(a) for target in {-1, +1}."""
        return self.d2psi(self.agreement(output, target))

    def __call__(self, output, target, reduction: str = "mean", weights=None):
        if reduction not in ("none", "mean", "sum"):
            raise InvalidArgumentError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        output, target = _as_array(output), _as_array(target)
        if isinstance(output, torch.Tensor):  # targets are checked inside _MarginFunction
            target = torch.as_tensor(target, dtype=output.dtype, device=output.device)
            try:
                target = target.expand_as(output)
            except RuntimeError:
                raise InvalidArgumentError(
                    f"target shape {tuple(target.shape)} does not broadcast to output shape {tuple(output.shape)}"
                ) from None
            if weights is None and reduction != "none":
                scale = 1.0 / max(output.numel(), 1) if reduction == "mean" else 1.0
                return _MarginFunction.apply(output, target, self, scale)
            losses = _MarginFunction.apply(output, target, self, None)
        else:
            check_targets(target)
            losses = self.psi(output * target)
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=losses.dtype) if isinstance(losses, torch.Tensor) else np.asarray(weights)
            losses = losses * weights
            if reduction == "mean":
                return losses.sum() / weights.sum()
        if reduction == "none":
            return losses
        return losses.sum() if reduction == "sum" else losses.mean()

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self._params().items())))


class ZeroOneLoss(MarginLoss):
    """psi(a) = 1 if a < 0 else 0: the misclassification indicator; psi(0) = 0.

    Not convex, not continuous, clipable at any M > 0. Two traits differ from LossFunctions.jl:

    * it marks ZeroOne Lipschitz continuous; a function with a jump is not even continuous, so
      ``lipschitz_continuous`` and ``locally_lipschitz_continuous`` are False here;
    * it marks ZeroOne classification-calibrated. With the convention psi(0) = 0 the constant
      prediction f = 0 has zero loss for both classes, so the conditional risk is minimised off the
      Bayes side (Bartlett, Jordan & McAuliffe 2006's definition counts f = 0 as the wrong side):
      ``classification_calibrated`` is False. (With psi(0) = 1 it would be calibrated.)
    """

    clipable = True
    clip_threshold = 1.0

    def psi(self, a):
        o = _ops(a)
        return o.cast(a < 0, a)

    def dpsi(self, a):
        return _ops(a).full_like(a, 0.0)

    def d2psi(self, a):
        return _ops(a).full_like(a, 0.0)

    def kinks(self):
        return (0.0,)


class PerceptronLoss(MarginLoss):
    """psi(a) = max(0, -a). Convex, 1-Lipschitz, not strictly convex, clipable.

    Not classification-calibrated: the conditional risk eta*psi(f) + (1-eta)*psi(-f) is 0 at f = 0
    for every eta, so a minimiser need not have the Bayes sign (it is not differentiable at 0, the
    condition of Bartlett et al. 2006 for convex losses). LossFunctions.jl leaves this trait unset.
    """

    convex = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    clipable = True
    lipschitz_constant = 1.0
    clip_threshold = 1.0

    def psi(self, a):
        return _ops(a).relu(-a)

    def dpsi(self, a):
        return -_ops(a).cast(a < 0, a)

    def d2psi(self, a):
        return _ops(a).full_like(a, 0.0)

    def kinks(self):
        return (0.0,)


class L1HingeLoss(MarginLoss):
    """psi(a) = max(0, 1 - a), the SVM hinge. Convex, 1-Lipschitz, calibrated (psi'(0) = -1 < 0)."""

    convex = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    clipable = True
    classification_calibrated = True
    lipschitz_constant = 1.0
    clip_threshold = 1.0

    def psi(self, a):
        return _ops(a).relu(1 - a)

    def dpsi(self, a):
        return -_ops(a).cast(a < 1, a)

    def d2psi(self, a):
        return _ops(a).full_like(a, 0.0)

    def kinks(self):
        return (1.0,)


class SmoothedL1HingeLoss(MarginLoss):
    """psi(a) = 0.5/gamma * max(0, 1-a)^2 for a >= 1 - gamma, else 1 - gamma/2 - a  (gamma > 0).

    The hinge with its corner at a = 1 rounded off over a width gamma: differentiable, psi''
    jumps at 1 - gamma and 1 (so not twice differentiable), convex but not strictly, 1-Lipschitz,
    calibrated (psi'(0) = max(-1, -1/gamma) < 0). The post mentions a second parameter alpha; the
    reference library (and this class) has gamma only.
    """

    convex = True
    differentiable = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    clipable = True
    classification_calibrated = True
    lipschitz_constant = 1.0
    clip_threshold = 1.0

    def __init__(self, gamma: float = 1.0):
        self.gamma = _positive("gamma", gamma)

    def _params(self):
        return {"gamma": self.gamma}

    def psi(self, a):
        o, g = _ops(a), self.gamma
        return o.where(a >= 1 - g, (0.5 / g) * o.relu(1 - a) ** 2, (1 - g / 2) - a)

    def dpsi(self, a):
        o, g = _ops(a), self.gamma
        return o.where(a >= 1 - g, (a - 1) / g * o.cast(a < 1, a), o.full_like(a, -1.0))

    def d2psi(self, a):
        o = _ops(a)
        return o.cast((a >= 1 - self.gamma) & (a < 1), a) / self.gamma

    def kinks(self):
        return (1.0 - self.gamma, 1.0)


class ModifiedHuberLoss(MarginLoss):
    """psi(a) = max(0, 1-a)^2 for a >= -1, else -4a  (= 4 * SmoothedL1HingeLoss(gamma=2)).

    Differentiable, convex (not strictly), 4-Lipschitz, calibrated; psi'' jumps at -1 and 1.
    The post calls it "SmoothedL1Hinge with gamma = 2", which holds up to the factor 4.
    """

    convex = True
    differentiable = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    clipable = True
    classification_calibrated = True
    lipschitz_constant = 4.0
    clip_threshold = 1.0

    def psi(self, a):
        o = _ops(a)
        return o.where(a >= -1, o.relu(1 - a) ** 2, -4 * a)

    def dpsi(self, a):
        o = _ops(a)
        return o.where(a >= -1, 2 * (a - 1) * o.cast(a < 1, a), o.full_like(a, -4.0))

    def d2psi(self, a):
        return 2 * _ops(a).cast((a >= -1) & (a < 1), a)

    def kinks(self):
        return (-1.0, 1.0)


class DWDMarginLoss(MarginLoss):
    """Distance-weighted discrimination: psi(a) = 1 - a for a <= q/(q+1), else q^q / ((q+1)^(q+1) a^q).

    Differentiable (both pieces have slope -1 at the joint), convex but not strictly (linear left
    piece), 1-Lipschitz, calibrated (psi'(0) = -1). Two traits differ from LossFunctions.jl, which
    marks DWD twice differentiable and not clipable:

    * psi'' is 0 on the left of the joint a0 = q/(q+1) and (q+1)^2/q on its right, so psi is *not*
      twice differentiable at a0;
    * psi decreases strictly for every a, so no clipping threshold keeps the loss from rising:
      not clipable (this one agrees with LossFunctions.jl).
    """

    convex = True
    differentiable = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    classification_calibrated = True
    lipschitz_constant = 1.0

    def __init__(self, q: float = 1.0):
        self.q = _positive("q", q)

    def _params(self):
        return {"q": self.q}

    @property
    def joint(self) -> float:
        return self.q / (self.q + 1)

    def _right(self, a):
        # a on the right piece, and a harmless positive value elsewhere (a^q of a negative a is NaN,
        # and a NaN in the unused branch of `where` would still poison autograd)
        return _ops(a).where(a > self.joint, a, _ops(a).full_like(a, 1.0))

    def psi(self, a):
        q = self.q
        c = q**q / (q + 1) ** (q + 1)
        return _ops(a).where(a <= self.joint, 1 - a, c / self._right(a) ** q)

    def dpsi(self, a):
        q = self.q
        c = (q / (q + 1)) ** (q + 1)
        return _ops(a).where(a <= self.joint, _ops(a).full_like(a, -1.0), -c / self._right(a) ** (q + 1))

    def d2psi(self, a):
        q, o = self.q, _ops(a)
        c = q ** (q + 1) / (q + 1) ** q
        right = o.where(a >= self.joint, a, o.full_like(a, 1.0))
        return o.where(a >= self.joint, c / right ** (q + 2), o.full_like(a, 0.0))

    def kinks(self):
        return (self.joint,)


class L2MarginLoss(MarginLoss):
    """psi(a) = (1 - a)^2: least squares on +-1 labels (equal to (target - output)^2).

    Strongly convex (psi'' = 2), calibrated, clipable at 1. The post calls it Lipschitz continuous;
    its slope 2(a - 1) is unbounded, so it is only *locally* Lipschitz (as LossFunctions.jl says).
    """

    convex = True
    strictly_convex = True
    strongly_convex = True
    differentiable = True
    twice_differentiable = True
    locally_lipschitz_continuous = True
    clipable = True
    classification_calibrated = True
    strong_convexity_modulus = 2.0
    clip_threshold = 1.0

    def psi(self, a):
        return (1 - a) ** 2

    def dpsi(self, a):
        return 2 * (a - 1)

    def d2psi(self, a):
        return _ops(a).full_like(a, 2.0)

    # (1 - t o)^2 = (t - o)^2 and t (2 (t o - 1)) = 2 (o - t) for t = +-1: torch's fused squared error
    def _chunk_sum(self, output, target):
        return F.mse_loss(output, target, reduction="sum").double()

    def _chunk_grad(self, output, target, factor, out) -> None:
        torch.sub(output, target, out=out).mul_(2 * factor)


class L2HingeLoss(MarginLoss):
    """psi(a) = max(0, 1 - a)^2, the squared hinge. Differentiable, convex (flat for a >= 1, so not
    strictly), locally Lipschitz only, calibrated; psi'' jumps from 2 to 0 at a = 1."""

    convex = True
    differentiable = True
    locally_lipschitz_continuous = True
    clipable = True
    classification_calibrated = True
    clip_threshold = 1.0

    def psi(self, a):
        return _ops(a).relu(1 - a) ** 2

    def dpsi(self, a):
        return -2 * _ops(a).relu(1 - a)

    def d2psi(self, a):
        return 2 * _ops(a).cast(a < 1, a)

    def kinks(self):
        return (1.0,)


class SigmoidLoss(MarginLoss):
    """psi(a) = 1 - tanh(a), in (0, 2). Smooth, 1-Lipschitz (|psi'| = sech^2 <= 1), not convex,
    calibrated (the conditional risk 1 + (1 - 2 eta) tanh f is minimised on the Bayes side), and not
    clipable (strictly decreasing)."""

    differentiable = True
    twice_differentiable = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    classification_calibrated = True
    lipschitz_constant = 1.0

    def psi(self, a):
        return 1 - _ops(a).tanh(a)

    def dpsi(self, a):
        return _ops(a).tanh(a) ** 2 - 1

    def d2psi(self, a):
        t = _ops(a).tanh(a)
        return 2 * t * (1 - t**2)


class LogitMarginLoss(MarginLoss):
    """psi(a) = log(1 + exp(-a)), logistic regression's loss on +-1 labels, computed as softplus(-a)
    so that large |a| neither overflows nor loses precision.

    Smooth, strictly (not strongly: psi'' -> 0) convex, 1-Lipschitz, calibrated, not clipable."""

    convex = True
    strictly_convex = True
    differentiable = True
    twice_differentiable = True
    lipschitz_continuous = True
    locally_lipschitz_continuous = True
    classification_calibrated = True
    lipschitz_constant = 1.0

    def psi(self, a):
        return _ops(a).softplus(-a)

    def dpsi(self, a):
        return -_ops(a).sigmoid(-a)

    def d2psi(self, a):
        o = _ops(a)
        return o.sigmoid(a) * o.sigmoid(-a)


class ExpLoss(MarginLoss):
    """psi(a) = exp(-a), AdaBoost's loss. Smooth, strictly (not strongly) convex, calibrated, not
    clipable. The post calls it Lipschitz continuous; its slope -exp(-a) is unbounded as a -> -inf,
    so it is only locally Lipschitz (as LossFunctions.jl says)."""

    convex = True
    strictly_convex = True
    differentiable = True
    twice_differentiable = True
    locally_lipschitz_continuous = True
    classification_calibrated = True

    def psi(self, a):
        return _ops(a).exp(-a)

    def dpsi(self, a):
        return -_ops(a).exp(-a)

    def d2psi(self, a):
        return _ops(a).exp(-a)


MARGIN_LOSSES: dict[str, type[MarginLoss]] = {
    cls.__name__: cls
    for cls in (
        ZeroOneLoss,
        PerceptronLoss,
        L1HingeLoss,
        SmoothedL1HingeLoss,
        ModifiedHuberLoss,
        DWDMarginLoss,
        L2MarginLoss,
        L2HingeLoss,
        SigmoidLoss,
        LogitMarginLoss,
        ExpLoss,
    )
}


def get_margin_loss(name: str, **params) -> MarginLoss:
    """``get_margin_loss("SmoothedL1HingeLoss", gamma=0.5)``; names as in LossFunctions.jl."""
    try:
        cls = MARGIN_LOSSES[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown margin loss {name!r}; choose one of: {', '.join(MARGIN_LOSSES)}"
        ) from None
    try:
        return cls(**params)
    except TypeError:
        raise InvalidArgumentError(f"{name} takes no parameters {sorted(params)}") from None
