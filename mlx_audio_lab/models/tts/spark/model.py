"""Spark-TTS (SparkAudio, 2025): a Qwen2.5-0.5B language model writing BiCodec tokens as text tokens.

The backbone is mlx-lm's Qwen2 under the project's `TappedLlama` (taps on the embedding, every block, the
norm and logits; checkpoint names kept); the prompt (`prompt.py`) carries the text and either a reference
clip's 32 global tokens (cloning) or gender / pitch / speed labels (creation); BiCodec (`bicodec/`) turns a
clip into tokens and tokens into 16 kHz audio. Shapes: tokens (B, T), hidden (B, T, 896), logits (B, T, vocab).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlx.nn as nn
from mlx_lm.models import qwen2
from mlx_lm.models.cache import KVCache

from ....generation.backbone import TappedLlama
from .config import QWEN2_DEFAULTS
from .prompt import EOS, clone_prompt, control_prompt


def qwen2_model(config: dict[str, Any]) -> qwen2.Model:
    """An mlx-lm Qwen2 (random weights) with the names of transformers' `Qwen2ForCausalLM`."""
    c = {**QWEN2_DEFAULTS, **config}
    rope = c.pop("rope_parameters", None) or {}
    if "rope_theta" in rope:
        c["rope_theta"] = rope["rope_theta"]
    return qwen2.Model(qwen2.ModelArgs.from_dict(c))


class SparkTTS(TappedLlama):
    """Qwen2 + BiCodec; `tokenizer` (tokenizers.Tokenizer), `codec` (BiCodec) and `stop_ids` are attached by
    `load_model`. The MLX layout keeps the LM in MLX names and BiCodec's upstream folders beside it."""

    samples_tokens = True  # `speak` passes --temperature/--top-k/--top-p/--seed/--max-frames
    style_controls = True  # `speak` passes --gender/--pitch/--speed (level names)
    codec_folder = "BiCodec"

    def __init__(self, config: dict[str, Any]):
        nn.Module.__init__(self)
        # what `save_model` writes (a plain attribute: an MLX module would hold a dict as a child)
        object.__setattr__(self, "config", {**QWEN2_DEFAULTS, **config, "model_type": "spark"})
        self.lm = qwen2_model(config)
        self.tokenizer = None
        self.codec = None
        self.stop_ids: list[int] = []

    def save_extras(self, folder) -> None:
        """BiCodec stays float and upstream: its folders (and config.yaml) are copied beside the saved LM."""
        from .config import copy_codec_files

        copy_codec_files(self.codec.source, folder)

    def make_cache(self) -> list:
        return [KVCache() for _ in self.layers]

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate if self.codec is not None else 16000

    @property
    def stop_tokens(self) -> list[int]:
        """The LM's end-of-sequence ids (generation_config.json), else <|im_end|>."""
        return self.stop_ids or [self.tokenizer.token_to_id(EOS)]

    def voice_tokens(self, voice) -> tuple:
        """(global (1, 1, 32), semantic (1, T)) of a reference clip (path or 16 kHz array) through BiCodec."""
        from .audio import load_reference

        return self.codec.tokenize(load_reference(voice, self.codec.config))

    def prompt_text(self, text: str, voice=None, gender: str | None = None, pitch: str | None = None,
                    speed: str | None = None, prompt_text: str | None = None) -> str:
        """The prompt string: cloning from `voice` (a clip, or its (global, semantic) tokens) or style labels."""
        if gender is not None or pitch is not None or speed is not None:
            if voice is not None:
                raise ValueError("give either a reference voice or --gender/--pitch/--speed, not both")
            if gender is None:
                raise ValueError("voice creation needs a gender (female or male)")
            return control_prompt(text, gender, pitch or "moderate", speed or "moderate")
        if voice is None:
            raise ValueError("Spark-TTS needs a reference voice clip (--voice) or a gender (--gender)")
        g, s = voice if isinstance(voice, tuple) else self.voice_tokens(voice)
        return clone_prompt(text, g, s, prompt_text)

    def prompt_ids(self, text: str, voice=None, **style) -> list[int]:
        if self.tokenizer is None:
            raise ValueError("no tokenizer.json in LLM/: pass token ids to `generate_tokens`")
        return self.tokenizer.encode(self.prompt_text(text, voice, **style), add_special_tokens=False).ids

    def generate(self, text: str, voice=None, **options) -> Iterator:
        """Speech for `text` as `AudioResult`s; see `generate.generate` for the options."""
        from .generate import generate

        return generate(self, text, voice=voice, **options)
