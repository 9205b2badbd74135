"""EnCodec's chunked mode (encodec_48khz): the clip is cut into 1 s chunks that overlap by 1 %, each chunk is
divided by its RMS before encoding and multiplied by it after decoding, and the decoded chunks are joined by
a triangular cross-fade, as transformers' `EncodecModel` does it. Channels-last: audio (B, T, channels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ....errors import CodesError
from ....layers.groupnorm import blocked_sum


@dataclass
class EncodecChunks:
    """What the chunked model encodes a clip to: codes per chunk, each chunk's scale, the last chunk's padding."""

    codes: np.ndarray  # (chunks, codebooks, frames) int64; the last chunk zero-padded to the others' length
    scales: np.ndarray | None  # (chunks,) float32: the RMS each chunk was divided by (None: not normalized)
    padding: int = 0  # frames of zero padding in the last chunk (transformers' `last_frame_pad_length`)

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes)
        if self.codes.ndim != 3 or not np.issubdtype(self.codes.dtype, np.integer):
            raise CodesError(f"codes must be integers (chunks, codebooks, frames), got {self.codes.dtype} "
                             f"{self.codes.shape}")
        if self.scales is not None:
            self.scales = np.asarray(self.scales, np.float32).reshape(-1)
            if not np.isfinite(self.scales).all() or (self.scales <= 0).any():
                raise CodesError(f"chunk scales must be finite and > 0, got {self.scales[:8]}")
            if len(self.scales) != len(self.codes):
                raise CodesError(f"{len(self.scales)} scales for {len(self.codes)} chunks of codes")
        if not 0 <= int(self.padding) < self.codes.shape[-1]:
            raise CodesError(f"padding {self.padding} must be in [0, {self.codes.shape[-1]}) frames")
        self.padding = int(self.padding)

    @property
    def num_frames(self) -> int:
        """Code frames without the last chunk's padding."""
        return self.codes.shape[0] * self.codes.shape[-1] - self.padding

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for `np.savez`); `from_arrays` reads them back."""
        out = {"codes": self.codes, "padding": np.array(self.padding, np.int64)}
        if self.scales is not None:
            out["scales"] = self.scales
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> EncodecChunks:
        """From `to_arrays`'s dict (or an `.npz` holding it)."""
        if "codes" not in arrays:
            raise CodesError(f"chunked EnCodec codes need a 'codes' array, got {sorted(arrays)}")
        scales = arrays["scales"] if "scales" in arrays else None
        return cls(np.asarray(arrays["codes"]), scales, int(np.asarray(arrays.get("padding", 0))))


def chunk_scale(audio: mx.array) -> mx.array:
    """(B, T, channels) -> (B,): RMS of the channel mean plus 1e-8, the divisor of a chunk before encoding."""
    mono = audio.sum(axis=-1, keepdims=True) / audio.shape[-1]
    mean_square = blocked_sum(mono * mono)[:, 0, 0] / audio.shape[1]  # blocked: a plain fp32 sum drifts
    return mx.sqrt(mean_square) + 1e-8


def _triangle(length: int) -> mx.array:
    """Weights 0.5 - |t - 0.5| at t = linspace(0, 1, length + 2)[1:-1]: peak mid-frame, never zero."""
    t = np.linspace(0.0, 1.0, length + 2, dtype=np.float64)[1:-1].astype(np.float32)
    return mx.array(np.float32(0.5) - np.abs(t - np.float32(0.5)))


def overlap_add(frames: list[mx.array], stride: int) -> mx.array:
    """Decoded chunks (B, T_i, channels), one every `stride` samples, cross-faded: the triangle-weighted sum
    divided by the summed weights. -> (B, stride * (n - 1) + T_last, channels)."""
    if not frames:
        raise ValueError("no frames to overlap-add")
    weight = _triangle(frames[0].shape[1])
    total = stride * (len(frames) - 1) + frames[-1].shape[1]
    b, _, c = frames[0].shape
    out = mx.zeros((b, total, c), dtype=frames[0].dtype)
    weight_sum = mx.zeros((total,), dtype=frames[0].dtype)
    for i, frame in enumerate(frames):
        start, n = i * stride, frame.shape[1]
        out = out.at[:, start:start + n].add(weight[:n, None] * frame)
        weight_sum = weight_sum.at[start:start + n].add(weight[:n])
    if float(weight_sum.min()) == 0.0:
        raise ValueError(f"stride {stride} leaves samples that no chunk covers")
    return out / weight_sum[:, None]
