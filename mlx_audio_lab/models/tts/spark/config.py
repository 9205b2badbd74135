"""Spark-TTS configuration: the repo's `config.yaml` (audio front end), `BiCodec/config.yaml` (the codec) and
`LLM/config.json` (a plain Qwen2 config).

Layout of SparkAudio/Spark-TTS-0.5B: `config.yaml`, `LLM/` (Qwen2 weights + tokenizer), `BiCodec/`
(`config.yaml` with an `audio_tokenizer` block, `model.safetensors`), `wav2vec2-large-xlsr-53/`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The repo's top-level config.yaml (audio handling of the BiCodec tokenizer).
AUDIO_DEFAULTS: dict[str, Any] = {
    "sample_rate": 16000, "highpass_cutoff_freq": 40, "segment_duration": 2.4, "max_val_duration": 12,
    "latent_hop_length": 320, "ref_segment_duration": 6, "volume_normalize": True,
}
# BiCodec/config.yaml's `audio_tokenizer` block of the real checkpoint.
BICODEC_DEFAULTS: dict[str, Any] = {
    "mel_params": {"sample_rate": 16000, "n_fft": 1024, "win_length": 640, "hop_length": 320, "mel_fmin": 10,
                   "mel_fmax": None, "num_mels": 128},
    "encoder": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 12,
                "out_channels": 1024, "sample_ratios": [1, 1]},
    "decoder": {"input_channel": 1024, "channels": 1536, "rates": [8, 5, 4, 2], "kernel_sizes": [16, 11, 8, 4]},
    "quantizer": {"input_dim": 1024, "codebook_size": 8192, "codebook_dim": 8, "commitment": 0.25,
                  "codebook_loss_weight": 2.0, "use_l2_normlize": True, "threshold_ema_dead_code": 0.2},
    "speaker_encoder": {"input_dim": 128, "out_dim": 1024, "latent_dim": 128, "token_num": 32,
                        "fsq_levels": [4, 4, 4, 4, 4, 4], "fsq_num_quantizers": 1},
    "prenet": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 12,
               "out_channels": 1024, "condition_dim": 1024, "sample_ratios": [1, 1], "use_tanh_at_final": False},
    "postnet": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 6,
                "out_channels": 1024, "use_tanh_at_final": False},
}
# SparkAudio/Spark-TTS-0.5B LLM/config.json (Qwen2.5-0.5B with BiCodec's tokens added).
QWEN2_DEFAULTS: dict[str, Any] = {
    "model_type": "qwen2", "vocab_size": 166000, "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
}
# cli/SparkTTS.py `inference` defaults: temperature 0.8, top-k 50, top-p 0.95, up to 3000 new tokens.
ENGINE_SAMPLING = {"temperature": 0.8, "top_k": 50, "top_p": 0.95}
ENGINE_MAX_NEW_TOKENS = 3000
WAV2VEC2_LAYERS = (11, 14, 16)  # hidden states averaged into BiCodec's semantic features
WAV2VEC2_FOLDER, BICODEC_FOLDER, LLM_FOLDER = "wav2vec2-large-xlsr-53", "BiCodec", "LLM"


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text()) or {}


@dataclass
class BiCodecConfig:
    """BiCodec's sub-module arguments (BiCodec/config.yaml `audio_tokenizer`) and the audio settings."""

    codec: dict[str, Any] = field(default_factory=lambda: dict(BICODEC_DEFAULTS))
    audio: dict[str, Any] = field(default_factory=lambda: dict(AUDIO_DEFAULTS))

    @classmethod
    def from_folder(cls, folder: Path) -> BiCodecConfig:
        """From a Spark-TTS folder: `config.yaml` beside `BiCodec/config.yaml`."""
        folder = Path(folder)
        top = read_yaml(folder / "config.yaml") if (folder / "config.yaml").is_file() else {}
        codec = read_yaml(folder / BICODEC_FOLDER / "config.yaml").get("audio_tokenizer", {})
        return cls({**BICODEC_DEFAULTS, **codec}, {**AUDIO_DEFAULTS, **top})

    @property
    def sample_rate(self) -> int:
        return int(self.audio["sample_rate"])

    @property
    def ref_segment_samples(self) -> int:
        """Samples of the speaker-reference window: ref_segment_duration rounded down to whole latent hops."""
        hop = int(self.audio["latent_hop_length"])
        return int(self.sample_rate * self.audio["ref_segment_duration"]) // hop * hop


def copy_codec_files(source: Path, folder: Path) -> None:
    """config.yaml, BiCodec/ and the wav2vec2 folder from `source` into `folder` (the MLX layout's codec part)."""
    source, folder = Path(source), Path(folder)
    if (source / "config.yaml").is_file():
        shutil.copy(source / "config.yaml", folder / "config.yaml")
    for name in (BICODEC_FOLDER, WAV2VEC2_FOLDER):
        if (source / name).is_dir():
            shutil.copytree(source / name, folder / name, dirs_exist_ok=True)
