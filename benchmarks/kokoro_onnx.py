"""The port against onnxruntime running Kokoro-82M's int8 ONNX graph itself: level, mel distance, correlation.

Why the graph is louder (3.0 to 3.3 dB measured): its iSTFT is StyleTTS 2's `STFT.inverse` (conv-transpose
with a pseudo-inverse basis, divided by the window's sum of squares, times n_fft / hop). The exporter traced
that sum as a constant of one frame (`window_sum`, 20 values = hann(20)^2), so only the first 20 samples are
divided by it; everywhere else the overlap-added frames keep the steady-state sum of hann(20)^2 at hop 5, 1.5.
The graph's audio is exactly 1.5x (+3.52 dB) a correct iSTFT of its own spectrum (`graph_istft_gain`), while
`kokoro.KModel` (torch.istft) and this port normalise. The weights are not the cause: every ConvInteger /
MatMulInteger recomputed from our dequantized weights matches the graph (`integer_node_errors`), and the
stages up to `conv_post` agree in level (`stage_gains`). The rest of the gap (-0.2 to -0.5 dB) and the
spectral differences come from the graph's dynamic int8 quantization of activations. The graph's harmonic
source is deterministic (no random initial phases, no noise), so the port runs with zero source noise here.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from mlx_audio_lab.dsp import istft, mel_filters, power_spectrogram, stft
from mlx_audio_lab.models.tts.kokoro.frontend import chunks

GRAPH_GAIN = 1.5  # sum over frames of hann(20)^2 at hop 5: what the graph never divides out
GRAPH_GAIN_DB = 20 * float(np.log10(GRAPH_GAIN))  # 3.52 dB
CONV_POST = "/decoder/decoder/generator/conv_post/Conv_output_0"  # the generator's [log |X|, phase] (B, 22, F)
# port tap -> graph tensor: the stages whose level `stage_gains` compares
STAGES = {
    "bert": "/encoder/bert/encoder/albert_layer_groups.0/albert_layers.0/full_layer_layer_norm_11/"
            "LayerNormalization_output_0",
    "predictor.duration_proj": "/encoder/predictor/duration_proj/linear_layer/Add_output_0",
    "F0": "/encoder/F0_proj/Conv_output_0",
    "N": "/encoder/N_proj/Conv_output_0",
    "text_encoder": "/encoder/text_encoder/Transpose_2_output_0",
    "decoder.decode.3": "/decoder/decoder/decode.3/Div_4_output_0",
    "decoder.generator.conv_post": CONV_POST,
}


@dataclass
class Comparison:
    """One utterance through both: durations, level difference (graph over port, dB), log-mel correlation
    and mean absolute log-mel difference after removing the graph's 1.5x (dB)."""

    text: str
    voice: str
    durations_equal: bool
    level_db: float
    mel_corr: float
    mel_l1_db: float
    port_audio: np.ndarray
    graph_audio: np.ndarray


def graph(extra_outputs: tuple[str, ...] = ()):
    """The int8 ONNX model (SHA-256 checked), with `extra_outputs` added as graph outputs."""
    import onnx

    from mlx_audio_lab.models.tts.kokoro.onnx_weights import onnx_bytes

    proto = onnx.load_from_string(onnx_bytes())
    for name in extra_outputs:
        proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return proto


def session(proto):
    """An onnxruntime CPU session on one thread (deterministic, light on a shared machine)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def inputs(model, text: str, voice: str, speed: float = 1.0) -> dict[str, np.ndarray]:
    """The graph's feeds for the first chunk of `text`: tokens wrapped in 0 ... 0, the voice's style row."""
    chunk = chunks(text, model.config.vocab, limit=model.context)[0]
    style = model.voices.style(voice, len(chunk.phonemes)).reshape(1, -1).astype(np.float32)
    return {"tokens": np.array([[0, *chunk.ids, 0]], np.int64), "style": style,
            "speed": np.array([speed], np.float32)}


def run_port(model, feeds: dict[str, np.ndarray], taps: bool = False):
    """The port on the graph's feeds with zero source noise (as the graph); (output, taps or None)."""
    from mlx_audio_lab.taps import capture

    ids, style = mx.array(feeds["tokens"]), mx.array(feeds["style"])
    speed = float(feeds["speed"][0])
    frames = int(np.array(model(ids, style, speed=speed).durations).sum())
    length = 2 * frames * model.decoder.generator.scale
    args = dict(speed=speed, rand_ini=mx.zeros((1, 9)), noise=mx.zeros((1, length, 9)))
    if not taps:
        return model(ids, style, **args), None
    with capture() as acts:
        out = model(ids, style, **args)
    return out, {k: np.array(v) for k, v in acts.items()}


def log_mel(audio: np.ndarray, sample_rate: int = 24000, floor_db: float | None = None) -> np.ndarray:
    """(frames, 80) power log-mel in dB (n_fft 1024, hop 256, Slaney mels to 12 kHz), floored at `floor_db`."""
    power = power_spectrogram(stft(mx.array(audio), 1024, 256, window="hann"))
    mel = power @ mel_filters(sample_rate, 1024, 80, 0.0, sample_rate / 2, "slaney", "slaney")
    db = np.array(10 * mx.log10(mx.maximum(mel, 1e-10)))
    return np.maximum(db, floor_db) if floor_db is not None else db


def compare(model, sess, text: str, voice: str) -> Comparison:
    """Speak `text` through the graph (onnxruntime) and the port; compare level and log-mel spectrograms
    (both floored 80 dB below the graph's peak; the shorter length when durations differ)."""
    feeds = inputs(model, text, voice)
    graph_audio = sess.run(["audio"], feeds)[0].reshape(-1)
    out, _ = run_port(model, feeds)
    port_audio = np.array(out.audio)
    n = min(len(graph_audio), len(port_audio))
    g, p = graph_audio[:n], port_audio[:n]
    level = 20 * float(np.log10(np.sqrt(np.mean(g**2)) / np.sqrt(np.mean(p**2))))
    gm = log_mel(g)
    floor = float(gm.max()) - 80
    gm, pm = np.maximum(gm, floor), log_mel(p, floor_db=floor)
    corr = float(np.corrcoef(gm.ravel(), pm.ravel())[0, 1])
    l1 = float(np.abs(pm + GRAPH_GAIN_DB - gm).mean())
    return Comparison(text, voice, len(graph_audio) == len(port_audio), level, corr, l1, port_audio, graph_audio)


def window_sum(proto) -> np.ndarray:
    """The graph's iSTFT normalisation constant (20 values: hann(20)^2 of a single frame)."""
    from onnx import numpy_helper

    return next(numpy_helper.to_array(t) for t in proto.graph.initializer if t.name.endswith("window_sum"))


def graph_istft_gain(sess, feeds: dict[str, np.ndarray], skip: int = 20) -> np.ndarray:
    """Sample by sample, the graph's audio over `dsp.istft` (torch.istft) of the graph's own generator output
    (needs a session with CONV_POST as an output); samples below 1e-4 and the first `skip` are left out."""
    audio, x = sess.run(["audio", CONV_POST], feeds)
    half = x.shape[1] // 2
    spec = np.exp(x[0, :half]) * np.exp(1j * np.sin(x[0, half:]))  # (F, frames), as the generator
    ref = np.array(istft(mx.array(spec.T[None].astype(np.complex64)), 20, 5, 20, window="hann"))[0]
    audio = audio.reshape(-1)[: ref.shape[0]]
    keep = np.abs(ref) > 1e-4
    keep[:skip] = False
    return audio[keep] / ref[keep]


def stage_gains(model, sess, feeds: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Per stage in `STAGES`: (gain graph / port in dB, relative error) on the same feeds (needs a session
    with the STAGES tensors as outputs; durations must agree for the stages after the alignment)."""
    names = list(STAGES.values())
    got = dict(zip(names, sess.run(names, feeds)))
    _, acts = run_port(model, feeds, taps=True)
    out = {}
    for tap_name, tensor in STAGES.items():
        a, b = np.squeeze(acts[tap_name]), np.squeeze(got[tensor])
        if a.shape != b.shape:
            a = a.T
        gain = 20 * float(np.log10(np.linalg.norm(b) / np.linalg.norm(a)))
        out[tap_name] = (gain, float(np.linalg.norm(a - b) / np.linalg.norm(b)))
    return out


def integer_nodes(proto) -> list[tuple[object, str, str]]:
    """(node, float input, float output) of each ConvInteger / MatMulInteger whose weight is an initializer
    and whose input comes from a DynamicQuantizeLinear; the output is the Mul by the scales (after the int32
    bias Add for convolutions)."""
    consumers: dict[str, list] = {}
    producer = {}
    for n in proto.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
        for o in n.output:
            producer[o] = n
    inits = {t.name for t in proto.graph.initializer}
    found = []
    for n in proto.graph.node:
        if n.op_type not in ("ConvInteger", "MatMulInteger") or n.input[1] not in inits:
            continue
        dq = producer.get(n.input[0])
        if dq is None or dq.op_type != "DynamicQuantizeLinear":
            continue
        cur = n.output[0]
        while consumers[cur][0].op_type in ("Add", "Cast"):
            cur = consumers[cur][0].output[0]
        found.append((n, dq.input[0], consumers[cur][0].output[0]))
    return found


def _dynamic_quantize(x: np.ndarray) -> np.ndarray:
    """ONNX DynamicQuantizeLinear (uint8, range through 0) and back to float."""
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    scale = np.float32((hi - lo) / 255) if hi > lo else np.float32(1)
    zp = np.clip(np.round(-lo / scale), 0, 255)
    return ((np.clip(np.round(x / scale) + zp, 0, 255) - zp) * scale).astype(np.float32)


def integer_node_errors(proto, weights: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """Each integer node recomputed in float from its quantized input and our dequantized weight (`weights`,
    from `onnx_weights.dequantized`), against the graph's result: max |error| / max |result|. `outputs`
    holds the graph's tensors named by `integer_nodes`. Convolution biases (rounded into int32 by the graph)
    are removed from both sides as a per-channel constant."""
    from onnx import helper

    errors = {}
    for node, x_name, y_name in integer_nodes(proto):
        x, y = _dynamic_quantize(outputs[x_name]), outputs[y_name]
        w = weights[node.input[1][: -len("_quantized")]]
        if node.op_type == "MatMulInteger":
            got = np.array(mx.array(x) @ mx.array(w))
        else:
            a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
            got = np.array(mx.conv1d(mx.array(x.transpose(0, 2, 1)), mx.array(w.transpose(0, 2, 1)),
                                     stride=a.get("strides", [1])[0], padding=a.get("pads", [0])[0],
                                     dilation=a.get("dilations", [1])[0], groups=a.get("group", 1)))
            got = got.transpose(0, 2, 1)
        d = y - got
        if d.ndim == 3:
            d = d - d.mean(axis=-1, keepdims=True)
        errors[node.name] = float(np.abs(d).max() / np.abs(y).max())
    return errors
