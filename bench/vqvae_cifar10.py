"""VQ-VAE on CIFAR-10, the Sonnet example's setting: quality after 10k steps and training speed.

Dataset: CIFAR-10 from the data root (PAPERZOO_DATA, e.g. ../shared/data; the JPEG copy, so pixels
differ slightly from the official release); train split (50,000) for training, test split
(10,000) for every metric. Model: vqvae_sonnet_cifar10 (128 hidden, 2 residual layers of 32, K=512,
D=64, EMA 0.99, beta 0.25), batch 32, Adam 3e-4, seed 0.

Speed, in one process, same batch shape, 2 CPU threads: training images/s of
  * eager port: a plain PyTorch translation of the Sonnet example (its VectorQuantizerEMA with
    one-hot matmuls, float32, eager) — the peer,
  * paperzoo float32 eager, and
  * paperzoo fast path: bf16 autocast (distances stay float32) + torch.compile of encoder/decoder.
Quality: `paperzoo train vq/vqvae_sonnet_cifar10` with the fast path for --steps steps, then the
test-set normalised MSE, PSNR, per-batch perplexity and dataset code usage.
Targets (issue 4): normalised MSE <= 0.056, code usage >= 95% of K, fast path >= 1.3x the eager port.
Usage: PAPERZOO_DATA=../shared/data python bench/vqvae_cifar10.py [--steps 10000] [--speed-steps 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

import paperzoo  # noqa: E402
from paperzoo.data.cifar10 import load_cifar10  # noqa: E402
from paperzoo.data.registry import require_dataset  # noqa: E402
from paperzoo.engine.run import evaluate, train  # noqa: E402
from paperzoo.vq.task import to_model_pixels  # noqa: E402


# --- the peer: a literal eager port of the Sonnet example ---------------------------------------------
class PortResidualStack(nn.Module):
    def __init__(self, h, rh, n):
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([nn.Conv2d(h, rh, 3, padding=1), nn.Conv2d(rh, h, 1)]) for _ in range(n))

    def forward(self, x):
        for c3, c1 in self.layers:
            x = x + c1(F.relu(c3(F.relu(x))))
        return F.relu(x)


class PortVQEMA(nn.Module):
    def __init__(self, d=64, k=512, beta=0.25, decay=0.99, eps=1e-5):
        super().__init__()
        self.k, self.beta, self.decay, self.eps = k, beta, decay, eps
        emb = torch.empty(d, k).uniform_(-(3**0.5), 3**0.5)
        self.register_buffer("embeddings", emb)
        self.register_buffer("ema_cluster_size", torch.zeros(k))
        self.register_buffer("ema_dw", emb.clone())

    def forward(self, inputs):  # (B, H, W, D)
        flat = inputs.reshape(-1, inputs.shape[-1])
        distances = (flat**2).sum(1, keepdim=True) - 2 * flat @ self.embeddings + (self.embeddings**2).sum(0, keepdim=True)
        encodings = F.one_hot(distances.argmin(1), self.k).float()
        quantized = (encodings @ self.embeddings.T).reshape(inputs.shape)
        loss = self.beta * F.mse_loss(quantized.detach(), inputs)
        if self.training:
            with torch.no_grad():
                self.ema_cluster_size.mul_(self.decay).add_(encodings.sum(0), alpha=1 - self.decay)
                self.ema_dw.mul_(self.decay).add_(flat.T @ encodings, alpha=1 - self.decay)
                n = self.ema_cluster_size.sum()
                size = (self.ema_cluster_size + self.eps) / (n + self.k * self.eps) * n
                self.embeddings.copy_(self.ema_dw / size[None])
        quantized = inputs + (quantized - inputs).detach()
        p = encodings.mean(0)
        return quantized, loss, torch.exp(-(p * torch.log(p + 1e-10)).sum())


class PortVQVAE(nn.Module):
    def __init__(self, h=128, rh=32, n=2, d=64, k=512):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, h // 2, 4, 2, 1), nn.ReLU(), nn.Conv2d(h // 2, h, 4, 2, 1), nn.ReLU(),
                                 nn.Conv2d(h, h, 3, 1, 1), PortResidualStack(h, rh, n))
        self.pre = nn.Conv2d(h, d, 1)
        self.vq = PortVQEMA(d, k)
        self.dec = nn.Sequential(nn.Conv2d(d, h, 3, 1, 1), PortResidualStack(h, rh, n), nn.ConvTranspose2d(h, h // 2, 4, 2, 1),
                                 nn.ReLU(), nn.ConvTranspose2d(h // 2, 3, 4, 2, 1))

    def forward(self, x):
        z = self.pre(self.enc(x)).permute(0, 2, 3, 1)
        q, vq_loss, perplexity = self.vq(z)
        return self.dec(q.permute(0, 3, 1, 2)), vq_loss


# --- speed ---------------------------------------------------------------------------------------------
def images_per_second(step_fn, batches, warmup=5) -> float:
    for b in batches[:warmup]:
        step_fn(b)
    times = []
    for b in batches[warmup:]:
        t0 = time.perf_counter()
        step_fn(b)
        times.append(time.perf_counter() - t0)
    return len(batches[0]) / statistics.median(times)


def speed(train_images: torch.Tensor, steps: int, variance: float) -> dict:
    gen = torch.Generator().manual_seed(0)
    batches = [to_model_pixels(train_images[torch.randint(0, len(train_images), (32,), generator=gen)]) for _ in range(steps)]

    def ours_step(model, opt, bf16):
        def step(x):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(x)
                loss = F.mse_loss(out.reconstruction.float(), x) / variance + out.vq.loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    torch.manual_seed(0)
    port = PortVQVAE().train()
    port_opt = torch.optim.Adam(port.parameters(), 3e-4)

    def port_step(x):
        rec, vq_loss = port(x)
        loss = F.mse_loss(rec, x) / variance + vq_loss
        port_opt.zero_grad(set_to_none=True)
        loss.backward()
        port_opt.step()

    ours32 = paperzoo.create_model("vqvae_sonnet_cifar10").train()
    fast = paperzoo.create_model("vqvae_sonnet_cifar10").train()
    fast.encoder.compile()
    fast.decoder.compile()
    return {
        "eager_port_img_s": images_per_second(port_step, batches),
        "paperzoo_fp32_img_s": images_per_second(ours_step(ours32, torch.optim.Adam(ours32.parameters(), 3e-4), False), batches),
        "paperzoo_fast_img_s": images_per_second(ours_step(fast, torch.optim.Adam(fast.parameters(), 3e-4), True), batches, warmup=8),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--speed-steps", type=int, default=60)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    root = require_dataset("cifar10")
    t0 = time.perf_counter()
    train_images = torch.from_numpy(load_cifar10(root, "train")[0])
    load_cifar10(root, "test")
    print(f"CIFAR-10 loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    variance = float(train_images.double().div(255).var())

    s = speed(train_images, args.speed_steps, variance)
    s["fast_vs_port"] = s["paperzoo_fast_img_s"] / s["eager_port_img_s"]
    s["fp32_vs_port"] = s["paperzoo_fp32_img_s"] / s["eager_port_img_s"]
    print(s, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_dir = train("vq/vqvae_sonnet_cifar10", [f"out_dir={tmp}", f"trainer.max_steps={args.steps}",
                                                     "trainer.precision=bf16-mixed", "trainer.compile=true",
                                                     f"trainer.val_every={args.steps}", "trainer.progress_bar=false"])
        train_seconds = time.perf_counter() - t0
        m = evaluate(run_dir, ["trainer.precision=32-true", "trainer.compile=false"])["metrics"]
        grid = (Path(run_dir) / "plots" / "reconstructions.png").read_bytes()
    out_png = Path(__file__).resolve().parent.parent / "docs" / "vqvae_cifar10_reconstructions.png"
    out_png.write_bytes(grid)
    quality = {"steps": args.steps, "train_seconds": train_seconds, **{k.removeprefix("val/"): v for k, v in m.items()}}
    print(quality, flush=True)

    speed_md = table(["peer", "train img/s", "vs eager port"], [
        ["eager port of the Sonnet example (float32)", s["eager_port_img_s"], 1.0],
        ["paperzoo float32 eager", s["paperzoo_fp32_img_s"], s["fp32_vs_port"]],
        ["paperzoo bf16 autocast + torch.compile", s["paperzoo_fast_img_s"], s["fast_vs_port"]],
    ])
    q = quality
    quality_md = table(["metric (test split)", "value", "target"], [
        ["normalised MSE", q["nmse"], "<= 0.056"], ["MSE [0,1]", q["mse"], "-"], ["PSNR dB", q["psnr"], "-"],
        ["per-batch perplexity (batch 1024)", q["perplexity_batch"], "-"], ["dataset code usage", q["code_usage"], ">= 0.95"],
        ["dataset code perplexity", q["code_perplexity"], "-"], ["bits/dim, uniform prior", q["bits_per_dim_uniform"], "-"],
    ])
    markdown = (f"`bench/vqvae_cifar10.py`: {' '.join(__doc__.splitlines()[2:5])}\n\n"
                f"Training speed ({args.speed_steps} steps each, median, after warm-up):\n\n{speed_md}\n\n"
                f"Quality after {args.steps} steps (fast path, {train_seconds / 60:.1f} min on this machine, "
                f"evaluated in float32):\n\n{quality_md}\n\n![reconstructions](vqvae_cifar10_reconstructions.png)\n")
    write_results("vqvae_cifar10", {"speed": s, "quality": quality}, markdown)
    print(speed_md + "\n\n" + quality_md)


if __name__ == "__main__":
    main()
