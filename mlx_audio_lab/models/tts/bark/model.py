"""Bark (Suno, 2023): three GPTs in a row, then EnCodec.

- semantic (`semantic`): causal GPT, text ids (+ a speaker's semantic history) -> semantic tokens (~50 Hz);
- coarse (`coarse_acoustics`): causal GPT, semantic tokens -> EnCodec codebooks 0-1, interleaved (75 Hz);
- fine (`fine_acoustics`): non-causal GPT, all 8 codebooks at once -> codebooks 2..7, one codebook per pass;
- `codec_model`: the project's EnCodec port decodes the 8 codebooks to 24 kHz audio.

Module names follow transformers' BarkModel (`input_embeds_layer`, `position_embeds_layer`, `layers.N.attn`,
`layers.N.mlp.in_proj`, `layernorm_final`, `lm_head` / `lm_heads.N`); transformers' fused `att_proj` is split
into `q_proj`, `k_proj`, `v_proj` at conversion so the shared `layers.MultiHeadAttention` runs it.
Shapes: token ids (B, T); hidden states (B, T, width); the fine model's codes (B, T, codebooks).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from ....layers import KVCache, MultiHeadAttention, gelu
from ....taps import tap
from .config import BarkConfig, GPTConfig


class MLP(nn.Module):
    """in_proj -> GELU (erf) -> out_proj, 4x wide."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.in_proj = nn.Linear(cfg.hidden_size, 4 * cfg.hidden_size, bias=cfg.bias)
        self.out_proj = nn.Linear(4 * cfg.hidden_size, cfg.hidden_size, bias=cfg.bias)

    def __call__(self, x: mx.array) -> mx.array:
        return self.out_proj(gelu(self.in_proj(x)))


class Block(nn.Module):
    """Pre-norm GPT block; the causal GPTs' layer norms have a bias only when `bias` is set, the fine model's always."""

    def __init__(self, cfg: GPTConfig, causal: bool):
        super().__init__()
        norm_bias = cfg.bias if causal else True
        self.layernorm_1 = nn.LayerNorm(cfg.hidden_size, bias=norm_bias)
        self.attn = MultiHeadAttention(cfg.hidden_size, cfg.num_heads, bias=cfg.bias, key_bias=cfg.bias)
        self.layernorm_2 = nn.LayerNorm(cfg.hidden_size, bias=norm_bias)
        self.mlp = MLP(cfg)

    def __call__(self, x: mx.array, mask: str | None = None, cache: KVCache | None = None) -> mx.array:
        h, _, _ = self.attn(self.layernorm_1(x), mask=mask, cache=cache)
        x = x + h
        return x + self.mlp(self.layernorm_2(x))


class CausalGPT(nn.Module):
    """The semantic and coarse models: token + learned position embeddings, causal blocks, one head."""

    def __init__(self, cfg: GPTConfig, name: str):
        super().__init__()
        self.name, self.config = name, cfg
        self.input_embeds_layer = nn.Embedding(cfg.input_vocab_size, cfg.hidden_size)
        self.position_embeds_layer = nn.Embedding(cfg.block_size, cfg.hidden_size)
        self.layers = [Block(cfg, causal=True) for _ in range(cfg.num_layers)]
        self.layernorm_final = nn.LayerNorm(cfg.hidden_size, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.output_vocab_size, bias=False)

    def make_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.layers]

    def __call__(self, tokens: mx.array | None = None, cache: list[KVCache] | None = None,
                 embeds: mx.array | None = None) -> mx.array:
        """Token ids (B, T) or input embeddings (B, T, width) after `cache`'s positions -> logits (B, T, vocab)."""
        x = self.input_embeds_layer(tokens) if embeds is None else embeds
        start = cache[0].offset if cache else 0
        T = x.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"{self.name}: {start + T} positions exceed the model's block size "
                             f"{self.config.block_size}")
        x = x + self.position_embeds_layer(mx.arange(start, start + T))
        mask = "causal" if T > 1 else None
        if mask and start:
            raise ValueError(f"{self.name}: several new positions after a filled cache are not supported")
        for i, block in enumerate(self.layers):
            x = tap(f"{self.name}.layers.{i}", block(x, mask, cache[i] if cache else None))
        x = tap(f"{self.name}.layernorm_final", self.layernorm_final(x))
        return tap(f"{self.name}.logits", self.lm_head(x))


class FineGPT(nn.Module):
    """The fine model: one embedding table per codebook (summed up to the predicted one), non-causal blocks, one
    head per predicted codebook (`lm_heads[k - n_codes_given]`)."""

    def __init__(self, cfg: GPTConfig, name: str = "fine_acoustics"):
        super().__init__()
        self.name, self.config = name, cfg
        self.input_embeds_layers = [nn.Embedding(cfg.input_vocab_size, cfg.hidden_size)
                                    for _ in range(cfg.n_codes_total)]
        self.position_embeds_layer = nn.Embedding(cfg.block_size, cfg.hidden_size)
        self.layers = [Block(cfg, causal=False) for _ in range(cfg.num_layers)]
        self.layernorm_final = nn.LayerNorm(cfg.hidden_size)
        self.lm_heads = [nn.Linear(cfg.hidden_size, cfg.output_vocab_size, bias=False)
                         for _ in range(cfg.n_codes_given, cfg.n_codes_total)]

    def __call__(self, codebook: int, codes: mx.array) -> mx.array:
        """Predict `codebook` from codes (B, T, n_codes_total) (0..codebook summed) -> logits (B, T, vocab)."""
        if not self.config.n_codes_given <= codebook < self.config.n_codes_total:
            raise ValueError(f"the fine model predicts codebooks {self.config.n_codes_given}.."
                             f"{self.config.n_codes_total - 1}, not {codebook}")
        x = self.input_embeds_layers[0](codes[..., 0])
        for k in range(1, codebook + 1):
            x = x + self.input_embeds_layers[k](codes[..., k])
        x = x + self.position_embeds_layer(mx.arange(codes.shape[1]))
        for i, block in enumerate(self.layers):
            x = tap(f"{self.name}.layers.{i}", block(x))
        x = tap(f"{self.name}.layernorm_final", self.layernorm_final(x))
        return tap(f"{self.name}.logits", self.lm_heads[codebook - self.config.n_codes_given](x))


class Bark(nn.Module):
    """The three GPTs; `codec_model` (the EnCodec port), `tokenizer` and `generation` are set by `load_model`."""

    samples_tokens = True  # `speak` passes the sampling flags and writes --codes-out (the fine codes)

    def __init__(self, cfg: BarkConfig):
        super().__init__()
        self.config = cfg
        self.semantic = CausalGPT(cfg.semantic, "semantic")
        self.coarse_acoustics = CausalGPT(cfg.coarse, "coarse_acoustics")
        self.fine_acoustics = FineGPT(cfg.fine)
        self.codec_model = None
        self.tokenizer = None
        self.generation = None

    @property
    def sample_rate(self) -> int:
        return self.generation.sample_rate if self.generation else 24_000

    def generate(self, text: str, voice=None, **options):
        """Speak `text` (see `generate.generate`): yields one AudioResult with the fine codes in extras."""
        from .generate import generate

        return generate(self, text, voice, **options)
