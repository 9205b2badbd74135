"""Very long 1-D convolutions in time chunks: the same result as one `mx.conv1d` call.

On MLX's CUDA back end, cuDNN finds no execution plan for some long float32 convs inside a model (DAC 44 kHz's
decoder at 10 s: (1, 220672, 192) through a 192 -> 192, k7, dilation 3 conv; half that length runs). Only float32
inputs are chunked: bfloat16 ones run whole, far faster (`needs_chunks`). Splitting
the output frames into chunks, each reading only its receptive field, gives the same numbers and keeps each call
small. Used on the GPU only (`MLX_AUDIO_LAB_GPU_CONV_CHUNK=0` turns it off, `=N` sets N output frames per chunk);
the CPU paths are in `cpu/conv.py`.
"""

from __future__ import annotations

import os

import mlx.core as mx

CHUNK_ENV = "MLX_AUDIO_LAB_GPU_CONV_CHUNK"
MAX_ELEMENTS = 1 << 24  # input elements per batch item above which the GPU call is chunked (64 MB of float32)


def chunked_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                   groups: int = 1, max_frames: int | None = None) -> mx.array:
    """`mx.conv1d(x, weight, ...)` computed `max_frames` output frames at a time; x (B, T, C_in)."""
    span = dilation * (weight.shape[1] - 1) + 1  # input frames one output reads
    if padding:
        x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    frames = (x.shape[1] - span) // stride + 1
    if max_frames is None:
        setting = os.environ.get(CHUNK_ENV, "")
        max_frames = int(setting) if setting.isdigit() and int(setting) > 0 else max(
            1, MAX_ELEMENTS // max(1, x.shape[2]) // stride)
    pieces = []
    for a in range(0, frames, max_frames):
        b = min(frames, a + max_frames)
        piece = x[:, a * stride : (b - 1) * stride + span]
        pieces.append(mx.conv1d(piece, weight, stride=stride, dilation=dilation, groups=groups))
    return pieces[0] if len(pieces) == 1 else mx.concatenate(pieces, axis=1)


def needs_chunks(x: mx.array) -> bool:
    """True on the GPU for a float32 input too long for one cuDNN call (per batch item), unless turned off.

    bfloat16 convs of these lengths get a plan and run whole: chunked, cuDNN picks far slower plans for the dilated
    ones (H100, DAC's 192 -> 192 k7 d3 over 220672 frames: 0.49 ms whole, 14.8 ms in chunks; DAC 44 kHz bf16 went
    from 0.41x to 1.3x PyTorch by not chunking). float32 ones still fail whole ("No execution plans support the
    graph"); in chunks they cost what one call would (4.3 vs 4.1 ms)."""
    return (x.dtype == mx.float32 and x.shape[1] * x.shape[2] > MAX_ELEMENTS and mx.default_device() == mx.gpu
            and os.environ.get(CHUNK_ENV) != "0")
