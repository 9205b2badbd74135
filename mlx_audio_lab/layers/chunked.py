"""Long clips through a non-causal encoder in overlapping chunks: memory bounded by the chunk, not the clip.

A chunk is encoded with `context` units of real audio on each side, and only its own frames are kept. When the
context covers the encoder's receptive field (`snake_encoder_span` for the DAC / SNAC encoder), every kept frame
saw exactly the samples it sees in a whole-clip run, so the codes equal the one-shot codes up to float rounding:
a chunk tiles the convolutions differently, which can flip a code whose two nearest codewords nearly tie.
Chunks start on multiples of `unit` samples (a code frame, or the span that aligns every scale and window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

STREAM_SECONDS = 60  # longer clips are encoded in chunks by the non-causal codecs (DAC, SNAC, Vocos' mels)
CHUNK_SECONDS = 10  # the audio in one chunk, before its context


def overlapped_encode(encode: Callable[[np.ndarray], Sequence[np.ndarray]], audio: np.ndarray, unit: int,
                      frames_per_unit: Sequence[int], chunk_units: int, context_units: int) -> list[np.ndarray]:
    """audio (T,) -> the arrays `encode` gives for the whole clip (frames on the last axis, `frames_per_unit[k]`
    frames of array k per `unit` samples), computed `chunk_units` units at a time with `context_units` each side.

    The chunk that reaches the clip's end keeps every frame from its start on, so end padding is the one-shot's."""
    if chunk_units < 1 or context_units < 0 or unit < 1:
        raise ValueError(f"chunk_units ({chunk_units}) >= 1, context_units ({context_units}) >= 0, unit ({unit}) >= 1")
    total = len(audio)
    n_units = math.ceil(total / unit)
    out: list[list[np.ndarray]] = [[] for _ in frames_per_unit]
    for u0 in range(0, n_units, chunk_units):
        u1 = min(u0 + chunk_units, n_units)
        a, b = max(0, u0 - context_units) * unit, min(total, (u1 + context_units) * unit)
        arrays = encode(audio[a:b])
        for k, (codes, per_unit) in enumerate(zip(arrays, frames_per_unit, strict=True)):
            lo = (u0 * unit - a) // unit * per_unit
            hi = None if b == total else lo + (u1 - u0) * per_unit
            out[k].append(np.asarray(codes)[..., lo:hi])
        if b == total:  # this chunk kept everything to the end
            break
    return [np.concatenate(parts, axis=-1) for parts in out]


def snake_encoder_span(rates: Sequence[int], first_kernel: int = 7, last_kernel: int = 7, window: int = 0) -> int:
    """Samples one output frame of a DAC-style encoder can see: conv(first_kernel), per stride a block of
    residual units (kernel 7, dilations 1, 3, 9) and a conv of kernel 2 x stride, an optional attention window
    of `window` frames, then conv(last_kernel). An upper bound on the span of either side."""
    jump, span = 1, first_kernel - 1
    for s in rates:
        span += 6 * (1 + 3 + 9) * jump + (2 * s - 1) * jump
        jump *= s
    return span + max(window - 1, 0) * jump + (last_kernel - 1) * jump
