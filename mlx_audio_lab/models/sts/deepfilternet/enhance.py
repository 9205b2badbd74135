"""DeepFilterNet3 end to end: audio -> STFT -> features -> networks -> ERB gains + deep filter -> iSTFT.

Follows the `deepfilternet` package's offline `enhance` (pad one FFT, analyse, run the model, synthesise,
drop the delay) with libDF's DSP; `dsp.py` has the pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ....layers.cpu.blas_threads import mlx_blas_threads
from ....layers.fast_math import fast_math_active
from ....results import AudioResult, RunStats, measure
from ....taps import tap
from . import dsp as ddsp
from .model import DfNet


@dataclass
class Enhanced:
    """Every stage of one run (numpy), for notebooks and parity."""

    spec: np.ndarray  # (T, F) complex noisy spectrum
    gains: np.ndarray  # (T, E) ERB gains
    coefs: np.ndarray  # (T, Fdf, 2 order) deep-filter coefficients
    lsnr: np.ndarray  # (T,) local SNR estimate, dB
    enhanced_spec: np.ndarray  # (T, F) complex
    audio: np.ndarray  # (N,) enhanced waveform


class DeepFilterNet:
    """Speech enhancement at 48 kHz: `enhance(audio) -> AudioResult`."""

    def __init__(self, net: DfNet, name: str = "deepfilternet3"):
        self.net, self.config, self.name = net, net.config, name

    @property
    def sample_rate(self) -> int:
        return self.config.sr

    def parameters(self) -> dict:
        """The networks' parameters (what `convert.save.save_model` writes)."""
        return self.net.parameters()

    def named_modules(self) -> list:
        return self.net.named_modules()

    @property
    def quantization(self) -> dict | None:
        """{"bits", "group_size"} when the networks were loaded quantized, else None."""
        return getattr(self.net, "quantization", None)

    def features(self, spec: mx.array) -> tuple[mx.array, mx.array]:
        """Noisy spectrum (T, F) -> (feat_erb (1, T, E, 1), feat_spec (1, T, Fdf, 2)), shifted by the lookahead."""
        c = self.config
        erb = tap("features.erb", ddsp.erb_features(spec, c))
        cplx = tap("features.spec", ddsp.spec_features(spec, c))
        erb, cplx = ddsp.lookahead(erb, c.conv_lookahead), ddsp.lookahead(cplx, c.conv_lookahead)
        return erb[None, :, :, None], cplx[None]

    def run(self, audio: np.ndarray | mx.array) -> Enhanced:
        """All stages for one 48 kHz mono clip (N,)."""
        c = self.config
        x = mx.array(np.asarray(audio, np.float32))
        with mlx_blas_threads(1, fast_math_active()):  # (as `DfNet` does: the DSP's products too)
            spec = tap("stft", ddsp.analysis(ddsp.pad_input(x, c), c))  # (T, F)
            feat_erb, feat_spec = self.features(spec)
            gains, coefs, lsnr = self.net(feat_erb, feat_spec)
            gains, coefs = gains[0, :, :, 0], coefs[0]
            out_spec = tap("enhanced_spec", ddsp.enhanced_spectrum(spec, gains, coefs, c))
            y = tap("audio", ddsp.synthesis(out_spec, x.shape[0], c))
            mx.eval(y, gains, coefs, lsnr)
        return Enhanced(np.array(spec), np.array(gains), np.array(coefs), np.array(lsnr[0, :, 0]),
                        np.array(out_spec), np.array(y))

    def enhance(self, audio: np.ndarray | mx.array, sample_rate: int | None = None) -> AudioResult:
        """Denoise a mono clip; other sample rates are resampled to 48 kHz (the result stays at 48 kHz)."""
        audio = np.asarray(audio, np.float32)
        if audio.ndim != 1:
            raise ValueError(f"enhance takes mono audio (N,), got shape {audio.shape}")
        if sample_rate is not None and sample_rate != self.sample_rate:
            from ....audio import resample

            audio = resample(audio, sample_rate, self.sample_rate)
        stats = RunStats(sample_rate=self.sample_rate, audio_duration=len(audio) / self.sample_rate)
        with measure(stats):
            r = self.run(audio)
        return AudioResult(audio=r.audio, stats=stats, extras={"gains": r.gains, "lsnr": r.lsnr})
