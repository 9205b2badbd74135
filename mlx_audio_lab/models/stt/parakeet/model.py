"""Parakeet (NVIDIA): a FastConformer encoder (Rekesh et al., 2023) with a CTC, RNN-T or TDT head.

Module names follow transformers' `ParakeetForCTC` / `ParakeetForRNNT` / `ParakeetForTDT`, so Hugging Face
checkpoints load with few renames. Channels-last: features (B, frames, n_mels), hidden states (B, T, C).
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ....layers.conformer import ConformerConvModule
from ....layers.fast_math import gelu
from ....layers.lstm import LSTM
from ....layers.relpos_attention import RelPositionMultiHeadAttention, rel_positional_encoding
from ....taps import tap
from .config import EncoderConfig, ParakeetConfig

ACTIVATIONS = {"silu": nn.silu, "swish": nn.silu, "relu": nn.relu, "gelu": gelu, "tanh": mx.tanh}


def time_mask(lengths: mx.array, T: int) -> mx.array:
    """(B,) valid lengths -> (B, T) bool."""
    return mx.arange(T)[None, :] < lengths[:, None]


class Subsampling(nn.Module):
    """Conv2d stack over (time, mel) that divides both by `subsampling_factor`, then a linear to the width."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        k, s, c = cfg.subsampling_conv_kernel_size, cfg.subsampling_conv_stride, cfg.subsampling_conv_channels
        self.kernel, self.stride, self.pad = k, s, (k - 1) // 2
        n = int(math.log2(cfg.subsampling_factor))
        layers: list[nn.Module] = [nn.Conv2d(1, c, k, stride=s, padding=self.pad), nn.ReLU()]
        for _ in range(n - 1):  # depthwise (strided) + pointwise + ReLU, indices as transformers'
            layers += [nn.Conv2d(c, c, k, stride=s, padding=self.pad, groups=c), nn.Conv2d(c, c, 1), nn.ReLU()]
        self.layers = layers
        self.linear = nn.Linear(c * (cfg.num_mel_bins // s**n), cfg.hidden_size)

    def __call__(self, x: mx.array, lengths: mx.array | None = None) -> tuple[mx.array, mx.array | None]:
        """(B, frames, n_mels) -> ((B, T, hidden), output lengths)."""
        x = x[..., None]  # (B, frames, n_mels, 1): NHWC with H = time
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.Conv2d) and lengths is not None:
                if layer.weight.shape[1] != 1 or layer.weight.shape[2] != 1:  # strided k x k conv
                    lengths = (lengths + 2 * self.pad - self.kernel) // self.stride + 1
                x = x * time_mask(lengths, x.shape[1])[:, :, None, None].astype(x.dtype)
        B, T, F, C = x.shape
        x = x.transpose(0, 1, 3, 2).reshape(B, T, C * F)  # torch flattens (channels, mel)
        return self.linear(x), lengths


class FeedForward(nn.Module):
    """Linear -> SiLU -> linear (half-step residual in the block)."""

    def __init__(self, d: int, ffn: int, bias: bool, act: str):
        super().__init__()
        self.linear1 = nn.Linear(d, ffn, bias=bias)
        self.linear2 = nn.Linear(ffn, d, bias=bias)
        self.act = ACTIVATIONS[act]

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear2(self.act(self.linear1(x)))


class ConformerBlock(nn.Module):
    """Macaron block: ½ FFN, relative-position self attention, conv module, ½ FFN, LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.hidden_size
        self.feed_forward1 = FeedForward(d, cfg.intermediate_size, cfg.attention_bias, cfg.hidden_act)
        self.self_attn = RelPositionMultiHeadAttention(d, cfg.num_attention_heads, bias=cfg.attention_bias)
        self.conv = ConformerConvModule(d, cfg.conv_kernel_size, bias=cfg.convolution_bias)
        self.feed_forward2 = FeedForward(d, cfg.intermediate_size, cfg.attention_bias, cfg.hidden_act)
        self.norm_feed_forward1 = nn.LayerNorm(d)
        self.norm_self_att = nn.LayerNorm(d)
        self.norm_conv = nn.LayerNorm(d)
        self.norm_feed_forward2 = nn.LayerNorm(d)
        self.norm_out = nn.LayerNorm(d)

    def __call__(self, x: mx.array, pos_emb: mx.array, mask: mx.array | None, valid: mx.array | None) -> mx.array:
        x = x + 0.5 * self.feed_forward1(self.norm_feed_forward1(x))
        x = x + self.self_attn(self.norm_self_att(x), pos_emb, mask)
        x = x + self.conv(self.norm_conv(x), valid)
        x = x + 0.5 * self.feed_forward2(self.norm_feed_forward2(x))
        return self.norm_out(x)


class FastConformerEncoder(nn.Module):
    """Subsampling, input scaling, relative positions, Conformer blocks."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.hidden_size = cfg.hidden_size
        self.input_scale = math.sqrt(cfg.hidden_size) if cfg.scale_input else 1.0
        self.subsampling = Subsampling(cfg)
        self.layers = [ConformerBlock(cfg) for _ in range(cfg.num_hidden_layers)]

    def __call__(self, features: mx.array, lengths: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """features (B, frames, n_mels), valid frames (B,) -> (hidden (B, T, C), valid encoder frames (B,))."""
        x, sub_lengths = self.subsampling(features, lengths)
        x = tap("encoder.subsampling", x) * self.input_scale
        T = x.shape[1]
        pos_emb = rel_positional_encoding(T, self.hidden_size).astype(x.dtype)
        mask = valid = None
        out_lengths = mx.full((x.shape[0],), T)
        if lengths is not None:
            out_lengths = mx.minimum(sub_lengths, T)
            valid = time_mask(out_lengths, T)  # (B, T)
            mask = (valid[:, None, :] & valid[:, :, None])[:, None]  # (B, 1, T, T)
        for i, layer in enumerate(self.layers):
            x = tap(f"encoder.layers.{i}", layer(x, pos_emb, mask, valid))
        return x, out_lengths


class PredictionNetwork(nn.Module):
    """Transducer decoder: label embedding -> LSTM -> projection (transformers' `ParakeetRNNTDecoder`)."""

    def __init__(self, cfg: ParakeetConfig):
        super().__init__()
        h = cfg.decoder_hidden_size
        self.embedding = nn.Embedding(cfg.vocab_size, h)
        self.lstm = LSTM(h, h, cfg.num_decoder_layers)
        self.decoder_projector = nn.Linear(h, h)

    def __call__(self, token: mx.array, state: tuple[mx.array, mx.array] | None):
        """token (B,) and (h, c) each (layers, B, H) or None -> (output (B, H), new state)."""
        x = self.embedding(token)
        B, H, L = x.shape[0], self.lstm.hidden_size, self.lstm.num_layers
        h, c = state if state is not None else (mx.zeros((L, B, H), x.dtype), mx.zeros((L, B, H), x.dtype))
        hs, cs = [], []
        for n in range(L):
            gates = x @ self.lstm[f"weight_ih_l{n}"].T + h[n] @ self.lstm[f"weight_hh_l{n}"].T
            if self.lstm.bias:
                gates = gates + self.lstm[f"bias_ih_l{n}"] + self.lstm[f"bias_hh_l{n}"]
            i, f, g, o = mx.split(gates, 4, axis=-1)
            cn = mx.sigmoid(f) * c[n] + mx.sigmoid(i) * mx.tanh(g)
            x = mx.sigmoid(o) * mx.tanh(cn)
            hs.append(x)
            cs.append(cn)
        return self.decoder_projector(x), (mx.stack(hs), mx.stack(cs))


class JointNetwork(nn.Module):
    """act(encoder + decoder) -> token logits (and TDT duration logits after them)."""

    def __init__(self, cfg: ParakeetConfig):
        super().__init__()
        extra = len(cfg.durations) if cfg.decoder == "tdt" else 0
        self.head = nn.Linear(cfg.decoder_hidden_size, cfg.vocab_size + extra)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def __call__(self, enc: mx.array, dec: mx.array) -> mx.array:
        return self.head(self.act(enc + dec))


class Parakeet(nn.Module):
    """Encoder + head; `config.decoder` picks CTC (`ctc_head`) or a transducer (projector, decoder, joint)."""

    def __init__(self, cfg: ParakeetConfig):
        super().__init__()
        self.config = cfg
        enc = cfg.encoder
        self.encoder = FastConformerEncoder(enc)
        if cfg.decoder == "ctc":
            self.ctc_head = nn.Linear(enc.hidden_size, cfg.vocab_size)  # a kernel-1 Conv1d upstream
        else:
            self.encoder_projector = nn.Linear(enc.hidden_size, cfg.decoder_hidden_size)
            self.decoder = PredictionNetwork(cfg)
            self.joint = JointNetwork(cfg)
        self.tokenizer = None

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift

    def encode(self, features: mx.array, lengths: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """features (B, frames, n_mels) -> (CTC logits or projected encoder states (B, T, ·), valid frames (B,))."""
        x, out_lengths = self.encoder(features, lengths)
        if self.config.decoder == "ctc":
            return tap("ctc_head", self.ctc_head(x)), out_lengths
        return tap("encoder_projector", self.encoder_projector(x)), out_lengths

    def __call__(self, features: mx.array, lengths: mx.array | None = None) -> mx.array:
        return self.encode(features, lengths)[0]

    def transcribe(self, audio, **kwargs):
        """Speech (16 kHz array or file) -> `Transcript`; see `transcribe.transcribe` for the options."""
        from .transcribe import transcribe

        return transcribe(self, audio, **kwargs)
