"""Build the MLX Vocos from a folder: upstream (`config.yaml` + `pytorch_model.bin`), mlx-community
(`config.yaml` + `model.safetensors`, the same names and layouts) or the MLX layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import yaml

from ....convert.keymap import KeyMap, apply_keymap
from ....convert.readers import read_state_dict
from ....convert.save import IDENTITY, is_mlx_layout
from ....hub import resolve
from ....registry import read_config
from ..common import load_codec
from ..community import numpy_params
from ..encodec.load import load_model as load_encodec
from .config import BACKBONE, ENCODEC, HEAD, MEL, FeatureConfig, VocosConfig
from .convert import KEYMAP, TO_MLX_COMMUNITY, codebook_layout, codebook_rows
from .model import Vocos

# Hugging Face repos of the EnCodec models that `encodec_model` names (the `encodec` package's weights).
ENCODEC_REPOS = {"encodec_24khz": "facebook/encodec_24khz"}


def _config(config: dict, state: dict[str, np.ndarray]) -> VocosConfig:
    """The config; for the EnCodec variant, codebook size and count come from the stacked codebooks."""
    cfg = VocosConfig.from_dict(config)
    rows = codebook_rows(state)
    if cfg.is_encodec and rows is not None:
        fe = cfg.feature_extractor
        fe.codebook_size, fe.num_quantizers = codebook_layout(rows, max(fe.bandwidths),
                                                              fe.sample_rate / cfg.head.hop_length)
    return cfg


def read_checkpoint(folder: Path) -> tuple[dict[str, np.ndarray], dict, KeyMap, str]:
    """(state dict, config dict, key map, description); upstream and mlx-community folders share one table."""
    config = read_config(folder)
    if is_mlx_layout(config):
        state, source = read_state_dict(folder, ("model.safetensors",))
        return state, config, IDENTITY, str(source)
    state, source = read_state_dict(folder, ("pytorch_model.bin", "model.safetensors"))
    return state, config, KEYMAP, str(source)


def encodec_source(cfg: FeatureConfig, folder: str | Path | None = None) -> str | Path:
    """Where the EnCodec of an EnCodec-feature Vocos comes from: an `encodec/` folder beside the Vocos
    weights (the fixtures carry one), else the Hugging Face repo of `cfg.encodec_model`."""
    if folder is not None and (Path(folder) / "encodec" / "config.json").is_file():
        return Path(folder) / "encodec"
    return ENCODEC_REPOS[cfg.encodec_model]


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> Vocos:
    """A ready MLX Vocos from a folder; `quantize` (bits) applies to the Linear and Embedding layers. The
    EnCodec variant is handed its EnCodec (`encodec_source`), loaded when first needed (to encode)."""
    model = load_codec(folder, read_checkpoint, lambda config, state: Vocos(_config(config, state)), dtype,
                       quantize, group_size)
    if model.config.is_encodec:
        source = encodec_source(model.config.feature_extractor, folder)
        model.encodec_from(lambda: load_encodec(resolve(source)))
    return model


def upstream_config(cfg: VocosConfig) -> dict:
    """The `config.yaml` blocks (`class_path` + `init_args`) that `vocos` and mlx-audio build a Vocos from."""
    fe = cfg.feature_extractor
    if cfg.is_encodec:
        features = {"class_path": ENCODEC, "init_args": {"encodec_model": fe.encodec_model,
                                                          "bandwidths": list(fe.bandwidths)}}
    else:
        features = {"class_path": MEL, "init_args": {"sample_rate": fe.sample_rate, "n_fft": fe.n_fft,
                                                      "hop_length": fe.hop_length, "n_mels": fe.n_mels,
                                                      "padding": fe.padding}}
    bb = cfg.backbone
    backbone = {"input_channels": bb.input_channels, "dim": bb.dim, "intermediate_dim": bb.intermediate_dim,
                "num_layers": bb.num_layers, "layer_scale_init_value": bb.layer_scale_init_value,
                "adanorm_num_embeddings": bb.adanorm_num_embeddings}
    hd = cfg.head
    return {"feature_extractor": features,
            "backbone": {"class_path": BACKBONE, "init_args": {k: v for k, v in backbone.items() if v is not None}},
            "head": {"class_path": HEAD, "init_args": {"dim": hd.dim, "n_fft": hd.n_fft,
                                                       "hop_length": hd.hop_length, "padding": hd.padding}}}


def export_mlx_community(model: Vocos, folder: str | Path) -> Path:
    """Write `model` as mlx-community/vocos-* folders are: upstream `config.yaml` + `model.safetensors`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = apply_keymap(numpy_params(model), TO_MLX_COMMUNITY, source="MLX Vocos")
    mx.save_safetensors(str(folder / "model.safetensors"), {k: mx.array(v) for k, v in weights.items()},
                        metadata={"format": "mlx"})
    source = getattr(model, "source", None)
    if source is not None and (Path(source) / "config.yaml").is_file():
        if Path(source).resolve() != folder.resolve():
            shutil.copy(Path(source) / "config.yaml", folder / "config.yaml")
    else:
        (folder / "config.yaml").write_text(yaml.safe_dump(upstream_config(model.config), sort_keys=False))
    return folder
