"""Streaming Silero VAD: the LSTM state and the last `context` samples carried from window to window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

if TYPE_CHECKING:
    from .model import SileroVAD


class VADStream:
    """Feed audio chunks of any length; each call returns the probabilities of the windows it completed.

    Equal to `SileroVAD.probabilities` on the whole clip once `flush()` has scored the zero-padded tail.
    """

    def __init__(self, model: SileroVAD, sample_rate: int = 16000):
        self.branch = model.branch(sample_rate)
        self.sample_rate = sample_rate
        cfg = self.branch.cfg
        self.context = np.zeros(cfg.context, np.float32)  # the previous window's last samples (zeros at first)
        self.pending = np.zeros(0, np.float32)  # samples not yet making a whole window
        self.state = self.branch.initial_state()
        self.probabilities: list[float] = []

    def _score(self, samples: np.ndarray) -> np.ndarray:
        """Whole windows (a multiple of `window` samples) -> their probabilities, carrying state and context."""
        cfg = self.branch.cfg
        x = np.concatenate([self.context, samples])
        n = len(samples) // cfg.window
        ctx = x[: n * cfg.window].reshape(n, cfg.window)[:, : cfg.context]
        windows = np.concatenate([ctx, x[cfg.context :].reshape(n, cfg.window)], axis=1)
        probs, self.state = self.branch(mx.array(windows), self.state)
        self.context = x[-cfg.context :].copy()
        out = np.array(probs)
        self.probabilities.extend(out.tolist())
        return out

    def feed(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the probabilities of the windows now complete (possibly none)."""
        window = self.branch.cfg.window
        self.pending = np.concatenate([self.pending, np.asarray(chunk, np.float32).reshape(-1)])
        n = len(self.pending) // window * window
        if n == 0:
            return np.zeros(0, np.float32)
        done, self.pending = self.pending[:n], self.pending[n:]
        return self._score(done)

    def flush(self) -> np.ndarray:
        """Score the leftover samples as one zero-padded window (as the whole-clip path pads the end)."""
        if len(self.pending) == 0:
            return np.zeros(0, np.float32)
        tail = np.zeros(self.branch.cfg.window, np.float32)
        tail[: len(self.pending)] = self.pending
        self.pending = np.zeros(0, np.float32)
        return self._score(tail)
