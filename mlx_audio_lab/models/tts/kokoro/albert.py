"""PL-BERT: the ALBERT phoneme encoder (transformers' `AlbertModel` names; one layer shared by every step)."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ....layers.cpu.elementwise import gelu_tanh
from ....layers.fast_math import fast_math_active, softmax
from .config import AlbertConfig


def gelu_new(x: mx.array) -> mx.array:
    """The tanh approximation of GELU that ALBERT uses (`gelu_new`); NumPy's SIMD tanh on the CPU for large
    float32 inputs (MLX's CPU tanh is scalar)."""
    if x.dtype == mx.float32 and fast_math_active(x.size):
        return gelu_tanh(x)
    return 0.5 * x * (1.0 + mx.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class AlbertEmbeddings(nn.Module):
    """Phoneme + position + token-type embeddings, then LayerNorm."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.embedding_size)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.embedding_size)
        self.token_type_embeddings = nn.Embedding(2, cfg.embedding_size)
        self.LayerNorm = nn.LayerNorm(cfg.embedding_size, eps=cfg.layer_norm_eps)

    def __call__(self, ids: mx.array) -> mx.array:
        """(B, T) ids -> (B, T, E)."""
        pos = mx.arange(ids.shape[1])
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings(mx.array([0]))
        return self.LayerNorm(x)


class AlbertAttention(nn.Module):
    """Self-attention with the residual and LayerNorm inside (ALBERT's layout)."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        h = cfg.hidden_size
        self.n_heads = cfg.num_attention_heads
        self.query, self.key, self.value, self.dense = (nn.Linear(h, h) for _ in range(4))
        self.LayerNorm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)

    def __call__(self, x: mx.array) -> mx.array:
        """(B, T, H) -> (B, T, H); every position attends to every other (one unpadded sequence)."""
        B, T, H = x.shape
        d = H // self.n_heads

        def heads(y: mx.array) -> mx.array:
            return y.reshape(B, T, self.n_heads, d).transpose(0, 2, 1, 3)  # (B, heads, T, d)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        w = softmax((q @ k.transpose(0, 1, 3, 2)) / math.sqrt(d), axis=-1)
        ctx = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
        return self.LayerNorm(x + self.dense(ctx))


class AlbertLayer(nn.Module):
    """Attention, then the feed-forward block with its own residual LayerNorm."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        self.attention = AlbertAttention(cfg)
        self.ffn = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.ffn_output = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def __call__(self, x: mx.array) -> mx.array:
        a = self.attention(x)
        return self.full_layer_layer_norm(a + self.ffn_output(gelu_new(self.ffn(a))))


class AlbertGroup(nn.Module):
    """`albert_layers`: ALBERT's group of (here one) layers."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        self.albert_layers = [AlbertLayer(cfg)]


class AlbertEncoder(nn.Module):
    """Map E -> H, then apply the one shared layer `num_hidden_layers` times."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        self.n = cfg.num_hidden_layers
        self.embedding_hidden_mapping_in = nn.Linear(cfg.embedding_size, cfg.hidden_size)
        self.albert_layer_groups = [AlbertGroup(cfg)]

    def __call__(self, x: mx.array) -> mx.array:
        x = self.embedding_hidden_mapping_in(x)
        layer = self.albert_layer_groups[0].albert_layers[0]
        for _ in range(self.n):
            x = layer(x)
        return x


class Albert(nn.Module):
    """(B, T) phoneme ids -> (B, T, H) contextual features (the last hidden state)."""

    def __init__(self, cfg: AlbertConfig):
        super().__init__()
        self.embeddings = AlbertEmbeddings(cfg)
        self.encoder = AlbertEncoder(cfg)

    def __call__(self, ids: mx.array) -> mx.array:
        return self.encoder(self.embeddings(ids))
