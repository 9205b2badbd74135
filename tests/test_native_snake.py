"""The direct Snake kernel (`layers/cpu/native.py`) computes what the plain MLX Snake computes: Snake and SnakeBeta,
channel counts with a partial 16-channel tile and below 16, batches; small inputs keep the plain op."""

from __future__ import annotations

import mlx.core as mx
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import native
from mlx_audio_lab.layers.snake import Snake1d, SnakeBeta, snake


@pytest.mark.parametrize("shape", [(1, 9000, 64), (2, 3001, 24), (1, 20_000, 7), (3, 1500, 96)])
@pytest.mark.parametrize("beta", [False, True])
def test_native_snake_equals_plain(monkeypatch, shape, beta):
    if native.library() is None:
        pytest.skip("the direct kernels are not built (no C compiler)")
    mx.random.seed(12)
    C = shape[-1]
    x = 3 * mx.random.normal(shape)
    alpha = mx.exp(0.5 * mx.random.normal((C,)))
    scale = mx.exp(0.5 * mx.random.normal((C,))) if beta else None
    with fm.plain_math():
        plain = snake(x, alpha, beta=scale)
    monkeypatch.setattr(fm, "snake", lambda *a, **k: pytest.fail("the compiled MLX Snake ran"))
    got = snake(x, alpha, beta=scale)
    assert got.shape == plain.shape and float(mx.abs(plain - x).max()) > 0.5  # the periodic term is not small
    assert float(mx.abs(got - plain).max()) <= 2e-6 * float(mx.abs(plain).max())


def test_snake_layers_take_the_kernel_and_small_inputs_the_plain_op(monkeypatch):
    if native.library() is None:
        pytest.skip("the direct kernels are not built (no C compiler)")
    calls: list[int] = []
    kernel = native.snake
    monkeypatch.setattr(native, "snake", lambda *a: calls.append(1) or kernel(*a))
    mx.random.seed(13)
    for layer in (Snake1d(32), SnakeBeta(32, logscale=True)):
        x = mx.random.normal((1, 4000, 32))
        with fm.plain_math():
            plain = layer(x)
        assert float(mx.abs(layer(x) - plain).max()) <= 2e-6 * float(mx.abs(plain).max())
        layer(x[:, :100])  # below the fast-path size: the plain op
    assert calls == [1, 1]
