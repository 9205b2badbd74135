"""Build the MLX Voxtral from a model folder (Hugging Face layout, or the project's MLX layout)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.keymap import KeyMap, apply_keymap
from ....convert.quantize import quantize_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout, quantization_of
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


def convert_weights(model: Voxtral, state: dict[str, np.ndarray], keymap: KeyMap,
                    source: str) -> dict[str, np.ndarray]:
    """Upstream weights renamed and re-laid-out for `model`, checked key by key."""
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    if model.language_model.args.tie_word_embeddings:
        state = {k: v for k, v in state.items() if keymap.map_key(k) is None or keymap.map_key(k)[0] != TIED_HEAD}
    return apply_keymap(state, keymap, expected, source=source)


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


def _cast(v: np.ndarray, dtype: mx.Dtype) -> mx.array:
    a = mx.array(v)
    return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Voxtral:
    """A ready MLX Voxtral (weights loaded, tokenizer attached); `quantize` 4 or 8 bits for the linears."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    model = Voxtral(VoxtralConfig.from_dict(config))
    saved_q = quantization_of(config)
    if saved_q:  # a quantized MLX-layout folder: quantize the skeleton first, then load as is
        quantize_model(model, **saved_q)
    weights = convert_weights(model, state, keymap, source)
    model.load_weights([(k, _cast(v, dtype)) for k, v in weights.items()], strict=True)
    if quantize and not saved_q:
        quantize_model(model, bits=quantize, group_size=group_size)
    model.quantization = saved_q or ({"bits": quantize, "group_size": group_size} if quantize else None)
    mx.eval(model.parameters())
    model.eval()
    model.tokenizer = find_tokenizer(folder)
    model.source = folder
    return model
