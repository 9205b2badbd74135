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
