"""compare_modules: auto-matched parity of torch modules written here against their MLX twins."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlx_audio_lab.layers.attention import MultiHeadAttention  # noqa: E402
from mlx_audio_lab.layers.lstm import LSTM  # noqa: E402
from mlx_audio_lab.parity import TapPoint, compare, tap  # noqa: E402
from mlx_audio_lab.parity.modules import compare_modules, infer_layout  # noqa: E402
from mlx_audio_lab.parity.torch_hooks import capture_torch  # noqa: E402
from mlx_audio_lab.taps import capture  # noqa: E402


class TorchConvStack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(3, 8, 3, padding=1)
        self.act = torch.nn.GELU()
        self.conv2 = torch.nn.Conv1d(8, 4, 5, padding=2)
        self.norm = torch.nn.LayerNorm(4)

    def forward(self, x):  # (B, C, T)
        y = self.conv2(self.act(self.conv1(x)))
        return self.norm(y.transpose(1, 2))


class MlxConvStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(3, 8, 3, padding=1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv1d(8, 4, 5, padding=2)
        self.norm = nn.LayerNorm(4)

    def __call__(self, x):  # (B, T, C)
        h = tap("conv1", self.conv1(x))
        h = tap("conv2", self.conv2(self.act(h)))
        return tap("norm", self.norm(h))


def _twin_conv_stack(seed: int = 0):
    torch.manual_seed(seed)
    ref = TorchConvStack().eval()
    with torch.no_grad():
        ref.norm.weight.normal_(1, 0.1)
        ref.norm.bias.normal_(0, 0.1)
    port = MlxConvStack()
    sd = {k: v.numpy() for k, v in ref.state_dict().items()}
    weights = [(k, mx.array(v.transpose(0, 2, 1) if v.ndim == 3 else v)) for k, v in sd.items()]
    port.load_weights(weights, strict=True)
    x = np.random.default_rng(seed).standard_normal((2, 3, 20)).astype(np.float32)
    return port, ref, mx.array(x.transpose(0, 2, 1)), torch.from_numpy(x)


def test_layout_inference():
    assert infer_layout((2, 8, 20), (2, 8, 20)) == (0, 1, 2)
    assert infer_layout((2, 8, 20), (2, 20, 8)) == (0, 2, 1)
    assert infer_layout((2, 3, 4, 5), (2, 4, 5, 3)) == (0, 2, 3, 1)
    assert infer_layout((2, 8), (2, 9)) is None


def test_auto_report_equals_hand_declared():
    port, ref, x, xt = _twin_conv_stack()
    auto = compare_modules(port, ref, (x,), (xt,))
    assert [r.name for r in auto.layers] == ["conv1", "act", "conv2", "norm"]
    assert auto.ok and auto.first_divergence is None
    points = [TapPoint("conv1", "conv1", layout="channels_first"), TapPoint("conv2", "conv2", layout="channels_first"),
              TapPoint("norm", "norm")]
    with capture() as mlx_acts:
        port(x)
    ref_acts, _ = capture_torch(ref, [p.ref for p in points], lambda: ref(xt))
    hand = compare("hand", points, mlx_acts, ref_acts, True)
    auto_rows = {r.name: r for r in auto.layers}
    for row in hand.layers:
        assert auto_rows[row.name].max_abs == row.max_abs and auto_rows[row.name].shape == row.shape


def test_planted_bug_is_the_first_divergence_and_zoom_tells_inherited_from_wrong():
    port, ref, x, xt = _twin_conv_stack()
    port.conv1.bias = port.conv1.bias + 0.5  # planted bug in the first conv
    report = compare_modules(port, ref, (x,), (xt,))
    assert report.first_divergence == "conv1" and not report.ok
    wrong, inherited = report.zoom("conv1"), report.zoom("conv2")
    assert not wrong.isolated.ok and "itself is wrong" in wrong.verdict
    assert not inherited.inherited.ok and inherited.isolated.ok and "inherited" in inherited.verdict
    assert inherited.isolated.max_abs < 1e-5


class TorchAttention(torch.nn.Module):
    """A tuple-returning attention block with the HF projection names."""

    def __init__(self, d: int = 16, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = torch.nn.Linear(d, d), torch.nn.Linear(d, d, bias=False)
        self.v_proj, self.out_proj = torch.nn.Linear(d, d), torch.nn.Linear(d, d)

    def forward(self, x):
        B, T, D = x.shape
        split = lambda t: t.view(B, T, self.heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.softmax(q @ k.transpose(-1, -2) / (D // self.heads) ** 0.5, dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(B, T, D)), None, w


def test_attention_tuple_outputs_and_lstm():
    torch.manual_seed(1)
    ref = TorchAttention().eval()
    port = MultiHeadAttention(16, 4)
    port.load_weights([(k, mx.array(v.numpy())) for k, v in ref.state_dict().items()], strict=True)
    x = np.random.default_rng(1).standard_normal((1, 7, 16)).astype(np.float32)
    report = compare_modules(port, ref, (mx.array(x),), (torch.from_numpy(x),))
    assert [r.name for r in report.layers] == ["q_proj", "k_proj", "v_proj", "out_proj"] and report.ok

    lstm_ref = torch.nn.LSTM(5, 6, num_layers=2, batch_first=True).eval()
    lstm = LSTM(5, 6, num_layers=2)
    lstm.load_weights([(k, mx.array(v.numpy())) for k, v in lstm_ref.state_dict().items()], strict=True)
    seq = np.random.default_rng(2).standard_normal((1, 9, 5)).astype(np.float32)
    lstm_report = compare_modules(lstm, lstm_ref, (mx.array(seq),), (torch.from_numpy(seq),))
    assert lstm_report.outputs_match and "final output" in lstm_report.outputs_note


def test_generation_step_callables_and_name_map():
    port, ref, x, xt = _twin_conv_stack(3)
    step = compare_modules(port, ref, x, xt, taps=["conv2"], mlx_call=lambda m, i: m(i)[:, -1],
                           torch_call=lambda m, i: m(i)[:, -1])
    assert [r.name for r in step.layers] == ["conv2"] and step.ok
    with pytest.raises(KeyError, match="not in both module trees"):
        compare_modules(port, ref, x, xt, taps=["nope"])


def test_report_keeps_both_sides_for_the_inspector():
    from mlx_audio_lab.inspect import ParityRun

    port, ref, x, xt = _twin_conv_stack(4)
    report = compare_modules(port, ref, (x,), (xt,))
    run = ParityRun(report, **report.tensors)
    got, want = run.pair("conv1")
    assert got.shape == want.shape == (2, 20, 8)  # the reference laid out channels-last, as the MLX side
    assert np.abs(got - want).max() == report.layers[0].max_abs
