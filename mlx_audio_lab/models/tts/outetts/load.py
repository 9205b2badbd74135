"""Build the MLX OuteTTS from a model folder (Hugging Face layout: config.json, safetensors, tokenizer.json)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....generation.backbone import LLAMA_HF, fill_llama
from .config import OuteTTSConfig
from .model import OuteTTS
from .prompt import AudioTokens


def load_codec(folder: Path, codec: str | Path | None):
    """The project's DAC port: `codec` if given, else a `dac/` folder beside the weights.

    Upstream decodes with ibm-research/DAC.speech.v1.0 (a `descript-audio-codec` .pth, not on this project's
    list); a folder of it in transformers' DacModel layout works the same way.
    """
    from ....hub import resolve
    from ...codecs.dac import load_model as load_dac

    ref = codec if codec is not None else folder / "dac"
    if not Path(ref).is_dir() and codec is None:
        raise ValueError(f"no DAC codec: put a DAC 24 kHz folder at {folder / 'dac'} or pass codec=")
    return load_dac(resolve(ref))


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64, codec: str | Path | None = None) -> OuteTTS:
    """A ready MLX OuteTTS: Llama weights, tokenizer, audio-token map and DAC codec (fp32; bf16/4/8-bit LM)."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    model = fill_llama(OuteTTS(OuteTTSConfig.from_dict(config)), folder, LLAMA_HF, dtype, quantize, group_size)
    model.codec = load_codec(folder, codec)
    if (folder / "tokenizer.json").is_file():
        model.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        model.audio_tokens = AudioTokens(model.tokenizer)
    model.source = folder
    return model
