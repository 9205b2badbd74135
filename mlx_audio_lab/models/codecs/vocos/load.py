"""Build the MLX Vocos from a folder: upstream (`config.yaml` + `pytorch_model.bin`) or the MLX layout."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
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
    model = fill_model(model, state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model
