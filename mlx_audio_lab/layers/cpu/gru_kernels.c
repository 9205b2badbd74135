/* A whole GRU recurrence in one C call for MLX's CPU back end (float32), called through ctypes by
 * mlx_audio_lab/layers/cpu/gru_native.py, which builds this file with the system C compiler (-O3 -march=native).
 * PyTorch's cell, gate order (r, z, n): r = sigmoid(x_r + W_hr h + b_hr), z likewise,
 * n = tanh(x_n + r * (W_hn h + b_hn)), h' = n + z * (h - n). GCC vector extensions, no intrinsics. */

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));    /* 16 floats, loads need no alignment */
typedef int vi16 __attribute__((vector_size(64), aligned(4)));

#define LANES 16
#define TILE 8 /* vectors of outputs per accumulator block: 128 gate rows, eight independent FMA chains */

static inline v16 splat(float a) { return (v16){0} + a; }

/* e^x for x in [-88, 88] (the callers clamp): 2^n e^r, n = round(x / ln 2), r = x - n ln 2 in two parts
 * (Cody-Waite), e^r a degree-7 Taylor polynomial (|r| <= ln 2 / 2: relative error about 1e-7), 2^n from the
 * exponent bits. */
static inline v16 exp_v(v16 x) {
  const v16 round = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to the nearest integer */
  v16 t = x * 1.4426950408889634f + round;
  v16 n = t - round;
  v16 r = x - n * 0.693359375f;
  r = r + n * 2.1219444005469057e-4f;
  v16 p = splat(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  vi16 e = (__builtin_convertvector(n, vi16) + 127) << 23;
  return p * (v16)e;
}

static inline v16 select(vi16 mask, v16 a, v16 b) { return (v16)(((vi16)a & mask) | ((vi16)b & ~mask)); }

static inline v16 clamp(v16 x, float lo, float hi) {
  x = select(x < lo, splat(lo), x);
  return select(x > hi, splat(hi), x);
}

static inline v16 sigmoid_v(v16 x) { return 1.0f / (1.0f + exp_v(clamp(-x, -88.0f, 88.0f))); }

/* tanh x = sign(x) (1 - 2 / (e^{2|x|} + 1)): absolute error about 1e-7; |x| > 9 is +-1 in float32. */
static inline v16 tanh_v(v16 x) {
  vi16 neg = x < 0;
  v16 a = select(neg, -x, x);
  v16 e = exp_v(clamp(2.0f * a, 0.0f, 88.0f));
  v16 y = 1.0f - 2.0f / (e + 1.0f);
  return select(neg, -y, y);
}

/* acc[g] = b[g] + sum_k h[k] W[g, k] for g in [0, Gp): W packed tile by tile, wp[tile][k][0 .. TILE * LANES), so
 * each tile's weights stream contiguously (Gp a multiple of TILE * LANES, zero rows past 3H). */
static void recurrent(const float *restrict h, const float *restrict wp, const float *restrict b, float *restrict acc,
                      long H, long Gp) {
  for (long g0 = 0; g0 < Gp; g0 += TILE * LANES) {
    const float *w = wp + g0 * H;
    v16 s[TILE];
    for (int i = 0; i < TILE; ++i) memcpy(&s[i], b + g0 + i * LANES, sizeof(v16));
    for (long k = 0; k < H; ++k) {
      const float *row = w + k * TILE * LANES;
      float hk = h[k];
      for (int i = 0; i < TILE; ++i) s[i] += *(const v16 *)(row + i * LANES) * hk;
    }
    for (int i = 0; i < TILE; ++i) memcpy(acc + g0 + i * LANES, &s[i], sizeof(v16));
  }
}

/* The recurrence over T steps: gx (T, B, 3H) input pre-activations (b_ih included), wp W_hh packed as
 * `recurrent` reads it and b_hh, both padded to Gp, h0 (B, H) -> out (T, B, H); acc is scratch of Gp floats.
 * H must be a multiple of LANES. */
void gru_scan_f32(const float *restrict gx, const float *restrict wp, const float *restrict b_hh,
                  const float *restrict h0, float *restrict out, float *restrict acc, long T, long B, long H,
                  long Gp) {
  const long G = 3 * H;
  for (long t = 0; t < T; ++t) {
    for (long b = 0; b < B; ++b) {
      const float *h = t ? out + ((t - 1) * B + b) * H : h0 + b * H;
      const float *x = gx + (t * B + b) * G;
      float *y = out + (t * B + b) * H;
      recurrent(h, wp, b_hh, acc, H, Gp);
      for (long j = 0; j < H; j += LANES) {
        v16 xr, xz, xn, ar, az, an, hp;
        memcpy(&xr, x + j, sizeof(v16));
        memcpy(&xz, x + H + j, sizeof(v16));
        memcpy(&xn, x + 2 * H + j, sizeof(v16));
        memcpy(&ar, acc + j, sizeof(v16));
        memcpy(&az, acc + H + j, sizeof(v16));
        memcpy(&an, acc + 2 * H + j, sizeof(v16));
        memcpy(&hp, h + j, sizeof(v16));
        v16 r = sigmoid_v(xr + ar);
        v16 z = sigmoid_v(xz + az);
        v16 n = tanh_v(xn + r * an);
        v16 hn = n + z * (hp - n);
        memcpy(y + j, &hn, sizeof(v16));
      }
    }
  }
}
