"""A multi-layer GRU with PyTorch's parameter names and gate order (r, z, n), channels-last.

PyTorch's cell (ONNX's `linear_before_reset=1`): the reset gate scales the recurrent part *after* its
bias, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) * n + z * h.
"""

from __future__ import annotations

from contextlib import nullcontext

import mlx.core as mx
import mlx.nn as nn

from .cpu.gru import gru_scan, gru_scan_active, gru_scans
from .fast_math import cpu_streams, fast_math_active


@mx.compile
def _cell(gates_x: mx.array, gates_h: mx.array, h: mx.array) -> mx.array:
    """One GRU step from its input and recurrent pre-activations (r, z, n), each (B, 3H)."""
    xr, xz, xn = mx.split(gates_x, 3, axis=-1)
    hr, hz, hn = mx.split(gates_h, 3, axis=-1)
    r = mx.sigmoid(xr + hr)
    z = mx.sigmoid(xz + hz)
    n = mx.tanh(xn + r * hn)
    return (1 - z) * n + z * h


class GRU(nn.Module):
    """`torch.nn.GRU(input_size, hidden_size, num_layers, batch_first=True)`; weights load by their torch names."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        scale = hidden_size ** -0.5
        for n in range(num_layers):
            d_in = input_size if n == 0 else hidden_size
            setattr(self, f"weight_ih_l{n}", mx.random.uniform(-scale, scale, (3 * hidden_size, d_in)))
            setattr(self, f"weight_hh_l{n}", mx.random.uniform(-scale, scale, (3 * hidden_size, hidden_size)))
            setattr(self, f"bias_ih_l{n}", mx.random.uniform(-scale, scale, (3 * hidden_size,)))
            setattr(self, f"bias_hh_l{n}", mx.random.uniform(-scale, scale, (3 * hidden_size,)))

    def layer(self, x: mx.array, n: int, h: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """Run layer `n` over (B, T, C) from state `h` (B, H) (zeros if None) -> (outputs (B, T, H), last h)."""
        w_hh, b_hh = getattr(self, f"weight_hh_l{n}"), getattr(self, f"bias_hh_l{n}")
        gates_x = self.input_gates(x, n)
        if h is None:
            h = mx.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        if gru_scan_active(gates_x, w_hh):  # the CPU's one-loop recurrence (layers/cpu/gru.py)
            return gru_scan(gates_x, w_hh, b_hh, h)
        w_hh_t = w_hh.T
        outs = []
        for t in range(x.shape[1]):
            h = _cell(gates_x[:, t], h @ w_hh_t + b_hh, h)
            outs.append(h)
        return mx.stack(outs, axis=1), h

    def input_gates(self, x: mx.array, n: int) -> mx.array:
        """Layer `n`'s input pre-activations (r, z, n) for every frame of (B, T, C) at once -> (B, T, 3H)."""
        return x @ getattr(self, f"weight_ih_l{n}").T + getattr(self, f"bias_ih_l{n}")

    def __call__(self, x: mx.array, h0: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """(B, T, C) -> (outputs (B, T, H), final states (num_layers, B, H)); `h0` is (num_layers, B, H)."""
        finals = []
        for n in range(self.num_layers):
            x, h = self.layer(x, n, None if h0 is None else h0[n])
            finals.append(h)
        return x, mx.stack(finals)


def run_together(grus: list[GRU], xs: list[mx.array]) -> list[mx.array]:
    """Independent GRUs of equal depth, each over its input (B, T, C) from zero states -> their outputs (B, T, H).

    Layer by layer, so that on the CPU fast path each layer's recurrences run at once (`cpu.gru.gru_scans`);
    otherwise the same as calling each GRU."""
    depth = grus[0].num_layers
    if any(g.num_layers != depth for g in grus):
        return [g(x)[0] for g, x in zip(grus, xs)]
    streams = cpu_streams() if fast_math_active() else []
    for n in range(depth):
        # on the CPU fast path each GRU's input product on a CPU stream of its own: they run at once
        gates = []
        for i, (g, x) in enumerate(zip(grus, xs)):
            with mx.stream(streams[i % len(streams)]) if streams else nullcontext():
                gates.append(g.input_gates(x, n))
        weights = [(getattr(g, f"weight_hh_l{n}"), getattr(g, f"bias_hh_l{n}")) for g in grus]
        if not all(gru_scan_active(gx, w) for gx, (w, _) in zip(gates, weights)):
            xs = [g.layer(x, n)[0] for g, x in zip(grus, xs)]
            continue
        zeros = [mx.zeros((x.shape[0], g.hidden_size), x.dtype) for g, x in zip(grus, xs)]
        xs = [y for y, _ in gru_scans([(gx, w, b, h) for gx, (w, b), h in zip(gates, weights, zeros)])]
    return xs
