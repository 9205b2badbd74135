"""Build the MLX Voxtral from a model folder (Hugging Face layout, or the project's MLX layout)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import VoxtralConfig
from .convert import HF, TIED_HEAD
from .model import Voxtral
from .tokenizer import VoxtralTokenizer


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(upstream state dict, config dict, key map to apply, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder)  # model.safetensors, its sharded index, or pytorch_model.bin
    return state, config, HF, str(path)


def drop_tied_head(model: Voxtral, state: dict[str, np.ndarray], keymap: KeyMap) -> dict[str, np.ndarray]:
    """Without the output head's weights when the language model ties them to the embeddings."""
    if not model.language_model.args.tie_word_embeddings:
        return state
    return {k: v for k, v in state.items() if keymap.map_key(k) is None or keymap.map_key(k)[0] != TIED_HEAD}


def find_tokenizer(folder: Path) -> VoxtralTokenizer | None:
    """`tokenizer.json` in the folder; else `tekken.json` converted by transformers' MistralConverter."""
    if (folder / "tokenizer.json").is_file():
        return VoxtralTokenizer(folder / "tokenizer.json")
    if (folder / "tekken.json").is_file():
        from transformers.integrations.mistral.tokenizer import MistralConverter

        out = folder / ".tokenizer-from-tekken.json"
        if not out.is_file():
            MistralConverter(vocab_file=str(folder / "tekken.json")).converted().save(str(out))
        return VoxtralTokenizer(out)
    return None


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Voxtral:
    """A ready MLX Voxtral (weights loaded, tokenizer attached); `quantize` 4 or 8 bits for the linears."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Voxtral(VoxtralConfig.from_dict(config))
    model = fill_model(model, drop_tied_head(model, state, keymap), keymap, config, source, dtype, quantize,
                       group_size)
    model.tokenizer = find_tokenizer(folder)
    model.source = folder
    return model
