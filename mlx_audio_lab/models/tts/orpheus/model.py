"""Orpheus (Canopy Labs, 2025): a Llama-3.2 language model that writes SNAC codes as text tokens.

The backbone is `generation.backbone.TappedLlama` (mlx-lm's Llama, the checkpoint's names); this port adds
the prompt format and token layout (`layout.py`), the decoding of the 7-token frames with the project's
SNAC port, and taps. Shapes: tokens (B, T), hidden (B, T, hidden), logits (B, T, vocab).
"""

from __future__ import annotations

from collections.abc import Iterator

from ....generation.backbone import TappedLlama
from .config import OrpheusConfig
from .layout import TokenLayout


class Orpheus(TappedLlama):
    """The Llama backbone; `tokenizer`, `layout` and `codec` (SNAC) are attached by `load_model`."""

    codec_folder = "snac"  # the MLX layout keeps the codec here, where `load_codec` looks

    samples_tokens = True  # `speak` passes --temperature/--top-k/--top-p/--seed/--max-frames

    def __init__(self, cfg: OrpheusConfig):
        super().__init__(cfg.llama)
        self.config = cfg
        self.tokenizer = None
        self.layout: TokenLayout | None = None
        self.codec = None

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate if self.codec is not None else 24_000

    def prompt_ids(self, text: str, voice: str | None = None) -> list[int]:
        """The engine's prompt for `text` spoken by `voice` (the voice name is a prefix: "tara: text")."""
        if self.tokenizer is None or self.layout is None:
            raise ValueError("no tokenizer.json beside the weights: pass token ids to `generate_tokens`")
        said = f"{voice}: {text}" if voice else text
        return self.layout.prompt(self.tokenizer.encode(said).ids)

    def generate(self, text: str, voice: str | None = None, **options) -> Iterator:
        """Speech for `text`, streamed as `AudioResult` chunks; see `generate.generate` for the options."""
        from .generate import generate

        return generate(self, text, voice=voice, **options)

