"""The C LSTM recurrence (`layers/cpu/lstm_kernels.c` through `lstm_native` / `recurrence`) against torch, the
plain MLX steps and the numpy loop it replaces."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import lstm_native, recurrence
from mlx_audio_lab.layers.lstm import LSTM

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.usefixtures("fast_math_on"),
              pytest.mark.skipif(lstm_native.library() is None, reason="no C compiler: the numpy loop runs")]


def _pair(d_in: int, hidden: int, layers: int, gain: float = 3.0, bidirectional: bool = False):
    torch.manual_seed(hidden + layers)
    ref = torch.nn.LSTM(d_in, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(gain)  # gates reach both saturated ends
    port = LSTM(d_in, hidden, num_layers=layers, bidirectional=bidirectional)
    port.load_weights([(k, mx.array(v.detach().numpy())) for k, v in ref.state_dict().items()])
    return ref, port


@pytest.mark.parametrize("batch, hidden, layers", [(1, 512, 2), (2, 256, 1), (1, 200, 2)])
def test_kernel_matches_torch_plain_steps_and_numpy_loop(monkeypatch, batch, hidden, layers):
    """Real EnCodec size (512 units, split over the cores), a batch, and a size the kernel declines (200 units)."""
    ref, port = _pair(32, hidden, layers, gain=2.5 if hidden == 512 else 3.0)
    x = (4.0 if hidden == 512 else 1.0) * np.random.default_rng(hidden).standard_normal((batch, 60, 32))
    x = x.astype(np.float32)
    used = []
    original = recurrence._native_layer
    monkeypatch.setattr(recurrence, "_native_layer", lambda *a: used.append(a[-1]) or original(*a))
    got = np.array(port(mx.array(x)))
    assert bool(used) == (hidden % 16 == 0 and 4 * hidden * hidden >= fm.MIN_FAST_SIZE)
    if hidden == 512:
        assert used[0] == recurrence.native_threads(port.weight_hh_l0)
    monkeypatch.setattr(recurrence, "native_threads", lambda w: 0)
    loop = np.array(port(mx.array(x)))
    with fm.plain_math():
        plain = np.array(port(mx.array(x)))
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0].numpy()
    assert want.std() > 0.1
    for y in (got, loop, plain):
        assert np.abs(y - want).max() < 1e-5, [float(np.abs(v - want).max()) for v in (got, loop, plain)]


def test_thread_split_is_bit_identical():
    """Each gate column sums over the same k in the same order whoever computes it: 1, 2 or 4 threads agree."""
    H, T = 128, 40
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4 * H, H)) * 0.3).astype(np.float32)
    gx = rng.standard_normal((T, 2, 4 * H)).astype(np.float32)
    h0 = rng.standard_normal((2, H)).astype(np.float32) * 0.5
    outs = []
    for threads in (1, 2, 4):
        c = np.full((2, H), 0.25, np.float32)
        out = np.empty((T, 2, H), np.float32)
        lstm_native.layer(gx, lstm_native.thread_weights(w, threads), h0, c, out)
        outs.append((out, c))
    for out, c in outs[1:]:
        assert np.array_equal(out, outs[0][0]) and np.array_equal(c, outs[0][1])
    assert outs[0][0].std() > 0.1


def test_blocks_taken_over_by_another_thread_are_bit_identical(monkeypatch):
    """With no grace every idle thread takes any block not yet started (a descheduled partner's, as on a busy
    machine): 2 and 4 threads on this machine's cores still give one thread's numbers, bit for bit."""
    H, T = 128, 60
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((4 * H, H)) * 0.3).astype(np.float32)
    gx = rng.standard_normal((T, 1, 4 * H)).astype(np.float32)
    h0 = np.zeros((1, H), np.float32)
    runs = []
    for threads, grace in ((1, lstm_native.GRACE_NS), (2, 0), (4, 0), (4, 10**9)):
        monkeypatch.setattr(lstm_native, "GRACE_NS", grace)
        c, out = np.zeros((1, H), np.float32), np.empty((T, 1, H), np.float32)
        lstm_native.layer(gx, lstm_native.thread_weights(w, threads), h0, c, out)
        runs.append((out, c))
    for out, c in runs[1:]:
        assert np.array_equal(out, runs[0][0]) and np.array_equal(c, runs[0][1])
    assert runs[0][0].std() > 0.1


def test_bidirectional_and_state_continuation():
    """Both directions through the kernel, and `LSTM.run` in two chunks equal to the plain path in one."""
    ref, port = _pair(24, 128, 2, bidirectional=True)
    x = np.random.default_rng(3).standard_normal((1, 70, 24)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0].numpy()
    assert np.abs(np.array(port(mx.array(x))) - want).max() < 1e-5
    _, uni = _pair(24, 256, 2)
    xs = mx.array(x)
    y1, s1 = uni.run(xs[:, :55])
    y2, s2 = uni.run(xs[:, 55:], s1)
    with fm.plain_math():
        whole, s_want = uni.run(xs)
    assert np.abs(np.array(mx.concatenate([y1, y2], axis=1)) - np.array(whole)).max() < 1e-5
    for (h, c), (h_w, c_w) in zip(s2, s_want):
        assert np.abs(np.array(h) - np.array(h_w)).max() < 1e-5 and np.abs(np.array(c) - np.array(c_w)).max() < 1e-5


def test_threads_for_keeps_shares_a_multiple_of_16():
    assert lstm_native.threads_for(512, 2) == 2
    assert lstm_native.threads_for(80, 2) == 1  # 80 = 5 x 16: no even split in two
    assert lstm_native.threads_for(8, 2) == 0  # below one vector
    assert lstm_native.threads_for(96, 4) == 3
