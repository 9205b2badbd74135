"""Element-wise chains compiled into one kernel each on the GPU (each op alone is one full pass over memory)."""

from __future__ import annotations

import mlx.core as mx


@mx.compile
def snake(x: mx.array, alpha: mx.array, inv_scale: mx.array) -> mx.array:
    """x + sin^2(alpha x) / scale in one fused kernel (5 launches and 4 intermediate arrays op by op)."""
    s = mx.sin(alpha * x)
    return x + inv_scale * (s * s)


def adain(x: mx.array, gamma: mx.array, beta: mx.array, weight: mx.array, bias: mx.array) -> mx.array:
    """(1 + gamma) * (norm(x) * weight + bias) + beta, norm: each channel of (B, T, C) over time (StyleTTS 2's AdaIN,
    torch's InstanceNorm1d, biased variance, eps 1e-5); plain ops, compiled into the chains below."""
    mean = x.mean(axis=1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    return (1 + gamma) * (centred * mx.rsqrt(var + 1e-5) * weight + bias) + beta


@mx.compile
def adain_snake(x: mx.array, gamma: mx.array, beta: mx.array, weight: mx.array, bias: mx.array,
                alpha: mx.array, inv_alpha: mx.array) -> mx.array:
    """Snake(AdaIN(x)) compiled: the two moments' reductions and one fused pass for normalise, scale and Snake
    (about fourteen launches op by op)."""
    y = adain(x, gamma, beta, weight, bias)
    s = mx.sin(alpha * y)
    return y + inv_alpha * (s * s)


@mx.compile
def adain_leaky(x: mx.array, gamma: mx.array, beta: mx.array, weight: mx.array, bias: mx.array,
                slope: mx.array) -> mx.array:
    """LeakyReLU(AdaIN(x)) compiled as `adain_snake` (`slope` a scalar array, so one trace serves every slope)."""
    y = adain(x, gamma, beta, weight, bias)
    return mx.where(y >= 0, y, slope * y)
