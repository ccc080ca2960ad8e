"""VectorQuantizer: eq. 2-3, gradient placement, EMA rule, layouts, precision, codebook upkeep."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from paperzoo.errors import InvalidArgumentError
from paperzoo.metrics.codebook import CodeUsage
from paperzoo.vq import VectorQuantizer, perplexity_from_counts


def brute_force_nearest(flat, codes):
    return torch.cdist(flat.double(), codes.double()).argmin(1)


@pytest.mark.parametrize("shape", [(4, 8, 16), (2, 8, 5, 6), (2, 8, 3, 4, 5), (50, 8)])  # 1D, 2D, 3D, flat
def test_layouts_and_nearest_code(shape):
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=32, dim=8).eval()
    z = torch.randn(shape)
    out = vq(z)
    assert out.quantized.shape == z.shape
    assert out.indices.shape == ((shape[0],) + shape[2:] if len(shape) > 2 else (shape[0],))
    flat = z.movedim(1, -1).reshape(-1, 8) if len(shape) > 2 else z
    torch.testing.assert_close(out.indices.reshape(-1), brute_force_nearest(flat, vq.codebook))
    torch.testing.assert_close(out.quantized, vq.lookup(out.indices))  # the value is z_q exactly
    assert int(out.counts.sum()) == flat.shape[0]


def test_loss_terms_are_eq3_with_beta_on_commitment_only():
    torch.manual_seed(1)
    vq = VectorQuantizer(num_codes=16, dim=4, beta=0.25)
    z = torch.randn(3, 4, 5)
    out = vq(z)
    zq = vq.lookup(out.indices)
    expected = ((z - zq) ** 2).mean()
    torch.testing.assert_close(out.codebook_loss, expected)
    torch.testing.assert_close(out.commitment_loss, expected)
    torch.testing.assert_close(out.loss, expected + 0.25 * expected)


def test_gradient_placement():
    """Encoder output gets the straight-through reconstruction gradient plus beta * commitment;
    the codebook gets only the codebook term; the reconstruction never reaches the codebook."""
    torch.manual_seed(2)
    vq = VectorQuantizer(num_codes=16, dim=4, beta=0.25)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z)
    w = torch.randn_like(out.quantized)
    ((out.quantized * w).sum() + out.loss).backward()

    zq = vq.lookup(out.indices).detach()
    n = z.numel()
    torch.testing.assert_close(z.grad, w + 0.25 * 2 * (z.detach() - zq) / n)
    flat = z.detach().movedim(1, -1).reshape(-1, 4)
    idx = out.indices.reshape(-1)
    expected = torch.zeros_like(vq.codebook)
    expected.index_add_(0, idx, 2 * (vq.codebook.detach()[idx] - flat) / n)
    torch.testing.assert_close(vq.codebook.grad, expected)

    # the reconstruction alone: all of it goes to z_e, none to the codebook
    vq.zero_grad()
    z.grad = None
    out = vq(z)
    (out.quantized * w).sum().backward()
    torch.testing.assert_close(z.grad, w)
    assert vq.codebook.grad is None or torch.count_nonzero(vq.codebook.grad) == 0


def test_ema_update_matches_hand_computation_and_takes_no_gradient():
    torch.manual_seed(3)
    K, D, decay, eps = 4, 2, 0.9, 1e-5
    vq = VectorQuantizer(num_codes=K, dim=D, ema=True, decay=decay, eps=eps).train()
    assert "codebook" not in dict(vq.named_parameters())
    codes0 = vq.codebook.clone()
    z = torch.randn(10, D, requires_grad=True)
    out = vq(z)
    # quantise first (with the old codebook), then update
    torch.testing.assert_close(out.indices, brute_force_nearest(z.detach(), codes0))
    counts = torch.bincount(out.indices, minlength=K).float()
    sums = torch.zeros(K, D).index_add_(0, out.indices, z.detach())
    # zero-initialised EMA after one step, debiased by 1 - decay: just this batch's statistics
    ema_count, ema_sum = (1 - decay) * counts / (1 - decay), (1 - decay) * sums / (1 - decay)
    n = ema_count.sum()
    smoothed = (ema_count + eps) / (n + K * eps) * n
    torch.testing.assert_close(vq.codebook, ema_sum / smoothed[:, None])
    # a second step mixes the two batches with weights decay and 1 - decay, renormalised
    z2 = torch.randn(10, D)
    idx2 = brute_force_nearest(z2, vq.codebook.clone())
    vq(z2)
    c2 = decay * (1 - decay) * counts + (1 - decay) * torch.bincount(idx2, minlength=K).float()
    s2 = decay * (1 - decay) * sums + (1 - decay) * torch.zeros(K, D).index_add_(0, idx2, z2)
    c2, s2 = c2 / (1 - decay**2), s2 / (1 - decay**2)
    smoothed2 = (c2 + eps) / (c2.sum() + K * eps) * c2.sum()
    torch.testing.assert_close(vq.codebook, s2 / smoothed2[:, None])
    torch.testing.assert_close(out.loss, 0.25 * ((z.detach() - codes0[out.indices]) ** 2).mean())
    out.loss.backward()
    assert z.grad is not None and not vq.codebook.requires_grad
    # eval mode never moves the codebook
    vq.eval()
    before = vq.codebook.clone()
    vq(torch.randn(10, D))
    torch.testing.assert_close(vq.codebook, before)


def test_unused_ema_code_moves_to_the_origin():
    """As in Sonnet: a code assigned nothing gets sum 0 and so sits at 0, among the encoder outputs."""
    vq = VectorQuantizer(num_codes=3, dim=2, ema=True).train()
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.5, 0.5], [-0.5, -0.5], [50.0, 50.0]]))
    vq(torch.randn(64, 2) * 0.3)
    torch.testing.assert_close(vq.codebook[2], torch.zeros(2))


def test_distances_stay_float32_under_bfloat16_autocast():
    """Codes about 0.02 apart around |e|^2 ~ 16: bfloat16 scores (resolution ~0.06 there) mix them
    up, float32 scores (~1e-6) do not."""
    torch.manual_seed(4)
    vq = VectorQuantizer(num_codes=64, dim=16).eval()
    with torch.no_grad():
        base = torch.randn(16)
        vq.codebook.copy_(base + 0.02 * torch.randn(64, 16))
    z = (base + 0.02 * torch.randn(200, 16)).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq(z)
    torch.testing.assert_close(out.indices, brute_force_nearest(z.float(), vq.codebook))
    assert out.quantized.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    scores_bf16 = (vq.codebook.bfloat16() ** 2).sum(1) - 2 * z @ vq.codebook.bfloat16().T
    assert not torch.equal(scores_bf16.argmin(1), out.indices)  # the test would catch a bf16 GEMM


def test_dead_code_restart_revives_unused_codes():
    torch.manual_seed(5)
    vq = VectorQuantizer(num_codes=16, dim=2, restart_after=3).train()
    with torch.no_grad():  # half the codes far away from the data: never chosen
        vq.codebook[8:] = 100.0
    data = lambda: torch.randn(256, 2)  # noqa: E731
    for _ in range(3):
        vq(data())
    assert (vq.codebook[8:].abs() < 10).all()  # re-seeded from encoder outputs
    usage = CodeUsage(16)
    vq.eval()
    for _ in range(5):
        usage.update(vq(data()).indices)
    assert usage.compute()["usage"] > 0.9
    without = VectorQuantizer(num_codes=16, dim=2).train()  # codebook loss: no gradient reaches them
    with torch.no_grad():
        without.codebook[8:] = 100.0
    for _ in range(10):
        without(data()).loss.backward()
    assert (without.codebook[8:] == 100.0).all() and without.codebook.grad[8:].abs().sum() == 0


def test_kmeans_init_and_cosine():
    torch.manual_seed(6)
    centers = torch.randn(8, 4) * 5
    data = centers.repeat_interleave(64, 0) + 0.05 * torch.randn(512, 4)
    vq = VectorQuantizer(num_codes=8, dim=4, kmeans_init=True, kmeans_iters=20).train()
    vq(data)
    assert bool(vq.initialized)
    nearest_center = torch.cdist(vq.codebook, centers).min(1).values
    assert (nearest_center < 1.0).sum() >= 6  # k-means found (almost) every cluster
    cos = VectorQuantizer(num_codes=8, dim=4, cosine=True).eval()
    out = cos(torch.randn(20, 4) * 7)
    torch.testing.assert_close(out.quantized.norm(dim=1), torch.ones(20))


def test_statistics():
    assert perplexity_from_counts(torch.tensor([5, 5, 5, 5])).item() == pytest.approx(4.0)
    assert perplexity_from_counts(torch.tensor([9, 0, 0, 0])).item() == pytest.approx(1.0)
    usage = CodeUsage(4)
    usage.update(torch.tensor([[0, 1], [1, 1]]))
    stats = usage.compute()
    assert stats["usage"] == 0.5 and stats["total"] == 4
    assert stats["entropy_bits"] == pytest.approx(-(0.25 * torch.log2(torch.tensor(0.25)) + 0.75 * torch.log2(torch.tensor(0.75))).item())


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError):
        VectorQuantizer(num_codes=0)
    with pytest.raises(InvalidArgumentError):
        VectorQuantizer(decay=1.0, ema=True)
    with pytest.raises(InvalidArgumentError, match="expected latents"):
        VectorQuantizer(num_codes=4, dim=8)(torch.randn(2, 7, 3))


def _ddp_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial codebook on both ranks
    vq = VectorQuantizer(num_codes=32, dim=4, ema=True, restart_after=2).train()
    gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
    for _ in range(5):
        vq(torch.randn(64, 4, generator=gen) * (1 + rank))
    torch.save({"codebook": vq.codebook, "count": vq.ema_count}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_ema_codebooks_identical_across_ddp_replicas(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert torch.equal(a["codebook"], b["codebook"]) and torch.equal(a["count"], b["count"])
    # and it equals one process seeing both ranks' batches together (the all-reduced statistics)
    torch.manual_seed(0)
    single = VectorQuantizer(num_codes=32, dim=4, ema=True).train()
    gens = [torch.Generator().manual_seed(100 + r) for r in (0, 1)]
    for _ in range(5):
        single(torch.cat([torch.randn(64, 4, generator=gens[r]) * (1 + r) for r in (0, 1)]))
    torch.testing.assert_close(a["count"], single.ema_count)
