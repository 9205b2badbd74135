"""Cheap exp, softmax, GELU, ELU, Snake and attention for MLX's CPU back end, with the plain MLX ops as fallback.

MLX 0.32 on a Linux CPU evaluates `exp` and `erf` one scalar at a time on one thread, and they, not the
matmuls, decide a Whisper encoder's time (see `shared/cpu-performance.md`). Here they are rebuilt from
multiply-adds that `mx.compile` turns into vectorised loops: exp(x) = 2^n * e^r with n = round(x / ln 2),
r = x - n ln 2 (Cody-Waite, two constants), e^r a degree-7 polynomial and 2^n made by shifting n into a
float's exponent bits; erf is Abramowitz & Stegun 7.1.26 (the formula of MLX's and PyTorch's CPU erf).
Large attentions split their heads over two CPU streams (one thread each), so both cores work. (The CPU
kernels that replace whole MLX ops, convs and the GEMV, are in `layers/cpu/`.)

The fast paths run only when the default device is the CPU; `MLX_AUDIO_LAB_PLAIN_MATH=1` (or
`set_fast_math(False)`) forces the plain ops everywhere, which are the parity reference.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import mlx.core as mx
import mlx.nn as nn

PLAIN_ENV = "MLX_AUDIO_LAB_PLAIN_MATH"
MIN_FAST_SIZE = 1 << 16  # smaller arrays: the plain op is as fast (and keeps tiny decode steps simple)

_LOG2E = 1.4426950408889634
_LN2_HI = 0.693359375  # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI exact in 10 bits so n * _LN2_HI is exact
_LN2_LO = -2.1219444005469057e-4
_ROUND = 12582912.0  # 1.5 * 2**23: (y + _ROUND) - _ROUND rounds |y| < 2**22 to the nearest integer
_EXP_LO, _EXP_HI = -88.0, 89.0  # clamp: 2^n underflows to 0.0 below about -87.7, is +inf above about 88.4
_INV_FACT = (1.0, 1.0, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040)  # e^r Taylor terms, |r| <= ln(2) / 2

_AS_P = 0.3275911  # Abramowitz & Stegun 7.1.26: erf(y) = 1 - t * poly(t) * exp(-y^2), t = 1 / (1 + p y)
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_SQRT1_2 = 0.7071067811865476

_enabled: bool | None = None  # None: follow the environment variable
_streams: list[mx.Stream] = []


def set_fast_math(enabled: bool | None) -> None:
    """Turn the fast CPU paths on or off for this process (None: follow MLX_AUDIO_LAB_PLAIN_MATH)."""
    global _enabled
    _enabled = enabled


@contextmanager
def plain_math():
    """Within this block every op takes the plain MLX path (the parity reference)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def fast_math_active(size: int = MIN_FAST_SIZE) -> bool:
    """True when an op over `size` elements should take the fast CPU path."""
    if size < MIN_FAST_SIZE or mx.default_device() != mx.cpu:
        return False
    return _enabled if _enabled is not None else os.environ.get(PLAIN_ENV) != "1"


def cpu_streams() -> list[mx.Stream]:
    """Two CPU streams (each evaluates on its own thread), made once."""
    if not _streams:
        _streams.extend(mx.new_stream(mx.cpu) for _ in range(2))
    return _streams


# exp: four short kernels. MLX fuses at most 11 ops deep and not across a bit cast (`view`), and g++ leaves
# its loops of maximum/minimum/where scalar (their NaN branch): so the clamp is a loop of its own.


@mx.compile
def _clamp_shift(x: mx.array, shift: mx.array) -> mx.array:
    return mx.minimum(mx.maximum(x - shift, _EXP_LO), _EXP_HI)  # NaN stays NaN


def _round(y: mx.array) -> mx.array:
    return (y + _ROUND) - _ROUND


@mx.compile
def _exp_scale_bits(x: mx.array) -> mx.array:
    n = _round(x * _LOG2E).astype(mx.int32)
    return mx.left_shift(n + 127, 23)  # the bits of the float 2^n


@mx.compile
def _exp_reduce(x: mx.array) -> mx.array:
    n = _round(x * _LOG2E)
    return (x - n * _LN2_HI) - n * _LN2_LO


@mx.compile
def _exp_poly(r: mx.array, scale: mx.array) -> mx.array:
    c = _INV_FACT
    r2 = r * r
    r4 = r2 * r2
    low = (c[0] + c[1] * r) + r2 * (c[2] + c[3] * r)  # Estrin's scheme keeps the fused graph shallow
    high = (c[4] + c[5] * r) + r2 * (c[6] + c[7] * r)
    return (low + r4 * high) * scale


def _exp_clamped(x: mx.array) -> mx.array:
    scale = _exp_scale_bits(x).view(mx.float32)
    return _exp_poly(_exp_reduce(x), scale)


def fast_exp(x: mx.array, shift: mx.array | float = 0.0) -> mx.array:
    """exp(x - shift) in float32 from multiply-adds (relative error < 2e-7 over [-87, 88]; NaN stays NaN;
    0 below about -87.7, +inf above about 88.4)."""
    if x.dtype != mx.float32:
        raise TypeError(f"fast_exp takes float32, got {x.dtype}")
    if not isinstance(shift, mx.array):
        shift = mx.array(shift, mx.float32)
    return _exp_clamped(_clamp_shift(x, shift))


def softmax(x: mx.array, axis: int = -1) -> mx.array:
    """Softmax along `axis` (float32), the fast exp on the CPU for large arrays, else `mx.softmax`."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return mx.softmax(x, axis=axis)
    p = fast_exp(x, mx.stop_gradient(x.max(axis=axis, keepdims=True)))
    return p / p.sum(axis=axis, keepdims=True)


# GELU (erf form): gelu(x) = x Phi(x) = relu(x) - |x| erfc(|x| / sqrt 2) / 2, with erfc from 7.1.26.


@mx.compile
def _gelu_exp_arg(x: mx.array) -> mx.array:
    a = mx.minimum(mx.abs(x), 13.0)  # exp(-a^2 / 2) < 1e-36 beyond
    return -0.5 * (a * a)


@mx.compile
def _gelu_finish(x: mx.array, e: mx.array) -> mx.array:
    a = mx.abs(x)
    t = 1.0 / (1.0 + (_AS_P * _SQRT1_2) * a)
    c = _AS_A
    t2 = t * t
    poly = ((c[0] + c[1] * t) + t2 * (c[2] + c[3] * t) + (t2 * t2) * c[4]) * t  # erfc(a / sqrt 2) / e
    return 0.5 * (x + a) - poly * ((0.5 * a) * e)  # ordered so the fused graph stays within 11 ops


def gelu(x: mx.array) -> mx.array:
    """GELU with the exact (erf) form; fast on the CPU for large float32 arrays, else `nn.gelu`."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return nn.gelu(x)
    return _gelu_finish(x, _exp_clamped(_gelu_exp_arg(x)))


def elu(x: mx.array) -> mx.array:
    """ELU (alpha 1): x for x > 0, exp(x) - 1 below; numpy's SIMD exp on the CPU for large float32 arrays
    (`layers/cpu/elementwise.py`: one pass of exp, not six of the multiply-add one)."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return nn.elu(x)
    from .cpu.elementwise import elu as numpy_elu

    return numpy_elu(x)


class ELU(nn.ELU):
    """`nn.ELU` computed by `elu` when alpha is 1."""

    def __call__(self, x: mx.array) -> mx.array:
        return elu(x) if self._alpha == 1.0 else super().__call__(x)


# Snake: x + sin^2(alpha x) / alpha. sin^2 has period pi, so reduce y = alpha x to r = y - n pi, |r| <= pi / 2
# (Cody-Waite, two constants) and square an odd Taylor polynomial of degree 11 (error < 6e-8 on that range).

_PI_HI = 3.140625  # exact in 8 bits: n * _PI_HI is exact for |n| < 2**16
_PI_LO = 9.676535897932795e-4
_INV_PI = 0.3183098861837907


@mx.compile
def _snake_reduce(x: mx.array, alpha: mx.array) -> mx.array:
    y = alpha * x
    n = _round(y * _INV_PI)
    return (y - n * _PI_HI) - n * _PI_LO


@mx.compile
def _snake_finish(x: mx.array, r: mx.array, inv_alpha: mx.array) -> mx.array:
    r2 = r * r
    r4 = r2 * r2
    low = (1.0 + (-1 / 6) * r2) + r4 * ((1 / 120) + (-1 / 5040) * r2)
    high = (1 / 362880) + (-1 / 39916800) * r2
    s = r * (low + (r4 * r4) * high)
    return x + inv_alpha * (s * s)


def snake(x: mx.array, alpha: mx.array, eps: float = 1e-9, beta: mx.array | None = None) -> mx.array:
    """Snake, x + sin^2(alpha x) / (alpha + eps), or SnakeBeta's x + sin^2(alpha x) / (beta + eps) when `beta` is
    given; fast on the CPU for large float32 arrays (MLX's sin is scalar)."""
    scale = alpha if beta is None else beta
    inv_alpha = mx.reciprocal(scale + eps) if eps else mx.reciprocal(scale)
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return x + inv_alpha * mx.square(mx.sin(alpha * x))
    return _snake_finish(x, _snake_reduce(x, alpha), inv_alpha)


# attention


def _attend(q: mx.array, k: mx.array, v: mx.array, mask: mx.array | None) -> mx.array:
    s = q @ k.swapaxes(-1, -2)
    if mask is not None:
        s = s + mask
    p = fast_exp(s, s.max(axis=-1, keepdims=True))
    # the row sums come out of the same matmul (a column of ones beside v); normalise (T, D), not (T, S)
    o = p @ mx.concatenate([v, mx.ones((v.shape[0], 1), v.dtype)], axis=-1)
    return o[:, :-1] / o[:, -1:]


def scaled_dot_product_attention(q: mx.array, k: mx.array, v: mx.array, scale: float,
                                 mask: mx.array | str | None = None) -> mx.array:
    """softmax(q k^T scale + mask) v for (B, H, T, D) inputs, as `mx.fast.scaled_dot_product_attention`.

    On the CPU, for large float32 score matrices, heads go in turn to two CPU streams and use the fast exp;
    `mask` may then be additive (float), boolean (True = attend) or "causal"."""
    B, H, T, D = q.shape
    S = k.shape[2]
    if q.dtype != mx.float32 or k.shape[1] != H or not fast_math_active(H * T * S):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"unknown attention mask {mask!r} (expected 'causal', an array or None)")
        mask = mx.arange(S)[None] <= mx.arange(S - T, S)[:, None]
    if mask is not None and mask.dtype == mx.bool_:
        mask = mx.where(mask, 0.0, -mx.inf)
    if mask is not None:
        mask = mx.broadcast_to(mask, (B, H, T, S))
    if scale != 1.0:
        q = q * scale
    streams = cpu_streams()
    heads = []
    for b in range(B):
        for h in range(H):
            with mx.stream(streams[(b * H + h) % len(streams)]):
                heads.append(_attend(q[b, h], k[b, h], v[b, h], None if mask is None else mask[b, h]))
    return mx.stack(heads).reshape(B, H, T, D)


# Mish: x tanh(softplus(x)). With n = e^x, tanh(log(1 + n)) = u / (u + 2), u = n (n + 2): one exp (the multiply-add
# one) and a division instead of MLX's scalar exp, log1p and tanh. x is capped at 20 first (u / (u + 2) is 1 in
# float32 from there on, and n^2 stays finite).


@mx.compile
def _mish_exp_arg(x: mx.array) -> mx.array:
    return mx.minimum(mx.maximum(x, _EXP_LO), 20.0)


@mx.compile
def _mish_finish(x: mx.array, n: mx.array) -> mx.array:
    u = n * (n + 2.0)
    return x * (u / (u + 2.0))


def mish(x: mx.array) -> mx.array:
    """Mish, x tanh(softplus(x)); fast on the CPU for large float32 arrays, else `nn.mish`."""
    if x.dtype != mx.float32 or not fast_math_active(x.size):
        return nn.mish(x)
    return _mish_finish(x, _exp_clamped(_mish_exp_arg(x)))


def batched_attention(q: mx.array, k: mx.array, v: mx.array, scale: float, mask: mx.array | None = None) -> mx.array:
    """softmax(q k^T scale + mask) v for (B, H, T, D) inputs in one graph over every head, with the fast exp on
    the CPU (short sequences, e.g. a few hundred frames: per-head streams cost more than they share); `mask`
    additive (float) or None. Else `mx.fast.scaled_dot_product_attention`."""
    B, H, T, _ = q.shape
    if q.dtype != mx.float32 or not fast_math_active(B * H * T * k.shape[2]):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
    s = (q * scale) @ k.swapaxes(-1, -2)
    if mask is not None:
        s = s + mask
    p = fast_exp(s, s.max(axis=-1, keepdims=True))
    return (p @ v) / p.sum(axis=-1, keepdims=True)
