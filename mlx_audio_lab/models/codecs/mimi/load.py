"""Build the MLX Mimi from a model folder: Hugging Face layout (kyutai/mimi), Kyutai's original checkpoint
(`tokenizer-*.safetensors`, as in kyutai/moshiko-pytorch-bf16; the layout mlx-audio reads) or the project's MLX layout.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import mlx.core as mx
import numpy as np

from ....convert.community import dequantize_params
from ....convert.keymap import KeyMap
from ....convert.readers import read_file, read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ..common import load_codec
from ..community import numpy_params
from .config import MimiConfig
from .convert import MOSHI_WEIGHTS, hf_keymap, is_moshi_state, moshi_keymap, prepare_hf, prepare_moshi, to_moshi
from .model import Mimi


def moshi_weights(folder: Path, config: dict) -> Path | None:
    """The file of a folder in Kyutai's layout, else None.

    Found by name (the config's `mimi_name`, as Kyutai's repos write it, or a single `tokenizer-*.safetensors`),
    or by the key signature of a `model.safetensors` renamed from one.
    """
    if config.get("mimi_name"):
        path = folder / config["mimi_name"]
        if not path.is_file():
            raise FileNotFoundError(f"{folder / 'config.json'} names mimi_name {config['mimi_name']!r}; no such file")
        return path
    found = sorted(folder.glob("tokenizer-*.safetensors"))
    if len(found) > 1:
        raise ValueError(f"{folder}: several Mimi checkpoints ({', '.join(p.name for p in found)}); "
                         "name one as `mimi_name` in config.json")
    if found:
        return found[0]
    single = folder / "model.safetensors"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="numpy") as f:
            if is_moshi_state(f.keys()):
                return single
    return None


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict ready for the key map, config dict, key map, description) for a folder.

    Kyutai's checkpoint carries no Mimi config: a `config.json` of `model_type` mimi gives the sizes, else
    kyutai/mimi's defaults (those of every released Mimi) apply.
    """
    path = folder / "config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    if is_mlx_layout(config):
        state, path = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(path)
    moshi = moshi_weights(folder, config)
    if moshi is not None:
        sizes = "" if config.get("model_type") == "mimi" else ", kyutai/mimi's sizes: no Mimi config.json beside it"
        config = {"model_type": "mimi"} if sizes else config
        source = f"{moshi} (Kyutai's layout{sizes})"
        try:
            state = prepare_moshi(read_file(moshi), MimiConfig.from_dict(config))
        except ValueError as e:
            raise ValueError(f"checkpoint {source}: {e}") from e
        return state, config, moshi_keymap(), source
    if not config:
        raise FileNotFoundError(f"{folder}: no config.json and no Kyutai `tokenizer-*.safetensors`")
    cfg = MimiConfig.from_dict(config)
    state, path = read_state_dict(folder)
    return prepare_hf(state, cfg), config, hf_keymap(cfg), str(path)


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Mimi:
    """A ready MLX Mimi from a folder (HF `config.json` + `model.safetensors`, Kyutai's checkpoint, or MLX layout).

    `quantize` (bits) quantizes the transformers' Linear layers; convs and codebooks stay float.
    """
    return load_codec(folder, read_checkpoint, lambda config, _: Mimi(MimiConfig.from_dict(config)), dtype,
                      quantize, group_size)


def export_mlx_community(model: Mimi, folder: str | Path, filename: str = MOSHI_WEIGHTS) -> Path:
    """Write `model` in Kyutai's checkpoint layout, the file mlx-audio's `Mimi.load_pytorch_weights` reads
    (its `from_pretrained` asks for this file name), beside a `config.json` naming it (`mimi_name`).

    Quantized layers are written back as float weights (the upstream layout has no quantization).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = numpy_params(model)
    if getattr(model, "quantization", None):
        q = model.quantization
        params = dequantize_params(params, lambda _: True, q["bits"], q["group_size"])
    state = to_moshi(params, model.config)
    mx.save_safetensors(str(folder / filename), {k: mx.array(v) for k, v in state.items()}, metadata={"format": "pt"})
    config = {**asdict(model.config), "model_type": "mimi", "mimi_name": filename}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
