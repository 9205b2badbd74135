"""BiCodec's wave generator: DAC's decoder (conv, Snake + transposed conv + three Snake residual units per
stage, Snake, conv, tanh) with BiCodec's own transposed-conv kernels (`kernel_sizes`, padding (k - s) // 2).

Channels-last: (B, T, input_channel) -> audio (B, T * prod(rates), 1).
"""

from __future__ import annotations

from types import SimpleNamespace

from .....layers.conv import ConvTranspose1d
from ....codecs.dac.model import Decoder


class WaveGenerator(Decoder):
    """The DAC port's `Decoder`, its upsampling convs rebuilt with BiCodec's kernel sizes."""

    def __init__(self, input_channel: int, channels: int, rates: list[int], kernel_sizes: list[int], d_out: int = 1):
        if d_out != 1:
            raise ValueError("BiCodec's wave generator writes mono audio (d_out = 1)")
        super().__init__(SimpleNamespace(hidden_size=input_channel, decoder_hidden_size=channels,
                                         upsampling_ratios=list(rates)))
        for i, (block, k, s) in enumerate(zip(self.block, kernel_sizes, rates)):
            c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
            block.conv_t1 = ConvTranspose1d(c_in, c_out, k, stride=s, padding=(k - s) // 2)
