"""A multi-layer LSTM with PyTorch's parameter names and gate order (i, f, g, o), channels-last."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


class LSTM(nn.Module):
    """`torch.nn.LSTM(input_size, hidden_size, num_layers)` (unidirectional); weights load by their torch names."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True):
        super().__init__()
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        scale = hidden_size ** -0.5
        for n in range(num_layers):
            d_in = input_size if n == 0 else hidden_size
            setattr(self, f"weight_ih_l{n}", mx.random.uniform(-scale, scale, (4 * hidden_size, d_in)))
            setattr(self, f"weight_hh_l{n}", mx.random.uniform(-scale, scale, (4 * hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{n}", mx.zeros((4 * hidden_size,)))
                setattr(self, f"bias_hh_l{n}", mx.zeros((4 * hidden_size,)))

    def _layer(self, x: mx.array, n: int) -> mx.array:
        w_ih, w_hh = self[f"weight_ih_l{n}"], self[f"weight_hh_l{n}"]
        gates_x = x @ w_ih.T  # (B, T, 4H): the input part of every step at once
        if self.bias:
            gates_x = gates_x + (self[f"bias_ih_l{n}"] + self[f"bias_hh_l{n}"])
        B, T, _ = x.shape
        h = mx.zeros((B, self.hidden_size), x.dtype)
        c = mx.zeros((B, self.hidden_size), x.dtype)
        out = []
        for t in range(T):
            i, f, g, o = mx.split(gates_x[:, t] + h @ w_hh.T, 4, axis=-1)
            c = mx.sigmoid(f) * c + mx.sigmoid(i) * mx.tanh(g)
            h = mx.sigmoid(o) * mx.tanh(c)
            out.append(h)
        return mx.stack(out, axis=1)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, input_size) -> (B, T, hidden_size): the last layer's hidden states (zero initial state)."""
        for n in range(self.num_layers):
            x = self._layer(x, n)
        return x


class ResidualLSTM(nn.Module):
    """SEANet's LSTM block: `lstm(x) + x` over time (transformers' `EncodecLSTM`, Mimi's `StreamingLSTM`)."""

    def __init__(self, dim: int, num_layers: int = 2):
        super().__init__()
        self.lstm = LSTM(dim, dim, num_layers)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim) -> (B, T, dim)."""
        return self.lstm(x) + x
