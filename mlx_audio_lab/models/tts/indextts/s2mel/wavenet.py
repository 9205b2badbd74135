"""The DiT's WaveNet head (VITS's `WN` with EnCodec-style self-padding convs): gated dilated convs, each layer
conditioned on its slice of a projected global vector (here the second time embedding), residual + skip sums."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .....layers.conv import StreamableConv1d
from .....taps import tap
from .config import WaveNetConfig


class WaveNet(nn.Module):
    """(B, T, H) + global condition (B, 1, H) -> (B, T, H); convs reflect-pad themselves ('same' length)."""

    def __init__(self, c: WaveNetConfig):
        super().__init__()
        H, n = c.hidden_dim, c.num_layers
        self.hidden = H
        self.cond_layer = StreamableConv1d(H, 2 * H * n, 1)
        self.in_layers = [StreamableConv1d(H, 2 * H, c.kernel_size, dilation=c.dilation_rate**i) for i in range(n)]
        self.res_skip_layers = [StreamableConv1d(H, 2 * H if i < n - 1 else H, 1) for i in range(n)]

    def __call__(self, x: mx.array, mask: mx.array, g: mx.array) -> mx.array:
        """x (B, T, H), mask (B, T, 1), g (B, 1, H)."""
        H, n = self.hidden, len(self.in_layers)
        g = self.cond_layer(g)  # (B, 1, 2 H n)
        out = mx.zeros_like(x)
        for i in range(n):
            a = self.in_layers[i](x) + g[..., 2 * H * i: 2 * H * (i + 1)]
            acts = mx.tanh(a[..., :H]) * mx.sigmoid(a[..., H:])
            rs = tap(f"s2mel.dit.wavenet.res_skip_layers.{i}", self.res_skip_layers[i](acts))
            if i < n - 1:
                x = (x + rs[..., :H]) * mask
                out = out + rs[..., H:]
            else:
                out = out + rs
        return tap("s2mel.dit.wavenet", out * mask)
