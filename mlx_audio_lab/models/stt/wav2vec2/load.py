"""Build the MLX Wav2Vec2ForCTC from a Hugging Face folder, an MLX community folder or the project's layout."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from ....convert.community import community_quantization, copy_side_files, fill_community_model, save_community
from ....convert.keymap import KeyMap, apply_keymap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from .config import Wav2Vec2Config
from .convert import HF, MLX_COMMUNITY, TO_MLX_COMMUNITY, fold_positional_weight_norm, unfold_positional_weight_norm
from .model import Wav2Vec2ForCTC
from .tokenizer import CTCVocab

UPSTREAM_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def detect_layout(config: dict) -> str:
    """'mlx' (this project's), 'mlx-community' (Hugging Face names, quantized by mlx-audio) or 'hf'.

    An unquantized community folder is a Hugging Face folder: mlx-audio reads the upstream files.
    """
    if is_mlx_layout(config):
        return "mlx"
    return "mlx-community" if community_quantization(config) else "hf"


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict, config dict, key map to apply, description) for a folder."""
    config = json.loads((folder / "config.json").read_text())
    layout = detect_layout(config)
    state, path = read_state_dict(folder, ("model.safetensors",) if layout == "mlx" else UPSTREAM_FILES)
    if layout == "mlx":
        return state, config, IDENTITY, str(path)
    keymap = MLX_COMMUNITY if layout == "mlx-community" else HF
    return fold_positional_weight_norm(state), config, keymap, str(path)


def _preprocessor(folder: Path) -> dict:
    p = folder / "preprocessor_config.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Wav2Vec2ForCTC:
    """A ready MLX Wav2Vec2ForCTC (weights loaded, vocabulary attached) from a model folder."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    cfg = Wav2Vec2Config.from_dict(config)
    model = fill_community_model(Wav2Vec2ForCTC(cfg), state, keymap, config, source, dtype, quantize, group_size)
    pre = _preprocessor(folder)
    model.do_normalize = bool(pre.get("do_normalize", True))
    model.sample_rate = int(pre.get("sampling_rate", 16000))
    vocab = folder / "vocab.json"
    model.vocab = CTCVocab.from_file(vocab) if vocab.is_file() else None
    model.source = folder
    return model


def export_mlx_community(model: Wav2Vec2ForCTC, folder: str | Path) -> Path:
    """Write `model` as mlx-audio reads it: Hugging Face names, channels-first convs, the positional conv
    as `weight_g`/`weight_v`, quantized linears (if the model is) and `quantization` in `config.json`."""
    params = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    weights = unfold_positional_weight_norm(apply_keymap(params, TO_MLX_COMMUNITY, source="MLX Wav2Vec2"))
    config = {**asdict(model.config), "architectures": ["Wav2Vec2ForCTC"],
              "num_feat_extract_layers": len(model.config.conv_dim)}
    folder = save_community(folder, weights, config, getattr(model, "quantization", None))
    copy_side_files(getattr(model, "source", None), folder)
    return folder
