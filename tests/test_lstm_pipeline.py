"""The pipelined LSTM stack (`layers/cpu/recurrence.lstm_stack_scan`) against torch and the plain MLX steps."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from mlx_audio_lab.layers import fast_math as fm
from mlx_audio_lab.layers.cpu import recurrence
from mlx_audio_lab.layers.lstm import LSTM

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("fast_math_on")  # every test starts with the fast paths on


@pytest.mark.parametrize("native", [True, False])
def test_stack_matches_torch_and_plain_steps(monkeypatch, native):
    """Through the C kernel (where built) and through the numpy pipeline it replaces."""
    if not native:
        monkeypatch.setattr(recurrence, "native_threads", lambda w: 0)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(48, 128, num_layers=3, batch_first=True).eval()
    port = LSTM(48, 128, num_layers=3)
    port.load_weights([(k, mx.array(3.0 * v.detach().numpy())) for k, v in ref.state_dict().items()])
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(3.0)  # gates reach both saturated ends
    x = np.random.default_rng(0).standard_normal((2, 130, 48)).astype(np.float32)
    calls = []
    original = recurrence.lstm_stack_scan
    monkeypatch.setattr("mlx_audio_lab.layers.lstm.lstm_stack_scan", lambda *a: calls.append(1) or original(*a))
    got = np.array(port(mx.array(x)))
    assert calls == [1]
    with fm.plain_math():
        plain = np.array(port(mx.array(x)))
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0].numpy()
    assert want.std() > 0.1
    assert np.abs(got - want).max() < 1e-5 and np.abs(plain - want).max() < 1e-5


def test_stack_continues_from_a_state_as_one_call():
    """`LSTM.run` in two chunks, each through the pipeline, equals the plain path over the whole sequence."""
    mx.random.seed(1)
    port = LSTM(32, 128, num_layers=2)
    port.update({k: 2.0 * v if k.startswith("weight") else v + 0.3 * mx.random.normal(v.shape)
                 for k, v in port.parameters().items()})
    x = mx.random.normal((1, 170, 32))
    assert recurrence.lstm_stack_active(x[:, :80], 2, port.weight_hh_l0)
    y1, s1 = port.run(x[:, :80])
    y2, s2 = port.run(x[:, 80:], s1)
    with fm.plain_math():
        want, s_want = port.run(x)
    assert float(want.std()) > 0.1
    assert np.abs(np.array(mx.concatenate([y1, y2], axis=1)) - np.array(want)).max() < 1e-5
    for (h, c), (h_w, c_w) in zip(s2, s_want):
        assert np.abs(np.array(h) - np.array(h_w)).max() < 1e-5 and np.abs(np.array(c) - np.array(c_w)).max() < 1e-5


def test_short_or_single_layer_inputs_keep_the_layer_loop():
    x = mx.zeros((1, 2 * recurrence.PIPELINE_BLOCK - 1, 16))
    w = mx.zeros((512, 128))  # large enough for the fast paths: the other conditions decide
    assert recurrence.lstm_stack_active(mx.zeros((1, 400, 16)), 2, w)
    assert not recurrence.lstm_stack_active(x, 2, w)
    assert not recurrence.lstm_stack_active(mx.zeros((1, 400, 16)), 1, w)
    with fm.plain_math():
        assert not recurrence.lstm_stack_active(mx.zeros((1, 400, 16)), 2, w)
