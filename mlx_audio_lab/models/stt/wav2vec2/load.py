"""Build the MLX Wav2Vec2ForCTC from a Hugging Face folder or the project's MLX layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import Wav2Vec2Config
from .convert import HF, fold_positional_weight_norm
from .model import Wav2Vec2ForCTC
from .tokenizer import CTCVocab


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict, config dict, key map to apply, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    state, path = read_state_dict(folder, ("model.safetensors",) if is_mlx_layout(config) else
                                  ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"))
    if is_mlx_layout(config):
        return state, config, IDENTITY, str(path)
    return fold_positional_weight_norm(state), config, HF, str(path)


def _preprocessor(folder: Path) -> dict:
    p = folder / "preprocessor_config.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Wav2Vec2ForCTC:
    """A ready MLX Wav2Vec2ForCTC (weights loaded, vocabulary attached) from a model folder."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    cfg = Wav2Vec2Config.from_dict(config)
    model = fill_model(Wav2Vec2ForCTC(cfg), state, keymap, config, source, dtype, quantize, group_size)
    pre = _preprocessor(folder)
    model.do_normalize = bool(pre.get("do_normalize", True))
    model.sample_rate = int(pre.get("sampling_rate", 16000))
    vocab = folder / "vocab.json"
    model.vocab = CTCVocab.from_file(vocab) if vocab.is_file() else None
    model.source = folder
    return model
