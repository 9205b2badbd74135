"""One Whisper encoder layer on NumPy: the BLAS for every product, numpy's SIMD loops for the rest, two threads.

MLX's CPU back end runs the layer as separate ops, each a pass over memory with the GELU's `erf` scalar; here
the layer is three phases over blocks of rows that stay in a core's cache, each block a work item of two
worker threads on a one-thread BLAS: (1) LayerNorm and one fused q/k/v product (the 1/sqrt(D) scale folded
into the query weights: it is a power of two for D = 64, so exact); (2) the attention, per head and block of
query rows (`layers/cpu/attention.py`); (3) the output projection and residual, LayerNorm, fc1, the GELU in
place (erf form, Abramowitz & Stegun 7.1.26 as `fast_math.gelu`), fc2 and residual. The caller
(`EncoderLayer`) takes this path only when no submodule it skips is wrapped or replaced, so a recorder of
module calls still sees every call (the plain path then runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from ....layers.cpu.attention import attention_into, scratch, workers
from ....layers.cpu.recurrence import one_blas_thread

if TYPE_CHECKING:
    from .model import EncoderLayer

ROWS = 128  # rows per work item of phases 1 and 3
GELU_ROWS = 32  # rows per GELU pass (4 temporaries of 32 x 1536 floats stay in the cache)

_P = np.float32(0.3275911 * 0.7071067811865476)  # 7.1.26's p, with the 1/sqrt(2) of Phi folded in
_A = tuple(np.float32(c) for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_HALF = np.float32(0.5)


class LayerWeights:
    """One encoder layer's weights as float32 NumPy, laid out for `encoder_layer` (built once per weights)."""

    def __init__(self, layer: EncoderLayer):
        a = layer.self_attn

        def f(x: mx.array) -> np.ndarray:
            return np.array(x.astype(mx.float32))

        def t(linear: nn.Linear) -> np.ndarray:  # (out, in) -> (in, out)
            return np.ascontiguousarray(f(linear.weight).T)

        def bias(linear: nn.Linear) -> np.ndarray:
            return f(linear.bias) if "bias" in linear else np.zeros(linear.weight.shape[0], np.float32)

        scale = np.float32(a.scale)
        self.qkv = np.concatenate([t(a.q_proj) * scale, t(a.k_proj), t(a.v_proj)], axis=1)  # (d, 3d)
        self.qkv_b = np.concatenate([bias(a.q_proj) * scale, bias(a.k_proj), bias(a.v_proj)])
        self.o, self.o_b = t(a.out_proj), bias(a.out_proj)
        self.fc1, self.fc1_b = t(layer.fc1), bias(layer.fc1)
        self.fc2, self.fc2_b = t(layer.fc2), bias(layer.fc2)
        self.ln1 = (f(layer.self_attn_layer_norm.weight), f(layer.self_attn_layer_norm.bias),
                    np.float32(layer.self_attn_layer_norm.eps))
        self.ln2 = (f(layer.final_layer_norm.weight), f(layer.final_layer_norm.bias),
                    np.float32(layer.final_layer_norm.eps))
        self.heads = a.heads
        self.source = source(layer)


def source(layer: EncoderLayer) -> list[int]:
    """Identities of the layer's parameter arrays: the cached NumPy copy is stale once any was replaced."""
    return [id(v) for _, v in tree_flatten(layer.parameters())]


def layer_weights(layer: EncoderLayer) -> LayerWeights:
    """The layer's `LayerWeights`, rebuilt when its weights were replaced since."""
    cached = layer.__dict__.get("_numpy_weights")
    if cached is None or cached.source != source(layer):
        cached = LayerWeights(layer)
        object.__setattr__(layer, "_numpy_weights", cached)
    return cached


def layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray, np.float32], out: np.ndarray) -> np.ndarray:
    """LayerNorm of rows x (t, d) into `out`, float32."""
    w, b, eps = norm
    np.subtract(x, x.mean(axis=1, keepdims=True), out=out)
    var = np.einsum("ij,ij->i", out, out)[:, None] / np.float32(x.shape[1])
    out *= 1.0 / np.sqrt(var + eps)
    out *= w
    out += b
    return out


def gelu_(x: np.ndarray) -> None:
    """GELU (erf form) of rows x (t, n) in place: x Phi(x) = (x + |x|) / 2 - |x| erfc(|x| / sqrt 2) / 2."""
    for r in range(0, x.shape[0], GELU_ROWS):
        xb = x[r : r + GELU_ROWS]
        shape = xb.shape
        a, t, p, e = (scratch(n, shape) for n in ("gelu_a", "gelu_t", "gelu_p", "gelu_e"))
        np.abs(xb, out=a)
        np.multiply(a, _P, out=t)
        t += np.float32(1.0)
        np.reciprocal(t, out=t)
        np.multiply(t, _A[4], out=p)
        for c in (_A[3], _A[2], _A[1], _A[0]):  # Horner: the polynomial in t
            p += c
            p *= t
        np.multiply(a, a, out=e)
        e *= np.float32(-0.5)
        np.exp(e, out=e)  # exp(-x^2 / 2): erfc(|x| / sqrt 2) = t poly(t) e
        p *= e
        p *= a  # |x| erfc(|x| / sqrt 2)
        xb += a
        xb -= p
        xb *= _HALF


def _attention_in(w: LayerWeights, x: np.ndarray, qkv: np.ndarray, rows: slice) -> None:
    """Phase 1 on rows of x (N, d): LayerNorm, then q (scaled), k, v into qkv (N, 3d)."""
    h = layer_norm(x[rows], w.ln1, scratch("ln", (rows.stop - rows.start, x.shape[1])))
    np.matmul(h, w.qkv, out=qkv[rows])
    qkv[rows] += w.qkv_b


def _attention_out_mlp(w: LayerWeights, x: np.ndarray, att: np.ndarray, rows: slice) -> None:
    """Phase 3 on rows: x += att W_o + b_o, then x += fc2(gelu(fc1(LayerNorm(x))))."""
    n, d = rows.stop - rows.start, x.shape[1]
    xr, y = x[rows], scratch("proj", (n, d))
    np.matmul(att[rows], w.o, out=y)
    y += w.o_b
    xr += y
    h = layer_norm(xr, w.ln2, scratch("ln", (n, d)))
    f = scratch("ffn", (n, w.fc1.shape[1]))
    np.matmul(h, w.fc1, out=f)
    f += w.fc1_b
    gelu_(f)
    np.matmul(f, w.fc2, out=y)
    y += w.fc2_b
    xr += y


def encoder_layer(layer: EncoderLayer, x: mx.array) -> mx.array:
    """The layer's output for x (B, T, d) float32, computed on NumPy (evaluates x)."""
    w = layer_weights(layer)
    B, T, d = x.shape
    xn = np.array(x, dtype=np.float32).reshape(B * T, d)  # a copy: updated in place
    qkv = np.empty((B * T, 3 * d), np.float32)
    att = np.empty((B * T, d), np.float32)
    blocks = [slice(r, min(r + ROWS, B * T)) for r in range(0, B * T, ROWS)]
    with one_blas_thread():
        list(workers().map(lambda rows: _attention_in(w, xn, qkv, rows), blocks))
        q3 = qkv.reshape(B, T, 3 * d)
        attention_into(q3[..., :d], q3[..., d : 2 * d], q3[..., 2 * d :], w.heads, att.reshape(B, T, d))
        list(workers().map(lambda rows: _attention_out_mlp(w, xn, att, rows), blocks))
    return mx.array(xn.reshape(B, T, d))
