"""Whisper (Radford et al., 2022): a log-mel audio encoder and a text decoder with cross attention.

Module names follow transformers' `WhisperModel` so Hugging Face checkpoints load with few renames.
Shapes are channels-last: mel (B, frames, n_mels), hidden states (B, T, d_model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers import Conv1d, KVCache, MultiHeadAttention, gelu, tied_logits
from ....layers.cpu import transformer_native
from ....layers.cpu.attention import attention as cpu_attention
from ....layers.cpu.transformer_native import gelu_mlp, gelu_mlp_fits
from ....layers.fast_math import fast_math_active
from ....taps import enabled as taps_enabled
from ....taps import tap
from .config import WhisperConfig

if TYPE_CHECKING:
    from pathlib import Path

    from ....results import Transcript


class EncoderSelfAttention(MultiHeadAttention):
    """`MultiHeadAttention` whose long unmasked float32 self attention runs on the CPU's BLAS with a vectorised
    softmax (`layers/cpu/attention.py`: the C kernel of `transformer_native`, else NumPy; same projections). The
    fast path stays inside this module's call, so a recorder of module calls (`parity.compare_modules`) lists
    `self_attn` with the fast path on or off."""

    def __call__(self, x: mx.array, context: mx.array | None = None, mask: mx.array | str | None = None,
                 cache: Any = None, return_weights: bool = False) -> tuple[mx.array, Any, mx.array | None]:
        plain_call = context is not None or mask is not None or cache is not None or return_weights
        if not plain_call and _numpy_attention_active(self, x):
            if transformer_native.fused_qkv_fits(x, self.q_proj, self.k_proj, self.v_proj):
                qkv = transformer_native.fused_qkv(x, self.q_proj, self.k_proj, self.v_proj, self.scale)
                d = qkv.shape[-1] // 3
                out = np.empty((*qkv.shape[:-1], d), np.float32)
                if transformer_native.attention_into(qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :],
                                                     self.heads, out):
                    return self.out_proj(mx.array(out)), None, None
            q = self.q_proj(x) * self.scale  # scaled before the product, as the plain path
            return self.out_proj(cpu_attention(q, self.k_proj(x), self.v_proj(x), self.heads)), None, None
        return super().__call__(x, context=context, mask=mask, cache=cache, return_weights=return_weights)


class EncoderLayer(nn.Module):
    """Pre-norm transformer block: self attention, then a GELU MLP."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn = EncoderSelfAttention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def __call__(self, x: mx.array) -> mx.array:
        sa, norms = self.self_attn, (self.self_attn_layer_norm, self.final_layer_norm)
        linears = (sa.q_proj, sa.k_proj, sa.v_proj, sa.out_proj, self.fc1, self.fc2)
        if (type(sa) is EncoderSelfAttention and _numpy_attention_active(sa, x)
                and transformer_native.encoder_layer_fits(x, norms, linears)):  # the whole layer in one C call
            return transformer_native.encoder_layer(x, norms, linears, sa.heads, sa.scale)
        x = x + self.self_attn(self.self_attn_layer_norm(x))[0]
        h = self.final_layer_norm(x)
        if gelu_mlp_fits(h, self.fc1, self.fc2):  # the CPU fast path: BLAS products, C bias + GELU
            return x + gelu_mlp(h, self.fc1, self.fc2)
        return x + self.fc2(gelu(self.fc1(h)))


def _numpy_attention_active(attn: MultiHeadAttention, h: mx.array) -> bool:
    """The CPU fast path for a long float32 self attention (off with plain math, or while taps record weights)."""
    T = h.shape[1]
    return (h.dtype == mx.float32 and fast_math_active(attn.heads * T * T)
            and not (attn.tap_name is not None and taps_enabled()))


def _front_gelu(x: mx.array) -> mx.array:
    """The conv front end's GELU: the C kernel's pass on the CPU (about half MLX's fast-math GELU here), else
    `gelu`."""
    return transformer_native.gelu(x) if transformer_native.gelu_fits(x) else gelu(x)


class AudioEncoder(nn.Module):
    """Two convolutions (the second strides by 2), sinusoidal positions, transformer blocks."""

    def __init__(self, cfg: WhisperConfig):
        super().__init__()
        d = cfg.d_model
        self.conv1 = Conv1d(cfg.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(cfg.max_source_positions, d)
        self.layers = [EncoderLayer(d, cfg.encoder_attention_heads, cfg.encoder_ffn_dim)
                       for _ in range(cfg.encoder_layers)]
        self.layer_norm = nn.LayerNorm(d)

    def __call__(self, mel: mx.array) -> mx.array:
        """mel (B, 2 * n_ctx, n_mels) -> audio features (B, n_ctx, d_model)."""
        with transformer_native.blas_on_own_threads():  # the CPU fast paths' products on the kernel's threads
            x = _front_gelu(tap("encoder.conv1", self.conv1(mel)))
            x = _front_gelu(tap("encoder.conv2", self.conv2(x)))
            x = x + self.embed_positions.weight[: x.shape[1]]
            for i, layer in enumerate(self.layers):
                x = tap(f"encoder.layers.{i}", layer(x))
            return tap("encoder.layer_norm", self.layer_norm(x))


class DecoderLayer(nn.Module):
    """Pre-norm block: causal self attention, cross attention over the audio, GELU MLP."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn = MultiHeadAttention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = MultiHeadAttention(d, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def __call__(self, x, audio, mask, cache, cross_cache, return_weights=False):
        h, cache, _ = self.self_attn(self.self_attn_layer_norm(x), mask=mask, cache=cache)
        x = x + h
        h, cross_cache, weights = self.encoder_attn(
            self.encoder_attn_layer_norm(x), context=audio, cache=cross_cache, return_weights=return_weights
        )
        x = x + h
        x = x + self.fc2(gelu(self.fc1(self.final_layer_norm(x))))
        return x, cache, cross_cache, weights


class DecoderState:
    """Per-layer self-attention caches and cross-attention keys/values of one decoding run."""

    def __init__(self, n_layers: int):
        self.self_attn = [KVCache() for _ in range(n_layers)]
        self.cross_attn: list[tuple[mx.array, mx.array] | None] = [None] * n_layers

    @property
    def offset(self) -> int:
        return self.self_attn[0].offset

    def reorder(self, index: mx.array, cross: bool = False) -> None:
        """Keep batch rows `index` (beam search); cross keys/values only when rows differ in audio."""
        for c in self.self_attn:
            c.reorder(index)
        if cross:
            self.cross_attn = [None if c is None else (c[0][index], c[1][index]) for c in self.cross_attn]


class TextDecoder(nn.Module):
    """Token and learned position embeddings, decoder blocks, logits tied to the token embedding."""

    def __init__(self, cfg: WhisperConfig):
        super().__init__()
        d = cfg.d_model
        self.embed_tokens = nn.Embedding(cfg.vocab_size, d)
        self.embed_positions = nn.Embedding(cfg.max_target_positions, d)
        self.layers = [DecoderLayer(d, cfg.decoder_attention_heads, cfg.decoder_ffn_dim)
                       for _ in range(cfg.decoder_layers)]
        self.layer_norm = nn.LayerNorm(d)

    def __call__(self, tokens: mx.array, audio: mx.array, state: DecoderState | None = None,
                 return_weights: bool = False, last_only: bool = False) -> tuple[mx.array, list[mx.array]]:
        """tokens (B, T) after `state.offset` positions -> logits (B, T, vocab), cross-attention weights.
        `last_only`: logits (B, 1, vocab) of the last position, all decoding needs of a prompt (its (T, vocab)
        projection, a full pass over the 51,864-row embedding, is skipped; not while taps record)."""
        offset = state.offset if state is not None else 0
        T = tokens.shape[1]
        x = self.embed_tokens(tokens) + self.embed_positions.weight[offset : offset + T]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(x.dtype) if T > 1 else None
        if mask is not None and offset:
            mask = mx.concatenate([mx.zeros((T, offset), x.dtype), mask], axis=1)
        weights = []
        for i, layer in enumerate(self.layers):
            cache = state.self_attn[i] if state is not None else None
            cross = state.cross_attn[i] if state is not None else None
            x, _, cross, w = layer(x, audio, mask, cache, cross, return_weights)
            if state is not None:
                state.cross_attn[i] = cross
            weights.append(w)
            x = tap(f"decoder.layers.{i}", x)
        if last_only and not taps_enabled():
            x = x[:, -1:]
        x = tap("decoder.layer_norm", self.layer_norm(x))
        return tap("decoder.logits", tied_logits(x, self.embed_tokens)), weights


class Whisper(nn.Module):
    """The encoder-decoder; `encoder`/`decoder` match `model.encoder`/`model.decoder` of transformers."""

    def __init__(self, cfg: WhisperConfig):
        super().__init__()
        self.config = cfg
        self.encoder = AudioEncoder(cfg)
        self.decoder = TextDecoder(cfg)

    def embed_audio(self, mel: mx.array) -> mx.array:
        """mel (B, frames, n_mels) -> audio features (B, n_ctx, d_model)."""
        return self.encoder(mel)

    def logits(self, tokens: mx.array, audio: mx.array, state: DecoderState | None = None,
               last_only: bool = False) -> mx.array:
        """Next-token logits (B, T, vocab) for `tokens` given the audio features ((B, 1, vocab): `last_only`)."""
        return self.decoder(tokens, audio, state, last_only=last_only)[0]

    def new_state(self) -> DecoderState:
        """An empty decoder cache."""
        return DecoderState(len(self.decoder.layers))

    def __call__(self, mel: mx.array, tokens: mx.array) -> mx.array:
        """Teacher-forced logits (B, T, vocab) for a mel batch and token prefixes."""
        return self.logits(tokens, self.embed_audio(mel))

    def transcribe(self, audio: np.ndarray | str | Path, **kwargs: Any) -> Transcript:
        """Speech (16 kHz array or file) -> `Transcript`; see `transcribe.transcribe` for the options."""
        from .transcribe import transcribe

        return transcribe(self, audio, **kwargs)

    @property
    def alignment_heads(self) -> list[tuple[int, int]]:
        """(layer, head) pairs whose cross attention follows the audio (for timestamps and plots)."""
        heads = self.config.alignment_heads
        if heads:
            return [tuple(h) for h in heads]
        n = len(self.decoder.layers)  # default as in openai/whisper: all heads of the last half
        return [(layer, h) for layer in range(n // 2, n) for h in range(self.config.decoder_attention_heads)]
