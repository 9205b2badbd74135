"""Dia's delay pattern: channel c of frame t is written at step t + delay[c], so the decoder predicts coarse
codebooks before the finer ones of the same frame (numpy, index for index as transformers' DiaProcessor).

`delayed[t, c] = codes[t - delay[c], c]`, BOS where t - delay[c] < 0 and PAD past the end; reverting reads
`codes[t, c] = delayed[t + delay[c], c]`.
"""

from __future__ import annotations

import numpy as np


def shift_index(length: int, delays: list[int], revert: bool = False) -> np.ndarray:
    """(length, channels) source positions: t - delay[c] (apply) or t + delay[c] (revert)."""
    t = np.arange(length)[:, None]
    d = np.asarray(delays)[None, :]
    return t + d if revert else t - d


def shift(frames: np.ndarray, delays: list[int], bos: int, pad: int, revert: bool = False) -> np.ndarray:
    """Frames (T, channels) shifted per channel by the delays (or back); BOS before the start, PAD past the end."""
    T, C = frames.shape
    src = shift_index(T, delays, revert)
    gathered = frames[np.clip(src, 0, T - 1), np.arange(C)[None, :]]
    return np.where(src < 0, bos, np.where(src >= T, pad, gathered))


def prefill(delays: list[int], bos: int, pad: int, prompt: np.ndarray | None = None) -> np.ndarray:
    """The decoder's delayed start (1 + L + max_delay, channels): BOS, the prompt's L frames (channels, L) if
    any, PAD for the delay's tail; then shifted (the processor's `decoder_input_ids`)."""
    C, L = len(delays), 0 if prompt is None else np.asarray(prompt).shape[1]
    frames = np.full((1 + L + max(delays), C), pad, dtype=np.int64)
    frames[0] = bos
    if L:
        frames[1:1 + L] = np.asarray(prompt).T
    return shift(frames, delays, bos, pad)


def revert(sequence: np.ndarray, delays: list[int], bos: int, pad: int, start: int | None = None) -> np.ndarray:
    """A generated delayed sequence (T, channels) -> codes (channels, frames) as `DiaProcessor.batch_decode` cuts
    them: from `start` (default: after the BOS frames) up to channel 0's EOS (the frames before its PADs, less one)."""
    undone = shift(sequence, delays, -1, -1, revert=True)
    first = int((sequence[:, 0] == bos).sum()) if start is None else start
    end = sequence.shape[0] - int((sequence[:, 0] == pad).sum()) - 1
    return undone[first:end].T.astype(np.int64)
