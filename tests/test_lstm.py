"""The shared LSTM (compiled cell, GEMV recurrent product on the CPU) against torch.nn.LSTM."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("hidden,bidirectional", [(32, False), (128, False), (128, True)])
def test_lstm_matches_torch(hidden, bidirectional):
    from mlx_audio_lab.layers import fast_math as fm
    from mlx_audio_lab.layers.lstm import LSTM

    torch.manual_seed(0)
    ref = torch.nn.LSTM(48, hidden, num_layers=2, batch_first=True, bidirectional=bidirectional).eval()
    port = LSTM(48, hidden, num_layers=2, bidirectional=bidirectional)
    port.load_weights([(k, mx.array(v.detach().numpy())) for k, v in ref.state_dict().items()])
    x = np.random.default_rng(0).standard_normal((1, 300, 48)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0].numpy()
    got = np.array(port(mx.array(x)))
    with fm.plain_math():
        plain = np.array(port(mx.array(x)))
    assert got.shape == want.shape and want.std() > 0.02  # the outputs vary
    assert np.abs(got - want).max() < 1e-5
    assert np.abs(plain - want).max() < 1e-5


def test_lstm_cell_steps_and_scan_match_torch():
    """`LSTMCell`: one step from a given state, zero state by default, and a scan that carries the state."""
    from mlx_audio_lab.layers.lstm import LSTMCell

    torch.manual_seed(1)
    ref = torch.nn.LSTMCell(40, 64).eval()
    port = LSTMCell(40, 64)
    port.load_weights([(k, mx.array(v.detach().numpy())) for k, v in ref.state_dict().items()])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 50, 40)).astype(np.float32)
    h0, c0 = (rng.standard_normal((1, 64)).astype(np.float32) for _ in range(2))
    with torch.no_grad():
        h, c, want = torch.from_numpy(h0), torch.from_numpy(c0), []
        for t in range(50):
            h, c = ref(torch.from_numpy(x[:, t]), (h, c))
            want.append(h.numpy())
        first = ref(torch.from_numpy(x[:, 0]))[0].numpy()
    got, h_last, c_last = port.scan(mx.array(x), mx.array(h0), mx.array(c0))
    assert np.abs(np.array(got)[0] - np.concatenate(want)).max() < 1e-5 and np.concatenate(want).std() > 0.05
    assert np.abs(np.array(c_last) - c.numpy()).max() < 1e-5 and np.array_equal(np.array(h_last), np.array(got)[:, -1])
    assert np.abs(np.array(port(mx.array(x[:, 0]))[0]) - first).max() < 1e-6


@pytest.mark.parametrize("batch,hidden", [(1, 128), (1, 256), (3, 128)])
def test_one_loop_recurrence_equals_the_mlx_steps(monkeypatch, batch, hidden):
    """`layers/cpu/recurrence.lstm_scan` (GEMV + numpy gates, sigmoid through tanh) against the plain MLX
    steps from a nonzero state, both directions; it is the path taken on the CPU and off under plain math."""
    from mlx_audio_lab.layers import fast_math as fm
    from mlx_audio_lab.layers.cpu import recurrence
    from mlx_audio_lab.layers.lstm import LSTM

    mx.random.seed(3)
    port = LSTM(40, hidden, num_layers=1, bidirectional=True)
    # weights large enough that gates reach both saturated ends and the cell grows past 1
    port.update({k: 3.0 * v if k.startswith("weight") else v + 0.5 * mx.random.normal(v.shape)
                 for k, v in port.parameters().items()})
    x = mx.random.normal((batch, 200, 40))
    state = (0.5 * mx.random.normal((batch, hidden)), 2.0 * mx.random.normal((batch, hidden)))
    with fm.plain_math():
        assert not recurrence.lstm_scan_active(x @ port.weight_ih_l0.T, port.weight_hh_l0)
        plain_bi = port(x)
        plain, h_p, c_p = port._run_layer(x, 0, "", state)
    calls = []
    original = recurrence.lstm_scan
    monkeypatch.setattr("mlx_audio_lab.layers.lstm.lstm_scan", lambda *a: calls.append(1) or original(*a))
    original_many = recurrence.lstm_scans  # a bidirectional layer's two directions side by side: one call each
    monkeypatch.setattr("mlx_audio_lab.layers.lstm.lstm_scans",
                        lambda runs: calls.extend([1] * len(runs)) or original_many(runs))
    fast_bi = port(x)
    fast, h_f, c_f = port._run_layer(x, 0, "", state)
    assert len(calls) == 3  # both directions, then the continued layer
    assert float(plain_bi.std()) > 0.2 and float(mx.abs(c_p).max()) > 2.0  # outputs vary, the cell saturates
    assert float(mx.abs(fast_bi - plain_bi).max()) < 2e-6
    assert float(mx.abs(fast - plain).max()) < 2e-6
    assert float(mx.abs(h_f - h_p).max()) < 2e-6 and float(mx.abs(c_f - c_p).max()) < 1e-5
    assert mx.array_equal(h_f, fast[:, -1])
