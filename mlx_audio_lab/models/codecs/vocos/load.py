"""Build the MLX Vocos from a folder: upstream (`config.yaml` + `pytorch_model.bin`) or the MLX layout."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import apply_keymap
from ....convert.quantize import quantize_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout, quantization_of
from ....registry import read_config
from .config import VocosConfig
from .convert import KEYMAP, codebook_layout, codebook_rows
from .model import Vocos


def _config(config: dict, state: dict[str, np.ndarray]) -> VocosConfig:
    """The config; for the EnCodec variant, codebook size and count come from the stacked codebooks."""
    cfg = VocosConfig.from_dict(config)
    rows = codebook_rows(state)
    if cfg.is_encodec and rows is not None:
        fe = cfg.feature_extractor
        fe.codebook_size, fe.num_quantizers = codebook_layout(rows, max(fe.bandwidths),
                                                              fe.sample_rate / cfg.head.hop_length)
    return cfg


def _cast(v: np.ndarray, dtype: mx.Dtype) -> mx.array:
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Vocos:
    """A ready MLX Vocos from a folder; `quantize` (bits) applies to the Linear and Embedding layers."""
    folder = Path(folder)
    config = read_config(folder)
    if is_mlx_layout(config):
        state, source = read_state_dict(folder, ("model.safetensors",))
        keymap = IDENTITY
    else:
        state, source = read_state_dict(folder, ("pytorch_model.bin",))
        keymap = KEYMAP
    cfg = _config(config, state)
    model = Vocos(cfg)
    saved_q = quantization_of(config)
    if saved_q:  # quantized MLX layout: quantize the empty model so the shapes match the file
        quantize_model(model, bits=saved_q["bits"], group_size=saved_q["group_size"])
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    weights = apply_keymap(state, keymap, expected, source=str(source))
    model.load_weights([(k, _cast(v, dtype)) for k, v in weights.items()], strict=True)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    model.source = folder
    return model
