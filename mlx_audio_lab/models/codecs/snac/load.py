"""Build the MLX SNAC from a model folder: upstream layout (config.json + pytorch_model.bin) or MLX layout."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ..dac.load import read_checkpoint
from .config import SnacConfig
from .convert import HF_KEYMAP, prepare
from .model import Snac


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Snac:
    """A ready MLX SNAC from a folder. `quantize` applies to the attention's Linear layers (when present).

    `pytorch_model.bin` is read with `torch.load(weights_only=True)`: tensors only, no code unpickled.
    """
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder, prepare, HF_KEYMAP)
    model = Snac(SnacConfig.from_dict(config))
    model = fill_model(model, state, keymap, config, source, dtype, quantize, group_size)
    model.source = folder
    return model
