"""Build the MLX Orpheus from a model folder (Hugging Face layout: config.json, safetensors, tokenizer.json)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....generation.backbone import fill_llama
from .config import OrpheusConfig
from .convert import HF
from .layout import TokenLayout
from .model import Orpheus

SNAC_24KHZ = "hubertsiuzdak/snac_24khz"  # the codec Orpheus is trained on


def load_codec(folder: Path, codec: str | Path | None):
    """The project's SNAC port: `codec` if given, else a `snac/` folder beside the weights, else snac_24khz."""
    from ....hub import resolve
    from ...codecs.snac import load_model as load_snac

    ref = codec if codec is not None else (folder / "snac" if (folder / "snac").is_dir() else SNAC_24KHZ)
    return load_snac(resolve(ref))


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64, codec: str | Path | None = None) -> Orpheus:
    """A ready MLX Orpheus: Llama weights, tokenizer, token layout and SNAC codec (fp32; bf16/4/8-bit LM)."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    model = fill_llama(Orpheus(OrpheusConfig.from_dict(config)), folder, HF, dtype, quantize, group_size)
    model.codec = load_codec(folder, codec)
    if (folder / "tokenizer.json").is_file():
        model.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        model.layout = TokenLayout.from_tokenizer(model.tokenizer, model.codec.config.codebook_size)
    model.source = folder
    return model
