"""DeepFilterNet3's parameters, read from the upstream `config.ini` ([df] and [deepfilternet] sections),
and the constants derived from them (ERB band widths, normalisation decay, the Vorbis window)."""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DeepFilterNetConfig:
    """What the port needs from `config.ini` (DFN3 defaults)."""

    model_type: str = "deepfilternet"
    sr: int = 48000
    fft_size: int = 960
    hop_size: int = 480
    nb_erb: int = 32
    nb_df: int = 96
    norm_tau: float = 1.0
    lsnr_max: float = 35.0
    lsnr_min: float = -15.0
    min_nb_erb_freqs: int = 2
    df_order: int = 5
    df_lookahead: int = 2
    conv_lookahead: int = 2
    conv_ch: int = 64
    emb_hidden_dim: int = 256
    emb_num_layers: int = 3  # 1 GRU layer in the encoder + 2 in the ERB decoder
    enc_linear_groups: int = 32
    linear_groups: int = 16
    df_hidden_dim: int = 256
    df_num_layers: int = 2
    df_pathway_kernel_size_t: int = 5

    @classmethod
    def from_ini(cls, path: str | Path) -> DeepFilterNetConfig:
        """Read the [df] and [deepfilternet] sections of an upstream `config.ini`."""
        ini = configparser.ConfigParser()
        ini.read(path)
        values = {}
        for name, field in cls.__dataclass_fields__.items():
            if name == "model_type":
                continue
            for section in ("df", "deepfilternet"):
                if ini.has_option(section, name):
                    values[name] = (float if field.type == "float" else int)(ini.get(section, name))
        return cls(**values)

    @property
    def freq_bins(self) -> int:
        return self.fft_size // 2 + 1

    @property
    def norm_alpha(self) -> float:
        """Decay of the running feature means: exp(-hop / sr / tau), rounded as upstream (3+ decimals, < 1)."""
        a = math.exp(-self.hop_size / self.sr / self.norm_tau)
        precision, rounded = 3, 1.0
        while rounded >= 1.0:
            rounded = round(a, precision)
            precision += 1
        return rounded

    def erb_widths(self) -> np.ndarray:
        """Bins per ERB band (libDF's `erb_fb`): equal steps on the ERB scale, at least `min_nb_erb_freqs` each."""
        def freq2erb(f: float) -> float:
            return 9.265 * math.log1p(f / (24.7 * 9.265))

        def erb2freq(e: float) -> float:
            return 24.7 * 9.265 * (math.exp(e / 9.265) - 1.0)

        freq_width = self.sr / self.fft_size
        low, high = freq2erb(0.0), freq2erb(self.sr / 2)
        step = (high - low) / self.nb_erb
        widths, prev, over = [], 0, 0
        for i in range(1, self.nb_erb + 1):
            fb = int(round(erb2freq(low + i * step) / freq_width))
            n = fb - prev - over
            over, n = (self.min_nb_erb_freqs - n, self.min_nb_erb_freqs) if n < self.min_nb_erb_freqs else (0, n)
            widths.append(n)
            prev = fb
        widths[-1] += 1  # the Nyquist bin
        widths[-1] -= max(sum(widths) - self.freq_bins, 0)
        return np.array(widths, dtype=np.int64)

    def erb_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(band means (F, E): each column averages its band's bins, band spread (E, F): 0/1 per bin)."""
        widths = self.erb_widths()
        spread = np.zeros((self.nb_erb, self.freq_bins), np.float32)
        start = 0
        for b, w in enumerate(widths):
            spread[b, start:start + w] = 1.0
            start += w
        return (spread / widths[:, None]).T.astype(np.float32), spread

    def window(self) -> np.ndarray:
        """libDF's Vorbis window: sin(pi/2 sin^2(pi/2 (n + 1/2) / (N/2))); power complementary at 50 % overlap."""
        n = np.arange(self.fft_size, dtype=np.float64)
        inner = np.sin(0.5 * np.pi * (n + 0.5) / (self.fft_size // 2))
        return np.sin(0.5 * np.pi * inner**2).astype(np.float32)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
