"""The chunked conv equals one mx.conv1d call (the GPU's long-input path, checked here on the CPU)."""

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers.long_conv import chunked_conv1d, needs_chunks


@pytest.mark.parametrize("stride,padding,dilation,groups,k", [(1, 9, 3, 1, 7), (1, 0, 1, 1, 1), (2, 3, 1, 1, 4),
                                                              (3, 5, 2, 1, 5), (1, 4, 2, 4, 3), (4, 0, 1, 2, 8)])
@pytest.mark.parametrize("max_frames", [1, 7, 64, 10_000])
def test_chunked_equals_one_call(stride, padding, dilation, groups, k, max_frames) -> None:
    rng = np.random.default_rng(stride * 100 + k)
    x = mx.array(rng.standard_normal((2, 203, 8)).astype(np.float32))
    w = mx.array(rng.standard_normal((12, k, 8 // groups)).astype(np.float32))
    want = mx.conv1d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = chunked_conv1d(x, w, stride, padding, dilation, groups, max_frames=max_frames)
    assert got.shape == want.shape
    assert float(mx.abs(got - want).max()) < 1e-5


def test_only_long_float32_gpu_inputs_are_chunked(monkeypatch) -> None:
    long = mx.zeros((1, 1 << 17, 192))
    assert not needs_chunks(mx.zeros((1, 100, 192)))
    assert needs_chunks(long) == (mx.default_device() == mx.gpu)
    assert not needs_chunks(long.astype(mx.bfloat16))  # bf16 runs whole: chunked, cuDNN's plans are ~30x slower
    monkeypatch.setenv("MLX_AUDIO_LAB_GPU_CONV_CHUNK", "0")
    assert not needs_chunks(long)
