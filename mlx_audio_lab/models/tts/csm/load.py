"""Build the MLX CSM from a model folder in transformers' layout (sesame/csm-1b: config.json, model.safetensors,
tokenizer.json); the codec inside it goes through the Mimi port's own loading path."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, LAYOUT_KEY, is_mlx_layout
from ....generation import SamplingConfig
from ...codecs.mimi.config import MimiConfig
from ...codecs.mimi.convert import hf_keymap, prepare_hf
from ...codecs.mimi.model import Mimi
from .config import CsmConfig
from .convert import HF, split_codec
from .model import Csm
from .tokenizer import CsmTokenizer


def generation_sampling(folder: Path) -> tuple[SamplingConfig, SamplingConfig] | None:
    """(backbone, depth decoder) sampling from `generation_config.json` (`depth_decoder_*` for the second);
    `do_sample` false means greedy. None without the file."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return None
    g = json.loads(path.read_text())

    def one(prefix: str) -> SamplingConfig:
        if not g.get(f"{prefix}do_sample", False):
            return SamplingConfig(temperature=0.0)
        top_p = g.get(f"{prefix}top_p")
        return SamplingConfig(temperature=g.get(f"{prefix}temperature") or 1.0, top_k=g.get(f"{prefix}top_k") or 0,
                              top_p=1.0 if top_p is None else top_p)

    return one(""), one("depth_decoder_")


def from_state(state: dict, config: dict, source: str = "state dict", dtype: mx.Dtype = mx.float32,
               quantize: int | None = None, group_size: int = 64) -> Csm:
    """The MLX CSM from a transformers state dict (numpy) and config dict; the codec stays float32."""
    lm_state, codec_state = split_codec(state)
    cfg = CsmConfig.from_dict(config)
    mlx = is_mlx_layout(config)  # the project's layout: MLX names already, the language model maybe quantized
    model = fill_model(Csm(cfg), lm_state, IDENTITY if mlx else HF, config, source, dtype, quantize, group_size)
    codec_cfg = MimiConfig.from_dict(cfg.codec)
    codec = {k: v for k, v in cfg.codec.items() if k != LAYOUT_KEY}
    model.codec_model = fill_model(Mimi(codec_cfg), codec_state if mlx else prepare_hf(codec_state, codec_cfg),
                                   IDENTITY if mlx else hf_keymap(codec_cfg), codec, f"{source} (codec_model.*)")
    return model


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Csm:
    """A ready MLX CSM (weights, Mimi codec, tokenizer) from transformers' layout or the project's MLX layout;
    `quantize` 4 or 8 bits for the language model's linears and embeddings (the codec and the codebook heads stay
    float, the codec in float32)."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    state, path = read_state_dict(folder)
    model = from_state(state, config, str(path), dtype, quantize, group_size)
    tok = folder / "tokenizer.json"
    model.tokenizer = CsmTokenizer(tok) if tok.is_file() else None
    model.sampling = generation_sampling(folder)
    model.source = folder
    return model


def export_codec(folder: str | Path, out: str | Path) -> Path:
    """Write the Mimi inside a CSM folder as a Mimi folder in transformers' layout (`codec_config` as its
    config.json, the `codec_model.*` weights without the prefix), for `mlx-audio-lab decode --model`."""
    from ...codecs.common import write_codec_folder

    config = json.loads((Path(folder) / "config.json").read_text())
    state, _ = read_state_dict(Path(folder))
    _, codec = split_codec(state)
    return write_codec_folder(out, config["codec_config"], "MimiModel", codec)
