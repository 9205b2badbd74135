"""Build the MLX Parakeet (CTC, RNN-T or TDT) from a model folder: Hugging Face, MLX community or MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.community import copy_side_files, dequantize_params, fill_community_model, save_community
from ....convert.keymap import KeyMap, apply_keymap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import ParakeetConfig, from_nemo, is_nemo_config, to_nemo
from .convert import CTC_CONV, HF, MLX_COMMUNITY, TO_MLX_COMMUNITY, fuse_lstm_biases, split_lstm_biases
from .model import Parakeet
from .tokenizer import ParakeetTokenizer


def detect_layout(config: dict) -> str:
    """'mlx' (this project's), 'mlx-community' (NeMo config + mlx-audio names) or 'hf'."""
    if is_mlx_layout(config):
        return "mlx"
    return "mlx-community" if is_nemo_config(config) else "hf"


def read_config(folder: Path) -> ParakeetConfig:
    """`config.json` (+ `preprocessor_config.json` when present, or the block the MLX layout saved)."""
    config = json.loads((folder / "config.json").read_text())
    if detect_layout(config) == "mlx-community":
        return from_nemo(config)[0]
    pre = folder / "preprocessor_config.json"
    return ParakeetConfig.from_dict(config, json.loads(pre.read_text()) if pre.is_file() else None)


def _tokenizer(folder: Path, raw: dict, cfg: ParakeetConfig) -> ParakeetTokenizer | None:
    """`tokenizer.json` if present, else the community config's `vocabulary`."""
    skip = {cfg.blank, cfg.pad_token_id}
    if (folder / "tokenizer.json").is_file():
        return ParakeetTokenizer(folder / "tokenizer.json", skip)
    if detect_layout(raw) == "mlx-community":
        return ParakeetTokenizer.from_vocabulary(from_nemo(raw)[1], skip)
    return None


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Parakeet:
    """A ready MLX Parakeet (weights loaded, tokenizer attached) from a folder."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    cfg = read_config(folder)
    state, path = read_state_dict(folder)
    layout = detect_layout(raw)
    keymap: KeyMap = {"mlx": IDENTITY, "mlx-community": MLX_COMMUNITY, "hf": HF}[layout]
    extra = {}
    if layout == "mlx-community" and cfg.decoder != "ctc":
        n = cfg.num_decoder_layers
        extra = {"optional": [f"decoder.lstm.bias_hh_l{i}" for i in range(n)], "complete": split_lstm_biases(n)}
    model = fill_community_model(Parakeet(cfg), state, keymap, raw, path, dtype, quantize, group_size, **extra)
    model.tokenizer = _tokenizer(folder, raw, cfg)
    model.source = folder
    return model


def export_mlx_community(model: Parakeet, folder: str | Path) -> Path:
    """Write `model` as mlx-audio reads it: NeMo names and `config.json`, fused LSTM biases, the CTC head as a
    kernel-1 conv (stored dequantized: a conv cannot hold quantized weights), quantized linears as they are."""
    cfg = model.config
    flat = tree_flatten(model.parameters())
    bf16 = any(v.dtype == mx.bfloat16 for _, v in flat)  # numpy has no bfloat16: through float32 and back
    params = {k: np.array(v.astype(mx.float32) if v.dtype == mx.bfloat16 else v) for k, v in flat}
    q = getattr(model, "quantization", None)
    if q:
        params = dequantize_params(params, lambda layer: layer == "ctc_head", q["bits"], q["group_size"])
    weights = apply_keymap(fuse_lstm_biases(params), TO_MLX_COMMUNITY, source="MLX Parakeet")
    if cfg.decoder == "ctc":
        weights[CTC_CONV] = weights[CTC_CONV][:, None, :]  # (classes, 1, hidden): MLX Conv1d, kernel 1
    if bf16:
        weights = {k: mx.array(v).astype(mx.bfloat16) if v.dtype == np.float32 else v for k, v in weights.items()}
    blank = cfg.blank
    vocabulary = (model.tokenizer.vocabulary(blank) if model.tokenizer is not None
                  else [f"<{i}>" for i in range(blank)])
    folder = save_community(folder, weights, to_nemo(cfg, vocabulary), getattr(model, "quantization", None))
    copy_side_files(getattr(model, "source", None), folder, ("tokenizer.json",))
    return folder
