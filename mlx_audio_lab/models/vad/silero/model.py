"""Silero VAD v6 in MLX: every window of audio -> a speech probability, with state carried between windows.

Per window (512 samples at 16 kHz, 256 at 8 kHz, each preceded by the previous window's last 64 / 32 samples):
reflect-pad right, an STFT written as a strided conv with a fixed Fourier basis -> magnitudes (4 frames),
four conv + ReLU blocks (strides 1, 2, 2, 1) -> one 128-d vector, an LSTM cell carried across windows,
ReLU, a 1x1 conv and a sigmoid -> the probability. Parameter names follow the upstream safetensors file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers import Conv1d, LSTMCell
from ....results import RunStats, VADResult, measure
from ....taps import tap
from .config import BranchConfig, SileroConfig
from .timestamps import VADOptions, speech_spans

if TYPE_CHECKING:
    from .stream import VADStream

State = tuple[mx.array, mx.array]  # LSTM (h, c), each (1, hidden)


class SileroBranch(nn.Module):
    """The network for one sample rate (upstream `VADRNNJIT`): windows (N, context + window) -> probabilities."""

    def __init__(self, cfg: BranchConfig):
        super().__init__()
        self.cfg = cfg
        # The STFT basis as a conv weight, channels-last (2 * bins, n_fft, 1): real rows, then imaginary rows.
        self.stft_conv = {"weight": mx.zeros((2 * cfg.bins, cfg.n_fft, 1))}
        c_in = cfg.bins
        for k, (c_out, stride) in enumerate(zip(cfg.channels, cfg.strides), start=1):
            setattr(self, f"conv{k}", Conv1d(c_in, c_out, 3, stride=stride, padding=1))
            c_in = c_out
        self.lstm_cell = LSTMCell(cfg.hidden, cfg.hidden)
        self.final_conv = nn.Conv1d(cfg.hidden, 1, 1)

    def spectrum(self, windows: mx.array) -> mx.array:
        """(N, context + window) -> STFT magnitudes (N, frames, bins): the stride-hop conv as framing + a matmul."""
        cfg = self.cfg
        tail = windows[:, -cfg.context - 1 : -1][:, ::-1]  # right reflect pad by `context` samples
        x = mx.concatenate([windows, tail], axis=1)  # (N, L), L a multiple of hop
        hops = x.reshape(x.shape[0], -1, cfg.hop)  # (N, L / hop, hop)
        frames = mx.concatenate([hops[:, :-1], hops[:, 1:]], axis=-1)  # (N, frames, n_fft), n_fft = 2 * hop
        spec = frames @ self.stft_conv["weight"][..., 0].T  # (N, frames, 2 * bins)
        real, imag = spec[..., : cfg.bins], spec[..., cfg.bins :]
        return mx.sqrt(real * real + imag * imag)

    def encode(self, windows: mx.array) -> mx.array:
        """(N, context + window) -> (N, hidden): the per-window features (independent of the carried state)."""
        name = self.cfg.name
        x = tap(f"{name}.stft", self.spectrum(windows))  # (N, 4, bins)
        for k in range(1, 5):
            x = tap(f"{name}.encoder.{k - 1}", nn.relu(getattr(self, f"conv{k}")(x)))
        return x[:, -1]  # (N, 1, hidden) -> (N, hidden): one frame per window

    def __call__(self, windows: mx.array, state: State) -> tuple[mx.array, State]:
        """Windows in time order (N, context + window) and the LSTM state -> probabilities (N,), new state."""
        name = self.cfg.name
        feats = self.encode(windows)
        hidden, h, c = self.lstm_cell.scan(feats[None], *state)  # the recurrence runs across windows
        hidden = tap(f"{name}.decoder.rnn", hidden[0])  # (N, hidden)
        probs = mx.sigmoid(self.final_conv(nn.relu(hidden)[:, None]))[:, 0, 0]  # (N,)
        return tap(f"{name}.probs", probs), (h, c)

    def initial_state(self) -> State:
        z = mx.zeros((1, self.cfg.hidden))
        return z, z


class SileroVAD(nn.Module):
    """Silero VAD: `detect(audio)` -> speech segments and per-window probabilities, at 16 or 8 kHz."""

    def __init__(self, config: SileroConfig):
        super().__init__()
        self.config = config
        for b in config.branches:
            setattr(self, b.name, SileroBranch(b))

    @property
    def sample_rates(self) -> list[int]:
        return list(self.config.sample_rates)

    def branch(self, sample_rate: int) -> SileroBranch:
        """The network for a sample rate (8000 or 16000 Hz)."""
        if sample_rate not in self.config.sample_rates:
            raise ValueError(f"this Silero VAD has branches for {self.config.sample_rates} Hz, not {sample_rate} "
                             "(resample the audio, or pass a multiple of 16000 Hz)")
        return getattr(self, f"vad_{sample_rate // 1000}k")

    def windows(self, audio: np.ndarray, sample_rate: int) -> mx.array:
        """(samples,) -> (N, context + window): zero-padded to whole windows, each after its context."""
        cfg = self.branch(sample_rate).cfg
        n = math.ceil(len(audio) / cfg.window)
        x = np.zeros(cfg.context + n * cfg.window, np.float32)
        x[cfg.context : cfg.context + len(audio)] = audio
        ctx = x[: n * cfg.window].reshape(n, cfg.window)[:, : cfg.context]  # window i's context: x[iW : iW + C]
        return mx.array(np.concatenate([ctx, x[cfg.context :].reshape(n, cfg.window)], axis=1))

    def probabilities(self, audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
        """Speech probability of every window of a whole clip (the last window zero-padded), from a fresh state."""
        audio, sample_rate, _ = _decimate(np.asarray(audio, np.float32), sample_rate)
        if len(audio) == 0:
            return np.zeros(0, np.float32)
        branch = self.branch(sample_rate)
        probs, _ = branch(self.windows(audio, sample_rate), branch.initial_state())
        return np.array(probs)

    def detect(self, audio: np.ndarray | str | Path, sample_rate: int = 16000, **options: Any) -> VADResult:
        """Speech segments (seconds) and window probabilities; `options` are `VADOptions` (the reference's
        `get_speech_timestamps` thresholds and durations, same defaults). A file is read at `sample_rate`."""
        from ....audio import load_audio

        opts = VADOptions(**options)
        stats = RunStats(sample_rate=sample_rate)
        with measure(stats):
            wav = load_audio(audio, sample_rate) if isinstance(audio, (str, Path)) else np.asarray(audio, np.float32)
            stats.audio_duration = len(wav) / sample_rate
            probs = self.probabilities(wav, sample_rate)
            spans = segments_from_probabilities(probs, len(wav), sample_rate, opts)
        secs = [(a / sample_rate, b / sample_rate) for a, b in spans]
        _, rate, step = _decimate(wav[:0], sample_rate)
        seconds = self.branch(rate).cfg.window * step / sample_rate
        return VADResult(secs, probs, seconds, stats, spans, opts.to_dict())

    def stream(self, sample_rate: int = 16000) -> VADStream:
        """A streaming detector: feed chunks of any length, get each finished window's probability."""
        from .stream import VADStream

        return VADStream(self, sample_rate)


def segments_from_probabilities(probs: np.ndarray, n_samples: int, sample_rate: int,
                                options: VADOptions | None = None) -> list[tuple[int, int]]:
    """(start, end) in samples of the input rate, from window probabilities of a clip of `n_samples`."""
    _, rate, step = _decimate(np.zeros(0, np.float32), sample_rate)
    window = 512 if rate == 16000 else 256
    spans = speech_spans(probs.tolist(), rate, window, -(-n_samples // step), options or VADOptions())
    return [(a * step, b * step) for a, b in spans]


def _decimate(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int, int]:
    """A multiple of 16 kHz is decimated to 16 kHz by plain striding, as the reference does: (audio, rate, step)."""
    if sample_rate > 16000 and sample_rate % 16000 == 0:
        step = sample_rate // 16000
        return audio[::step], 16000, step
    return audio, sample_rate, 1
