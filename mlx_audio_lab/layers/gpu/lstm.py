"""A whole LSTM recurrence in one CUDA launch: a persistent kernel, hidden units split over up to 64 blocks.

Stepped from Python, each frame is a GEMV and a fused cell kernel: on an H100 ~30 us per step, nearly all launch
and graph overhead (EnCodec's LSTMs were 84-88 % of its GPU time). Here block k owns hidden units
[k U, (k + 1) U): per step it reads the previous h of the whole layer (L2, double-buffered), computes its 4U gate rows
(one warp per row, its W_hh rows in registers), updates its units' cell and writes its part of the new h; the blocks
of a direction then meet at a grid barrier (a monotonic counter). Both directions of a bidirectional layer run in
the same launch. A launch never has more blocks than the GPU has multiprocessors (<= 64 per direction; one
block each is always resident), so the barrier cannot deadlock. Gate order and math are torch's (i, f, g, o);
the state stays float32 in every dtype. On an H100: 3.7 us per step for 512 units (cuDNN ~15 us).
"""

from __future__ import annotations

import ctypes
import hashlib
import math

import mlx.core as mx

from . import gpu_kernels_active

MAX_BLOCKS = 64  # blocks per direction
WARPS = 8  # per block where the weights fit registers at 8 warps; 16 otherwise
BARRIER = 2  # 1: arrive with atomicAdd, poll a volatile load; 2: poll with atomicAdd; 3: red.release / ld.acquire
SCRATCH = 1 << 16  # words per direction for the barrier counter and the h exchange: large enough that MLX
# places them in device memory (a 4-byte counter went to its small-buffer pool: every atomic cost ~3 us);
# the h exchange needs 2 B H <= 16384 (gpu_lstm_active asks B H <= 8192)
SPIN_WAIT = ""  # e.g. "__nanosleep(32);" between polls
COMPUTE = True  # False only in the probe: time the barriers alone

_HEADER = """
__device__ __forceinline__ void mal_grid_arrive_wait(int* ctr, int target) {
    __threadfence();
#if MAL_BARRIER == 3
    asm volatile("red.release.gpu.global.add.s32 [%0], 1;" :: "l"(ctr) : "memory");
    int seen;
    do {
        asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(seen) : "l"(ctr) : "memory");
        if (seen >= target) break;
        MAL_SPIN_WAIT
    } while (true);
#elif MAL_BARRIER == 2
    atomicAdd(ctr, 1);
    while (atomicAdd(ctr, 0) < target) { MAL_SPIN_WAIT }
#else
    atomicAdd(ctr, 1);
    while (*((volatile int*)ctr) < target) { MAL_SPIN_WAIT }
#endif
    __threadfence();
}
"""

_SOURCE = """
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    constexpr int NT = NW * 32;
    constexpr int NB = H / U;            // blocks per direction
    constexpr int HL = (H + 31) / 32;    // elements of a row per lane
    const int d = blockIdx.x / NB;       // direction
    const int k = blockIdx.x % NB;       // this block's slice of hidden units
    const int steps = gx_shape[2];
    const DT* gxd = gx + (size_t)d * B * steps * 4 * H;
    const DT* wd = w_hh + (size_t)d * 4 * H * H;
    float* hb = hbuf + (size_t)d * SCR;
    int* ctr = sync + (size_t)d * SCR;
    __shared__ float hs[B * H];
    __shared__ float gs[B * 4 * U];
    __shared__ float cs[B * U];
    // this lane's part of its warp's gate rows, in registers for the whole sequence (WREG), else read per step
    float wreg[WREG ? RW : 1][WREG ? HL : 1];
    if constexpr (WREG) {
        #pragma unroll
        for (int rr = 0; rr < RW; ++rr) {
            const int r = warp * RW + rr;
            const int row = (r / U) * H + k * U + r % U;
            #pragma unroll
            for (int i = 0; i < HL; ++i) {
                const int m = lane + 32 * i;
                wreg[rr][i] = (r < 4 * U && m < H) ? (float)wd[(size_t)row * H + m] : 0.0f;
            }
        }
    }
    for (int i = tid; i < B * U; i += NT) {
        cs[i] = (float)c0[(size_t)(d * B + i / U) * H + k * U + i % U];
    }
    for (int t = 0; t < steps; ++t) {
        if (t == 0) {
            for (int i = tid; i < B * H; i += NT) hs[i] = (float)h0[(size_t)d * B * H + i];
        } else {
            const float* src = hb + (size_t)(t & 1) * B * H;
            for (int i = tid; i < B * H; i += NT) hs[i] = __ldcg(src + i);
        }
        __syncthreads();
        #pragma unroll
        for (int rr = 0; rr < RW; ++rr) {
            const int r = warp * RW + rr;      // gate row within the block: gate r / U, unit r % U
            if (COMPUTE && r < 4 * U) {
                const int row = (r / U) * H + k * U + r % U;
                float acc[B];
                #pragma unroll
                for (int b = 0; b < B; ++b) acc[b] = 0.0f;
                #pragma unroll
                for (int i = 0; i < HL; ++i) {
                    const int m = lane + 32 * i;
                    if (m < H) {
                        const float wv = WREG ? wreg[WREG ? rr : 0][WREG ? i : 0] : (float)wd[(size_t)row * H + m];
                        #pragma unroll
                        for (int b = 0; b < B; ++b) acc[b] += wv * hs[b * H + m];
                    }
                }
                #pragma unroll
                for (int b = 0; b < B; ++b) {
                    float v = acc[b];
                    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffff, v, off);
                    if (lane == 0) gs[b * 4 * U + r] = v + (float)gxd[((size_t)b * steps + t) * 4 * H + row];
                }
            }
        }
        __syncthreads();
        for (int i = tid; i < B * U; i += NT) {
            const int b = i / U, u = i % U, j = k * U + u;
            const float* g = gs + b * 4 * U;
            const float ig = 1.0f / (1.0f + expf(-g[u]));
            const float fg = 1.0f / (1.0f + expf(-g[U + u]));
            const float cg = tanhf(g[2 * U + u]);
            const float og = 1.0f / (1.0f + expf(-g[3 * U + u]));
            const float c = fg * cs[i] + ig * cg;
            const float h = og * tanhf(c);
            cs[i] = c;
            y[((size_t)(d * B + b) * steps + t) * H + j] = (DT)h;
            __stcg(hb + (size_t)((t + 1) & 1) * B * H + b * H + j, h);
            if (t == steps - 1) {
                h_last[(size_t)(d * B + b) * H + j] = (DT)h;
                c_last[(size_t)(d * B + b) * H + j] = (DT)c;
            }
        }
        __syncthreads();
        if (BARRIER && tid == 0) mal_grid_arrive_wait(ctr, (t + 1) * NB);  // all blocks of this direction
        __syncthreads();
    }
"""

_kernels: dict[str, object] = {}


def _kernel():
    """The kernel for the current settings, compiled once per variant (named by a hash of its source)."""
    header = f"#define MAL_BARRIER {BARRIER}\n#define MAL_SPIN_WAIT {SPIN_WAIT}\n" + _HEADER
    key = hashlib.sha1((header + _SOURCE).encode()).hexdigest()[:10]
    if key not in _kernels:
        _kernels[key] = mx.fast.cuda_kernel(
            name=f"mal_lstm_recurrence_{key}", input_names=["gx", "w_hh", "h0", "c0"],
            output_names=["y", "h_last", "c_last", "hbuf", "sync"], source=_SOURCE, header=header)
    return _kernels[key]


def _layout(hidden: int, units: int) -> tuple[int, int, bool]:
    """(warps per block, gate rows per warp, weights in registers): registers when a lane's share of its rows
    is <= 64 floats with 8 or 16 warps (H <= ~700), else 8 warps reading W_hh from L1 / L2 each step."""
    for warps in (WARPS, 16):
        rows = math.ceil(4 * units / warps)
        if rows * math.ceil(hidden / 32) <= 64:
            return warps, rows, True
    return WARPS, math.ceil(4 * units / WARPS), False


_sm: list[int] = []


def multiprocessors() -> int:
    """Streaming multiprocessors of CUDA device 0 (the driver's attribute 16), once; 16 if the driver won't say.

    The grid barrier needs every block resident at once: one block per multiprocessor always is, so a launch
    never has more blocks than this (an H100 has 132; a laptop GPU may have 16)."""
    if not _sm:
        count = 16
        try:
            cuda = ctypes.CDLL("libcuda.so.1")
            device, value = ctypes.c_int(), ctypes.c_int()
            if (cuda.cuInit(0) == 0 and cuda.cuDeviceGet(ctypes.byref(device), 0) == 0
                    and cuda.cuDeviceGetAttribute(ctypes.byref(value), 16, device) == 0 and value.value > 0):
                count = value.value
        except OSError:
            pass
        _sm.append(count)
    return _sm[0]


def _units_per_block(hidden: int, directions: int = 1) -> int | None:
    """Hidden units per block: the smallest divisor of `hidden` that keeps the blocks <= MAX_BLOCKS per direction
    and all directions' blocks within the multiprocessors (see `multiprocessors`)."""
    limit = max(1, min(MAX_BLOCKS, multiprocessors() // directions))
    for u in range(max(1, math.ceil(hidden / limit)), hidden + 1):
        if hidden % u == 0 and hidden // u <= limit:
            return u
    return None


def gpu_lstm_active(gates_x: mx.array, w_hh: mx.array) -> bool:
    """True when this kernel should run the recurrence of (B, T, 4H) input gates with W_hh (4H, H)."""
    if not gpu_kernels_active() or gates_x.dtype not in (mx.float32, mx.bfloat16, mx.float16):
        return False
    B, T, hidden = gates_x.shape[0], gates_x.shape[1], w_hh.shape[1]
    return T > 0 and B <= 8 and B * hidden <= 8192 and _units_per_block(hidden, 2) is not None


def lstm_scans_gpu(runs: list[tuple[mx.array, mx.array, mx.array, mx.array]]
                   ) -> list[tuple[mx.array, mx.array, mx.array]]:
    """Recurrences of the same shape side by side in one launch (a bidirectional layer's two directions).

    Each run is (gates_x (B, T, 4H) with both biases in, W_hh (4H, H), h0 (B, H), c0 (B, H)), all running
    forward in time -> [(hidden states (B, T, H), last h, last c)].
    """
    D = len(runs)
    B, T, _ = runs[0][0].shape
    hidden = runs[0][1].shape[1]
    dtype = runs[0][0].dtype
    units = _units_per_block(hidden, D)
    warps, rows, wreg = _layout(hidden, units)
    gx = mx.stack([r[0] for r in runs])
    w_hh = mx.stack([r[1] for r in runs]).astype(dtype)
    h0 = mx.stack([r[2] for r in runs]).astype(dtype)
    c0 = mx.stack([r[3] for r in runs]).astype(dtype)
    y, h, c, _, _ = _kernel()(
        inputs=[gx, w_hh, h0, c0],
        template=[("DT", dtype), ("H", hidden), ("U", units), ("B", B), ("NW", warps), ("RW", rows),
                  ("WREG", wreg), ("COMPUTE", COMPUTE), ("BARRIER", BARRIER > 0),
                  ("SCR", SCRATCH)],
        grid=(D * (hidden // units) * warps * 32, 1, 1), threadgroup=(warps * 32, 1, 1),
        output_shapes=[(D, B, T, hidden), (D, B, hidden), (D, B, hidden), (D, SCRATCH), (D, SCRATCH)],
        output_dtypes=[dtype, dtype, dtype, mx.float32, mx.int32], init_value=0)
    return [(y[i], h[i], c[i]) for i in range(D)]


def lstm_scan_gpu(gates_x: mx.array, w_hh: mx.array, h0: mx.array, c0: mx.array
                  ) -> tuple[mx.array, mx.array, mx.array]:
    """One forward recurrence: (B, T, 4H) input gates, W_hh (4H, H), state (B, H) x 2 -> (B, T, H), h, c."""
    return lstm_scans_gpu([(gates_x, w_hh, h0, c0)])[0]
