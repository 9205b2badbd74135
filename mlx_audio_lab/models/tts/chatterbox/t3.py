"""T3: text tokens -> S3 speech tokens, a Llama backbone (mlx-lm's) fed custom embeddings.

The prompt is [conditioning | text | start-of-speech]: the conditioning is the speaker embedding (a Linear of the
VoiceEncoder's 256-d vector), 32 Perceiver latents summarising the reference clip's speech tokens, and the
emotion exaggeration (a Linear of one scalar). Text and speech have their own embeddings and learned positions;
`speech_head` gives logits over the 8194 speech tokens (6561 S3 tokens, start 6561, stop 6562). Classifier-free
guidance runs a second row whose text embeddings are zeroed. Names follow `t3_cfg.safetensors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import llama
from mlx_lm.models.base import create_attention_mask

from ....generation.backbone import llama_args
from ....taps import tap


@dataclass
class T3Config:
    """T3's sizes (read off `t3_cfg.safetensors`) and the upstream token ids."""

    hidden_size: int = 1024
    num_hidden_layers: int = 30
    intermediate_size: int = 4096
    head_dim: int = 64
    num_key_value_heads: int = 16
    text_vocab: int = 704
    speech_vocab: int = 8194
    max_text_positions: int = 2050
    max_speech_positions: int = 4100
    speaker_embed_size: int = 256
    perceiver_queries: int = 32
    perceiver_heads: int = 4
    start_text_token: int = 255
    stop_text_token: int = 0
    start_speech_token: int = 6561
    stop_speech_token: int = 6562

    def llama(self) -> dict[str, Any]:
        """The backbone's Llama config (upstream `Llama_520M` with these sizes)."""
        return dict(vocab_size=8, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
                    num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.hidden_size // self.head_dim,
                    num_key_value_heads=self.num_key_value_heads, head_dim=self.head_dim, rms_norm_eps=1e-5,
                    max_position_embeddings=131072, rope_theta=500000.0, attention_bias=False, mlp_bias=False,
                    tie_word_embeddings=False,
                    rope_scaling=dict(factor=8.0, high_freq_factor=4.0, low_freq_factor=1.0,
                                      original_max_position_embeddings=8192, rope_type="llama3"))

    @classmethod
    def from_state(cls, state: dict) -> T3Config:
        layers = {int(k.split(".")[2]) for k in state if k.startswith("tfmr.layers.")}
        hidden = state["speech_emb.weight"].shape[1]
        return cls(hidden_size=hidden, num_hidden_layers=len(layers),
                   intermediate_size=state["tfmr.layers.0.mlp.gate_proj.weight"].shape[0],
                   num_key_value_heads=state["tfmr.layers.0.self_attn.k_proj.weight"].shape[0] // 64,
                   text_vocab=state["text_emb.weight"].shape[0], speech_vocab=state["speech_emb.weight"].shape[0],
                   max_text_positions=state["text_pos_emb.emb.weight"].shape[0],
                   max_speech_positions=state["speech_pos_emb.emb.weight"].shape[0],
                   speaker_embed_size=state["cond_enc.spkr_enc.weight"].shape[1],
                   perceiver_queries=state["cond_enc.perceiver.pre_attention_query"].shape[1])


class PerceiverAttention(nn.Module):
    """AttentionBlock2: x1 + proj_out(attention(q = LN(x1), k = v = LN(x2))), one shared LayerNorm."""

    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dims)
        self.to_q, self.to_k, self.to_v = nn.Linear(dims, dims), nn.Linear(dims, dims), nn.Linear(dims, dims)
        self.proj_out = nn.Linear(dims, dims)

    def __call__(self, x1: mx.array, x2: mx.array) -> mx.array:
        b, t, c = x1.shape
        n1, n2 = self.norm(x1), self.norm(x2)

        def heads(x: mx.array) -> mx.array:
            return x.reshape(b, x.shape[1], self.heads, -1).transpose(0, 2, 1, 3)

        q, k, v = heads(self.to_q(n1)), heads(self.to_k(n2)), heads(self.to_v(n2))
        h = mx.fast.scaled_dot_product_attention(q, k, v, scale=(c // self.heads) ** -0.5)
        return x1 + self.proj_out(h.transpose(0, 2, 1, 3).reshape(b, t, c))


class Perceiver(nn.Module):
    """32 learned queries cross-attend to the prompt's speech embeddings, then attend to themselves (same block)."""

    def __init__(self, queries: int, dims: int, heads: int):
        super().__init__()
        self.pre_attention_query = mx.zeros((1, queries, dims))
        self.attn = PerceiverAttention(dims, heads)

    def __call__(self, h: mx.array) -> mx.array:
        q = mx.broadcast_to(self.pre_attention_query, (h.shape[0], *self.pre_attention_query.shape[1:]))
        latents = self.attn(q, h)
        return self.attn(latents, latents)


class CondEnc(nn.Module):
    """T3CondEnc: [speaker (1) | Perceiver latents of the prompt speech (32) | emotion exaggeration (1)]."""

    def __init__(self, cfg: T3Config):
        super().__init__()
        self.spkr_enc = nn.Linear(cfg.speaker_embed_size, cfg.hidden_size)
        self.emotion_adv_fc = nn.Linear(1, cfg.hidden_size, bias=False)
        self.perceiver = Perceiver(cfg.perceiver_queries, cfg.hidden_size, cfg.perceiver_heads)

    def __call__(self, speaker: mx.array, prompt_speech: mx.array, exaggeration: mx.array) -> mx.array:
        """speaker (B, 256), prompt_speech (B, Tp, dim) embeddings, exaggeration (B,) -> (B, 34, dim)."""
        spk = self.spkr_enc(speaker)[:, None]
        emo = self.emotion_adv_fc(exaggeration.reshape(-1, 1, 1))
        return mx.concatenate([spk, self.perceiver(prompt_speech), emo], axis=1)


class PositionEmbedding(nn.Module):
    """Learned absolute positions (`emb`)."""

    def __init__(self, n: int, dims: int):
        super().__init__()
        self.emb = nn.Embedding(n, dims)

    def __call__(self, start: int, length: int) -> mx.array:
        return self.emb(mx.arange(start, start + length))


class T3(nn.Module):
    """The token-to-token LM (Llama backbone `tfmr`, custom embeddings and heads)."""

    def __init__(self, cfg: T3Config):
        super().__init__()
        self.config = cfg
        self.tfmr = llama.LlamaModel(llama_args(cfg.llama()))
        self.cond_enc = CondEnc(cfg)
        self.text_emb = nn.Embedding(cfg.text_vocab, cfg.hidden_size)
        self.speech_emb = nn.Embedding(cfg.speech_vocab, cfg.hidden_size)
        self.text_pos_emb = PositionEmbedding(cfg.max_text_positions, cfg.hidden_size)
        self.speech_pos_emb = PositionEmbedding(cfg.max_speech_positions, cfg.hidden_size)
        self.text_head = nn.Linear(cfg.hidden_size, cfg.text_vocab, bias=False)
        self.speech_head = nn.Linear(cfg.hidden_size, cfg.speech_vocab, bias=False)

    def speech_embed(self, tokens: mx.array, start: int) -> mx.array:
        """Speech tokens (B, T) at positions start.. -> (B, T, dim)."""
        return self.speech_emb(tokens) + self.speech_pos_emb(start, tokens.shape[1])

    def prompt(self, text_tokens: mx.array, speaker: mx.array, prompt_tokens: mx.array, exaggeration: float,
               cfg: bool) -> mx.array:
        """text (1, L) with start/stop -> the prefill embeddings (1 or 2 rows, 34 + L + 2, dim).

        As the reference: the start-of-speech token appears twice, both at speech position 0."""
        cond = tap("t3.cond_enc", self.cond_enc(speaker, self.speech_embed(prompt_tokens, 0),
                                                mx.array([exaggeration], mx.float32)))
        text = self.text_emb(text_tokens)
        rows = 2 if cfg else 1
        if cfg:  # the unconditional row: no text content (its positions stay)
            text = mx.concatenate([text, mx.zeros_like(text)])
        text = text + self.text_pos_emb(0, text_tokens.shape[1])
        bos = self.speech_embed(mx.full((rows, 1), self.config.start_speech_token), 0)
        cond = mx.broadcast_to(cond, (rows, *cond.shape[1:]))
        return mx.concatenate([cond, text, bos, bos], axis=1)

    def __call__(self, embeds: mx.array, cache: list | None = None) -> mx.array:
        """Embeddings (B, T, dim) after `cache`'s positions -> speech logits (B, T, 8194); taps on the blocks."""
        h = embeds
        mask = create_attention_mask(h, cache[0] if cache else None)
        for i, layer in enumerate(self.tfmr.layers):
            h = tap(f"t3.tfmr.layers.{i}", layer(h, mask, cache[i] if cache else None))
        h = tap("t3.tfmr.norm", self.tfmr.norm(h))
        return tap("t3.speech_head", self.speech_head(h))

    def make_cache(self) -> list:
        from mlx_lm.models.cache import KVCache

        return [KVCache() for _ in self.tfmr.layers]
