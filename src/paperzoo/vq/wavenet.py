"""WaveNet (van den Oord et al. 2016) as the VQ-VAE audio decoder and as a prior over code sequences,
with fast generation.

A sequence of class indices x_0 .. x_{T-1} (8-bit mu-law samples, or VQ codes) is modelled as

    p(x) = prod_t p(x_t | x_<t, c, g)

c: local conditioning (B, C_c, T) at the output rate (the VQ-VAE's upsampled latents);
g: global conditioning, an index (the speaker's one-hot, as an embedding).

Layers: an embedding of the previous sample (input shifted right by one, a fixed start class
first), then residual blocks with dilations 1, 2, 4, ..., 2^(n-1) repeated ``cycles`` times, each

    z = tanh(W_f * x + V_f c + U_f g)  (.)  sigmoid(W_g * x + V_g c + U_g g)     (gated unit)
    x <- x + W_r z ;  skip += W_s z

with kernel-2 dilated causal convolutions W (left padding, so output t sees inputs <= t) and 1x1
convolutions elsewhere; the output is ReLU -> 1x1 -> ReLU -> 1x1 -> class logits over the summed
skips. The receptive field is cycles x 2^n samples.

Fast generation (Paine et al. 2016, "Fast Wavenet"): a kernel-2 dilated conv at step t reads its
layer's input at t and t - d, so each layer keeps a queue of its last d inputs; one new sample then
costs one column of every layer instead of a forward pass over the whole prefix. ``generate`` does
this; ``generate_naive`` recomputes the full forward pass per step and exists to check it (equal
outputs for the same seed, tested). Sampling is Gumbel-max with noise drawn from a generator, so a
seed fixes the samples exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


GENERATION_BLOCK = 2048  # steps per generation block: at the shipped decoder's size (16 layers, 2 x 64 gate channels)
# one block's conditioning is 17 MB per sequence (twice that while handed to the compiled loop) and its noise 2 MB


class ResidualLayer(nn.Module):
    def __init__(self, residual: int, gate: int, skip: int, dilation: int, local_channels: int, global_classes: int):
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(residual, 2 * gate, 2, dilation=dilation)
        self.local = nn.Conv1d(local_channels, 2 * gate, 1, bias=False) if local_channels else None
        self.glob = nn.Embedding(global_classes, 2 * gate) if global_classes else None
        self.res = nn.Conv1d(gate, residual, 1)
        self.skip = nn.Conv1d(gate, skip, 1)

    def conditioning(self, c: torch.Tensor | None, g: torch.Tensor | None) -> torch.Tensor | float:
        """(B, 2 gate, T) or (B, 2 gate, 1): the conditioning terms V c + U g (0 when unconditioned)."""
        out = 0.0
        if self.local is not None:
            out = out + self.local(c)
        if self.glob is not None:
            out = out + self.glob(g).unsqueeze(-1)
        return out

    def gated(self, pre: torch.Tensor) -> torch.Tensor:
        f, g = pre.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)

    def forward(self, x: torch.Tensor, cond) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.gated(self.conv(F.pad(x, (self.dilation, 0))) + cond)
        return x + self.res(z), self.skip(z)


class WaveNet(nn.Module):
    """Autoregressive model of class sequences (B, T) -> logits (B, classes, T), causal in T."""

    def __init__(self, *, classes: int = 256, residual: int = 64, gate: int | None = None, skip: int = 128, layers: int = 10,
                 cycles: int = 2, local_channels: int = 0, global_classes: int = 0, start: int | None = None):
        super().__init__()
        self.classes, self.local_channels, self.global_classes = classes, local_channels, global_classes
        self.start = classes // 2 if start is None else start  # mu-law 128 = silence
        gate = gate or residual
        self.embed = nn.Embedding(classes, residual)
        self.layers = nn.ModuleList(ResidualLayer(residual, gate, skip, 2**i, local_channels, global_classes)
                                    for _ in range(cycles) for i in range(layers))
        self.out = nn.Sequential(nn.ReLU(), nn.Conv1d(skip, skip, 1), nn.ReLU(), nn.Conv1d(skip, classes, 1))

    @property
    def receptive_field(self) -> int:
        return sum(layer.dilation for layer in self.layers) + 1

    def _check(self, c, g, batch: int, length: int, c_hop: int = 1):
        if (c is None) != (self.local_channels == 0):
            raise ValueError("local conditioning c must be given exactly when the WaveNet was built with local_channels")
        if (g is None) != (self.global_classes == 0):
            raise ValueError("global conditioning g must be given exactly when the WaveNet was built with global_classes")
        if c is not None and (c.shape[0] != batch or c.shape[-1] * c_hop < length):
            raise ValueError(f"local conditioning {tuple(c.shape)} (one column per {c_hop} steps) does not cover a batch of "
                             f"{batch} x {length} steps")

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None, g: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: logits[:, :, t] predict x[:, t] from x[:, :t] (and c, g)."""
        b, t = x.shape
        self._check(c, g, b, t)
        shifted = torch.cat([torch.full((b, 1), self.start, dtype=x.dtype, device=x.device), x[:, :-1]], 1)
        h = self.embed(shifted).transpose(1, 2)
        skips = 0.0
        for layer in self.layers:
            h, s = layer(h, layer.conditioning(c[..., :t] if c is not None else None, g))
            skips = skips + s
        return self.out(skips)

    @torch.no_grad()
    def generate(self, length: int, c: torch.Tensor | None = None, g: torch.Tensor | None = None, *, c_hop: int = 1,
                 batch: int | None = None, temperature: float = 1.0, generator: torch.Generator | None = None,
                 progress: bool = False, compiled: bool = True, block: int = GENERATION_BLOCK) -> torch.Tensor:
        """(B, length) samples, one column per step with per-layer queues (fast generation); ``progress``
        shows a bar on stderr when it is a terminal (generation is sequential: long inputs take a while).
        ``c`` may hold one column per ``c_hop`` steps (each used for ``c_hop`` steps: the VQ-VAE's latents);
        every layer's conditioning V c + U g is computed at that rate and repeated one block of ``block``
        steps at a time, and the Gumbel noise is drawn per block, so memory grows with the length only by
        1 / c_hop of the conditioning (a minute of 8 kHz audio took 12.5 GB when both were built for every
        step at once).
        On the CPU the loop runs compiled (``wavenet_cpu``) unless ``compiled=False`` (the torch loop, any device)."""
        from tqdm import tqdm

        b = batch or (c.shape[0] if c is not None else g.shape[0] if g is not None else 1)
        self._check(c, g, b, length, c_hop)
        device = self.embed.weight.device
        if compiled and device.type == "cpu":  # the same loop compiled (wavenet_cpu): ~30x faster than stepping torch
            from paperzoo.vq import wavenet_cpu

            sampler = wavenet_cpu.CompiledSampler(self, b, length)
        else:
            sampler = _TorchSampler(self, b, length)
        bar = dict(total=length, desc="generating", unit="sample", unit_scale=True, leave=False, disable=None if progress else True)
        # V c + U g at c's own rate (a 1x1 conv commutes with repeating columns): 1 / c_hop of the memory
        conds = [layer.conditioning(c, g) for layer in self.layers]
        with tqdm(**bar) as progress_bar:  # disable=None: only on a terminal
            for t0, noise in zip(range(0, length, block), _gumbel_blocks(b, length, self.classes, generator, device, block)):
                t1 = t0 + noise.shape[1]
                sampler.run(t0, [_columns(cond, c_hop, t0, t1) if c is not None else cond for cond in conds], noise, temperature)
                progress_bar.update(noise.shape[1])
        return torch.as_tensor(sampler.out)

    @torch.no_grad()
    def generate_naive(self, length: int, c: torch.Tensor | None = None, g: torch.Tensor | None = None, *, c_hop: int = 1,
                       batch: int | None = None, temperature: float = 1.0, generator: torch.Generator | None = None,
                       block: int = GENERATION_BLOCK) -> torch.Tensor:
        """The same samples as ``generate`` by a full forward pass per step (slow; for checking)."""
        b = batch or (c.shape[0] if c is not None else g.shape[0] if g is not None else 1)
        self._check(c, g, b, length, c_hop)
        noise = torch.cat(list(_gumbel_blocks(b, length, self.classes, generator, self.embed.weight.device, block)), 1)
        c = _columns(c, c_hop, 0, length)
        out = torch.zeros(b, length, dtype=torch.long, device=self.embed.weight.device)
        for t in range(length):
            logits = self.forward(out[:, : t + 1], c, g)[..., t]  # column t depends only on out[:, :t]
            out[:, t] = (logits / temperature + noise[:, t]).argmax(-1)
        return out


class _TorchSampler:
    """The queue algorithm stepped with torch calls (any device), resumed block by block like ``CompiledSampler``."""

    def __init__(self, net: WaveNet, batch: int, length: int):
        device, dtype = net.embed.weight.device, net.embed.weight.dtype
        self.net = net
        self.taps = [(layer.conv.weight[..., 0], layer.conv.weight[..., 1], layer.conv.bias, layer.res.weight[..., 0], layer.res.bias,
                      layer.skip.weight[..., 0], layer.skip.bias) for layer in net.layers]
        self.head = [m for m in net.out if isinstance(m, nn.Conv1d)]
        self.queues = [torch.zeros(layer.dilation, batch, net.embed.embedding_dim, device=device, dtype=dtype) for layer in net.layers]
        self.prev = torch.full((batch,), net.start, dtype=torch.long, device=device)
        self.out = torch.empty(batch, length, dtype=torch.long, device=device)

    def run(self, t0: int, conds: list, noise: torch.Tensor, temperature: float) -> None:
        n = noise.shape[1]
        conds = [_per_step(cond, n) for cond in conds]  # (n, B, 2 gate) or None
        hidden, logits_layer = self.head
        for i in range(n):
            t = t0 + i
            h = self.net.embed(self.prev)  # (B, R): this step's input to the first layer
            skips = 0.0
            for layer, queue, cond, (w_past, w_now, bias, w_res, b_res, w_skip, b_skip) in zip(self.net.layers, self.queues, conds, self.taps):
                slot = t % layer.dilation
                past = queue[slot].clone()  # the layer's input d steps ago (zeros before the start)
                queue[slot] = h
                pre = F.linear(past, w_past) + F.linear(h, w_now, bias)
                if cond is not None:
                    pre = pre + cond[i]
                z = layer.gated(pre.unsqueeze(-1)).squeeze(-1)
                h = h + F.linear(z, w_res, b_res)
                skips = skips + F.linear(z, w_skip, b_skip)
            logits = F.linear(F.relu(F.linear(F.relu(skips), hidden.weight[..., 0], hidden.bias)), logits_layer.weight[..., 0],
                              logits_layer.bias)
            self.prev = (logits / temperature + noise[:, i]).argmax(-1)
            self.out[:, t] = self.prev


def _columns(c: torch.Tensor | None, hop: int, t0: int, t1: int) -> torch.Tensor | None:
    """Conditioning of steps t0 .. t1 - 1 (B, C, t1 - t0) from ``c`` holding one column per ``hop`` steps."""
    if c is None or hop == 1:
        return None if c is None else c[..., t0:t1]
    first = t0 // hop
    return c[..., first : (t1 - 1) // hop + 1].repeat_interleave(hop, dim=-1)[..., t0 - first * hop : t1 - first * hop]


def _per_step(cond, length: int) -> torch.Tensor | None:
    """Conditioning (B, C, T) or (B, C, 1) -> (T, B, C) for stepping; None when unconditioned."""
    if not isinstance(cond, torch.Tensor):
        return None
    if cond.shape[-1] == 1:  # global only: the same at every step
        cond = cond.expand(-1, -1, length)
    return cond[..., :length].permute(2, 0, 1).contiguous()


def _gumbel_blocks(batch: int, length: int, classes: int, generator: torch.Generator | None, device, block: int):
    """Gumbel noise (B, n, classes) for each block of ``block`` steps, drawn block after block (for one
    sequence the same stream as drawing all steps at once)."""
    for t0 in range(0, length, block):
        yield _gumbel(batch, min(block, length - t0), classes, generator, device)


def _gumbel(batch: int, length: int, classes: int, generator: torch.Generator | None, device) -> torch.Tensor:
    u = torch.rand(batch, length, classes, generator=generator).clamp_(1e-10, 1 - 1e-10)
    return (-torch.log(-torch.log(u))).to(device)


def mu_law_encode(wave: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Waveform in [-1, 1] -> mu-law class indices in [0, classes) (mu = classes - 1)."""
    mu = classes - 1
    y = torch.sign(wave) * torch.log1p(mu * wave.abs().clamp(max=1)) / torch.log1p(torch.tensor(float(mu)))
    return ((y + 1) / 2 * mu + 0.5).long().clamp_(0, mu)


def mu_law_decode(indices: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """mu-law class indices -> waveform in [-1, 1] (the inverse of ``mu_law_encode`` up to quantisation)."""
    mu = classes - 1
    y = indices.float() / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu
