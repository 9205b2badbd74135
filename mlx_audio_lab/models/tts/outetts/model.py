"""OuteTTS 1.0 (OuteAI, 2025): a Llama-3.2 language model that writes DAC codes as text tokens, word by word.

The backbone is `generation.backbone.TappedLlama` (mlx-lm's Llama, the checkpoint's names); this port adds
the prompt with its speaker profile (`prompt.py`) and the decoding of the c1/c2 tokens with the project's
DAC port. Shapes: tokens (B, T), hidden (B, T, hidden), logits (B, T, vocab).
"""

from __future__ import annotations

from collections.abc import Iterator

from ....generation.backbone import TappedLlama
from .config import SAMPLE_RATE, OuteTTSConfig
from .prompt import AUDIO_END, EOS, AudioTokens, completion_prompt
from .speakers import load_speaker


class OuteTTS(TappedLlama):
    """The Llama backbone; `tokenizer`, `audio_tokens` and `codec` (DAC) are attached by `load_model`."""

    codec_folder = "dac"  # the MLX layout keeps the codec here, where `load_codec` looks

    samples_tokens = True  # `speak` passes --temperature/--top-k/--top-p/--seed/--max-frames

    def __init__(self, cfg: OuteTTSConfig):
        super().__init__(cfg.llama)
        self.config = cfg
        self.tokenizer = None
        self.audio_tokens: AudioTokens | None = None
        self.codec = None

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate if self.codec is not None else SAMPLE_RATE

    @property
    def stop_tokens(self) -> list[int]:
        """<|audio_end|> and <|im_end|>: generation ends at either."""
        return [self.tokenizer.token_to_id(AUDIO_END), self.tokenizer.token_to_id(EOS)]

    def prompt_text(self, text: str, voice=None) -> str:
        """The prompt string for `text` in the voice of a speaker profile (dict, JSON path or shipped name)."""
        return completion_prompt(text, load_speaker(voice))

    def prompt_ids(self, text: str, voice=None) -> list[int]:
        """The prompt's token ids (no BOS added: the string starts with <|im_start|>)."""
        if self.tokenizer is None:
            raise ValueError("no tokenizer.json beside the weights: pass token ids to `generate_tokens`")
        return self.tokenizer.encode(self.prompt_text(text, voice), add_special_tokens=False).ids

    def generate(self, text: str, voice=None, **options) -> Iterator:
        """Speech for `text` as `AudioResult`s; see `generate.generate` for the options."""
        from .generate import generate

        return generate(self, text, voice=voice, **options)
