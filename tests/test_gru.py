"""The shared GRU against torch.nn.GRU (same weights, same input)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("hidden,layers", [(32, 1), (64, 2)])
def test_gru_matches_torch(hidden, layers):
    from mlx_audio_lab.layers.gru import GRU

    torch.manual_seed(0)
    ref = torch.nn.GRU(24, hidden, num_layers=layers, batch_first=True).eval()
    port = GRU(24, hidden, num_layers=layers)
    port.load_weights([(k, mx.array(v.detach().numpy())) for k, v in ref.state_dict().items()])
    x = np.random.default_rng(0).standard_normal((2, 50, 24)).astype(np.float32)
    h0 = np.random.default_rng(1).standard_normal((layers, 2, hidden)).astype(np.float32) * 0.5
    with torch.no_grad():
        want, want_h = (t.numpy() for t in ref(torch.from_numpy(x), torch.from_numpy(h0)))
    got, got_h = port(mx.array(x), mx.array(h0))
    assert want.std() > 0.05  # the outputs vary
    assert np.abs(np.array(got) - want).max() < 1e-5
    assert np.abs(np.array(got_h) - want_h).max() < 1e-5
