"""Vector quantisation, VQ-VAE section 3 (van den Oord et al. 2017; posts 000 "VQ-VAE", 001).

Each D-dimensional latent vector z_e is replaced by its nearest codebook entry (eq. 2)::

    k = argmin_j ||z_e - e_j||_2,     z_q = e_k

and the quantiser's share of the VQ-VAE objective (eq. 3) is::

    codebook term     ||sg[z_e] - e||^2        moves the codes toward the encoder outputs
    commitment term   beta ||z_e - sg[e]||^2   keeps the encoder committed to its codes (beta = 0.25)

beta multiplies the commitment term only. Both terms are means over all latent elements (the paper
"averages" them; so do the Sonnet and the authors' code). The decoder receives
``z_e + sg[z_q - z_e]``: the value of z_q with the gradient copied straight through to z_e.

With ``ema=True`` the codebook is not learned by gradient but follows exponential moving averages
of the assigned encoder outputs (paper appendix A.1; decay gamma = 0.99), and the loss is only the
commitment term. The codebook then is a buffer and receives no gradient.

Layouts: latents are ``(B, D, *spatial)`` — (B, D, T) audio, (B, D, H, W) images, (B, D, T, H, W)
video — or already flat ``(N, D)``. Shapes below write S for the spatial part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from paperzoo.errors import InvalidArgumentError


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, D, *S) straight-through: value z_q, gradient to z_e
    indices: torch.Tensor  # (B, *S) int64 code indices
    loss: torch.Tensor  # scalar: codebook_loss + beta * commitment_loss (EMA: beta * commitment only)
    codebook_loss: torch.Tensor  # scalar ||sg[z_e] - e||^2 (mean); 0 with EMA
    commitment_loss: torch.Tensor  # scalar ||z_e - sg[e]||^2 (mean), before beta
    perplexity: torch.Tensor  # scalar exp(entropy of this batch's code histogram)
    counts: torch.Tensor  # (K,) how often each code was chosen in this batch (this process)


class _StraightThrough(torch.autograd.Function):
    """Forward: the quantised vectors z_q. Backward: the gradient goes unchanged to z_e (eq. 3's
    "copy gradients from decoder input to encoder output"). Same as z_e + sg[z_q - z_e] without
    computing two full-size temporaries."""

    @staticmethod
    def forward(ctx, z_e, z_q):
        return z_q.to(z_e.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _all_reduce(*tensors: torch.Tensor) -> None:
    if _world() > 1:
        for t in tensors:
            dist.all_reduce(t)


def _broadcast(tensor: torch.Tensor) -> None:
    if _world() > 1:
        dist.broadcast(tensor, src=0)


def perplexity_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """exp(H(p)) of the empirical code distribution: K if all codes equally used, 1 if one code."""
    p = counts.float() / counts.sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantiser with a K x D codebook.

    Args:
        num_codes: K, the number of codes (paper: 512).
        dim: D, the code dimension (Sonnet example: 64).
        beta: weight of the commitment term (paper: 0.25, "robust from 0.1 to 2.0").
        ema: EMA codebook updates instead of the codebook loss (appendix A.1).
        decay: EMA decay gamma (0.99).
        eps: Laplace smoothing of the EMA cluster sizes, so an unused code never divides by 0 (1e-5).
        kmeans_init: initialise the codebook by k-means on the first training batch instead of at
            random. Why: random codes far from the encoder's outputs are never chosen ("dead" from
            the start); starting at data means uses every code at once. Off in the paper configs.
        kmeans_iters: Lloyd iterations for ``kmeans_init``.
        restart_after: re-seed a code that no vector chose for this many training steps with a
            random encoder output of the current batch. Why: codes that lose every assignment get
            no codebook gradient and no EMA update, so they stay dead forever and shrink the
            effective K. None (paper) disables it.
        cosine: l2-normalise encoder outputs and codes before matching (and quantise to the
            normalised code). Why: on the unit sphere distances are bounded, no code can drift out
            of reach and usage is typically higher (Yu et al. 2022, "ViT-VQGAN"). Off in the paper.

    The distances are ||z||^2 - 2 z.E^T + ||E||^2: one (N, D) x (D, K) GEMM, never an (N, K, D)
    tensor, always in float32 (autocast is disabled for it) so that bfloat16 training does not pick
    wrong codes among near ties.
    """

    ROW_BLOCK = 2048

    def __init__(self, num_codes: int = 512, dim: int = 64, beta: float = 0.25, *, ema: bool = False,
                 decay: float = 0.99, eps: float = 1e-5, kmeans_init: bool = False, kmeans_iters: int = 10,
                 restart_after: int | None = None, cosine: bool = False):
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise InvalidArgumentError(f"num_codes and dim must be >= 1, got {num_codes}, {dim}")
        if beta < 0 or not 0 <= decay < 1 or eps <= 0:
            raise InvalidArgumentError("need beta >= 0, 0 <= decay < 1, eps > 0")
        if restart_after is not None and restart_after < 1:
            raise InvalidArgumentError("restart_after must be >= 1 or None")
        self.num_codes, self.dim, self.beta = num_codes, dim, beta
        self.ema, self.decay, self.eps = ema, decay, eps
        self.kmeans_iters, self.restart_after, self.cosine = kmeans_iters, restart_after, cosine
        # Sonnet's initialisation: uniform in +-sqrt(3) (unit variance); paper: not stated
        init = torch.empty(num_codes, dim).uniform_(-(3**0.5), 3**0.5)
        if ema:
            # zero-initialised, debiased moving averages (as Sonnet's ExponentialMovingAverage): after
            # the first update a code is the mean of what it was assigned, and a code assigned
            # nothing moves to the origin, amid the encoder outputs, where it can be picked again
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.zeros(num_codes))
            self.register_buffer("ema_sum", torch.zeros(num_codes, dim))
            self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("last_used", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # --- layout helpers ---------------------------------------------------------------------------
    def _flatten(self, z: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """(B, D, *S) -> (N, D) with N = B * prod(S); (N, D) stays."""
        if z.ndim < 2 or z.shape[1] != self.dim:
            raise InvalidArgumentError(f"expected latents (B, {self.dim}, ...) , got shape {tuple(z.shape)}")
        if z.ndim == 2:
            return z, ()
        spatial = tuple(z.shape[2:])
        return z.movedim(1, -1).reshape(-1, self.dim), spatial

    def _unflatten(self, flat: torch.Tensor, batch: int, spatial: tuple[int, ...]) -> torch.Tensor:
        if not spatial:
            return flat
        return flat.reshape(batch, *spatial, self.dim).movedim(-1, 1)

    def _codes(self) -> torch.Tensor:
        return F.normalize(self.codebook, dim=1) if self.cosine else self.codebook

    # --- nearest codes ------------------------------------------------------------------------------
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (N,) index of the nearest code (float32 distances, one GEMM).

        argmin_k ||z - e_k||^2 = argmax_k (z.e_k - ||e_k||^2 / 2), computed as one GEMM of [z, 1]
        with [e, -||e||^2/2] (no bias broadcast). On CPU the rows go in blocks of ``ROW_BLOCK`` so
        that each block's (rows x K) score matrix is reduced while it is still in cache.
        """
        with torch.autocast(device_type=flat.device.type, enabled=False):
            z = flat.detach().float()
            codes = self._codes().detach().float()
            if self.cosine:
                z = F.normalize(z, dim=1)
            codes_aug = torch.cat([codes, -0.5 * (codes * codes).sum(1, keepdim=True)], 1)
            z_aug = torch.cat([z, z.new_ones(z.shape[0], 1)], 1)
            block = self.ROW_BLOCK if z.device.type == "cpu" else z.shape[0]
            if z.shape[0] <= block:
                return (z_aug @ codes_aug.T).argmax(1)
            out = torch.empty(z.shape[0], dtype=torch.long, device=z.device)
            for start in range(0, z.shape[0], block):
                out[start : start + block] = (z_aug[start : start + block] @ codes_aug.T).argmax(1)
            return out

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, *S) int -> (B, D, *S) code vectors (the decoder's input for given codes)."""
        vectors = F.embedding(indices, self._codes())
        return vectors.movedim(-1, 1) if indices.ndim > 1 else vectors

    # --- forward -------------------------------------------------------------------------------------
    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        """z_e (B, D, *S) (or (N, D)) -> QuantizerOutput; see the module docstring for eq. 2-3."""
        flat, spatial = self._flatten(z_e)
        if self.training and not bool(self.initialized):
            self._kmeans_init(flat.detach().float())
        if self.cosine:
            flat = F.normalize(flat, dim=1)
        indices = self.nearest(flat)
        codes = self._codes()
        z_q = codes[indices]  # quantise with the codebook as it is *before* this step's EMA update
        z_q_const = z_q.detach()
        flat32 = flat.float()  # losses in float32 also under autocast

        commitment = F.mse_loss(flat32, z_q_const.float())
        if self.ema:
            codebook_loss = flat32.new_zeros(())
            loss = self.beta * commitment
        else:
            codebook_loss = F.mse_loss(z_q.float(), flat32.detach())
            loss = codebook_loss + self.beta * commitment

        counts = torch.bincount(indices, minlength=self.num_codes)
        if self.training:
            self.step += 1
            if self.ema:
                self._ema_update(flat.detach().float(), indices, counts)
            self._track_usage(flat.detach().float(), counts)

        straight_through = _StraightThrough.apply(flat, z_q_const)
        return QuantizerOutput(
            quantized=self._unflatten(straight_through, z_e.shape[0], spatial),
            indices=indices.reshape(z_e.shape[0], *spatial) if spatial else indices,
            loss=loss,
            codebook_loss=codebook_loss,
            commitment_loss=commitment,
            perplexity=perplexity_from_counts(counts),
            counts=counts,
        )

    # --- codebook maintenance ------------------------------------------------------------------------
    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        """N_k <- g N_k + (1-g) n_k;  m_k <- g m_k + (1-g) sum_{i: k_i = k} z_i  (both from 0);
        debiased by 1 - g^t; e_k = m^_k / N~_k with N~ the Laplace-smoothed cluster sizes
        (N^_k + eps) / (n + K eps) * n. Under DDP the batch statistics n_k and sums are all-reduced
        first, so every replica applies the same update."""
        batch_counts = counts.float()
        batch_sums = torch.zeros_like(self.ema_sum).index_add_(0, indices, flat)
        _all_reduce(batch_counts, batch_sums)
        self.ema_count.mul_(self.decay).add_(batch_counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(batch_sums, alpha=1 - self.decay)
        self.ema_steps += 1
        debias = 1 - self.decay ** int(self.ema_steps)
        count, total = self.ema_count / debias, self.ema_sum / debias
        n = count.sum()
        smoothed = (count + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(total / smoothed[:, None])

    @torch.no_grad()
    def _track_usage(self, flat: torch.Tensor, counts: torch.Tensor) -> None:
        used = counts.clone()
        _all_reduce(used)
        self.last_used[used > 0] = self.step
        if self.restart_after is None:
            return
        dead = (self.step - self.last_used) >= self.restart_after
        if not bool(dead.any()):
            return
        # new codes: random encoder outputs of this batch, chosen on rank 0 and broadcast
        choice = torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)
        fresh = flat[choice].to(self.codebook.dtype)
        _broadcast(fresh)
        self.codebook.data[dead] = fresh
        if self.ema:  # one (debiased) observation of the new value
            debias = 1 - self.decay ** int(self.ema_steps)
            self.ema_sum[dead] = fresh * debias
            self.ema_count[dead] = debias
        self.last_used[dead] = self.step

    @torch.no_grad()
    def _kmeans_init(self, flat: torch.Tensor) -> None:
        """Lloyd's k-means on this batch (codes start at random distinct samples); rank 0's result
        is broadcast so that all replicas start from the same codebook."""
        gen_idx = torch.randperm(flat.shape[0], device=flat.device)
        if flat.shape[0] >= self.num_codes:
            centers = flat[gen_idx[: self.num_codes]].clone()
        else:
            centers = flat[torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)].clone()
        data = F.normalize(flat, dim=1) if self.cosine else flat
        for _ in range(self.kmeans_iters):
            assign = torch.addmm((centers * centers).sum(1), data, centers.T, alpha=-2.0).argmin(1)
            sums = torch.zeros_like(centers).index_add_(0, assign, data)
            sizes = torch.bincount(assign, minlength=self.num_codes)
            filled = sizes > 0
            centers[filled] = sums[filled] / sizes[filled, None]  # empty clusters keep their sample
        _broadcast(centers)
        self.codebook.data.copy_(centers)  # with EMA, the first update replaces them by cluster means
        self.initialized.fill_(True)

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, beta={self.beta}, ema={self.ema}"
                + (f", decay={self.decay}" if self.ema else "") + (", cosine=True" if self.cosine else ""))
