"""One decoding run's next-token logits, a token per row at a time: the plain model call, or a NumPy step.

The plain path calls `TextDecoder` with its growable caches (the parity reference, and what taps see). On the
CPU (fast math on, no tap capture) the prompt is prefilled the plain way, and every later token then runs
through `numpy_step`: a one-token decoder step is about 40 tiny ops per layer, and MLX's CPU back end spends
~30 us scheduling each (measured on tiny.en, 2 busy cores: 5.5 ms for the four layers, 5.2 ms under `mx.compile`), while
NumPy runs the same ops in a few microseconds on the same OpenBLAS-class GEMVs. The step writes keys and
values into fixed (B, H, max_target_positions, D) caches at the position, keeps every weight pre-transposed
(and q/k/v fused into one matrix), the cross-attention keys transposed once per window, and projects to the
vocabulary on the BLAS's GEMV (`layers.project`). `MLX_AUDIO_LAB_PLAIN_MATH=1` keeps the plain path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from scipy.special import erf

from ....layers import project
from ....layers.cpu import transformer_native
from ....layers.cpu.transformer_native import DecoderKernel, DecoderRun
from ....layers.fast_math import fast_math_active
from ....taps import enabled as taps_enabled

if TYPE_CHECKING:
    from .model import Whisper

_SQRT1_2 = np.float32(0.7071067811865476)


class StepWeights:
    """The decoder's weights as float32 NumPy arrays laid out for `numpy_step` (built once per model)."""

    def __init__(self, model: Whisper):
        dec = model.decoder

        def a(x: mx.array) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(x.astype(mx.float32)))

        def t(linear: nn.Linear) -> np.ndarray:  # (out, in) -> (in, out)
            return np.ascontiguousarray(a(linear.weight).T)

        def bias(linear: nn.Linear) -> np.ndarray:
            return a(linear.bias) if "bias" in linear else np.zeros(linear.weight.shape[0], np.float32)

        def norm(ln: nn.LayerNorm) -> tuple[np.ndarray, np.ndarray, float]:
            return a(ln.weight), a(ln.bias), ln.eps

        self.layers = []
        for layer in dec.layers:
            sa, ca = layer.self_attn, layer.encoder_attn
            self.layers.append({
                "ln1": norm(layer.self_attn_layer_norm),
                "qkv": np.concatenate([t(sa.q_proj), t(sa.k_proj), t(sa.v_proj)], axis=1),
                "qkv_b": np.concatenate([bias(sa.q_proj), bias(sa.k_proj), bias(sa.v_proj)]),
                "o": t(sa.out_proj), "o_b": bias(sa.out_proj),
                "ln2": norm(layer.encoder_attn_layer_norm), "cq": t(ca.q_proj), "cq_b": bias(ca.q_proj),
                "co": t(ca.out_proj), "co_b": bias(ca.out_proj),
                "ln3": norm(layer.final_layer_norm), "fc1": t(layer.fc1), "fc1_b": bias(layer.fc1),
                "fc2": t(layer.fc2), "fc2_b": bias(layer.fc2),
            })
        # every layer's cross-attention key and value projections stacked, (layers * d, d) as (out, in)
        cross = [layer.encoder_attn for layer in dec.layers]
        self.cross_k = np.concatenate([a(ca.k_proj.weight) for ca in cross])
        self.cross_k_b = np.concatenate([bias(ca.k_proj) for ca in cross])
        self.cross_v = np.concatenate([a(ca.v_proj.weight) for ca in cross])
        self.cross_v_b = np.concatenate([bias(ca.v_proj) for ca in cross])
        self.embed = a(dec.embed_tokens.weight)  # (V, d)
        self.embed_mx = dec.embed_tokens.weight  # the same weight for the GEMV (a zero-copy view when float32)
        self.positions = a(dec.embed_positions.weight)
        self.ln = norm(dec.layer_norm)
        self.heads = dec.layers[0].self_attn.heads
        self.scale = np.float32(dec.layers[0].self_attn.scale)
        self.source = _source(model)
        self._kernel: list = []  # [DecoderKernel or None], packed on first use

    def kernel(self) -> DecoderKernel | None:
        """The whole-stack C step's packed weights, or None (no C kernel, or sizes it does not take)."""
        if not self._kernel:
            d, ffn = self.embed.shape[1], self.layers[0]["fc1"].shape[1]
            ok = transformer_native.fits(d, self.heads)
            self._kernel.append(transformer_native.DecoderKernel(
                [_kernel_layer(lw) for lw in self.layers], self.ln[:2], d, self.heads, ffn, self.ln[2],
                float(self.scale)) if ok else None)
        return self._kernel[0]


def _kernel_layer(lw: dict) -> dict[str, np.ndarray]:
    """One layer's NumPy-step arrays under the C kernel's names (norms split into weight and bias)."""
    out = {k: v for k, v in lw.items() if not k.startswith("ln")}
    for i in (1, 2, 3):
        out[f"ln{i}_w"], out[f"ln{i}_b"] = lw[f"ln{i}"][:2]
    return out


def _source(model: Whisper) -> list[int]:
    dec = model.decoder
    return [id(dec.embed_tokens.weight), id(dec.layers[-1].fc2.weight), id(dec.layer_norm.weight)]


def step_weights(model: Whisper) -> StepWeights:
    """The model's `StepWeights`, rebuilt when its weights were replaced since."""
    cached = model.__dict__.get("_step_weights")
    if cached is None or cached.source != _source(model):
        cached = StepWeights(model)
        object.__setattr__(model, "_step_weights", cached)
    return cached


def cross_keys_values(w: StepWeights, audio: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer the cross-attention keys transposed (1, H, D, S) and values (1, H, S, D) of one window's audio
    features (S, d): two BLAS products for all layers, keys as W_k (layers * d, d) @ audio^T (already the transposed
    layout, contiguous), values as audio @ W_v^T (S, layers * d), each layer's (H, S, D) a strided view of it."""
    from ....layers.cpu.gemv import blas_gemm

    S, d = audio.shape
    n, H = len(w.layers), w.heads
    audio = np.ascontiguousarray(audio, np.float32)
    sgemm = blas_gemm()
    if sgemm is None:
        keys_t = w.cross_k @ audio.T + w.cross_k_b[:, None]
        values = audio @ w.cross_v.T + w.cross_v_b
    else:  # the biases as the products' starting values (beta 1)
        keys_t, values = np.empty((n * d, S), np.float32), np.empty((S, n * d), np.float32)
        keys_t[:] = w.cross_k_b[:, None]
        values[:] = w.cross_v_b
        sgemm(101, 111, 112, n * d, S, d, 1.0, w.cross_k.ctypes.data, d, audio.ctypes.data, d, 1.0,
              keys_t.ctypes.data, S)
        sgemm(101, 111, 112, S, n * d, d, 1.0, audio.ctypes.data, d, w.cross_v.ctypes.data, d, 1.0,
              values.ctypes.data, n * d)
    keys_t = keys_t.reshape(n, 1, H, d // H, S)
    values = values.reshape(S, n, 1, H, d // H).transpose(1, 2, 3, 0, 4)  # (n, 1, H, S, D) views
    return [(keys_t[i], values[i]) for i in range(n)]


def layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    """LayerNorm over the last axis, float32."""
    w, b, eps = norm
    xc = x - x.mean(axis=-1, keepdims=True)
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc * (1.0 / np.sqrt(var + np.float32(eps))) * w + b


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, exact (erf) form."""
    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * _SQRT1_2))


def linear(x: np.ndarray, w_t: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (B, n_in) @ w_t (n_in, n_out) + b. `einsum`'s own loops, not the BLAS: a GEMV this small runs in
    ~0.1 ms on one core, while a BLAS that wakes its threads for it can wait milliseconds on a busy machine."""
    return np.einsum("bi,io->bo", x, w_t) + b


def attend(q: np.ndarray, keys_t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """softmax(q keys) values for q (B, H, 1, D), keys_t (B, H, D, S), values (B, H, S, D) -> (B, H, 1, D)
    (one BLAS call per head, each small enough to stay on one thread)."""
    s = q @ keys_t
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s @ values


def numpy_step(w: StepWeights, tokens: np.ndarray, pos: int, keys: list[np.ndarray], values: list[np.ndarray],
               cross: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """tokens (B,) at position `pos` -> final hidden state (B, d); writes the caches (B, H, L, D) at `pos`."""
    B, H = len(tokens), w.heads
    x = w.embed[tokens] + w.positions[pos]  # (B, d)
    d = x.shape[1]
    D = d // H
    for lw, K, V, (ck_t, cv) in zip(w.layers, keys, values, cross):
        y = linear(layer_norm(x, lw["ln1"]), lw["qkv"], lw["qkv_b"])  # (B, 3d)
        q = (y[:, :d] * w.scale).reshape(B, H, 1, D)
        K[:, :, pos] = y[:, d : 2 * d].reshape(B, H, D)
        V[:, :, pos] = y[:, 2 * d :].reshape(B, H, D)
        a = attend(q, K[:, :, : pos + 1].swapaxes(2, 3), V[:, :, : pos + 1])
        x = x + linear(a.reshape(B, d), lw["o"], lw["o_b"])
        q = (linear(layer_norm(x, lw["ln2"]), lw["cq"], lw["cq_b"]) * w.scale).reshape(B, H, 1, D)
        x = x + linear(attend(q, ck_t, cv).reshape(B, d), lw["co"], lw["co_b"])
        h = gelu(linear(layer_norm(x, lw["ln3"]), lw["fc1"], lw["fc1_b"]))
        x = x + linear(h, lw["fc2"], lw["fc2_b"])
    return layer_norm(x, w.ln)


def fast_step_active() -> bool:
    """True when decoding takes the NumPy step (the CPU with fast math on, outside a tap capture)."""
    return fast_math_active() and not taps_enabled()


def numpy_step_fits(model: Whisper) -> bool:
    """False for a quantized decoder: its packed weights stay on MLX's quantized matmuls (the plain path)."""
    quantized = (nn.QuantizedLinear, nn.QuantizedEmbedding)
    return not any(isinstance(m, quantized) for _, m in model.decoder.named_modules())


STEPPED_PROMPT = 8  # a fast one-row run steps a prompt up to this long token by token (a longer one: the plain call)


class Stepper:
    """Prefills a prompt (the same for each of B rows), then gives next-token logits (B, V) as float32 NumPy.

    Fast, one row of audio and a short prompt (greedy decoding's usual case): the cross keys/values come from
    `cross_keys_values` and the prompt's tokens go through the step one at a time, no MLX model call at all
    (the logits then equal the plain prefill's within the step's float32 rounding, not bit for bit)."""

    def __init__(self, model: Whisper, audio: mx.array, prompt: list[int], rows: int = 1,
                 fast: bool | None = None):
        self.model = model
        self.audio = audio
        self.fast = (fast_step_active() and numpy_step_fits(model)) if fast is None else fast
        self.state = model.new_state()
        if self.fast and rows == 1 and audio.shape[0] == 1 and len(prompt) <= STEPPED_PROMPT:
            self._start_stepped(prompt)
            return
        self.logits = self._plain(mx.array([prompt] * rows))
        if self.fast:
            self._start_fast(len(prompt))

    def _start_stepped(self, prompt: list[int]) -> None:
        """Empty fixed caches, the window's cross keys/values from the BLAS, then the prompt through the step."""
        self.weights = w = step_weights(self.model)
        L, d = self.model.config.max_target_positions, w.embed.shape[1]
        shape = (1, w.heads, L, d // w.heads)
        self.keys = [np.zeros(shape, np.float32) for _ in w.layers]
        self.values = [np.zeros(shape, np.float32) for _ in w.layers]
        mx.eval(self.audio)
        with transformer_native.blas_on_own_threads():  # the BLAS's threads stay asleep for the steps
            self.cross = cross_keys_values(w, np.asarray(self.audio[0].astype(mx.float32)))
        self.pos = 0
        self._start_native()
        for token in prompt[:-1]:
            if self.native is not None:  # no logits before the last token
                self.native[0].step(w.embed[token] + w.positions[self.pos], self.pos)
                self.pos += 1
            else:
                self([token])
        self.logits = self([prompt[-1]])

    def _plain(self, tokens: mx.array) -> np.ndarray:
        return np.array(self.model.logits(tokens, self.audio, self.state, last_only=True)[:, -1].astype(mx.float32))

    def _start_fast(self, n: int) -> None:
        self.weights = step_weights(self.model)
        L = self.model.config.max_target_positions
        self.keys, self.values = [], []
        for c in self.state.self_attn:
            B, H, _, D = c.keys.shape
            for cache, filled in ((self.keys, c.keys), (self.values, c.values)):
                full = np.zeros((B, H, L, D), np.float32)
                full[:, :, :n] = np.asarray(filled[..., :n, :].astype(mx.float32))
                cache.append(full)
        self.cross = [(np.ascontiguousarray(np.asarray(k.astype(mx.float32)).transpose(0, 1, 3, 2)),
                       np.ascontiguousarray(np.asarray(v.astype(mx.float32)))) for k, v in self.state.cross_attn]
        self.pos = n
        self._start_native()

    def _start_native(self) -> None:
        """The C kernel's runs, one per row over that row's caches (rows of one window share its cross keys and
        values), when it is built: a row's step in one call (~2.5 ms for tiny.en) beats the NumPy step's batched
        ops (~25 ms for 3 rows), so a batch or a beam steps its rows one after another."""
        kernel = self.weights.kernel()
        if kernel is None:
            self.native = None
            return

        def row(a: np.ndarray, b: int) -> np.ndarray:
            return a[b if len(a) > 1 else 0]

        self.native = [DecoderRun(kernel, [k[b] for k in self.keys], [v[b] for v in self.values],
                                  [row(c[0], b) for c in self.cross], [row(c[1], b) for c in self.cross])
                       for b in range(len(self.keys[0]))]

    def __call__(self, tokens: list[int]) -> np.ndarray:
        """Logits (B, V) after feeding one token per row."""
        if not self.fast:
            return self._plain(mx.array([[t] for t in tokens]))
        w = self.weights
        if self.native is not None:  # the C step per row, the vocabulary projection included
            logits = np.stack([run.step(w.embed[t] + w.positions[self.pos], self.pos, w.embed)
                               for run, t in zip(self.native, tokens)])
            self.pos += 1
            return logits
        x = numpy_step(w, np.asarray(tokens, np.int64), self.pos, self.keys, self.values, self.cross)
        self.pos += 1
        if len(tokens) == 1:
            return np.asarray(project(mx.array(x), w.embed_mx), dtype=np.float32)
        return x @ w.embed.T

    def reorder(self, index: np.ndarray) -> None:
        """Keep batch rows `index` (beam search)."""
        index = np.asarray(index, np.int64)
        if self.fast:
            self.keys = [k[index] for k in self.keys]
            self.values = [v[index] for v in self.values]  # the cross keys stay: beams share one window
            self._start_native()  # the new caches' pointers
        else:
            self.state.reorder(mx.array(index.astype(np.int32)))
