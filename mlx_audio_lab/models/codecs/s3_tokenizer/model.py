"""S3TokenizerV2 (CosyVoice 2's speech tokenizer; Chatterbox tokenizes its reference voice with it) in MLX.

16 kHz audio -> 128-bin log-mel (100 frames/s) -> two stride-2 convs with GELU (25 frames/s) -> 6 pre-norm blocks of
rotary self attention plus an FSMN memory (a depthwise conv over the values) and a GELU MLP -> FSQ -> one speech
token in 0..6560 per 40 ms. Names follow `s3tokenizer.model_v2` so its state dict loads almost as is. (B, T, C).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ....layers import Conv1d, gelu, scaled_dot_product_attention
from ....taps import tap
from .config import S3TokenizerConfig
from .frontend import log_mel_spectrogram
from .quantizer import FSQuantizer

MAX_FRAMES = 3000  # mel frames (30 s) encoded at once; longer clips go in overlapping windows, as the reference
WINDOW_STRIDE = 2600  # 26 s: windows overlap by 4 s, and 2 s (50 tokens) of each side of an overlap is kept
OVERLAP_TOKENS = 50


def lengths_mask(lengths: mx.array, frames: int) -> mx.array:
    """(B,) valid lengths -> (B, frames, 1) float mask, 1 on valid frames."""
    return (mx.arange(frames)[None, :] < lengths[:, None]).astype(mx.float32)[..., None]


def conv_length(lengths: mx.array) -> mx.array:
    """Frames after a kernel-3, stride-2, padding-1 conv."""
    return (lengths - 1) // 2 + 1


class FSMNAttention(nn.Module):
    """Rotary multi-head self attention whose output adds an FSMN memory: values + depthwise_conv(values)."""

    def __init__(self, dims: int, heads: int, kernel: int = 31, rope_theta: float = 10_000.0):
        super().__init__()
        self.heads, self.head_dim, self.rope_theta = heads, dims // heads, rope_theta
        self.query = nn.Linear(dims, dims)
        self.key = nn.Linear(dims, dims, bias=False)
        self.value = nn.Linear(dims, dims)
        self.out = nn.Linear(dims, dims)
        self.fsmn_block = Conv1d(dims, dims, kernel, groups=dims, bias=False)
        self.left = (kernel - 1) // 2
        self.right = kernel - 1 - self.left

    def fsmn(self, v: mx.array, mask_pad: mx.array, name: str = "attn") -> mx.array:
        """The memory: (v + depthwise conv of v) on valid frames; v (B, T, C), mask_pad (B, T, 1)."""
        v = v * mask_pad
        memory = tap(f"{name}.fsmn_block", self.fsmn_block(mx.pad(v, [(0, 0), (self.left, self.right), (0, 0)])))
        return (memory + v) * mask_pad

    def __call__(self, x: mx.array, bias: mx.array, mask_pad: mx.array, name: str = "attn") -> mx.array:
        """x (B, T, C); bias (B, 1, 1, T) additive key mask; mask_pad (B, T, 1) -> (B, T, C)."""
        B, T, C = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)

        def heads(a: mx.array) -> mx.array:  # (B, T, C) -> (B, H, T, D)
            return a.reshape(B, T, self.heads, self.head_dim).transpose(0, 2, 1, 3)

        rope = dict(dims=self.head_dim, traditional=False, base=self.rope_theta, scale=1.0, offset=0)
        q, k = mx.fast.rope(heads(q), **rope), mx.fast.rope(heads(k), **rope)
        memory = self.fsmn(v, mask_pad, name)
        out = scaled_dot_product_attention(q, k, heads(v), scale=self.head_dim**-0.5, mask=bias)
        return self.out(out.transpose(0, 2, 1, 3).reshape(B, T, C)) + memory


class ResidualAttentionBlock(nn.Module):
    """x + attn(attn_ln(x)), then x + mlp(mlp_ln(x)); the MLP is 4x wide with exact GELU (`mlp.0`, `mlp.2`)."""

    def __init__(self, dims: int, heads: int, kernel: int, rope_theta: float):
        super().__init__()
        self.attn = FSMNAttention(dims, heads, kernel, rope_theta)
        self.attn_ln = nn.LayerNorm(dims, eps=1e-5)
        self.mlp = [nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims)]
        self.mlp_ln = nn.LayerNorm(dims, eps=1e-5)

    def __call__(self, x: mx.array, bias: mx.array, mask_pad: mx.array, name: str) -> mx.array:
        x = x + tap(f"{name}.attn", self.attn(self.attn_ln(x), bias, mask_pad, f"{name}.attn"))
        return tap(name, x + self.mlp[2](gelu(self.mlp[0](self.mlp_ln(x)))))


class AudioEncoderV2(nn.Module):
    """Log-mel (B, T, n_mels) -> hidden states (B, ceil(T / 4), C) and their valid lengths."""

    def __init__(self, config: S3TokenizerConfig):
        super().__init__()
        c = config
        self.conv1 = Conv1d(c.n_mels, c.n_audio_state, 3, stride=2, padding=1)
        self.conv2 = Conv1d(c.n_audio_state, c.n_audio_state, 3, stride=2, padding=1)
        self.blocks = [ResidualAttentionBlock(c.n_audio_state, c.n_audio_head, c.fsmn_kernel, c.rope_theta)
                       for _ in range(c.n_audio_layer)]

    def __call__(self, mel: mx.array, lengths: mx.array) -> tuple[mx.array, mx.array]:
        x = tap("encoder.conv1", self.conv1(mel * lengths_mask(lengths, mel.shape[1])))  # (B, T/2, C)
        lengths = conv_length(lengths)
        x = gelu(x) * lengths_mask(lengths, x.shape[1])
        x = tap("encoder.conv2", self.conv2(x))  # (B, T/4, C)
        lengths = conv_length(lengths)
        x = gelu(x)
        mask_pad = lengths_mask(lengths, x.shape[1])  # (B, T/4, 1)
        bias = ((1.0 - mask_pad) * -1.0e10).transpose(0, 2, 1)[:, None]  # (B, 1, 1, T/4): padded keys unseen
        for i, block in enumerate(self.blocks):
            x = block(x, bias, mask_pad, f"encoder.blocks.{i}")
        return x, lengths


class S3TokenizerV2(nn.Module):
    """The speech tokenizer: `tokenize(audio)` gives 25 Hz tokens of 16 kHz audio (`encode` the codec view)."""

    def __init__(self, config: S3TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = AudioEncoderV2(config)
        self.quantizer = FSQuantizer(config.n_audio_state, config.fsq_levels, config.fsq_dims)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def codebook_size(self) -> int:
        return self.config.n_codebook_size

    def log_mel(self, audio) -> mx.array:
        """16 kHz mono audio (samples,) -> log-mel (frames, 128), as `s3tokenizer.log_mel_spectrogram`."""
        c = self.config
        return tap("mel", log_mel_spectrogram(audio, c.n_mels, c.n_fft, c.hop_length, c.sample_rate))

    def quantize(self, mel: mx.array, lengths: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """Log-mels (B, T, n_mels) with valid lengths (B,) -> tokens (B, ceil(T / 4)) int32 and their lengths."""
        if lengths is None:
            lengths = mx.full((mel.shape[0],), mel.shape[1], mx.int32)
        hidden, token_lengths = self.encoder(mel, lengths)
        return tap("tokens", self.quantizer(hidden)), token_lengths

    def tokenize(self, audio, max_tokens: int | None = None) -> np.ndarray:
        """16 kHz mono audio -> speech tokens (ceil(frames / 4),) int64 at 25 Hz; over 30 s in 30 s windows.

        `max_tokens` keeps the first 4 * max_tokens mel frames only (Chatterbox's `max_len` for its voice prompt)."""
        samples = audio.size if isinstance(audio, mx.array) else np.asarray(audio).size
        if samples <= self.config.n_fft // 2:
            from ....audio import AudioError

            need = self.config.n_fft // 2
            raise AudioError(f"audio of {samples} samples is too short: the log-mel needs more than {need} samples "
                             f"({need / self.sample_rate * 1000:g} ms at 16 kHz)")
        mel = self.log_mel(audio)
        if max_tokens is not None:
            mel = mel[: 4 * max_tokens]  # the log-mel of the whole clip, then cut (its clamp level is the clip's)
        frames = mel.shape[0]
        if frames <= MAX_FRAMES:
            tokens, _ = self.quantize(mel[None])
            return np.array(tokens[0]).astype(np.int64)
        return self._tokenize_windows(mel)

    def _tokenize_windows(self, mel: mx.array) -> np.ndarray:
        """Long clips: 30 s windows every 26 s (the last zero-padded, masked), merged keeping each overlap's middle."""
        frames = mel.shape[0]
        starts = list(range(0, frames, WINDOW_STRIDE))
        windows, lengths = [], []
        for s in starts:
            w = mel[s : s + MAX_FRAMES]
            lengths.append(w.shape[0])
            windows.append(mx.pad(w, [(0, MAX_FRAMES - w.shape[0]), (0, 0)]))
        tokens, token_lengths = self.quantize(mx.stack(windows), mx.array(lengths, mx.int32))
        tokens, token_lengths = np.array(tokens), np.array(token_lengths)
        merged = []
        for i, (row, n) in enumerate(zip(tokens, token_lengths)):
            row = row[: int(n)]
            left = 0 if i == 0 else OVERLAP_TOKENS
            right = len(row) if i == len(starts) - 1 else len(row) - OVERLAP_TOKENS
            merged.append(row[left:right])
        return np.concatenate(merged).astype(np.int64)

    def encode(self, audio) -> np.ndarray:
        """The codec contract's first half: tokens as (1 codebook, frames) int64. There is no `decode`: S3Gen
        (Chatterbox's flow matching + HiFT) turns speech tokens back into audio."""
        return self.tokenize(audio)[None]
