"""WaveNet generation on the CPU in compiled code (numba): the queue algorithm of ``WaveNet.generate``.

One sample of the FSDD decoder costs ~135k multiply-adds but ~170 small torch calls; at a few
microseconds of dispatch each, the calls, not the arithmetic, set the speed (~600 samples/s, 0.08x
real time at 8 kHz). Here the whole per-step loop (every layer's column, the output head, Gumbel-max
sampling) runs as machine code over preallocated arrays; ``CompiledSampler`` keeps the queues between
calls, so the caller feeds it one block of conditioning and noise at a time (bounded memory, progress
after each block). The arithmetic is the torch loop's; the summation order is not (fastmath lets the
compiler vectorise the dot products), so the samples equal the torch loop's in float64 and, in
float32, up to a rare flip of a near-tie in the argmax (tested).
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True, fastmath=True)
def _steps(t0, t1, prev, queues, out, embed, cond, w_in, b_in, w_out, b_out, dilations, w_hidden, b_hidden, w_logits,
           b_logits, noise, temperature, one):  # pragma: no cover - compiled
    """Steps t0 .. t1 - 1 for every batch row, updating ``prev`` (B,), ``queues`` (L, B, max dilation, R)
    and ``out`` (B, T) in place (``one``: 1 in the weights' dtype, so no step promotes float32 to float64).
    Per layer l: ``w_in[l]`` (2 gate, 2 R) = [tap t - d | tap t] of the dilated conv, ``w_out[l]`` (R + S,
    gate) = [residual; skip] 1x1 convs. ``cond`` (L, B, t1 - t0 or 1, 2 gate) and ``noise`` (B, t1 - t0,
    classes) hold this block only: step t reads column t - t0."""
    layers, two_gate, two_res = w_in.shape
    res, gate = two_res // 2, two_gate // 2
    skip = w_out.shape[1] - res
    x = np.empty(two_res, embed.dtype)  # [input d steps ago, input now]
    pre = np.empty(two_gate, embed.dtype)
    z = np.empty(gate, embed.dtype)
    h = np.empty(res, embed.dtype)
    skips = np.empty(skip, embed.dtype)
    hidden = np.empty(w_hidden.shape[0], embed.dtype)
    for t in range(t0, t1):
        for b in range(prev.shape[0]):
            h[:] = embed[prev[b]]
            skips[:] = 0
            for layer in range(layers):
                queue = queues[layer, b, t % dilations[layer]]  # this layer's input d steps ago (zeros before the start)
                for i in range(res):
                    x[i] = queue[i]
                    x[res + i] = h[i]
                    queue[i] = h[i]
                c = cond[layer, b, t - t0 if cond.shape[2] > 1 else 0]
                for o in range(two_gate):
                    acc = b_in[layer, o] + c[o]
                    for i in range(two_res):
                        acc += w_in[layer, o, i] * x[i]
                    pre[o] = acc
                for o in range(gate):  # tanh(f) * sigmoid(g), tanh(f) = sign(f) (1 - e^-2|f|) / (1 + e^-2|f|):
                    e2 = np.exp(-2 * abs(pre[o]))  # two exps, no tanh: 1.3x faster generation, the same samples
                    z[o] = np.copysign((one - e2) / ((one + e2) * (one + np.exp(-pre[gate + o]))), pre[o])
                for o in range(res + skip):
                    acc = b_out[layer, o]
                    for i in range(gate):
                        acc += w_out[layer, o, i] * z[i]
                    if o < res:
                        h[o] += acc
                    else:
                        skips[o - res] += acc
            zero = one - one
            for i in range(skip):  # ReLU -> 1x1 -> ReLU -> 1x1 -> logits, sampled by Gumbel-max
                skips[i] = max(skips[i], zero)
            for o in range(hidden.shape[0]):
                acc = b_hidden[o]
                for i in range(skip):
                    acc += w_hidden[o, i] * skips[i]
                hidden[o] = max(acc, zero)
            best, choice = -np.inf, 0
            for o in range(w_logits.shape[0]):
                acc = b_logits[o]
                for i in range(hidden.shape[0]):
                    acc += w_logits[o, i] * hidden[i]
                score = acc / temperature + noise[b, t - t0, o]
                if score > best:
                    best, choice = score, o
            prev[b] = choice
            out[b, t] = choice


class CompiledSampler:
    """Generation state of ``net`` (a ``WaveNet`` on the CPU) for ``batch`` sequences of ``length`` steps:
    the weights as arrays, each layer's queue, the last sample and the output, resumed block by block."""

    def __init__(self, net, batch: int, length: int):
        layers = list(net.layers)
        self.torch_dtype = net.embed.weight.dtype
        self.dtype = _array(net.embed.weight).dtype
        self.gate2 = layers[0].conv.out_channels
        self.embed = _array(net.embed.weight)
        hidden, logits = [m for m in net.out if hasattr(m, "weight")]
        self.weights = (  # _steps' arguments after cond, in order
            np.stack([_array(torch.cat([layer.conv.weight[..., 0], layer.conv.weight[..., 1]], 1)) for layer in layers]),
            np.stack([_array(layer.conv.bias) for layer in layers]),
            np.stack([_array(torch.cat([layer.res.weight[..., 0], layer.skip.weight[..., 0]])) for layer in layers]),
            np.stack([_array(torch.cat([layer.res.bias, layer.skip.bias])) for layer in layers]),
            np.array([layer.dilation for layer in layers], np.int64),
            _array(hidden.weight[..., 0]), _array(hidden.bias), _array(logits.weight[..., 0]), _array(logits.bias))
        self.queues = np.zeros((len(layers), batch, max(layer.dilation for layer in layers), net.embed.embedding_dim), self.dtype)
        self.prev = np.full(batch, net.start, np.int64)
        self.out = np.empty((batch, length), np.int64)

    def run(self, t0: int, conds: list, noise: torch.Tensor, temperature: float) -> None:
        """Steps t0 .. t0 + n - 1: ``conds`` each layer's conditioning of these steps, a (B, 2 gate, n or 1)
        tensor, or 0.0 when unconditioned; ``noise`` (B, n, classes) Gumbel noise."""
        b, n = noise.shape[:2]
        if isinstance(conds[0], torch.Tensor):
            cond = np.stack([_array(c.expand(b, -1, -1).to(self.torch_dtype).transpose(1, 2)) for c in conds])
        else:
            cond = np.zeros((len(conds), b, 1, self.gate2), self.dtype)
        noise = np.ascontiguousarray(noise.numpy(), dtype=self.dtype)
        _steps(t0, t0 + n, self.prev, self.queues, self.out, self.embed, cond, *self.weights, noise, self.dtype.type(temperature),
               self.dtype.type(1))


def _array(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().numpy())
