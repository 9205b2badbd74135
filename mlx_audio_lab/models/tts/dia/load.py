"""Build the MLX Dia from a folder in transformers' layout (nari-labs/Dia-1.6B: config.json, model.safetensors,
generation_config.json, processor_config.json); the codec is the DAC folder the processor names (its audio
tokenizer, descript/dac_44khz upstream), loaded by the DAC port."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ....errors import ConfigError
from .config import DiaConfig, GenerationDefaults
from .convert import HF
from .model import Dia

CODEC_FOLDER = "codec"  # the project's MLX layout keeps the codec beside the weights


def codec_source(folder: Path) -> str:
    """The DAC the folder decodes with: `codec/` (MLX layout) or processor_config.json's audio tokenizer."""
    folder = Path(folder)
    if (folder / CODEC_FOLDER / "config.json").is_file():
        return str(folder / CODEC_FOLDER)
    path = folder / "processor_config.json"
    if path.is_file():
        tok = json.loads(path.read_text()).get("audio_tokenizer") or {}
        if tok.get("audio_tokenizer_name_or_path"):
            return str(tok["audio_tokenizer_name_or_path"])
    raise ConfigError(f"{folder}: no codec found (no {CODEC_FOLDER}/ and no audio_tokenizer in processor_config.json);"
                      " pass codec=<a DAC 44 kHz folder> to load_model")


def load_weights(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
                 group_size: int = 64) -> Dia:
    """The MLX Dia's weights and generation defaults, without a codec (codes only, e.g. for benchmarks)."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    state, path = read_state_dict(folder)
    keymap = IDENTITY if is_mlx_layout(config) else HF
    if is_mlx_layout(config):  # the codec's weights load from its own folder
        state = {k: v for k, v in state.items() if not k.startswith("codec.")}
    model = fill_model(Dia(DiaConfig.from_dict(config)), state, keymap, config, path, dtype, quantize, group_size)
    model.generation = GenerationDefaults.read(folder)
    model.source = folder
    return model


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64, codec: str | Path | None = None) -> Dia:
    """A ready MLX Dia (weights, generation defaults, DAC codec) from transformers' layout or the MLX layout;
    `quantize` 4 or 8 bits for the linears and embeddings (the codec stays float32)."""
    from ....hub import resolve
    from ...codecs.dac.load import load_model as load_dac

    model = load_weights(folder, dtype, quantize, group_size)
    model.codec = load_dac(resolve(codec if codec is not None else codec_source(Path(folder))))
    return model
