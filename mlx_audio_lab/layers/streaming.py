"""Streaming (chunk by chunk) runs of the causal SEANet convs in `conv.py`, with explicit state.

The state is a plain dict: module path -> what the next chunk needs. A causal conv keeps its last
`padding_total` inputs (its left context); a transposed conv keeps the `kernel - stride` output samples that
overlap the next chunk (overlap-add). With chunks whose lengths are multiples of the strides, the streamed
output equals the full-sequence output of the same layers, up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn

from .conv import SEANetResnetBlock, StreamableConv1d, StreamableConvTranspose1d, extra_padding, pad1d
from .lstm import ResidualLSTM

ConvState = dict[str, mx.array]


def conv1d_step(layer: StreamableConv1d, x: mx.array, state: ConvState, key: str, final: bool = False) -> mx.array:
    """One chunk (B, T, C_in) through a causal conv, T a multiple of its stride -> (B, T / stride, C_out).

    The `final` chunk may have any length: it gets the right padding a full run adds at the end."""
    if not layer.causal:
        raise ValueError(f"{key}: only causal convolutions can stream")
    if "norm" in layer:
        raise ValueError(f"{key}: GroupNorm over time cannot stream")
    pad = layer.padding_total
    if key not in state:  # the left padding a full run would add: zeros, the first sample repeated, or reflected
        if layer.pad_mode == "reflect":
            if x.shape[1] <= pad:
                raise ValueError(f"{key}: the first chunk must be longer than the padding ({pad}) to reflect it")
            state[key] = x[:, 1 : pad + 1][:, ::-1]
        else:
            edge = x[:, :1] if layer.pad_mode == "replicate" else mx.zeros_like(x[:, :1])
            state[key] = mx.repeat(edge, pad, axis=1)
    full = mx.concatenate([state[key], x], axis=1) if pad else x
    state[key] = full[:, full.shape[1] - pad :]
    if final:
        full = pad1d(full, 0, extra_padding(x.shape[1], layer.kernel, layer.stride, layer.padding_total),
                     layer.pad_mode)
    return layer.conv(full)


def conv_transpose1d_step(layer: StreamableConvTranspose1d, x: mx.array, state: ConvState, key: str) -> mx.array:
    """One chunk (B, T, C_in) through a causal transposed conv -> (B, T * stride, C_out), overlap-added."""
    if layer.left != 0:
        raise ValueError(f"{key}: only transposed convs trimmed fully on the right (causal) can stream")
    y = layer.conv(x)
    overlap = layer.right
    n = y.shape[1] - overlap
    if overlap:
        if key in state:
            y = mx.concatenate([y[:, :overlap] + state[key], y[:, overlap:]], axis=1)
        tail = y[:, n:]
        if "bias" in layer.conv:  # the bias is added once, by the chunk that emits these samples
            tail = tail - layer.conv.bias
        state[key] = tail
    out = y[:, :n]
    return layer.norm(out) if "norm" in layer else out


def resnet_step(block: SEANetResnetBlock, x: mx.array, state: ConvState, key: str, final: bool = False) -> mx.array:
    """One chunk through a SEANet residual block."""
    h = layers_step(block.block, x, state, f"{key}.block", final)
    skip = conv1d_step(block.shortcut, x, state, f"{key}.shortcut", final) if "shortcut" in block else x
    return skip + h


def layers_step(layers: Sequence[nn.Module], x: mx.array, state: ConvState, key: str, final: bool = False) -> mx.array:
    """One chunk through a list of SEANet layers (convs, transposed convs, residual blocks, LSTMs, activations)."""
    for i, layer in enumerate(layers):
        x = layer_step(layer, x, state, f"{key}.{i}", final)
    return x


def layer_step(layer: nn.Module, x: mx.array, state: ConvState, key: str, final: bool = False) -> mx.array:
    """One chunk through one layer; an LSTM carries its (h, c); stateless layers (ELU, ...) are simply called."""
    if isinstance(layer, StreamableConv1d):
        return conv1d_step(layer, x, state, key, final)
    if isinstance(layer, StreamableConvTranspose1d):
        return conv_transpose1d_step(layer, x, state, key)
    if isinstance(layer, SEANetResnetBlock):
        return resnet_step(layer, x, state, key, final)
    if isinstance(layer, ResidualLSTM):
        y, state[key] = layer.lstm.run(x, state.get(key))
        return y + x
    return layer(x)
