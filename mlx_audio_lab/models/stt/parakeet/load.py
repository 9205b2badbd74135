"""Build the MLX Parakeet (CTC, RNN-T or TDT) from a model folder: Hugging Face or MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import apply_keymap
from ....convert.quantize import quantize_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout, quantization_of
from .config import ParakeetConfig
from .convert import HF
from .model import Parakeet
from .tokenizer import ParakeetTokenizer


def read_config(folder: Path) -> ParakeetConfig:
    """`config.json` (+ `preprocessor_config.json` when present, or the block the MLX layout saved)."""
    config = json.loads((folder / "config.json").read_text())
    pre = folder / "preprocessor_config.json"
    return ParakeetConfig.from_dict(config, json.loads(pre.read_text()) if pre.is_file() else None)


def _cast(v: np.ndarray, dtype: mx.Dtype) -> mx.array:
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Parakeet:
    """A ready MLX Parakeet (weights loaded, tokenizer attached) from a folder."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    cfg = read_config(folder)
    model = Parakeet(cfg)
    saved_q = quantization_of(raw)
    if saved_q:  # a quantized MLX-layout folder: quantize the skeleton first, then load as is
        quantize_model(model, **saved_q)
    state, path = read_state_dict(folder)
    keymap = IDENTITY if is_mlx_layout(raw) else HF
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=str(path))
    model.load_weights([(k, _cast(v, dtype)) for k, v in weights.items()], strict=True)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    tok = folder / "tokenizer.json"
    model.tokenizer = ParakeetTokenizer(tok, {cfg.blank, cfg.pad_token_id}) if tok.is_file() else None
    model.source = folder
    return model
