"""Chatterbox sizes. The upstream checkpoints (`t3_cfg`, `s3gen`, `ve` .safetensors) carry no config file: widths
are read from the weights' shapes, the rest (strides, rates, head width) are the upstream constants."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

S3GEN_SR = 24_000  # S3Gen's output rate (Hz)
S3_SR = 16_000  # the S3 tokenizer's and the speaker encoders' input rate
SPEECH_VOCAB = 6561  # S3 speech tokens (3^8 FSQ levels)


@dataclass
class HiFTConfig:
    """HiFT (HiFi-GAN + neural source filter + iSTFT head) as S3Token2Wav builds it."""

    in_channels: int = 80
    base_channels: int = 512
    nb_harmonics: int = 8
    sampling_rate: int = S3GEN_SR
    nsf_alpha: float = 0.1  # sine amplitude
    nsf_sigma: float = 0.003  # noise std in voiced frames
    nsf_voiced_threshold: float = 10.0  # Hz
    upsample_rates: tuple[int, ...] = (8, 5, 3)
    upsample_kernel_sizes: tuple[int, ...] = (16, 11, 7)
    n_fft: int = 16
    hop_len: int = 4
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    source_resblock_kernel_sizes: tuple[int, ...] = (7, 7, 11)
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    lrelu_slope: float = 0.1  # between the upsampling stages
    final_slope: float = 0.01  # torch's default leaky ReLU before conv_post (mlx-audio 0.6.2 uses 0.1: a bug)
    audio_limit: float = 0.99
    f0_channels: int = 512  # the F0 predictor's conv width

    @property
    def upsample_scale(self) -> int:
        """Audio samples per mel frame (8 * 5 * 3 * hop 4 = 480)."""
        return int(np.prod(self.upsample_rates)) * self.hop_len

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], prefix: str = "mel2wav.") -> HiFTConfig:
        """Widths from the weights (`conv_pre`, `conv_post`, `m_source.l_linear`, the F0 predictor)."""
        def shape(name: str) -> tuple[int, ...]:
            for k in (f"{prefix}{name}.parametrizations.weight.original1", f"{prefix}{name}.weight"):
                if k in state:
                    return tuple(state[k].shape)
            raise KeyError(f"{prefix}{name}")

        return cls(in_channels=shape("conv_pre")[1], base_channels=shape("conv_pre")[0],
                   nb_harmonics=shape("m_source.l_linear")[1] - 1, n_fft=shape("conv_post")[0] - 2,
                   f0_channels=shape("f0_predictor.condnet.0")[0])


@dataclass
class ChatterboxConfig:
    """The pipeline's parts (each filled from its checkpoint)."""

    hift: HiFTConfig = field(default_factory=HiFTConfig)
