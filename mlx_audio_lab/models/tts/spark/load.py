"""Build the MLX Spark-TTS from a folder in the layout of SparkAudio/Spark-TTS-0.5B:
`config.yaml`, `LLM/` (Qwen2 config.json, safetensors, tokenizer.json), `BiCodec/` (config.yaml,
model.safetensors) and `wav2vec2-large-xlsr-53/` (config.json, weights); or from the project's MLX layout
(the LM's config.json, model.safetensors and tokenizer at the top, the same BiCodec folders beside them)."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx

from ....convert.loading import fill_model
from ....convert.readers import read_state_dict
from ....convert.save import is_mlx_layout
from ....generation.backbone import LLAMA_HF, fill_llama
from ...stt.wav2vec2.config import Wav2Vec2Config
from ...stt.wav2vec2.model import Wav2Vec2Model
from .bicodec import BiCodec
from .config import BICODEC_FOLDER, LLM_FOLDER, WAV2VEC2_FOLDER, BiCodecConfig, copy_codec_files  # noqa: F401
from .convert import WAV2VEC2, bicodec_keymap, prepare_bicodec, prepare_wav2vec2
from .model import SparkTTS


def load_wav2vec2(folder: Path) -> Wav2Vec2Model:
    """The wav2vec2 feature model (pre-training or bare checkpoint) as the project's MLX Wav2Vec2Model."""
    import mlx.nn as nn

    config = json.loads((folder / "config.json").read_text())
    holder = nn.Module()
    holder.wav2vec2 = Wav2Vec2Model(Wav2Vec2Config.from_dict(config))
    state, path = read_state_dict(folder)
    fill_model(holder, prepare_wav2vec2(state), WAV2VEC2, config, path)
    return holder.wav2vec2


def load_bicodec(folder: str | Path) -> BiCodec:
    """BiCodec from `folder/BiCodec` (+ the wav2vec2 feature model beside it, if present)."""
    folder = Path(folder)
    cfg = BiCodecConfig.from_folder(folder)
    state, path = read_state_dict(folder / BICODEC_FOLDER)
    model = BiCodec(cfg)
    keymap = bicodec_keymap(len(cfg.codec["decoder"]["rates"]))
    fill_model(model, prepare_bicodec(state), keymap, {}, path)
    if (folder / WAV2VEC2_FOLDER / "config.json").is_file():
        model.wav2vec2 = load_wav2vec2(folder / WAV2VEC2_FOLDER)
    model.source = folder
    return model


def load_model(folder: str | Path, dtype: mx.Dtype = mx.float32, quantize: int | None = None,
               group_size: int = 64) -> SparkTTS:
    """A ready Spark-TTS: the Qwen2 LM (fp32; bf16 / 4- / 8-bit on request), its tokenizer, BiCodec (fp32)."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    top = folder / "config.json"
    llm = folder if top.is_file() and is_mlx_layout(json.loads(top.read_text())) else folder / LLM_FOLDER
    if not (llm / "config.json").is_file():
        raise ValueError(f"{folder} is not a Spark-TTS folder: no {LLM_FOLDER}/config.json")
    config = json.loads((llm / "config.json").read_text())
    model = fill_llama(SparkTTS(config), llm, LLAMA_HF, dtype, quantize, group_size)
    if (llm / "tokenizer.json").is_file():
        model.tokenizer = Tokenizer.from_file(str(llm / "tokenizer.json"))
    gen = llm / "generation_config.json"
    eos = json.loads(gen.read_text()).get("eos_token_id") if gen.is_file() else config.get("eos_token_id")
    model.stop_ids = [int(e) for e in (eos if isinstance(eos, list) else [eos] if eos is not None else [])]
    model.codec = load_bicodec(folder)
    model.source = llm  # its tokenizer and generation config travel with a saved MLX layout
    return model
