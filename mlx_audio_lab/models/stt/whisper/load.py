"""Build the MLX Whisper from a model folder in any supported layout."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.keymap import KeyMap, apply_keymap
from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ....layers import sinusoids
from .config import WhisperConfig
from .convert import HF, MLX_COMMUNITY
from .model import Whisper
from .tokenizer import WhisperTokenizer


def detect_layout(folder: Path) -> str:
    """'ctranslate2', 'mlx-community' or 'hf' from the files present."""
    if (folder / "model.bin").is_file() and (folder / "vocabulary.txt").is_file():
        return "ctranslate2"
    if (folder / "weights.safetensors").is_file() or (folder / "weights.npz").is_file():
        return "mlx-community"
    return "hf"


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(upstream state dict, config dict, key map to apply, description) for a folder."""
    layout = detect_layout(folder)
    if layout == "ctranslate2":
        from .ct2 import ct2_to_hf

        state, config = ct2_to_hf(folder)
        return state, config, HF, f"{folder / 'model.bin'} (CTranslate2)"
    config = json.loads((folder / "config.json").read_text())
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    if layout == "mlx-community":
        state, path = read_state_dict(folder, ("weights.safetensors", "weights.npz"))
        return state, config, MLX_COMMUNITY, str(path)
    state, path = read_state_dict(folder)
    return state, config, HF, str(path)


def _sinusoids_if_missing(cfg: WhisperConfig):
    """mlx-community files omit the encoder's fixed sinusoids: recompute them."""
    def complete(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "encoder.embed_positions.weight" not in weights:
            weights["encoder.embed_positions.weight"] = np.array(sinusoids(cfg.max_source_positions, cfg.d_model))
        return weights
    return complete


def find_alignment_heads(folder: Path, config: dict, state: dict[str, np.ndarray]) -> list[list[int]]:
    """(layer, head) pairs for word timing: `generation_config.json` (Hugging Face), else `config.json`
    (CTranslate2 conversions), else the `alignment_heads` array of mlx-community weights; else [] (the
    model then uses openai's default, every head of the last half of the layers)."""
    gen = folder / "generation_config.json"
    if gen.is_file():
        heads = json.loads(gen.read_text()).get("alignment_heads")
        if heads:
            return [list(map(int, h)) for h in heads]
    if config.get("alignment_heads"):
        return [list(map(int, h)) for h in config["alignment_heads"]]
    if "alignment_heads" in state:
        return np.asarray(state["alignment_heads"]).reshape(-1, 2).astype(int).tolist()
    return []


def find_tokenizer(folder: Path) -> Path | None:
    """`tokenizer.json` in the folder, if any."""
    p = folder / "tokenizer.json"
    return p if p.is_file() else None


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Whisper:
    """A ready MLX Whisper (weights loaded, tokenizer attached) from a folder in any supported layout."""
    folder = Path(folder)
    state, config, keymap, source = read_checkpoint(folder)
    cfg = WhisperConfig.from_dict(config)
    heads = find_alignment_heads(folder, config, state)
    cfg.alignment_heads = [h for h in heads if h[0] < cfg.decoder_layers and h[1] < cfg.decoder_attention_heads]
    model = fill_model(Whisper(cfg), state, keymap, config, source, dtype, quantize, group_size,
                       optional=["encoder.embed_positions.weight"], complete=_sinusoids_if_missing(cfg))
    tok = find_tokenizer(folder)
    model.tokenizer = WhisperTokenizer(tok, cfg.is_multilingual) if tok else None
    model.source = folder
    return model


def export_mlx_community(model: Whisper, folder: str | Path) -> Path:
    """Write `model` in the mlx-examples layout (`config.json` with n_* dims + `weights.safetensors`)."""
    from mlx.utils import tree_flatten as flat

    from .convert import TO_MLX_COMMUNITY

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = {k: np.array(v) for k, v in flat(model.parameters())}
    weights = apply_keymap(params, TO_MLX_COMMUNITY, source="MLX Whisper")
    mx.save_safetensors(str(folder / "weights.safetensors"), {k: mx.array(v) for k, v in weights.items()})
    c = model.config
    (folder / "config.json").write_text(json.dumps({
        "n_mels": c.num_mel_bins, "n_audio_ctx": c.max_source_positions, "n_audio_state": c.d_model,
        "n_audio_head": c.encoder_attention_heads, "n_audio_layer": c.encoder_layers, "n_vocab": c.vocab_size,
        "n_text_ctx": c.max_target_positions, "n_text_state": c.d_model, "n_text_head": c.decoder_attention_heads,
        "n_text_layer": c.decoder_layers}, indent=2))
    return folder
