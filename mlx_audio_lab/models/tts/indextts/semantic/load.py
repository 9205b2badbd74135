"""Build IndexTTS 2's semantic front end from its upstream files: IndexTTS's config.yaml (`semantic_codec:`,
`w2v_stat:`) and stats file, a facebook/w2v-bert-2.0 folder and MaskGCT's `semantic_codec/model.safetensors`."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np

from .....convert.loading import fill_model
from .....convert.readers import read_file
from .....errors import WeightsError
from .codec import SemanticCodec
from .config import HIDDEN_LAYER, FeatureConfig, SemanticCodecConfig, W2VBertConfig
from .convert import CODEC, W2VBERT, prepare_codec, prepare_w2vbert
from .frontend import SemanticFrontEnd
from .w2vbert import W2VBert

W2VBERT_DIR, CODEC_FILE, STATS_FILE = "w2v-bert-2.0", "semantic_codec/model.safetensors", "wav2vec2bert_stats.pt"


def load_w2vbert(folder: str | Path, num_layers: int = HIDDEN_LAYER, dtype: mx.Dtype = mx.float32) -> W2VBert:
    """A facebook/w2v-bert-2.0 layout folder -> the encoder's first `num_layers` layers."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    model = W2VBert(W2VBertConfig.from_dict(raw, str(folder / "config.json")), num_layers)
    path = folder / "model.safetensors"
    return fill_model(model, prepare_w2vbert(read_file(path), num_layers), W2VBERT, raw, path, dtype)


def load_codec(path: str | Path, cfg: SemanticCodecConfig, dtype: mx.Dtype = mx.float32) -> SemanticCodec:
    """MaskGCT's `semantic_codec/model.safetensors` -> the codec's encoder and quantizer."""
    return fill_model(SemanticCodec(cfg), prepare_codec(read_file(Path(path))), CODEC, {}, path, dtype)


def read_stats(path: str | Path) -> tuple[mx.array, mx.array]:
    """The stats file (`{"mean": (D,), "var": (D,)}`) -> (mean, std = sqrt(var)), as `build_semantic_model`."""
    stats = read_file(Path(path))
    if not {"mean", "var"} <= set(stats):
        raise WeightsError(f"{path}: expected 'mean' and 'var' tensors, found {sorted(stats)}")
    return mx.array(stats["mean"].astype(np.float32)), mx.sqrt(mx.array(stats["var"].astype(np.float32)))


def hidden_layer(raw: dict) -> int:
    """The w2v-BERT hidden state read: upstream's 17, or a fixture's `w2v_hidden_layer` (a project-only key that
    lets a 1024-wide fixture stay small: 2 layers, not 17)."""
    layer = raw.get("w2v_hidden_layer", HIDDEN_LAYER)
    if not isinstance(layer, int) or isinstance(layer, bool) or layer < 0:
        raise WeightsError(f"config.yaml: w2v_hidden_layer is {layer!r}; expected a layer count >= 0")
    return layer


def load_semantic(folder: str | Path, w2vbert: str | Path | None = None, codec: str | Path | None = None,
                  dtype: mx.Dtype = mx.float32) -> SemanticFrontEnd:
    """IndexTTS 2's checkpoint folder (config.yaml + stats) -> `SemanticFrontEnd`; w2v-BERT and the codec default
    to `folder/w2v-bert-2.0/` and `folder/semantic_codec/model.safetensors` (the fixture's layout)."""
    import yaml

    folder = Path(folder)
    raw = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    if "semantic_codec" not in raw:
        raise WeightsError(f"{folder / 'config.yaml'}: no `semantic_codec:` section (IndexTTS 2's config.yaml has one)")
    w2v_dir = Path(w2vbert) if w2vbert else folder / W2VBERT_DIR
    pre = w2v_dir / "preprocessor_config.json"
    feature_cfg = FeatureConfig.from_dict(json.loads(pre.read_text()), str(pre)) if pre.is_file() else FeatureConfig()
    mean, std = read_stats(folder / raw.get("w2v_stat", STATS_FILE))
    codec_cfg = SemanticCodecConfig.from_dict(raw["semantic_codec"])
    return SemanticFrontEnd(load_w2vbert(w2v_dir, hidden_layer(raw), dtype),
                            load_codec(Path(codec) if codec else folder / CODEC_FILE, codec_cfg, dtype),
                            mean.astype(dtype), std.astype(dtype), feature_cfg)
