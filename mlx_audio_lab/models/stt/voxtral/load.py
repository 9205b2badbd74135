"""Build the MLX Voxtral from a model folder (Hugging Face, MLX community, or the project's MLX layout)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.community import (
    community_quantization,
    copy_side_files,
    dequantize_params,
    fill_community_model,
    save_community,
)
from ....convert.keymap import KeyMap, apply_keymap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, SIDE_FILES, is_mlx_layout
from .config import AUDIO_NAMES, VoxtralConfig
from .convert import CONV1, HF, MLX_COMMUNITY, TIED_HEAD, TO_MLX_COMMUNITY
from .model import Voxtral
from .tokenizer import VoxtralTokenizer


def detect_layout(config: dict, state: dict[str, np.ndarray]) -> str:
    """'mlx' (this project's), 'mlx-community' or 'hf'.

    Community folders keep the hub names; they differ by a `quantization` block or by convolutions stored
    channels-last (the kernel, 3, before the 128 mels or the encoder width: mlx-audio's own test).
    """
    if is_mlx_layout(config):
        return "mlx"
    conv = next((v for k, v in state.items() if k.endswith(CONV1)), None)
    channels_last = conv is not None and conv.shape[-1] > conv.shape[-2]
    return "mlx-community" if community_quantization(config) or channels_last else "hf"


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(upstream state dict, config dict, key map to apply, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    state, path = read_state_dict(folder)  # model.safetensors, its sharded index, or pytorch_model.bin
    keymap = MLX_COMMUNITY if detect_layout(config, state) == "mlx-community" else HF
    return state, config, keymap, str(path)


def drop_tied_head(model: Voxtral, state: dict[str, np.ndarray], keymap: KeyMap) -> dict[str, np.ndarray]:
    """Without the output head's weights when the language model ties them to the embeddings."""
    if not model.language_model.args.tie_word_embeddings:
        return state

    def head(k: str) -> bool:
        hit = keymap.map_key(k)
        return hit is not None and hit[0] is not None and hit[0].startswith(TIED_HEAD.rsplit(".", 1)[0] + ".")
    return {k: v for k, v in state.items() if not head(k)}


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
    model = fill_community_model(model, drop_tied_head(model, state, keymap), keymap, config, source, dtype,
                                 quantize, group_size)
    model.tokenizer = find_tokenizer(folder)
    model.source = folder
    return model


def community_config(cfg: VoxtralConfig) -> dict:
    """`config.json` for the community layout, as mlx-audio reads it: a flat `rope_theta`, and the audio
    sizes under their Whisper names too (its encoder reads `d_model`, `encoder_layers`, ...)."""
    text = {k: v for k, v in cfg.text_config.items() if k != "rope_parameters"}
    audio = {**cfg.audio_config, **{w: cfg.audio_config[h] for h, w in AUDIO_NAMES.items()},
             "model_type": "voxtral_encoder"}
    return {"model_type": "voxtral", "architectures": ["VoxtralForConditionalGeneration"],
            "audio_config": audio, "text_config": text,
            "audio_token_id": cfg.audio_token_id, "projector_hidden_act": cfg.projector_hidden_act,
            "hidden_size": text["hidden_size"], "vocab_size": text["vocab_size"]}


def export_mlx_community(model: Voxtral, folder: str | Path) -> Path:
    """Write `model` as mlx-audio reads it (hub names, channels-last convs, `config.json` + `quantization`).

    mlx-audio never quantizes the audio tower, so quantized audio-tower layers are stored dequantized.
    """
    params = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    q = getattr(model, "quantization", None)
    if q:
        params = dequantize_params(params, lambda layer: layer.startswith("audio_tower."), q["bits"],
                                   q["group_size"])
    weights = apply_keymap(params, TO_MLX_COMMUNITY, source="MLX Voxtral")
    folder = save_community(folder, weights, community_config(model.config), q)
    copy_side_files(getattr(model, "source", None), folder, (*SIDE_FILES, "tekken.json"))
    return folder
