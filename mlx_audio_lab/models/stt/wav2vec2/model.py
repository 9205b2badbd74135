"""Wav2Vec2 (Baevski et al., 2020) with a CTC head: a conv feature encoder over raw audio, a transformer
with a convolutional position embedding, and a linear layer to characters.

Module names follow transformers' `Wav2Vec2ForCTC`, so Hugging Face checkpoints load with no renames
(only conv layouts change and the positional conv's weight norm is folded, at conversion).
Shapes are channels-last: audio (B, S, 1), features (B, T, C), hidden states (B, T, hidden_size).
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn

from ....layers.attention import MultiHeadAttention
from ....layers.conv import Conv1d
from ....layers.fast_math import gelu
from ....layers.groupnorm import ChannelGroupNorm
from ....taps import tap
from .config import Wav2Vec2Config

ACTIVATIONS = {"gelu": gelu, "gelu_new": nn.gelu_approx, "relu": nn.relu}


class ConvLayer(nn.Module):
    """Conv1d, an optional norm (per-channel group norm or layer norm over channels), activation."""

    def __init__(self, cfg: Wav2Vec2Config, i: int, norm: str | None):
        super().__init__()
        c_in = cfg.conv_dim[i - 1] if i > 0 else 1
        c_out = cfg.conv_dim[i]
        self.conv = Conv1d(c_in, c_out, cfg.conv_kernel[i], stride=cfg.conv_stride[i], bias=cfg.conv_bias)
        if norm == "group":  # one group per channel: each channel normalized over time
            self.layer_norm = ChannelGroupNorm(c_out, eps=1e-5)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, eps=1e-5)
        self.norm = norm
        self.act = ACTIVATIONS[cfg.feat_extract_activation]

    def __call__(self, x: mx.array) -> mx.array:
        x = self.conv(x)  # (B, T_in, C_in) -> (B, T_out, C_out)
        if self.norm is not None:
            x = self.layer_norm(x)
        return self.act(x)


class FeatureEncoder(nn.Module):
    """Seven strided convs: 16 kHz audio -> one C-dim feature vector every 20 ms."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        n = len(cfg.conv_dim)
        if cfg.feat_extract_norm == "group":  # base: group norm on the first conv only
            norms = ["group"] + [None] * (n - 1)
        else:  # large: layer norm after every conv
            norms = ["layer"] * n
        self.conv_layers = [ConvLayer(cfg, i, norms[i]) for i in range(n)]

    def __call__(self, audio: mx.array) -> mx.array:
        """audio (B, S) -> features (B, T, conv_dim[-1])."""
        x = audio[..., None]
        for i, layer in enumerate(self.conv_layers):
            x = tap(f"feature_encoder.conv_layers.{i}", layer(x))
        return x


class FeatureProjection(nn.Module):
    """Layer norm over conv features, then a linear map to the transformer width."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg.conv_dim[-1], eps=cfg.layer_norm_eps)
        self.projection = nn.Linear(cfg.conv_dim[-1], cfg.hidden_size)

    def __call__(self, x: mx.array) -> mx.array:
        return self.projection(self.layer_norm(x))


class PositionalConvEmbedding(nn.Module):
    """A wide grouped conv over time (weight norm folded at conversion) giving relative positions."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        k = cfg.num_conv_pos_embeddings
        d = cfg.hidden_size
        self.conv = Conv1d(d, d, k, padding=k // 2, groups=cfg.num_conv_pos_embedding_groups)
        self.trim = 1 if k % 2 == 0 else 0  # "same" length for an even kernel
        self.act = ACTIVATIONS[cfg.feat_extract_activation]

    def __call__(self, x: mx.array) -> mx.array:
        y = self.conv(x)  # (B, T + trim, d)
        if self.trim:
            y = y[:, : -self.trim]
        return self.act(y)


class FeedForward(nn.Module):
    """Two linear layers around the hidden activation."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.intermediate_dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output_dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def __call__(self, x: mx.array) -> mx.array:
        return self.output_dense(self.act(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    """Transformer block; post-norm (base) or pre-norm ("stable layer norm", large)."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        d = cfg.hidden_size
        self.attention = MultiHeadAttention(d, cfg.num_attention_heads, bias=True, key_bias=True)
        self.layer_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.feed_forward = FeedForward(cfg)
        self.final_layer_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.pre_norm = cfg.do_stable_layer_norm

    def __call__(self, x: mx.array) -> mx.array:
        if self.pre_norm:
            x = x + self.attention(self.layer_norm(x))[0]
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.attention(x)[0])
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    """Positions added by conv, then the blocks; the one extra layer norm comes first (base) or last (large)."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.pos_conv_embed = PositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.layers = [EncoderLayer(cfg) for _ in range(cfg.num_hidden_layers)]
        self.pre_norm = cfg.do_stable_layer_norm

    def __call__(self, x: mx.array) -> mx.array:
        x = x + tap("encoder.pos_conv_embed", self.pos_conv_embed(x))
        if not self.pre_norm:
            x = tap("encoder.layer_norm", self.layer_norm(x))
        for i, layer in enumerate(self.layers):
            x = tap(f"encoder.layers.{i}", layer(x))
        if self.pre_norm:
            x = tap("encoder.layer_norm", self.layer_norm(x))
        return x


class Wav2Vec2Model(nn.Module):
    """Feature encoder, projection and transformer: audio -> contextual frames (B, T, hidden_size)."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.feature_extractor = FeatureEncoder(cfg)
        self.feature_projection = FeatureProjection(cfg)
        self.encoder = Encoder(cfg)

    def __call__(self, audio: mx.array) -> mx.array:
        x = self.feature_extractor(audio)
        x = tap("feature_projection", self.feature_projection(x))
        return self.encoder(x)


class Wav2Vec2ForCTC(nn.Module):
    """The encoder with a linear CTC head over characters (`pad` is the blank, `|` the word delimiter)."""

    def __init__(self, cfg: Wav2Vec2Config):
        super().__init__()
        self.config = cfg
        self.wav2vec2 = Wav2Vec2Model(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.vocab = None  # a CTCVocab, attached by load_model
        self.do_normalize = True  # zero-mean, unit-variance input (from preprocessor_config.json)
        self.sample_rate = 16000

    def __call__(self, audio: mx.array) -> mx.array:
        """audio (B, S) at 16 kHz, already normalized -> CTC logits (B, T, vocab_size), T = S / 320."""
        return tap("lm_head", self.lm_head(self.wav2vec2(audio)))

    @property
    def frame_shift(self) -> float:
        """Seconds between output frames (0.02 for the standard conv stack)."""
        return self.config.samples_per_frame / self.sample_rate

    def transcribe(self, audio: Any, **options: Any):
        """Greedy CTC transcript of a file or array (see `transcribe.transcribe` for options)."""
        from .transcribe import transcribe

        return transcribe(self, audio, **options)
