"""Dia (Nari Labs): a byte-level text encoder and an audio decoder writing 9 DAC codebooks at once (MLX port).

Both transformers are pre-norm (RMSNorm) with rotary self-attention whose scores are not scaled (scale 1, as
trained); the decoder's blocks also cross-attend to the encoder (no rotation) and end in a gated SiLU MLP. Each
decoder position embeds one frame: the sum of its channels' code embeddings (one table, channel c's ids offset
by c * vocab). The head predicts all channels of the next frame; the delay pattern (`delay.py`) staggers them.
Module names are transformers' (`model.encoder.layers.N.self_attention.q_proj`, `logits_dense`).
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers.transformer import RoPEAttention, SlidingKVCache
from ....taps import tap
from .config import DiaConfig, rope_theta


class GatedMLP(nn.Module):
    """down(up * silu(gate)), gate and up from one fused projection (`gate_up_proj`, gate first)."""

    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.gate_up_proj = nn.Linear(dims, 2 * hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dims, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)
        return self.down_proj(up * nn.silu(gate))


def self_attention(c: dict[str, Any], causal: bool) -> RoPEAttention:
    return RoPEAttention(c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"],
                         rope_theta=rope_theta(c), scale=1.0, causal=causal)


class EncoderLayer(nn.Module):
    """x + attn(norm(x)), then x + mlp(norm(x)); attention over the whole text."""

    def __init__(self, c: dict[str, Any]):
        super().__init__()
        self.pre_sa_norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])
        self.self_attention = self_attention(c, causal=False)
        self.post_sa_norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])
        self.mlp = GatedMLP(c["hidden_size"], c["intermediate_size"])

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.self_attention(self.pre_sa_norm(x))
        return x + self.mlp(self.post_sa_norm(x))


class Encoder(nn.Module):
    """Text bytes (B, S) -> states (B, S, enc_width)."""

    def __init__(self, c: dict[str, Any]):
        super().__init__()
        self.embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = [EncoderLayer(c) for _ in range(c["num_hidden_layers"])]
        self.norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])

    def __call__(self, ids: mx.array) -> mx.array:
        x = tap("encoder.embedding", self.embedding(ids))
        for i, layer in enumerate(self.layers):
            x = tap(f"encoder.layers.{i}", layer(x))
        return tap("encoder.norm", self.norm(x))


class MultiChannelEmbedding(nn.Module):
    """Frames (B, T, channels) -> (B, T, width): the sum over channels of one table's rows (ids + c * vocab)."""

    def __init__(self, c: dict[str, Any]):
        super().__init__()
        self.vocab, self.channels = c["vocab_size"], c["num_channels"]
        self.embed = nn.Embedding(self.vocab * self.channels, c["hidden_size"])

    def __call__(self, codes: mx.array) -> mx.array:
        offsets = mx.arange(self.channels, dtype=codes.dtype) * self.vocab
        return self.embed(codes + offsets).sum(axis=2)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the text, gated MLP; each pre-normed and residual."""

    def __init__(self, c: dict[str, Any]):
        super().__init__()
        self.pre_sa_norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])
        self.self_attention = self_attention(c, causal=True)
        self.pre_ca_norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])
        self.cross_attention = RoPEAttention(c["hidden_size"], c["cross_num_attention_heads"],
                                             c["cross_num_key_value_heads"], c["cross_head_dim"],
                                             kv_dims=c["cross_hidden_size"], scale=1.0, causal=False, rotary=False)
        self.pre_mlp_norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])
        self.mlp = GatedMLP(c["hidden_size"], c["intermediate_size"])

    def __call__(self, x: mx.array, text: tuple[mx.array, mx.array], offset: int,
                 cache: SlidingKVCache | None) -> mx.array:
        x = x + self.self_attention(self.pre_sa_norm(x), offset, cache)
        x = x + self.cross_attention(self.pre_ca_norm(x), keys_values=text)
        return x + self.mlp(self.pre_mlp_norm(x))


class Decoder(nn.Module):
    """Frames (B, T, channels) at positions offset.. + the text's keys/values -> states (B, T, width)."""

    def __init__(self, c: dict[str, Any]):
        super().__init__()
        self.embeddings = MultiChannelEmbedding(c)
        self.layers = [DecoderLayer(c) for _ in range(c["num_hidden_layers"])]
        self.norm = nn.RMSNorm(c["hidden_size"], eps=c["norm_eps"])

    def __call__(self, codes: mx.array, text: list[tuple[mx.array, mx.array]], offset: int = 0,
                 cache: list[SlidingKVCache] | None = None) -> mx.array:
        x = tap("decoder.embeddings", self.embeddings(codes))
        for i, layer in enumerate(self.layers):
            x = tap(f"decoder.layers.{i}", layer(x, text[i], offset, None if cache is None else cache[i]))
        return tap("decoder.norm", self.norm(x))


class DiaModel(nn.Module):
    """The encoder-decoder pair (`model.` in the checkpoint)."""

    def __init__(self, cfg: DiaConfig):
        super().__init__()
        self.encoder = Encoder(cfg.encoder)
        self.decoder = Decoder(cfg.decoder)


class Dia(nn.Module):
    """Text -> DAC codes, one frame of all channels per step (delayed per channel), with guidance."""

    samples_tokens = True  # `speak` passes the sampling flags and writes --codes-out
    has_guidance = True  # `speak --cfg-scale` applies
    whole_text = True  # a dialogue: its [S1] / [S2] tags hold across sentences, so `speak` never splits it

    def __init__(self, cfg: DiaConfig):
        super().__init__()
        self.config = cfg
        self.model = DiaModel(cfg)
        self.logits_dense = nn.Linear(cfg.decoder["hidden_size"], cfg.num_channels * cfg.vocab_size, bias=False)
        self.codec = None  # the DAC port, attached by `load_model`
        self.generation = None  # GenerationDefaults of the folder

    def encode_text(self, ids: mx.array) -> list[tuple[mx.array, mx.array]]:
        """Text ids (B, S) -> per decoder layer the cross-attention keys and values of the encoded text."""
        states = self.model.encoder(ids)
        return [layer.cross_attention.context_keys_values(states) for layer in self.model.decoder.layers]

    def decode_frames(self, codes: mx.array, text: list[tuple[mx.array, mx.array]], offset: int = 0,
                      cache: list[SlidingKVCache] | None = None) -> mx.array:
        """Delayed frames (B, T, channels) -> logits (B, T, channels, vocab) for the frame after each."""
        h = self.model.decoder(codes, text, offset, cache)
        logits = tap("logits", self.logits_dense(h))  # (B, T, channels * vocab)
        B, T, _ = logits.shape
        return logits.reshape(B, T, self.config.num_channels, self.config.vocab_size)

    def __call__(self, ids: mx.array, codes: mx.array) -> mx.array:
        """Teacher forcing: text ids (B, S) and delayed frames (B, T, channels) -> logits (B, T, channels, vocab)."""
        return self.decode_frames(codes, self.encode_text(ids))

    def save_extras(self, folder) -> None:
        """The project's MLX layout keeps the DAC as its own folder (`<folder>/codec`)."""
        from pathlib import Path

        from ....convert.save import save_model

        if self.codec is not None:
            save_model(self.codec, Path(folder) / "codec")

    def make_cache(self) -> list[SlidingKVCache]:
        """An empty self-attention KV cache per decoder layer."""
        return [SlidingKVCache() for _ in self.model.decoder.layers]

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reverted codes (channels, frames), e.g. a `--codes-out` file -> audio through the DAC port."""
        return self.codec.decode(codes)

    def generate(self, text: str, voice=None, **kwargs):
        """Speech for `text` (`[S1] ... [S2] ...`), yielded as one `AudioResult`; see `generate.generate`."""
        from .generate import generate

        yield from generate(self, text, voice=voice, **kwargs)
