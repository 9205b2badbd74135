"""Build the MLX Bark from a folder: transformers' layout (suno/bark-small, suno/bark), the original suno layout
(`text.pt`, `coarse.pt`, `fine.pt` or `*_2.pt`, its EnCodec in a `codec/` folder beside them) or the project's
MLX layout. The codec goes through the EnCodec port's own loading path; the tokenizer comes from the folder."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict, read_torch_checkpoint
from ....convert.save import IDENTITY, LAYOUT_KEY, is_mlx_layout
from ....errors import WeightsError
from ...codecs.encodec.config import EncodecConfig
from ...codecs.encodec.convert import hf_keymap
from ...codecs.encodec.convert import prepare_hf as prepare_codec
from ...codecs.encodec.model import Encodec
from .config import BarkConfig, GenerationConfig
from .convert import HF, STAGES, SUNO, SUNO_ARGS, SUNO_FILES, prepare_hf, prepare_suno
from .model import Bark
from .text import BarkTokenizer


def suno_files(folder: Path) -> dict[str, Path] | None:
    """Stage -> checkpoint of a suno-layout folder (`text.pt` ... or the large model's `text_2.pt` ...), or None."""
    for suffix in ("_2.pt", ".pt"):
        files = {stage: folder / f"{name}{suffix}" for stage, name in SUNO_FILES.items()}
        if all(p.is_file() for p in files.values()):
            return files
    return None


def read_suno(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    """(state ready for `SUNO`, a transformers-style config dict from each checkpoint's `model_args`)."""
    stages, config = {}, {}
    for stage, path in files.items():
        tensors, values = read_torch_checkpoint(path)
        args = {k[len("model_args."):]: v for k, v in values.items() if k.startswith("model_args.")}
        if not args:
            raise WeightsError(f"{path}: no model_args (not a suno Bark checkpoint)")
        if "vocab_size" in args:  # old checkpoints: one vocabulary for input and output
            args["input_vocab_size"] = args["output_vocab_size"] = args.pop("vocab_size")
        config[f"{stage}_config"] = {SUNO_ARGS.get(k, k): v for k, v in args.items()}
        stages[stage] = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return prepare_suno(stages), config


def load_codec(config: dict, state: dict[str, np.ndarray], source: str, mlx: bool = False) -> Encodec:
    """The EnCodec port from a codec config dict and its transformers-named (or, `mlx`, MLX-named) weights."""
    cfg = EncodecConfig.from_dict(config)
    if mlx:
        return fill_model(Encodec(cfg), state, IDENTITY, config, source)
    return fill_model(Encodec(cfg), prepare_codec(state), hf_keymap(cfg), config, source)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Bark:
    """A ready MLX Bark (three GPTs, EnCodec, tokenizer, generation constants) from any of the three layouts;
    `quantize` 4 or 8 bits for the GPTs (the codec stays float32)."""
    folder = Path(folder)
    files = suno_files(folder)
    if files is not None:
        state, config = read_suno(files)
        codec_dir = folder / "codec"
        if (codec_dir / "config.json").is_file():
            codec_state, codec_path = read_state_dict(codec_dir)
            config["codec_config"] = json.loads((codec_dir / "config.json").read_text())
        else:
            codec_state, codec_path = {}, None
        keymap, source = SUNO, f"{folder} (suno layout)"
    else:
        if not (folder / "config.json").is_file():
            raise WeightsError(f"{folder}: no config.json (transformers' layout) and no text.pt / coarse.pt / "
                               "fine.pt (the suno layout)")
        config = json.loads((folder / "config.json").read_text())
        raw, path = read_state_dict(folder)
        if is_mlx_layout(config):
            state = {k: v for k, v in raw.items() if k.split(".")[0] in STAGES}
            codec_state = {k[len("codec_model."):]: v for k, v in raw.items() if k.startswith("codec_model.")}
            keymap = IDENTITY
        else:
            fine = config.get("fine_acoustics_config") or {}
            state, codec_state = prepare_hf(raw, fine.get("n_codes_given", 1), fine.get("n_codes_total", 8))
            keymap = HF
        codec_path, source = path, str(path)
    cfg = BarkConfig.from_dict(config)
    model = fill_model(Bark(cfg), state, keymap, {k: v for k, v in config.items() if k != "codec_config"},
                       source, dtype, quantize, group_size)
    if codec_state:
        codec_cfg = {k: v for k, v in cfg.codec.items() if k != LAYOUT_KEY}
        model.codec_model = load_codec(codec_cfg, codec_state, f"{codec_path} (codec_model.*)", keymap is IDENTITY)
    model.tokenizer = BarkTokenizer(folder)
    model.generation = GenerationConfig.from_folder(folder)
    model.source = folder
    return model


def export_codec(folder: str | Path, out: str | Path) -> Path:
    """Write the EnCodec inside a Bark folder (transformers' layout) as an EnCodec folder (`codec_config` as its
    config.json, the `codec_model.*` weights without the prefix), for `mlx-audio-lab decode --model`."""
    from ...codecs.common import write_codec_folder

    config = json.loads((Path(folder) / "config.json").read_text())
    state, _ = read_state_dict(Path(folder))
    _, codec = prepare_hf(state)
    return write_codec_folder(out, config["codec_config"], "EncodecModel", codec)
