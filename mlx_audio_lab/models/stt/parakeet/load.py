"""Build the MLX Parakeet (CTC, RNN-T or TDT) from a model folder: Hugging Face or MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import ParakeetConfig
from .convert import HF
from .model import Parakeet
from .tokenizer import ParakeetTokenizer


def read_config(folder: Path) -> ParakeetConfig:
    """`config.json` (+ `preprocessor_config.json` when present, or the block the MLX layout saved)."""
    config = json.loads((folder / "config.json").read_text())
    pre = folder / "preprocessor_config.json"
    return ParakeetConfig.from_dict(config, json.loads(pre.read_text()) if pre.is_file() else None)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Parakeet:
    """A ready MLX Parakeet (weights loaded, tokenizer attached) from a folder."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    cfg = read_config(folder)
    model = Parakeet(cfg)
    state, path = read_state_dict(folder)
    keymap = IDENTITY if is_mlx_layout(raw) else HF
    model = fill_model(model, state, keymap, raw, path, dtype, quantize, group_size)
    tok = folder / "tokenizer.json"
    model.tokenizer = ParakeetTokenizer(tok, {cfg.blank, cfg.pad_token_id}) if tok.is_file() else None
    model.source = folder
    return model
