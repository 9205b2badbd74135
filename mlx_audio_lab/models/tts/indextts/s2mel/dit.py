"""The flow-matching estimator (IndexTTS 2's `DiT`): noisy mel, prompt mel, content and speaker style merged per
frame, a time-conditioned transformer, a long skip from the noisy mel, then a WaveNet head and an adaLN final
layer predicting the velocity (B, T, 80)."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from .....layers.conv import Conv1d
from .....taps import tap
from .config import S2MelConfig
from .transformer import Transformer
from .wavenet import WaveNet


class TimestepEmbedder(nn.Module):
    """t in [0, 1] -> cos / sin of 1000 t at 128 geometric frequencies -> MLP (Linear, SiLU, Linear)."""

    def __init__(self, hidden: int, frequencies: int = 256):
        super().__init__()
        self.mlp = [nn.Linear(frequencies, hidden), nn.SiLU(), nn.Linear(hidden, hidden)]
        half = frequencies // 2
        self._freqs = mx.exp(-math.log(10000.0) * mx.arange(half, dtype=mx.float32) / half)

    def __call__(self, t: mx.array) -> mx.array:
        args = 1000.0 * t[:, None].astype(mx.float32) * self._freqs[None]  # (B, half)
        x = mx.concatenate([mx.cos(args), mx.sin(args)], axis=-1)
        for layer in self.mlp:
            x = layer(x)
        return x  # (B, hidden)


class FinalLayer(nn.Module):
    """LayerNorm (no affine) modulated by shift / scale from the time embedding, then a linear map."""

    def __init__(self, hidden: int, out: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, eps=1e-6, affine=False)
        self.linear = nn.Linear(hidden, out)
        self.adaLN_modulation = [nn.SiLU(), nn.Linear(hidden, 2 * hidden)]

    def __call__(self, x: mx.array, c: mx.array) -> mx.array:
        shift, scale = mx.split(self.adaLN_modulation[1](nn.silu(c)), 2, axis=-1)  # each (B, hidden)
        return self.linear(self.norm_final(x) * (1 + scale[:, None]) + shift[:, None])


class DiT(nn.Module):
    """velocity(x (B, T, 80), prompt_x (B, T, 80), t (B,), style (B, 192), cond (B, T, content_dim)) -> (B, T, 80)."""

    def __init__(self, c: S2MelConfig):
        super().__init__()
        d, w = c.dit, c.wavenet
        D, mels = d.hidden_dim, d.in_channels
        self.transformer = Transformer(D, d.num_heads, d.depth, d.uvit_skip_connection)
        self.cond_projection = nn.Linear(d.content_dim, D)
        self.t_embedder = TimestepEmbedder(D)
        self.style_condition, self.long_skip = d.style_condition, d.long_skip_connection
        self.cond_x_merge_linear = nn.Linear(D + 2 * mels + (c.style_dim if d.style_condition else 0), D)
        if d.long_skip_connection:
            self.skip_linear = nn.Linear(D + mels, D)
        self.t_embedder2 = TimestepEmbedder(w.hidden_dim)
        self.conv1 = nn.Linear(D, w.hidden_dim)
        self.wavenet = WaveNet(w)
        self.res_projection = nn.Linear(D, w.hidden_dim)
        self.final_layer = FinalLayer(w.hidden_dim, w.hidden_dim)
        self.conv2 = Conv1d(w.hidden_dim, mels, 1)

    def __call__(self, x: mx.array, prompt_x: mx.array, t: mx.array, style: mx.array, cond: mx.array,
                 lengths: mx.array | None = None) -> mx.array:
        B, T, _ = x.shape
        t1 = tap("s2mel.dit.t_embedder", self.t_embedder(t))  # (B, D)
        parts = [x, prompt_x, self.cond_projection(cond)]
        if self.style_condition:
            parts.append(mx.broadcast_to(style[:, None], (B, T, style.shape[-1])))
        x_in = tap("s2mel.dit.cond_x_merge_linear", self.cond_x_merge_linear(mx.concatenate(parts, axis=-1)))
        keep = mx.ones((B, T), dtype=mx.bool_) if lengths is None else mx.arange(T)[None] < lengths[:, None]
        attn_mask = None if lengths is None else keep[:, None, None, :]
        x_res = self.transformer(x_in, t1[:, None], attn_mask)  # (B, T, D)
        if self.long_skip:
            x_res = tap("s2mel.dit.skip_linear", self.skip_linear(mx.concatenate([x_res, x], axis=-1)))
        h = tap("s2mel.dit.conv1", self.conv1(x_res))
        t2 = self.t_embedder2(t)[:, None]  # (B, 1, H)
        h = self.wavenet(h, keep[..., None].astype(h.dtype), t2) + self.res_projection(x_res)
        h = tap("s2mel.dit.final_layer", self.final_layer(h, t1))
        return tap("s2mel.dit", self.conv2(h))  # (B, T, 80)
