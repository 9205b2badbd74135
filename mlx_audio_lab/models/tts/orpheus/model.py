"""Orpheus (Canopy Labs, 2025): a Llama-3.2 language model that writes SNAC codes as text tokens.

The backbone is mlx-lm's Llama with the checkpoint's names (`model.layers.N`, `lm_head`); this port adds
the prompt format and token layout (`layout.py`), the decoding of the 7-token frames with the project's
SNAC port, and taps. Shapes: tokens (B, T), hidden (B, T, hidden), logits (B, T, vocab).
"""

from __future__ import annotations

from collections.abc import Iterator

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.base import create_attention_mask

from ....generation.backbone import llama_model
from ....taps import tap
from .config import OrpheusConfig
from .layout import TokenLayout


class Orpheus(nn.Module):
    """The Llama backbone; `tokenizer`, `layout` and `codec` (SNAC) are attached by `load_model`."""

    samples_tokens = True  # `speak` passes --temperature/--top-k/--top-p/--seed/--max-frames

    def __init__(self, cfg: OrpheusConfig):
        super().__init__()
        self.config = cfg
        self.lm = llama_model(cfg.llama)
        self.tokenizer = None
        self.layout: TokenLayout | None = None
        self.codec = None

    @property
    def layers(self) -> list[nn.Module]:
        return self.lm.model.layers

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate if self.codec is not None else 24_000

    def __call__(self, tokens: mx.array, cache: list | None = None) -> mx.array:
        """Token ids (B, T) after `cache`'s positions -> logits (B, T, vocab); taps on every block."""
        lm = self.lm
        h = tap("embed_tokens", lm.model.embed_tokens(tokens))
        mask = create_attention_mask(h, cache[0] if cache else None)
        for i, layer in enumerate(self.layers):
            h = tap(f"layers.{i}", layer(h, mask, cache[i] if cache else None))
        h = tap("norm", lm.model.norm(h))
        head = lm.model.embed_tokens.as_linear if lm.args.tie_word_embeddings else lm.lm_head
        return tap("logits", head(h))

    def make_cache(self) -> list:
        """An empty KV cache per block (mlx-lm's)."""
        return self.lm.make_cache()

    def forward(self):
        """A stateful `forward(tokens (B, T)) -> last logits (B, V)` for `generation.stream`, with its own cache."""
        cache = self.make_cache()
        return lambda tokens: self(tokens, cache)[:, -1, :]

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

