"""SEANet's hyper-parameters, the fields EnCodec's and Mimi's configs share (transformers' names); each codec's
config adds its own and overrides the defaults that differ."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ...convert.validate import checked


@dataclass
class SEANetConfig:
    """The convolutional encoder / decoder: strides, filters, kernels, residual blocks, padding."""

    sampling_rate: int = 24_000
    audio_channels: int = 1
    hidden_size: int = 128
    num_filters: int = 32
    num_residual_layers: int = 1
    upsampling_ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_growth_rate: int = 2
    use_causal_conv: bool = True
    pad_mode: str = "reflect"
    compress: int = 2
    trim_right_ratio: float = 1.0
    use_conv_shortcut: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """From a HF `config.json` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))


def transposed_conv_indices(cfg: SEANetConfig, lstm_layers: int = 0) -> list[int]:
    """Positions of the transposed convolutions in `decoder.layers` (the key maps need them): after the first
    conv and the LSTM if any, each stride holds an ELU, the transposed conv and the residual blocks."""
    out, i = [], 2 if lstm_layers else 1
    for _ in cfg.upsampling_ratios:
        out.append(i + 1)
        i += 2 + cfg.num_residual_layers
    return out
