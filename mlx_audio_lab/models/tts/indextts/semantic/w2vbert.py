"""w2v-BERT 2.0 (Seamless, 2023): a Conformer encoder over stacked log-mel features, as transformers'
`Wav2Vec2BertModel` computes it. Each layer: half-step feed-forward, self attention with Shaw-style relative-key
position biases (learned distance embeddings, clamped to -64 ... +8 frames), a convolution module with a causal
depthwise conv, a second half-step feed-forward, a final LayerNorm. Names follow the checkpoint; channels-last."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .....layers.conformer import ConformerConvModule
from .....layers.fast_math import scaled_dot_product_attention
from .....taps import tap
from .config import W2VBertConfig


class FeatureProjection(nn.Module):
    """LayerNorm over the 160 stacked values, then a linear map to the model width: (B, T, 160) -> (B, T, D)."""

    def __init__(self, cfg: W2VBertConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg.feature_projection_input_dim, eps=cfg.layer_norm_eps)
        self.projection = nn.Linear(cfg.feature_projection_input_dim, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        return self.projection(self.layer_norm(x))


class FeedForward(nn.Module):
    def __init__(self, cfg: W2VBertConfig):
        super().__init__()
        self.intermediate_dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output_dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        return self.output_dense(nn.silu(self.intermediate_dense(x)))


def relative_distances(length: int, left: int, right: int) -> mx.array:
    """(T, T) indices into the distance table: key - query clamped to [-left, right], shifted by `left`."""
    pos = mx.arange(length)
    return mx.clip(pos[None, :] - pos[:, None], -left, right) + left


class RelativeKeySelfAttention(nn.Module):
    """Scores q.k / sqrt(d) plus q.E[key - query] / sqrt(d), E a learned (left + right + 1, head_dim) table."""

    def __init__(self, cfg: W2VBertConfig):
        super().__init__()
        d = cfg.hidden_size
        self.heads, self.head_dim = cfg.num_attention_heads, d // cfg.num_attention_heads
        self.left, self.right = cfg.left_max_position_embeddings, cfg.right_max_position_embeddings
        self.linear_q, self.linear_k = nn.Linear(d, d), nn.Linear(d, d)
        self.linear_v, self.linear_out = nn.Linear(d, d), nn.Linear(d, d)
        self.distance_embedding = nn.Embedding(self.left + self.right + 1, self.head_dim)

    def _split(self, x: mx.array) -> mx.array:
        B, T, _ = x.shape  # (B, T, D) -> (B, H, T, Dh)
        return x.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, x: mx.array) -> mx.array:
        B, T, D = x.shape
        q, k, v = self._split(self.linear_q(x)), self._split(self.linear_k(x)), self._split(self.linear_v(x))
        scale = self.head_dim**-0.5
        per_distance = q @ self.distance_embedding.weight.T  # (B, H, T, n_distances): q against every distance
        index = mx.broadcast_to(relative_distances(T, self.left, self.right), (B, self.heads, T, T))
        bias = mx.take_along_axis(per_distance, index, axis=-1) * scale  # (B, H, T, T)
        out = scaled_dot_product_attention(q, k, v, scale, mask=bias)
        return self.linear_out(out.transpose(0, 2, 1, 3).reshape(B, T, D))


class ConformerLayer(nn.Module):
    """x + FF/2, + attention, + convolution (its own LayerNorm first), + FF/2, then LayerNorm."""

    def __init__(self, cfg: W2VBertConfig):
        super().__init__()
        d, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.ffn1_layer_norm, self.ffn1 = nn.LayerNorm(d, eps=eps), FeedForward(cfg)
        self.self_attn_layer_norm, self.self_attn = nn.LayerNorm(d, eps=eps), RelativeKeySelfAttention(cfg)
        self.conv_layer_norm = nn.LayerNorm(d, eps=eps)
        self.conv_module = ConformerConvModule(d, cfg.conv_depthwise_kernel_size, bias=False, norm="layer",
                                               causal=True, eps=eps)
        self.ffn2_layer_norm, self.ffn2 = nn.LayerNorm(d, eps=eps), FeedForward(cfg)
        self.final_layer_norm = nn.LayerNorm(d, eps=eps)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + 0.5 * self.ffn1(self.ffn1_layer_norm(x))
        x = x + self.self_attn(self.self_attn_layer_norm(x))
        x = x + self.conv_module(self.conv_layer_norm(x))
        x = x + 0.5 * self.ffn2(self.ffn2_layer_norm(x))
        return self.final_layer_norm(x)


class W2VBert(nn.Module):
    """Input features (B, T, 160) -> hidden state after `len(layers)` conformer layers (B, T, D).

    Built with only the layers a caller reads (IndexTTS: 17 of 24); taps `w2vbert.feature_projection`,
    `w2vbert.layers.N`."""

    def __init__(self, cfg: W2VBertConfig, num_layers: int | None = None):
        super().__init__()
        n = cfg.num_hidden_layers if num_layers is None else num_layers
        if not 0 <= n <= cfg.num_hidden_layers:
            raise ValueError(f"num_layers {n}: the model has {cfg.num_hidden_layers} layers")
        self.config = cfg
        self.feature_projection = FeatureProjection(cfg)
        self.layers = [ConformerLayer(cfg) for _ in range(n)]

    def __call__(self, features: mx.array) -> mx.array:
        x = tap("w2vbert.feature_projection", self.feature_projection(features))
        for i, layer in enumerate(self.layers):
            x = tap(f"w2vbert.layers.{i}", layer(x))
        return x
