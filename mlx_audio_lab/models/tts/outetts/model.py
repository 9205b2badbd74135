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

    def speaker_profile(self, voice=None, prompt_text: str | None = None, whisper=None) -> dict | None:
        """A profile from a dict, JSON path, shipped name or reference clip (cloned; the last clip is cached)."""
        from .clone import create_speaker, is_clip

        if not is_clip(voice):
            if prompt_text is not None:
                raise ValueError("--voice-text is what a --voice clip says; a speaker profile already has its text")
            return load_speaker(voice)
        if self.codec is None:
            raise ValueError("no DAC codec attached: cloning a voice encodes the clip with it")
        key = (str(voice), prompt_text)
        if getattr(self, "_cloned", (None, None))[0] != key:
            self._cloned = (key, create_speaker(voice, self.codec, whisper, prompt_text))
        return self._cloned[1]

    def prompt_text(self, text: str, voice=None, prompt_text: str | None = None) -> str:
        """The prompt string for `text` in the voice of a speaker profile (dict, JSON path, shipped name, clip)."""
        return completion_prompt(text, self.speaker_profile(voice, prompt_text))

    def prompt_ids(self, text: str, voice=None, prompt_text: str | None = None) -> list[int]:
        """The prompt's token ids (no BOS added: the string starts with <|im_start|>)."""
        if self.tokenizer is None:
            raise ValueError("no tokenizer.json beside the weights: pass token ids to `generate_tokens`")
        return self.tokenizer.encode(self.prompt_text(text, voice, prompt_text), add_special_tokens=False).ids

    def generate(self, text: str, voice=None, **options) -> Iterator:
        """Speech for `text` as `AudioResult`s; see `generate.generate` for the options."""
        from .generate import generate

        return generate(self, text, voice=voice, **options)
