"""Token times from cross attention: the alignment heads, z-normalised and median-filtered, aligned by DTW.

As transformers' `WhisperForConditionalGeneration._extract_token_timestamps` (with `num_frames` from the
attention mask, as the pipeline passes it), which follows openai/whisper's `timing.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

if TYPE_CHECKING:
    from .model import Whisper

MEDIAN_FILTER_WIDTH = 7  # WhisperConfig.median_filter_width
TIME_PRECISION = 0.02  # seconds per audio position (two mel frames)


def cross_attention(model: Whisper, audio: mx.array, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced pass over `tokens` for one window (1, n_ctx, d) -> (alignment-head weights
    (heads, tokens, audio positions), next-token probabilities (tokens, vocab))."""
    logits, weights = model.decoder(mx.array([tokens]), audio, return_weights=True)
    heads = mx.stack([weights[layer][0, head] for layer, head in model.alignment_heads])
    probs = mx.softmax(logits[0].astype(mx.float32), axis=-1)
    return np.array(heads.astype(mx.float32)), np.array(probs)


def alignment_attention(model: Whisper, mel: mx.array, tokens: list[int]) -> np.ndarray:
    """(alignment heads, tokens, audio positions) cross-attention weights, teacher-forced over `tokens`."""
    return cross_attention(model, model.embed_audio(mel), tokens)[0]


def median_filter(x: np.ndarray, width: int = MEDIAN_FILTER_WIDTH) -> np.ndarray:
    """Median over a sliding window of odd `width` along the last axis, edges reflected (transformers')."""
    if width <= 0 or width % 2 != 1:
        raise ValueError(f"median filter width must be odd and positive, got {width}")
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.sort(windows, axis=-1)[..., pad]


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic path of least total `cost` (tokens, positions) -> (token indices, position indices).

    Accumulated costs are float32 and ties go to the horizontal move, exactly as transformers'
    `_dynamic_time_warping`; cells are filled one anti-diagonal at a time.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf, np.float32)
    trace = -np.ones((n + 1, m + 1), np.int8)
    acc[0, 0] = 0
    for d in range(2, n + m + 1):  # cells (i, j) with i + j = d, 1 <= i <= n, 1 <= j <= m
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        c0, c1, c2 = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        diag = (c0 < c1) & (c0 < c2)
        up = ~diag & (c1 < c0) & (c1 < c2)
        best = np.where(diag, c0, np.where(up, c1, c2))
        acc[i, j] = (cost[i - 1, j - 1] + best.astype(np.float64)).astype(np.float32)
        trace[i, j] = np.where(diag, 0, np.where(up, 1, 2))
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j, rows, cols = n, m, [], []
    while i > 0 or j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1]), np.array(cols[::-1])


def alignment_matrix(weights: np.ndarray, num_frames: int | None = None,
                     width: int = MEDIAN_FILTER_WIDTH) -> np.ndarray:
    """(heads, tokens, positions) weights -> (tokens, positions) matrix the DTW runs on: cropped to the
    clip's `num_frames // 2` positions, z-normalised over tokens, median-filtered over time, head-averaged."""
    w = weights[..., : num_frames // 2] if num_frames is not None else weights
    w = w.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (w - w.mean(axis=-2, keepdims=True)) / w.std(axis=-2, keepdims=True)
    return median_filter(w, width).mean(axis=0)


def token_timestamps(weights: np.ndarray, num_frames: int | None = None, width: int = MEDIAN_FILTER_WIDTH,
                     time_precision: float = TIME_PRECISION) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Times (s) for generated tokens, given the alignment-head weights of the rows whose *input* is each
    generated token but the last -> (times (rows + 1,), DTW path); the last time repeats (transformers)."""
    if weights.shape[1] == 0:
        return np.zeros(1), (np.zeros(0, int), np.zeros(0, int))
    matrix = alignment_matrix(weights, num_frames, width)
    rows, cols = dtw(-matrix.astype(np.float64))
    jumps = np.pad(np.diff(rows), (1, 0), constant_values=1).astype(bool)
    times = cols[jumps] * time_precision
    return np.concatenate([times, times[-1:]]), (rows, cols)


@dataclass
class Alignment:
    """What the word timer sees for one window: the DTW matrix, its path, and each token's time."""

    matrix: np.ndarray  # (tokens, audio positions), z-normalised, filtered, head-averaged attention
    path: tuple[np.ndarray, np.ndarray]  # (token indices, position indices) of the DTW path
    times: np.ndarray  # (tokens + 1,) seconds, as token_timestamps returns them
    tokens: list[int]  # the generated tokens whose inputs give the rows


def align(model: Whisper, audio: mx.array, prompt: list[int], generated: list[int],
          num_frames: int | None = None) -> Alignment:
    """Alignment of `generated` (ending with end-of-text, as decoding returns it) for window features `audio`."""
    rows = generated[:-1]
    weights, _ = cross_attention(model, audio, prompt + rows)
    weights = weights[:, len(prompt):]
    times, path = token_timestamps(weights, num_frames, model.config.median_filter_width)
    return Alignment(alignment_matrix(weights, num_frames, model.config.median_filter_width), path, times, rows)
