"""Grouped conv1d with few channels per group (depthwise: one), and the depthwise transposed conv1d, as CUDA kernels.
The grouped kernel can apply Snake to its input as it reads it and to its output before it writes it (SNAC's
residual unit: Snake, depthwise conv, Snake in one pass over memory instead of three).

MLX's CUDA back end runs a grouped convolution as a batched GEMM per group; with one or two channels per group
each product is a sliver (k x 1 by T), so SNAC's and Vocos's depthwise k7 convs ran at a fraction of cuDNN's
speed. Here one thread computes one output (b, t, o) directly: K taps times the group's CG input channels, read
along the channel axis (consecutive threads, consecutive channels: coalesced), accumulated in float32, the bias
added as it is written. The transposed depthwise conv (Kokoro's upsampling "pool") the same way: output t gathers
the taps j whose input frame (t + padding - j dilation) / stride is whole and inside. Channels-last like the rest
of the package: x (B, T, C), weight (O, K, C / groups).
"""

from __future__ import annotations

import mlx.core as mx

from . import gpu_kernels_active, self_checked

MAX_GROUP_CHANNELS = 4  # input channels per group the kernel takes (more: the GEMM per group wins)

# one thread per output (b, t, o) of a (B, TO, O) result, o fastest; the input x (B, T, C)
_OUTPUT = """
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int T = x_shape[1];
    const int C = x_shape[2];
    if (idx >= (size_t)x_shape[0] * TO * O) return;
    const int o = idx % O;
    const int t = (idx / O) % TO;
    const size_t b = idx / O / TO;
    float acc = HAS_BIAS ? (float)bias[o] : 0.0f;
"""

_TAPS = """
    const DT* xb = x + b * (size_t)T * C + (o / OG) * CG;  // this batch item, the group's first channel
    const DT* wo = w + (size_t)o * K * CG;
    const int start = t * S - P;
    for (int j = 0; j < K; ++j) {
        const int i = start + j * DIL;
        if (i < 0 || i >= T) continue;
        const DT* xr = xb + (size_t)i * C;
"""

_SOURCE = _OUTPUT + _TAPS + """
        for (int ci = 0; ci < CG; ++ci) acc += (float)xr[ci] * (float)wo[j * CG + ci];
    }
    out[idx] = (DT)acc;
"""

# the same with Snake (v + sin^2(a v) / a, float32) on the input as it is read, per input channel, and on the output
# before it is written, per output channel. A kernel of its own: should it fail to build, the plain one stands.
_SOURCE_SNAKE = _OUTPUT + _TAPS + """
        for (int ci = 0; ci < CG; ++ci) {
            const int c = (o / OG) * CG + ci;
            const float v = (float)xr[ci];
            const float sn = sinf(pre_a[c] * v);
            acc += (v + pre_inv[c] * sn * sn) * (float)wo[j * CG + ci];
        }
    }
    const float so = sinf(post_a[o] * acc);
    out[idx] = (DT)(acc + post_inv[o] * so * so);
"""

_SOURCE_TRANSPOSED = _OUTPUT + """
    const DT* xb = x + b * (size_t)T * C + o;  // depthwise: output channel o reads input channel o
    for (int j = 0; j < K; ++j) {
        const int u = t + P - j * DIL;  // stride * (input frame) when this tap reaches output t
        if (u < 0 || u % S != 0) continue;
        const int i = u / S;
        if (i < T) acc += (float)xb[(size_t)i * C] * (float)w[o * K + j];
    }
    out[idx] = (DT)acc;
"""

_kernel: list = []
_kernel_snake: list = []
_kernel_transposed: list = []


def gpu_grouped_conv_fits(x: mx.array, weight: mx.array, groups: int) -> bool:
    """True when the kernel takes this conv: CUDA with the kernels on, float dtypes, grouped with at most
    MAX_GROUP_CHANNELS input channels per group (depthwise included)."""
    C, (O, _, cg) = x.shape[-1], weight.shape
    return (gpu_kernels_active() and groups > 1 and x.ndim == 3 and C == cg * groups and O % groups == 0
            and cg <= MAX_GROUP_CHANNELS and x.dtype in (mx.float32, mx.bfloat16, mx.float16) and x.size > 0
            and self_checked("grouped_conv1d", _check_grouped))


def _small_case(transposed: bool) -> tuple[mx.array, mx.array, mx.array]:
    """A small seeded input, depthwise weight and bias for the kernels' self-checks."""
    key = mx.random.key(7)
    x = mx.random.normal((2, 37, 12), key=key)
    w = mx.random.normal((12, 3 if transposed else 5, 1), key=mx.random.split(key)[0])
    return x, w, mx.random.normal((12,), key=mx.random.split(key)[1])


def _check_grouped() -> bool:
    x, w, b = _small_case(False)
    got = grouped_conv1d(x, w, 1, 4, 2, 12, b)
    want = mx.conv1d(x, w, stride=1, padding=4, dilation=2, groups=12) + b
    return got.shape == want.shape and bool(mx.allclose(got, want, rtol=1e-4, atol=1e-4))


def _check_snake_fused() -> bool:
    x, w, b = _small_case(False)
    a1, a2 = mx.abs(x[0, :2]) + 0.2  # two (12,) frequency rows
    i1, i2 = mx.reciprocal(a1), mx.reciprocal(a2)
    got = grouped_conv1d(x, w, 1, 4, 2, 12, b, pre=(a1, i1), post=(a2, i2))
    h = mx.conv1d(x + i1 * mx.sin(a1 * x) ** 2, w, stride=1, padding=4, dilation=2, groups=12) + b
    want = h + i2 * mx.sin(a2 * h) ** 2
    return got.shape == want.shape and bool(mx.allclose(got, want, rtol=1e-4, atol=1e-4))


def snake_fusion_fits(x: mx.array, weight: mx.array, groups: int) -> bool:
    """True when the grouped kernel takes this conv with Snake fused on both sides (and its self-check passed)."""
    return gpu_grouped_conv_fits(x, weight, groups) and self_checked("grouped_conv1d_snake", _check_snake_fused)


def _check_transposed() -> bool:
    x, w, b = _small_case(True)
    got = depthwise_conv_transpose1d(x, w, 2, 1, 1, 1, b)
    want = mx.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1, groups=12) + b
    return got.shape == want.shape and bool(mx.allclose(got, want, rtol=1e-4, atol=1e-4))


def grouped_conv1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                   groups: int = 1, bias: mx.array | None = None, pre: tuple[mx.array, mx.array] | None = None,
                   post: tuple[mx.array, mx.array] | None = None) -> mx.array:
    """`mx.conv1d(x, weight, stride, padding, dilation, groups)` (+ bias (O,)) for x (B, T, C), weight
    (O, K, C / groups), zero padding on both sides; result in x's dtype. `pre` / `post`: Snake's (alpha, 1 / alpha)
    per input / output channel, applied (in float32) to the input as read / to the output before it is written
    (both or neither: a kernel of their own)."""
    if (pre is None) != (post is None):
        raise ValueError("Snake fuses on both sides or neither (pre and post)")
    fused = pre is not None
    cache = _kernel_snake if fused else _kernel
    if not cache:
        cache.append(mx.fast.cuda_kernel(
            name="mal_grouped_conv1d_snake" if fused else "mal_grouped_conv1d",
            input_names=["x", "w", "bias"] + (["pre_a", "pre_inv", "post_a", "post_inv"] if fused else []),
            output_names=["out"], source=_SOURCE_SNAKE if fused else _SOURCE))
    none = mx.zeros((1,))
    snakes = [p.astype(mx.float32) for p in (*pre, *post)] if fused else []
    B, T, _ = x.shape
    O, K, cg = weight.shape
    t_out = (T + 2 * padding - dilation * (K - 1) - 1) // stride + 1
    threads = 256
    n = B * t_out * O
    return cache[0](
        inputs=[x, weight.astype(x.dtype), (bias if bias is not None else none).astype(mx.float32), *snakes],
        template=[("DT", x.dtype), ("O", O), ("OG", O // groups), ("CG", cg), ("K", K), ("S", stride),
                  ("P", padding), ("DIL", dilation), ("TO", t_out), ("HAS_BIAS", int(bias is not None))],
        grid=(-(-n // threads) * threads, 1, 1), threadgroup=(threads, 1, 1),
        output_shapes=[(B, t_out, O)], output_dtypes=[x.dtype])[0]


def gpu_depthwise_transposed_fits(x: mx.array, weight: mx.array, groups: int) -> bool:
    """True when `depthwise_conv_transpose1d` takes this transposed conv: CUDA with the kernels on, float dtypes,
    depthwise (groups = channels in = channels out)."""
    O, _, cg = weight.shape
    return (gpu_kernels_active() and x.ndim == 3 and groups == x.shape[-1] == O and cg == 1
            and x.dtype in (mx.float32, mx.bfloat16, mx.float16) and x.size > 0
            and self_checked("depthwise_conv_transpose1d", _check_transposed))


def depthwise_conv_transpose1d(x: mx.array, weight: mx.array, stride: int = 1, padding: int = 0, dilation: int = 1,
                               output_padding: int = 0, bias: mx.array | None = None) -> mx.array:
    """`mx.conv_transpose1d(x, weight, stride, padding, dilation, output_padding, groups=C)` (+ bias (C,)) for x
    (B, T, C), weight (C, K, 1); result in x's dtype."""
    if not _kernel_transposed:
        _kernel_transposed.append(mx.fast.cuda_kernel(
            name="mal_depthwise_conv_transpose1d", input_names=["x", "w", "bias"], output_names=["out"],
            source=_SOURCE_TRANSPOSED))
    B, T, C = x.shape
    K = weight.shape[1]
    t_out = (T - 1) * stride - 2 * padding + dilation * (K - 1) + 1 + output_padding
    threads = 256
    n = B * t_out * C
    return _kernel_transposed[0](
        inputs=[x, weight.astype(x.dtype), (bias if bias is not None else mx.zeros((1,))).astype(mx.float32)],
        template=[("DT", x.dtype), ("O", C), ("K", K), ("S", stride), ("P", padding), ("DIL", dilation),
                  ("TO", t_out), ("HAS_BIAS", int(bias is not None))],
        grid=(-(-n // threads) * threads, 1, 1), threadgroup=(threads, 1, 1),
        output_shapes=[(B, t_out, C)], output_dtypes=[x.dtype])[0]
