"""A multi-layer LSTM with PyTorch's parameter names and gate order (i, f, g, o), channels-last.

Bidirectional layers add torch's `*_reverse` weights and concatenate [forward, backward] features.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .cpu.gemv import project
from .cpu.recurrence import lstm_scan, lstm_scan_active, lstm_scans, lstm_stack_active, lstm_stack_scan
from .gpu.lstm import gpu_lstm_active, lstm_scan_gpu, lstm_scans_gpu


@mx.compile
def _cell(gates_x: mx.array, gates_h: mx.array, c: mx.array) -> tuple[mx.array, mx.array]:
    """One LSTM step from its gate pre-activations (i, f, g, o), input and recurrent parts: one fused kernel."""
    i, f, g, o = mx.split(gates_x + gates_h, 4, axis=-1)
    c = mx.sigmoid(f) * c + mx.sigmoid(i) * mx.tanh(g)
    return mx.sigmoid(o) * mx.tanh(c), c


class LSTM(nn.Module):
    """`torch.nn.LSTM(input_size, hidden_size, num_layers, bidirectional=...)`; weights load by their torch names.

    Input is (B, T, C) (torch's `batch_first=True`) unless `batch_first=False`, then (T, B, C).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 bidirectional: bool = False, batch_first: bool = True):
        super().__init__()
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        self.bidirectional, self.batch_first = bidirectional, batch_first
        scale = hidden_size ** -0.5
        dirs = ("", "_reverse") if bidirectional else ("",)
        for n in range(num_layers):
            d_in = input_size if n == 0 else hidden_size * len(dirs)
            for sfx in dirs:
                setattr(self, f"weight_ih_l{n}{sfx}", mx.random.uniform(-scale, scale, (4 * hidden_size, d_in)))
                setattr(self, f"weight_hh_l{n}{sfx}",
                        mx.random.uniform(-scale, scale, (4 * hidden_size, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_l{n}{sfx}", mx.zeros((4 * hidden_size,)))
                    setattr(self, f"bias_hh_l{n}{sfx}", mx.zeros((4 * hidden_size,)))

    def _layer(self, x: mx.array, n: int, sfx: str = "") -> mx.array:
        return self._run_layer(x, n, sfx)[0]

    def _run_layer(self, x: mx.array, n: int, sfx: str = "",
                   init: tuple[mx.array, mx.array] | None = None) -> tuple[mx.array, mx.array, mx.array]:
        """One layer over (B, T, C) from state `init` (zeros if None) -> (outputs, last h, last c)."""
        w_ih, w_hh = self[f"weight_ih_l{n}{sfx}"], self[f"weight_hh_l{n}{sfx}"]
        if sfx:  # the backward direction: run over reversed time, then flip back
            x = x[:, ::-1]
        gates_x = x @ w_ih.T  # (B, T, 4H): the input part of every step at once
        if self.bias:
            gates_x = gates_x + (self[f"bias_ih_l{n}{sfx}"] + self[f"bias_hh_l{n}{sfx}"])
        B, T, _ = x.shape
        h, c = init if init is not None else (mx.zeros((B, self.hidden_size), x.dtype),) * 2
        if gpu_lstm_active(gates_x, w_hh):  # the whole recurrence in one CUDA launch (layers/gpu/lstm.py)
            y, h, c = lstm_scan_gpu(gates_x, w_hh, h, c)
            return (y[:, ::-1] if sfx else y), h, c
        if lstm_scan_active(gates_x, w_hh):  # the CPU's one-loop recurrence (layers/cpu/recurrence.py)
            y, h, c = lstm_scan(gates_x, w_hh, h, c)
            return (y[:, ::-1] if sfx else y), h, c
        out = []
        for t in range(T):  # the recurrent product of one row goes to the BLAS's GEMV on the CPU
            h, c = _cell(gates_x[:, t], project(h, w_hh), c)
            out.append(h)
        y = mx.stack(out, axis=1)
        return (y[:, ::-1] if sfx else y), h, c

    def _gates(self, x: mx.array, n: int, sfx: str) -> mx.array:
        """The input part of every step's gates, both biases in: (B, T, C) -> (B, T, 4H)."""
        gates_x = x @ self[f"weight_ih_l{n}{sfx}"].T
        return gates_x + (self[f"bias_ih_l{n}{sfx}"] + self[f"bias_hh_l{n}{sfx}"]) if self.bias else gates_x

    def _both_directions(self, x: mx.array, n: int) -> list[mx.array]:
        """Layer n's forward and backward outputs from zero states; on the CPU the two recurrences run side by
        side on two threads (`lstm_scans`)."""
        gates = [self._gates(x, n, ""), self._gates(x[:, ::-1], n, "_reverse")]
        w_hh = [self[f"weight_hh_l{n}"], self[f"weight_hh_l{n}_reverse"]]
        zeros = mx.zeros((x.shape[0], self.hidden_size), x.dtype)
        if gpu_lstm_active(gates[0], w_hh[0]):  # both directions in one CUDA launch
            (fwd, _, _), (bwd, _, _) = lstm_scans_gpu([(g, w, zeros, zeros) for g, w in zip(gates, w_hh)])
            return [fwd, bwd[:, ::-1]]
        if not all(lstm_scan_active(g, w) for g, w in zip(gates, w_hh)):
            return [self._layer(x, n), self._layer(x, n, "_reverse")]
        (fwd, _, _), (bwd, _, _) = lstm_scans([(g, w, zeros, zeros) for g, w in zip(gates, w_hh)])
        return [fwd, bwd[:, ::-1]]

    def _stacked(self, x: mx.array, state: list[tuple[mx.array, mx.array]] | None
                 ) -> tuple[mx.array, list[tuple[mx.array, mx.array]]]:
        """All layers of a unidirectional LSTM at once, pipelined over threads on the CPU (`lstm_stack_scan`)."""
        gates_x = x @ self.weight_ih_l0.T
        bias = [self[f"bias_ih_l{n}"] + self[f"bias_hh_l{n}"] if self.bias else None for n in range(self.num_layers)]
        if self.bias:
            gates_x = gates_x + bias[0]
        if state is None:
            zeros = mx.zeros((x.shape[0], self.hidden_size), x.dtype)
            state = [(zeros, zeros)] * self.num_layers
        weights = [(self[f"weight_ih_l{n}"], self[f"weight_hh_l{n}"], bias[n]) for n in range(self.num_layers)]
        return lstm_stack_scan(gates_x, weights, state)

    def run(self, x: mx.array, state: list[tuple[mx.array, mx.array]] | None = None
            ) -> tuple[mx.array, list[tuple[mx.array, mx.array]]]:
        """Continue a unidirectional batch-first LSTM: (B, T, C) and the (h, c) per layer a previous call returned
        (None: zeros) -> (outputs, the new state). Chunks run this way equal one call on the whole sequence."""
        if self.bidirectional or not self.batch_first:
            raise ValueError("only a unidirectional, batch-first LSTM can be continued chunk by chunk")
        if lstm_stack_active(x, self.num_layers, self.weight_hh_l0):
            return self._stacked(x, state)
        new = []
        for n in range(self.num_layers):
            x, h, c = self._run_layer(x, n, "", None if state is None else state[n])
            new.append((h, c))
        return x, new

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, input_size) -> (B, T, D * hidden_size): the last layer's hidden states (zero initial state)."""
        if not self.batch_first:
            x = x.swapaxes(0, 1)
        if not self.bidirectional and lstm_stack_active(x, self.num_layers, self.weight_hh_l0):
            x = self._stacked(x, None)[0]
            return x if self.batch_first else x.swapaxes(0, 1)
        for n in range(self.num_layers):
            if self.bidirectional:
                x = mx.concatenate(self._both_directions(x, n), axis=-1)
            else:
                x = self._layer(x, n)
        return x if self.batch_first else x.swapaxes(0, 1)


class ResidualLSTM(nn.Module):
    """SEANet's LSTM block: `lstm(x) + x` over time (transformers' `EncodecLSTM`, Mimi's `StreamingLSTM`)."""

    def __init__(self, dim: int, num_layers: int = 2):
        super().__init__()
        self.lstm = LSTM(dim, dim, num_layers)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, dim) -> (B, T, dim)."""
        return self.lstm(x) + x


class LSTMCell(nn.Module):
    """`torch.nn.LSTMCell(input_size, hidden_size)`: one step at a time, state carried by the caller."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.hidden_size, self.bias = hidden_size, bias
        scale = hidden_size ** -0.5
        self.weight_ih = mx.random.uniform(-scale, scale, (4 * hidden_size, input_size))
        self.weight_hh = mx.random.uniform(-scale, scale, (4 * hidden_size, hidden_size))
        if bias:
            self.bias_ih = mx.zeros((4 * hidden_size,))
            self.bias_hh = mx.zeros((4 * hidden_size,))

    def input_gates(self, x: mx.array) -> mx.array:
        """(..., input_size) -> (..., 4H): the input part of the gates (with both biases), for many steps at once."""
        gates = x @ self.weight_ih.T
        return gates + (self.bias_ih + self.bias_hh) if self.bias else gates

    def step(self, gates_x: mx.array, h: mx.array, c: mx.array) -> tuple[mx.array, mx.array]:
        """One step from precomputed input gates (B, 4H) and the state (B, H) x 2 -> new (h, c)."""
        return _cell(gates_x, project(h, self.weight_hh), c)

    def scan(self, x: mx.array, h: mx.array, c: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """Steps over (B, T, input_size) from state (h, c) -> (hidden states (B, T, H), last h, last c)."""
        gates_x = self.input_gates(x)
        if gpu_lstm_active(gates_x, self.weight_hh):
            return lstm_scan_gpu(gates_x, self.weight_hh, h, c)
        if lstm_scan_active(gates_x, self.weight_hh):
            return lstm_scan(gates_x, self.weight_hh, h, c)
        out = []
        for t in range(x.shape[1]):
            h, c = self.step(gates_x[:, t], h, c)
            out.append(h)
        return mx.stack(out, axis=1), h, c

    def __call__(self, x: mx.array, state: tuple[mx.array, mx.array] | None = None) -> tuple[mx.array, mx.array]:
        """(B, input_size), optional (h, c) each (B, H) -> (h, c); no state means zeros, as in torch."""
        if state is None:
            zeros = mx.zeros((x.shape[0], self.hidden_size), x.dtype)
            state = (zeros, zeros)
        return self.step(self.input_gates(x), *state)
