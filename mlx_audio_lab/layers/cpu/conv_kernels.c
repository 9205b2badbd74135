/* Direct 1-D convolution kernels for MLX's CPU back end (channels-last float32), called through ctypes by
 * mlx_audio_lab/layers/cpu/native.py, which builds this file with the system C compiler (-O3 -march=native).
 * Each call computes output frames [t0, t1), so Python threads (ctypes releases the GIL) split the time axis.
 * GCC vector extensions, no intrinsics: the compiler picks AVX-512, AVX2 or SSE for the machine it builds on. */

#include <string.h>

#include "simd16.h" /* v16 (16 floats, loads need no alignment), load / store, exp_v */

#define TILE 16 /* output channels per vector */

/* Depthwise: y[t, c] = sum_j x[t - padding + j * dilation, c] * taps[j, c]; x (T, C), taps (k, C). */
void depthwise_conv1d_f32(const float *restrict x, const float *restrict taps, float *restrict y, long T, long C,
                          long k, long dilation, long padding, long t0, long t1) {
  for (long t = t0; t < t1; ++t) {
    float *restrict out = y + t * C;
    int started = 0;
    for (long j = 0; j < k; ++j) {
      long row = t - padding + j * dilation;
      if (row < 0 || row >= T) continue;
      const float *restrict in = x + row * C;
      const float *restrict w = taps + j * C;
      if (started) {
        for (long c = 0; c < C; ++c) out[c] += in[c] * w[c];
      } else {
        for (long c = 0; c < C; ++c) out[c] = in[c] * w[c];
        started = 1;
      }
    }
    if (!started) memset(out, 0, (size_t)C * sizeof(float));
  }
}

/* One output frame, one tile of output channels, any window (rows outside [0, T) are the zero padding), added to
 * `acc`. */
static v16 dense_frame(const float *restrict x, const float *restrict wt, v16 acc, long T, long C, long Op, long k,
                       long first, long dilation) {
  for (long j = 0; j < k; ++j) {
    long row = first + j * dilation;
    if (row < 0 || row >= T) continue;
    const float *in = x + row * C;
    const float *w = wt + j * C * Op;
    for (long c = 0; c < C; ++c) acc += *(const v16 *)(w + c * Op) * in[c];
  }
  return acc;
}

static void store_n(float *restrict dst, v16 v, long n) {
  if (n == TILE) {
    memcpy(dst, &v, sizeof(v));
  } else {
    float tmp[TILE];
    memcpy(tmp, &v, sizeof(v));
    memcpy(dst, tmp, (size_t)n * sizeof(float));
  }
}

/* A register block: NF output frames from t (all windows inside x) by NT tiles of 16 output channels from ot,
 * NT * NF accumulators. Per input channel and tap: NT weight vectors loaded, NF inputs broadcast, NT * NF FMAs.
 * The weight (k, C, Op) streams through in order; the block's input rows stay in L1. */
#define DENSE_BLOCK(NT, NF)                                                                                         \
  static void dense_block_##NT##x##NF(const float *restrict x, const float *restrict wt, const float *restrict b, \
                                       float *restrict y, long C, long O, long Op, long k, long stride,             \
                                       long dilation, long padding, long t, long ot) {                              \
    const float *in0 = x + (t * stride - padding) * C;                                                           \
    const long step = stride * C;                                                                                 \
    v16 acc[NT][NF];                                                                                              \
    for (int u = 0; u < NT; ++u)                                                                                  \
      for (int i = 0; i < NF; ++i) acc[u][i] = (v16){0};                                                         \
    for (long j = 0; j < k; ++j) {                                                                                \
      const float *in = in0 + j * dilation * C;                                                                   \
      const float *w = wt + j * C * Op + ot;                                                                      \
      for (long c = 0; c < C; ++c) {                                                                              \
        v16 wv[NT];                                                                                               \
        for (int u = 0; u < NT; ++u) wv[u] = *(const v16 *)(w + c * Op + u * TILE);                             \
        for (int i = 0; i < NF; ++i) {                                                                            \
          float xv = in[i * step + c];                                                                            \
          for (int u = 0; u < NT; ++u) acc[u][i] += wv[u] * xv;                                                   \
        }                                                                                                         \
      }                                                                                                           \
    }                                                                                                             \
    for (int u = 0; u < NT; ++u) {                                                                                \
      long n = O - ot - u * TILE;                                                                                 \
      n = n > TILE ? TILE : n;                                                                                    \
      if (n <= 0) break;                                                                                          \
      v16 bias = *(const v16 *)(b + ot + u * TILE); /* added after the sum, as the reference's conv does */     \
      for (int i = 0; i < NF; ++i) store_n(y + (t + i) * O + ot + u * TILE, acc[u][i] + bias, n);                 \
    }                                                                                                             \
  }

DENSE_BLOCK(1, 4) DENSE_BLOCK(1, 6) DENSE_BLOCK(1, 8) DENSE_BLOCK(1, 12) DENSE_BLOCK(1, 16)
DENSE_BLOCK(2, 4) DENSE_BLOCK(2, 6) DENSE_BLOCK(2, 8) DENSE_BLOCK(2, 12)
DENSE_BLOCK(3, 4) DENSE_BLOCK(3, 6) DENSE_BLOCK(3, 8)
DENSE_BLOCK(4, 4) DENSE_BLOCK(4, 6)

typedef void (*dense_block_fn)(const float *restrict, const float *restrict, const float *restrict, float *restrict,
                               long, long, long, long, long, long, long, long, long);

/* The block for (NT tiles, NF frames), or 0 where none is built; nf_index: 4 -> 0, 6 -> 1, 8 -> 2, 12 -> 3, 16 -> 4. */
static dense_block_fn block_for(long nt, long nf) {
  static const dense_block_fn table[4][5] = {
      {dense_block_1x4, dense_block_1x6, dense_block_1x8, dense_block_1x12, dense_block_1x16},
      {dense_block_2x4, dense_block_2x6, dense_block_2x8, dense_block_2x12, 0},
      {dense_block_3x4, dense_block_3x6, dense_block_3x8, 0, 0},
      {dense_block_4x4, dense_block_4x6, 0, 0, 0}};
  int f = nf == 4 ? 0 : nf == 6 ? 1 : nf == 8 ? 2 : nf == 12 ? 3 : nf == 16 ? 4 : -1;
  if (nt < 1 || nt > 4 || f < 0) return 0;
  return table[nt - 1][f];
}

/* Dense: y[t, o] = (sum_j sum_c x[t * stride - padding + j * dilation, c] * wt[j, c, o]) + b[o], the bias added
 * after the sum (the reference's order: Silero's encoder drifted 2x with the bias as the starting value); x (T, C),
 * y (., O), wt (k, C, Op): the weight reordered, its output channels zero-padded to Op, a multiple of 16; b (Op) the bias
 * (zeros for none). Blocks of nf
 * frames outside, groups of nt output tiles inside (the last group narrower), so a block's input stays in L1
 * while every group reads it. nt in 1..4, nf in {4, 6, 8, 12, 16} with a block built for it (else 2 x 8). */
void dense_conv1d_f32(const float *restrict x, const float *restrict wt, const float *restrict b, float *restrict y,
                      long T, long C, long O, long Op, long k, long stride, long dilation, long padding, long nt, long nf, long t0, long t1) {
  if (!block_for(nt, nf)) nt = 2, nf = 8;
  long lo = (padding + stride - 1) / stride;                        /* first frame whose window is inside x */
  long hi = (T - 1 + padding - (k - 1) * dilation) / stride + 1;    /* past the last such frame */
  if (T - 1 + padding - (k - 1) * dilation < 0) hi = lo;
  if (lo < t0) lo = t0;
  if (hi > t1) hi = t1;
  if (hi < lo) hi = lo;
  long tiles = Op / TILE, t = lo;
  for (; t + nf <= hi; t += nf) {
    for (long u = 0; u < tiles; u += nt) {
      long n = tiles - u < nt ? tiles - u : nt;
      dense_block_fn fn = block_for(n, nf);
      if (!fn) fn = block_for(1, nf);  /* not reached: every narrower group of a built block is built */
      fn(x, wt, b, y, C, O, Op, k, stride, dilation, padding, t, u * TILE);
    }
  }
  for (long f = t0; f < t1; ++f) {  /* frames near the padding and the last partial block, one at a time */
    if (f >= lo && f < t) continue;
    for (long ot = 0; ot < Op; ot += TILE) {
      long n = O - ot < TILE ? O - ot : TILE;
      store_n(y + f * O + ot, dense_frame(x, wt + ot, (v16){0}, T, C, Op, k, f * stride - padding, dilation)
                                  + *(const v16 *)(b + ot), n);
    }
  }
}

static float hsum(v16 v) {
  float t[TILE], s = 0.f;
  memcpy(t, &v, sizeof(v));
  for (int i = 0; i < TILE; ++i) s += t[i];
  return s;
}

/* Undilated dense conv with very few outputs (a vocoder's last conv to one channel): output t is b[o] plus the dot
 * product of the k * C contiguous floats from row t * stride - padding with each w[o] (O, k * C); vectorised along that
 * window, four frames at once. Windows reaching into the padding: the rows inside x only. */
void window_dot_conv1d_f32(const float *restrict x, const float *restrict w, const float *restrict b, float *restrict y,
                           long T, long C, long O, long k, long stride, long padding, long t0, long t1) {
  const long K = k * C;
  for (long t = t0; t < t1; ++t) {
    long first = t * stride - padding;
    int block = t + 4 <= t1 && first >= 0 && (t + 3) * stride - padding + k <= T;
    for (long o = 0; o < O; ++o) {
      const float *wo = w + o * K;
      if (block) {
        const float *in = x + first * C;
        const long step = stride * C;
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        long i = 0;
        for (; i + TILE <= K; i += TILE) {
          v16 wv = *(const v16 *)(wo + i);
          a0 += wv * *(const v16 *)(in + i);
          a1 += wv * *(const v16 *)(in + step + i);
          a2 += wv * *(const v16 *)(in + 2 * step + i);
          a3 += wv * *(const v16 *)(in + 3 * step + i);
        }
        float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
        for (; i < K; ++i) {
          s0 += wo[i] * in[i];
          s1 += wo[i] * in[step + i];
          s2 += wo[i] * in[2 * step + i];
          s3 += wo[i] * in[3 * step + i];
        }
        y[t * O + o] = s0 + b[o];
        y[(t + 1) * O + o] = s1 + b[o];
        y[(t + 2) * O + o] = s2 + b[o];
        y[(t + 3) * O + o] = s3 + b[o];
      } else {
        float s = 0.f;
        for (long j = 0; j < k; ++j) {
          long row = first + j;
          if (row < 0 || row >= T) continue;
          for (long c = 0; c < C; ++c) s += wo[j * C + c] * x[row * C + c];
        }
        y[t * O + o] = s + b[o];
      }
    }
    if (block) t += 3;
  }
}

/* ---- BigVGAN's anti-aliased Snake (layers/antialias.py): upsample by r (polyphase FIR, edges replicated), Snake
 * per phase, low-pass + decimate by r reading the phases directly, in one pass over 16 channels at a time. */

#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: (y + M) - M rounds |y| < 2^22 to the nearest integer */
#define SNAKE_TT 64             /* output frames per tile: the tile's phase values stay in L1 */
#define SNAKE_MAX_R 4
#define SNAKE_MAX_SPAN 64

/* x + inv * sin^2(alpha x): sin by a reduction to [-pi/2, pi/2] (pi in two parts) and an odd degree-11 polynomial,
 * the same sums as fast_math's _snake_reduce / _snake_finish. */
static inline v16 snake16(v16 x, v16 alpha, v16 inv) {
  const v16 magic = (v16){0} + ROUND_MAGIC;
  v16 y = alpha * x;
  v16 n = (y * 0.3183098861837907f + magic) - magic;
  v16 r = (y - n * 3.140625f) - n * 9.676535897932795e-4f;
  v16 r2 = r * r, r4 = r2 * r2;
  v16 low = (1.0f + (-1.0f / 6) * r2) + r4 * ((1.0f / 120) + (-1.0f / 5040) * r2);
  v16 high = (1.0f / 362880) + (-1.0f / 39916800) * r2;
  v16 s = r * (low + (r4 * r4) * high);
  return x + inv * (s * s);
}

static inline v16 load_n(const float *p, long n) {
  if (n == TILE) return *(const v16 *)p;
  float t[TILE] = {0};
  memcpy(t, p, (size_t)n * sizeof(float));
  v16 v;
  memcpy(&v, t, sizeof(v));
  return v;
}

/* Phase s of the Snake'd upsampled signal at phase frame m (0 <= m < T), channels c0 .. c0 + n - 1:
 * snake(sum_j x[clamp(up_off[s] + m + j)] up_h[s, j]); x (T, C). */
static inline v16 snake_phase(const float *restrict x, long T, long C, long c0, long n, const float *restrict up_h,
                              long nu, long off, long m, v16 alpha, v16 inv) {
  v16 acc = {0};
  long first = off + m;
  if (first >= 0 && first + nu <= T) {
    const float *in = x + first * C + c0;
    for (long j = 0; j < nu; ++j) acc += load_n(in + j * C, n) * up_h[j];
  } else {
    for (long j = 0; j < nu; ++j) {
      long row = first + j;
      row = row < 0 ? 0 : row >= T ? T - 1 : row;
      acc += load_n(x + row * C + c0, n) * up_h[j];
    }
  }
  return snake16(acc, alpha, inv);
}

/* y[t, c] for t in [t0, t1): sum over the low-pass terms (phase term_s[i], offset term_off[i], tap term_h[i]) of
 * ext_s[t + off], ext_s = `left` copies of u[0], phase s of the Snake'd upsampled signal (T frames), `right`
 * copies of u[r T - 1]. up_h (r, nu): each phase's taps (the upsampler's gain folded in), up_off (r,): the
 * phase's first input frame at m = 0 relative to x (negative: into the replicated edge). x, y (T, C);
 * alpha, inv (C,). */
void snake_antialias_f32(const float *restrict x, float *restrict y, long T, long C, const float *restrict alpha,
                         const float *restrict inv, long r, const float *restrict up_h, long nu,
                         const long *restrict up_off, long n_terms, const long *restrict term_s,
                         const long *restrict term_off, const float *restrict term_h, long left, long t0, long t1) {
  long omin = term_off[0], omax = term_off[0];
  for (long i = 1; i < n_terms; ++i) {
    omin = term_off[i] < omin ? term_off[i] : omin;
    omax = term_off[i] > omax ? term_off[i] : omax;
  }
  v16 buf[SNAKE_MAX_R][SNAKE_TT + SNAKE_MAX_SPAN];
  if (r > SNAKE_MAX_R || omax - omin > SNAKE_MAX_SPAN) return; /* the caller checks these bounds */
  for (long tt = t0; tt < t1; tt += SNAKE_TT) { /* time tiles outside: a tile's input rows stay in L2 */
    long te = tt + SNAKE_TT < t1 ? tt + SNAKE_TT : t1;
    long base = tt + omin - left; /* phase frame of buf[.][0] */
    long len = te - tt + omax - omin;
    for (long c = 0; c < C; c += TILE) {
      long c0 = c, n = C - c < TILE ? C - c : TILE;
      if (n < TILE && C >= TILE) c0 = C - TILE, n = TILE; /* a last partial tile: the last 16 channels, again */
      v16 a = load_n(alpha + c0, n), iv = load_n(inv + c0, n);
      v16 u_first = {0}, u_last = {0};
      if (base < 0) u_first = snake_phase(x, T, C, c0, n, up_h, nu, up_off[0], 0, a, iv);
      if (base + len > T) u_last = snake_phase(x, T, C, c0, n, up_h + (r - 1) * nu, nu, up_off[r - 1], T - 1, a, iv);
      for (long s = 0; s < r; ++s)
        for (long i = 0; i < len; ++i) {
          long m = base + i;
          buf[s][i] = m < 0 ? u_first : m >= T ? u_last
                    : snake_phase(x, T, C, c0, n, up_h + s * nu, nu, up_off[s], m, a, iv);
        }
      for (long t = tt; t < te; ++t) {
        v16 acc = {0};
        for (long i = 0; i < n_terms; ++i) acc += buf[term_s[i]][t - tt + term_off[i] - omin] * term_h[i];
        store_n(y + t * C + c0, acc, n);
      }
    }
  }
}

/* Snake on its own (DAC's, SNAC's residual units): y = x + inv * sin^2(alpha x) per channel; x, y (T, C). */
void snake_f32(const float *restrict x, float *restrict y, long C, const float *restrict alpha,
               const float *restrict inv, long t0, long t1) {
  for (long t = t0; t < t1; ++t)
    for (long c = 0; c < C; c += TILE) {
      long c0 = c, n = C - c < TILE ? C - c : TILE;
      if (n < TILE && C >= TILE) c0 = C - TILE, n = TILE; /* a last partial tile: the last 16 channels, again */
      store_n(y + t * C + c0, snake16(load_n(x + t * C + c0, n), load_n(alpha + c0, n), load_n(inv + c0, n)), n);
    }
}

/* ---- ELU and time padding in one pass (SEANet's ELU before each padded conv). Rows [r0, r1) of y ((left + T +
 * right) rows of C floats): y[r] = act(x[src(r)]), src(r) = r - left inside x, and outside by `mode`: 0 zeros,
 * 1 reflect (about the first / last row, T > left and T > right), 2 replicate. act: 0 none (a copy), 1 ELU
 * (alpha 1): x for x > 0, e^x - 1 below (exp_v: about 1e-7 relative). */

static inline v16 elu_v(v16 x) { return select(x > 0.0f, x, exp_v(x) - 1.0f); }

static void act_run(const float *restrict in, float *restrict out, long n, long act) {
  if (!act) {
    memcpy(out, in, (size_t)n * sizeof(float));
    return;
  }
  long i = 0;
  for (; i + TILE <= n; i += TILE) store(out + i, elu_v(load(in + i)));
  if (i < n) store_n(out + i, elu_v(load_n(in + i, n - i)), n - i);
}

void pad_act_f32(const float *restrict x, float *restrict y, long T, long C, long left, long mode, long act,
                 long r0, long r1) {
  long in0 = r0 > left ? r0 : left, in1 = r1 < left + T ? r1 : left + T; /* rows read straight from x */
  if (in1 > in0) act_run(x + (in0 - left) * C, y + in0 * C, (in1 - in0) * C, act);
  for (long r = r0; r < r1; ++r) {
    if (r >= in0 && r < in1) continue;
    long s = r - left;
    if (mode == 0) {
      memset(y + r * C, 0, (size_t)C * sizeof(float));
      continue;
    }
    if (mode == 1) s = s < 0 ? -s : 2 * (T - 1) - s;
    else s = s < 0 ? 0 : T - 1;
    act_run(x + s * C, y + r * C, C, act);
  }
}
