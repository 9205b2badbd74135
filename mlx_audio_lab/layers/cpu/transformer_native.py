"""A pre-norm transformer decoder's one-token step with cross attention, a whole pre-norm encoder layer, bias +
GELU over large arrays, and BLAS products split over the kernel's two threads (`transformer_kernels.c`), through
ctypes.

A NumPy step spends most of a small decoder's token in Python: ~30 tiny ops per layer at a few microseconds
each. This kernel runs the whole stack (every layer, the final norm, the tied vocabulary projection) in one
call that releases the GIL, its projections, attention heads and vocabulary rows shared by the calling thread
and one helper thread (the caller does every chunk the helper has not taken, so a busy core never stalls it).
Built by `cbuild.CKernel` (`transformer_native.main()` from .ci/setup, or the first use); without a compiler, on a
build failure or with MLX_AUDIO_LAB_NO_NATIVE=1, `library()` is None and the callers keep their NumPy step.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..fast_math import fast_math_active
from .cbuild import CKernel

_P, _L, _F = ctypes.c_void_p, ctypes.c_long, ctypes.c_float
KERNEL = CKernel("transformer_kernels.c",
                 {"decoder_step_f32": ([_P] * 5 + [_L] * 7 + [_F] * 2 + [_P] * 2 + [_L] * 4, None),
                  "bias_gelu_f32": ([_P, _P, _L, _L, _L], None),
                  "attention_f32": ([_P] * 4 + [_L] * 5 + [_P, _L, _L], ctypes.c_int),
                  "encoder_layer_f32": ([_P] + [_L] * 5 + [_P, _F, _F, _P, _L], ctypes.c_int),
                  "sgemm_rows_f32": ([_P, ctypes.c_int] + [_L] * 3 + [_F, _P, _L, _P, _L, _F, _P, _L, _L], None)},
                 ("-pthread", "-lm"))
LANES = 16  # the kernel's vector width in floats: head size must be a multiple
TILE = 8 * LANES  # outputs per tile of the packed weights (projections are zero-padded to whole tiles)
# the kernel's pointer order per layer: (norm, projection) pairs as (weight, bias)
LAYER_WEIGHTS = ("ln1_w", "ln1_b", "qkv", "qkv_b", "o", "o_b", "ln2_w", "ln2_b", "cq", "cq_b", "co", "co_b",
                 "ln3_w", "ln3_b", "fc1", "fc1_b", "fc2", "fc2_b")


def default_threads() -> int:
    """2 where this process may run on two or more cores, else 1."""
    try:
        return 2 if len(os.sched_getaffinity(0)) >= 2 else 1
    except AttributeError:
        return 2 if (os.cpu_count() or 1) >= 2 else 1


def library() -> ctypes.CDLL | None:
    """The loaded kernel, or None (no compiler, a failed build, MLX_AUDIO_LAB_NO_NATIVE=1: see `cbuild`)."""
    return KERNEL.library()


def fits(d: int, heads: int) -> bool:
    """True when the kernel takes these sizes (and is loaded): head size a multiple of LANES, at most 16 LANES."""
    D = d // heads
    return D * heads == d and D % LANES == 0 and D <= 16 * LANES and library() is not None


def padded(n: int) -> int:
    """n rounded up to whole tiles (the kernel's projection outputs and biases)."""
    return -(-n // TILE) * TILE


def pack(w_t: np.ndarray) -> np.ndarray:
    """A projection's (n_in, n_out) weight as the kernel streams it: (tiles, n_in, TILE), each tile of outputs one
    contiguous run, zero columns from n_out up to whole tiles."""
    n_in, n_out = w_t.shape
    w = np.zeros((n_in, padded(n_out)), np.float32)
    w[:, :n_out] = w_t
    return np.ascontiguousarray(w.reshape(n_in, -1, TILE).transpose(1, 0, 2))


def pad_bias(b: np.ndarray) -> np.ndarray:
    """A projection's bias, zero up to whole tiles."""
    out = np.zeros(padded(b.size), np.float32)
    out[: b.size] = b
    return out


class DecoderKernel:
    """Packed weights and pointer tables of one decoder for `step` (built once per model)."""

    def __init__(self, layers: list[dict[str, np.ndarray]], final_norm: tuple[np.ndarray, np.ndarray], d: int,
                 heads: int, ffn: int, eps: float, scale: float):
        """`layers`: per layer the NumPy step's arrays, projections as (n_in, n_out), norms as weight, bias."""
        self.d, self.heads, self.ffn, self.eps, self.scale = d, heads, ffn, eps, scale
        self.arrays = []  # keeps every packed array alive while its pointer is in the table
        for lw in layers:
            for name in LAYER_WEIGHTS:
                a = lw[name]
                if a.ndim == 2:
                    a = pack(a)
                elif name.endswith("_b") and not name.startswith("ln"):
                    a = pad_bias(a)
                self.arrays.append(np.ascontiguousarray(a, np.float32))
        self.arrays.extend(np.ascontiguousarray(a, np.float32) for a in final_norm)
        self.n_layers = len(layers)
        self.table = (ctypes.c_void_p * len(self.arrays))(*(a.ctypes.data for a in self.arrays))

    def scratch(self, L: int, S: int) -> np.ndarray:
        """Scratch floats for a step over L cached positions and S cross positions."""
        rest = 3 * padded(self.d) + padded(3 * self.d) + padded(self.ffn)
        return np.empty(rest + self.heads * max(L, S), np.float32)


class DecoderRun:
    """One decoding run's caches as the kernel reads them: self keys/values (H, L, D) per layer (written at each
    step) and cross keys (H, D, S), values (H, S, D) per layer (fixed for the window; the values may be strided
    views, e.g. of one (S, layers * d) product, with the same strides in every layer and unit stride along D)."""

    def __init__(self, kernel: DecoderKernel, keys: list[np.ndarray], values: list[np.ndarray],
                 cross_keys_t: list[np.ndarray], cross_values: list[np.ndarray]):
        self.kernel = kernel
        self.L, self.S = keys[0].shape[-2], cross_values[0].shape[-2]
        for a in (*keys, *values, *cross_keys_t):
            assert a.dtype == np.float32 and a.flags.c_contiguous
        strides = {a.strides for a in cross_values}
        assert len(strides) == 1 and all(a.dtype == np.float32 for a in cross_values)
        v_head, v_row, v_d = strides.pop()
        assert v_d == 4 and v_head % 4 == 0 and v_row % 4 == 0
        self.v_head, self.v_row = v_head // 4, v_row // 4
        self.arrays = [*keys, *values, *cross_keys_t, *cross_values]
        self.kv = (ctypes.c_void_p * (2 * len(keys)))(*(a.ctypes.data for pair in zip(keys, values) for a in pair))
        self.cross = (ctypes.c_void_p * (2 * len(keys)))(
            *(a.ctypes.data for pair in zip(cross_keys_t, cross_values) for a in pair))
        self.work = kernel.scratch(self.L, self.S)

    def step(self, x: np.ndarray, pos: int, embedding: np.ndarray | None = None,
             threads: int | None = None) -> np.ndarray:
        """x (d,) float32, the token's embedding plus position -> the final hidden state (d,), in place; with
        `embedding` (vocab, d) the logits (vocab,) of the tied projection instead. `threads`: 1 or 2 (default:
        2 where the process may use two cores)."""
        k = self.kernel
        logits = None
        if embedding is not None:
            assert embedding.dtype == np.float32 and embedding.flags.c_contiguous and embedding.shape[1] == k.d
            logits = np.empty(embedding.shape[0], np.float32)
        library().decoder_step_f32(
            k.table, self.kv, self.cross, x.ctypes.data, self.work.ctypes.data, k.n_layers, k.d, k.heads, k.ffn,
            self.L, self.S, pos, k.scale, k.eps, None if embedding is None else embedding.ctypes.data,
            None if logits is None else logits.ctypes.data, 0 if embedding is None else embedding.shape[0],
            threads or default_threads(), self.v_head, self.v_row)
        return x if logits is None else logits


def bias_gelu_(x: np.ndarray, bias: np.ndarray, threads: int | None = None) -> np.ndarray:
    """x (..., n) = GELU(x + bias) in place (erf form, erf by Abramowitz & Stegun 7.1.26 as `fast_math.gelu`),
    x C-contiguous float32, on two threads where the process may use two cores. Needs `library()`."""
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable
    b = np.ascontiguousarray(bias, np.float32)
    assert b.shape == (x.shape[-1],)
    library().bias_gelu_f32(x.ctypes.data, b.ctypes.data, x.size // b.size, b.size, threads or default_threads())
    return x


def gelu_fits(x: mx.array) -> bool:
    """True when `gelu` takes x: float32, large, on the CPU with fast math on, the kernel loaded."""
    return x.dtype == mx.float32 and fast_math_active(x.size) and library() is not None


def gelu(x: mx.array) -> mx.array:
    """GELU (erf form) of x (..., n) through the C kernel's pass on two threads (evaluates x, one copy each way)."""
    mx.eval(x)
    h = np.array(x, dtype=np.float32, order="C")
    bias_gelu_(h.reshape(-1, h.shape[-1]), np.zeros(h.shape[-1], np.float32))
    return mx.array(h)


def _bias(m: nn.Linear) -> np.ndarray:
    """A projection's bias, or zeros where it has none (Whisper's key projection)."""
    return np.asarray(m.bias) if "bias" in m else np.zeros(m.weight.shape[0], np.float32)


def fused_qkv(x: mx.array, q_proj: nn.Linear, k_proj: nn.Linear, v_proj: nn.Linear, scale: float) -> np.ndarray:
    """x (B, T, d) -> q * scale | k | v as one (B, T, 3 d) float32 product on the BLAS (evaluates x): the three
    weights stacked once per weight set, the biases as the product's starting value."""
    mx.eval(x)
    key = [p for m in (q_proj, k_proj, v_proj) for p in (m.weight, m.get("bias"))]  # held by the cache
    cached = q_proj.__dict__.get("_fused_qkv")
    if cached is None or any(a is not b for a, b in zip(cached[0], key)):
        w = np.concatenate([np.asarray(m.weight) for m in (q_proj, k_proj, v_proj)])
        cached = (key, w, np.concatenate([_bias(m) for m in (q_proj, k_proj, v_proj)]))
        object.__setattr__(q_proj, "_fused_qkv", cached)
    _, w, b = cached
    h = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    out = _matmul_t(h, w, b)  # (B T, 3 d)
    d = w.shape[0] // 3
    out[:, :d] *= np.float32(scale)
    return out.reshape(*x.shape[:-1], 3 * d)


def fused_qkv_fits(x: mx.array, *projections: nn.Module) -> bool:
    """True when `fused_qkv` takes these projections: float32 `nn.Linear`s (not quantized, not wrapped by a recorder
    of module calls), the kernel loaded."""
    return (x.dtype == mx.float32 and library() is not None
            and all(type(m) is nn.Linear and m.weight.dtype == mx.float32 for m in projections))


def gelu_mlp_fits(h: mx.array, fc1: nn.Module, fc2: nn.Module) -> bool:
    """True when `gelu_mlp` takes this MLP: float32 `nn.Linear`s with biases (not quantized, not wrapped by a
    recorder of module calls, which then sees them called), a large input on the CPU with fast math on, the
    kernel loaded."""
    linears = type(fc1) is nn.Linear and type(fc2) is nn.Linear and "bias" in fc1 and "bias" in fc2
    return (linears and h.dtype == fc1.weight.dtype == fc2.weight.dtype == mx.float32
            and fast_math_active(h.size * fc1.weight.shape[0] // h.shape[-1]) and library() is not None)


def gelu_mlp(h: mx.array, fc1: nn.Linear, fc2: nn.Linear) -> mx.array:
    """fc2(GELU(fc1(h))) for h (..., d) (evaluated here): the two products on the BLAS, the bias and GELU in one
    pass of the C kernel over the (..., ffn) hidden array in place, no copy of it between MLX and NumPy."""
    mx.eval(h)
    x = np.ascontiguousarray(h).reshape(-1, h.shape[-1])
    w1, w2 = np.asarray(fc1.weight), np.asarray(fc2.weight)  # (ffn, d), (d, ffn): zero-copy views
    hidden = _matmul_t(x, w1)  # (rows, ffn)
    bias_gelu_(hidden, np.asarray(fc1.bias))
    out = _matmul_t(hidden, w2, np.asarray(fc2.bias))
    return mx.array(out.reshape(*h.shape[:-1], out.shape[-1]))


def _matmul_t(a: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """a (m, k) @ w (n, k)^T (+ bias (n)) on MLX's own BLAS (`gemv.blas_gemm`) where it is found, so that its thread
    pool, not also numpy's bundled one, serves the encoder (the bias as the product's starting value); else numpy's
    matmul."""
    from .gemv import blas_gemm

    sgemm = blas_gemm()
    if sgemm is None or not (w.flags.c_contiguous and w.dtype == np.float32):
        out = np.matmul(a, w.T)
        return out if bias is None else out + bias
    (m, k), n = a.shape, w.shape[0]
    out = np.empty((m, n), np.float32)
    if bias is not None:
        out[:] = bias
    sgemm(101, 111, 112, m, n, k, 1.0, a.ctypes.data, k, w.ctypes.data, k, 0.0 if bias is None else 1.0,
          out.ctypes.data, n)
    return out


def attention_into(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, out: np.ndarray,
                   threads: int | None = None) -> bool:
    """softmax(q k^T) v per head into `out` (B, T, H * D) for float32 q (B, T, H * D) (already scaled), k, v
    (B, S, H * D), C-contiguous or column blocks of one (B, T, 3 H * D) product (rows equally far apart): the keys
    transposed per head, then row blocks of 192 queries shared by two threads, each on a one-thread BLAS sgemm for
    the products and one C pass for the max, exp and sums. False (nothing done) without the kernel or the BLAS."""
    from .gemv import blas_gemm, one_thread_of_blas_gemm

    sgemm = blas_gemm(raw=True)
    if library() is None or sgemm is None:
        return False
    B, T, C = q.shape
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable and out.shape == q.shape
    ld, S = q.strides[1] // 4, k.shape[1]
    assert all(a.dtype == np.float32 and a.strides[1:] == (4 * ld, 4) for a in (q, k, v)) and ld >= C
    assert q.strides[0] == 4 * ld * T and k.strides[0] == v.strides[0] == 4 * ld * S and v.shape[1] == S
    with one_thread_of_blas_gemm():
        failed = library().attention_f32(q.ctypes.data, k.ctypes.data, v.ctypes.data, out.ctypes.data, B, T,
                                         k.shape[1], heads, C // heads, ctypes.cast(sgemm, ctypes.c_void_p).value,
                                         threads or default_threads(), ld)
    if failed:
        raise MemoryError("attention_f32: no scratch memory for a block of scores")
    return True


# the pointer order of `encoder_layer_f32`'s weights: nn.Linear weights (out, in), q | k | v stacked
ENCODER_WEIGHTS = ("ln1_w", "ln1_b", "qkv", "qkv_b", "o", "o_b", "ln2_w", "ln2_b", "fc1", "fc1_b", "fc2", "fc2_b")


def encoder_layer_fits(x: mx.array, norms: tuple[nn.Module, nn.Module], linears: tuple[nn.Module, ...]) -> bool:
    """True when `encoder_layer` takes this layer: float32 plain `nn.LayerNorm`s and `nn.Linear`s with biases (not
    quantized, not wrapped by a recorder of module calls, which must see them called) except the key projection
    (no bias in Whisper), head size fitting the kernel, a large input on the CPU with fast math on, the kernel and
    the BLAS loaded."""
    from .gemv import blas_gemm

    plain = (all(type(n) is nn.LayerNorm and "bias" in n for n in norms)
             and all(type(m) is nn.Linear and m.weight.dtype == mx.float32 for m in linears)
             and all("bias" in m for i, m in enumerate(linears) if i != 1))
    return (plain and x.dtype == mx.float32 and x.ndim == 3 and fast_math_active(x.size * x.shape[1])
            and library() is not None and blas_gemm(raw=True) is not None)


def encoder_layer(x: mx.array, norms: tuple[nn.LayerNorm, nn.LayerNorm], linears: tuple[nn.Linear, ...],
                  heads: int, scale: float) -> mx.array:
    """x (B, T, d) through a pre-norm transformer encoder layer in one C call (evaluates x): x += attention(norm1 x),
    x += fc2(GELU(fc1(norm2 x))). `linears`: q, k, v, out, fc1, fc2 projections; q scaled after its bias. The
    products run on the BLAS at one thread each, split into row blocks and heads over two threads of the kernel's own,
    so the BLAS's thread pool never wakes (its spinning threads would take the core from the second thread)."""
    from .gemv import blas_gemm, one_thread_of_blas_gemm

    q, k, v, o, fc1, fc2 = linears
    key = [p for m in (*norms, *linears) for p in (m.weight, m.get("bias"))]  # held by the cache
    cached = q.__dict__.get("_encoder_layer")
    if cached is None or any(a is not b for a, b in zip(cached[0], key)):
        named = {"ln1_w": norms[0].weight, "ln1_b": norms[0].bias, "ln2_w": norms[1].weight, "ln2_b": norms[1].bias,
                 "qkv": np.concatenate([np.asarray(m.weight) for m in (q, k, v)]),
                 "qkv_b": np.concatenate([_bias(m) for m in (q, k, v)])}
        for name, m in (("o", o), ("fc1", fc1), ("fc2", fc2)):
            named[name], named[f"{name}_b"] = m.weight, _bias(m)
        arrays = [np.ascontiguousarray(np.asarray(named[n]), np.float32) for n in ENCODER_WEIGHTS]
        cached = (key, arrays, (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays)))
        object.__setattr__(q, "_encoder_layer", cached)
    table = cached[2]
    mx.eval(x)
    B, T, d = x.shape
    h = np.array(x, dtype=np.float32, order="C")  # a copy: the layer works in place
    eps = float(norms[0].eps)
    with one_thread_of_blas_gemm():
        failed = library().encoder_layer_f32(h.ctypes.data, B, T, d, heads, fc1.weight.shape[0], table, eps,
                                             float(scale), ctypes.cast(blas_gemm(raw=True), ctypes.c_void_p).value,
                                             default_threads())
    if failed:
        raise MemoryError("encoder_layer_f32: no memory for the layer's intermediates")
    return mx.array(h)


def _pooled_sgemm(order: int, trans_a: int, trans_b: int, m: int, n: int, k: int, alpha: float, a: int, lda: int,
                  b: int, ldb: int, beta: float, c: int, ldc: int) -> None:
    """cblas_sgemm's arguments; a row-major product with A as it is goes to `sgemm_rows_f32` (rows split over
    the kernel's two threads, one BLAS thread each), anything else to the BLAS."""
    from .gemv import blas_gemm

    sgemm = blas_gemm(raw=True)
    if order != 101 or trans_a != 111:
        sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    library().sgemm_rows_f32(ctypes.cast(sgemm, ctypes.c_void_p).value, trans_b, m, n, k, alpha, a, lda, b, ldb,
                             beta, c, ldc, default_threads())


@contextmanager
def blas_on_own_threads() -> Iterator[None]:
    """Within the block MLX's OpenBLAS runs on one thread, and the products that `gemv.blas_gemm` serves (the
    conv kernels', `_matmul_t`'s) are split by rows over this kernel's two threads: a model whose fast path mixes
    both never has the BLAS's idle threads spinning beside the kernel's second thread. Nothing changes without
    the kernel or the BLAS, or off the CPU fast paths (plain math, another device: MLX's own products keep the
    BLAS's threads)."""
    from .gemv import blas_gemm, gemm_override, one_thread_of_blas_gemm

    if library() is None or blas_gemm(raw=True) is None or not fast_math_active():
        yield
        return
    with one_thread_of_blas_gemm(), gemm_override(_pooled_sgemm):
        yield


def main() -> int:
    """Build the kernel and say where it is (0), or why not (1)."""
    return KERNEL.main("the NumPy decoder step runs")


if __name__ == "__main__":
    sys.exit(main())
