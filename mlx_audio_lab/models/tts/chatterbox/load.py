"""Build the MLX Chatterbox parts from a folder in the upstream layout (`s3gen.safetensors`, ...)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from .config import HiFTConfig
from .convert import S3GEN_KEYMAP, T3_KEYMAP, VE_KEYMAP, prepare
from .flow import FlowConfig
from .generate import Conditionals
from .model import Chatterbox, ChatterboxConfig
from .s3gen import S3Gen
from .t3 import T3, T3Config
from .text import TextTokenizer
from .voice_encoder import VoiceEncoder


def read_s3gen(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    """`s3gen.safetensors` with weight norm folded, and its path."""
    state, path = read_state_dict(Path(folder), ("s3gen.safetensors",))
    return prepare(state), str(path)


def load_s3gen(folder: str | Path, dtype: mx.Dtype = mx.float32) -> S3Gen:
    """S3Gen with every weight of `s3gen.safetensors` placed (and every parameter filled), sizes read off them."""
    state, source = read_s3gen(Path(folder))
    model = S3Gen(HiFTConfig.from_state(state), FlowConfig.from_state(state))
    return fill_model(model, state, S3GEN_KEYMAP, {}, source, dtype)


def load_t3(folder: str | Path, dtype: mx.Dtype = mx.float32) -> T3:
    """T3 from `t3_cfg.safetensors`, sizes read off the weights, every weight placed."""
    state, path = read_state_dict(Path(folder), ("t3_cfg.safetensors",))
    return fill_model(T3(T3Config.from_state(state)), state, T3_KEYMAP, {}, str(path), dtype)


def load_voice_encoder(folder: str | Path, dtype: mx.Dtype = mx.float32) -> VoiceEncoder:
    """The VoiceEncoder from `ve.safetensors`."""
    state, path = read_state_dict(Path(folder), ("ve.safetensors",))
    return fill_model(VoiceEncoder(), state, VE_KEYMAP, {}, str(path), dtype)


def read_conds(folder: Path) -> Conditionals | None:
    """The built-in voice `conds.pt` (T3Cond and S3Gen's ref dict, read with weights_only), if present."""
    path = Path(folder) / "conds.pt"
    if not path.is_file():
        return None
    from ....convert.readers import read_file

    c = read_file(path)
    return Conditionals(speaker=c["t3.speaker_emb"].reshape(1, -1).astype(np.float32),
                        t3_prompt_tokens=c["t3.cond_prompt_speech_tokens"].reshape(1, -1).astype(np.int64),
                        prompt_tokens=c["gen.prompt_token"].reshape(1, -1).astype(np.int64),
                        prompt_mel=c["gen.prompt_feat"].reshape(1, -1, 80).astype(np.float32),
                        xvector=c["gen.embedding"].reshape(1, -1).astype(np.float32))


def _mlx_layout(folder: Path, dtype: mx.Dtype) -> Chatterbox:
    """A folder written by `convert` (config.json + model.safetensors + tokenizer.json + conds.safetensors)."""
    import json

    from ....convert.save import IDENTITY

    config = json.loads((folder / "config.json").read_text())
    cfg = ChatterboxConfig(**{k: v for k, v in config.items() if k in ("t3", "hift", "flow")})
    t3c, hiftc, flowc = cfg.parts()
    conds = None
    if (folder / "conds.safetensors").is_file():
        c = mx.load(str(folder / "conds.safetensors"))
        conds = Conditionals(**{k: np.array(v) for k, v in c.items()})
    model = Chatterbox(T3(t3c), S3Gen(hiftc, flowc), VoiceEncoder(), TextTokenizer(folder / "tokenizer.json"), conds)
    state, path = read_state_dict(folder, ("model.safetensors",))
    return fill_model(model, state, IDENTITY, config, str(path), dtype)


def attach_speech_tokenizer(model: Chatterbox, folder: Path, dtype: mx.Dtype = mx.float32) -> None:
    """Give `model` the S3 tokenizer for new voices: the port in models/codecs/s3_tokenizer, read from the
    `tokenizer.*` weights of `s3gen.safetensors`. Without either (this build, or the fixture) it stays None and a
    new voice needs its clip's tokens passed in."""
    from safetensors import safe_open

    path = Path(folder) / "s3gen.safetensors"
    if not path.is_file():
        return
    with safe_open(str(path), "np") as f:
        if not any(k.startswith("tokenizer.") and not k.endswith(("_mel_filters", "window")) for k in f.keys()):
            return
    try:
        from ...codecs.s3_tokenizer import load_model as load_tokenizer
    except ImportError:
        return
    tokenizer = load_tokenizer(folder, dtype)
    model.speech_tokenizer = lambda audio_16k, max_len: tokenizer.tokenize(audio_16k, max_tokens=max_len)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Chatterbox:
    """The whole pipeline from a ResembleAI/chatterbox folder (t3_cfg, s3gen, ve, tokenizer.json, conds.pt), or
    from the project's MLX layout; `quantize` (4 / 8 bits) applies to the Linear and Embedding layers."""
    from ....convert.quantize import quantize_model

    folder = Path(folder)
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        model = _mlx_layout(folder, dtype)
    else:
        model = Chatterbox(load_t3(folder, dtype), load_s3gen(folder, dtype), load_voice_encoder(folder, dtype),
                           TextTokenizer(folder / "tokenizer.json"), read_conds(folder))
        model.quantization = None
        attach_speech_tokenizer(model, folder, dtype)
    if quantize and not model.quantization:
        quantize_model(model, bits=quantize, group_size=group_size)
        model.quantization = {"bits": quantize, "group_size": group_size}
    return model
