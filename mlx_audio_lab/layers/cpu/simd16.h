/* 16-float vectors (GCC vector extensions, no intrinsics) and the elementwise math the recurrent kernels share:
 * e^x, sigmoid and tanh to about 1e-7 absolute. Included by gru_kernels.c and lstm_kernels.c (cbuild.py hashes it
 * with each source, so an edit here rebuilds both). */

#ifndef MLX_AUDIO_LAB_SIMD16_H
#define MLX_AUDIO_LAB_SIMD16_H

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4))); /* 16 floats; loads need no alignment */
typedef int vi16 __attribute__((vector_size(64), aligned(4)));

static inline v16 splat(float a) { return (v16){0} + a; }
static inline v16 load(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, v16 v) { memcpy(p, &v, sizeof v); }
static inline v16 select(vi16 mask, v16 a, v16 b) { return (v16)(((vi16)a & mask) | ((vi16)b & ~mask)); }

static inline v16 clamp(v16 x, float lo, float hi) {
  x = select(x < lo, splat(lo), x);
  return select(x > hi, splat(hi), x);
}

/* e^x, x clamped to [-87, 87]: 2^n e^r, n = round(x / ln 2), r = x - n ln 2 in two parts (Cody-Waite), e^r a
 * degree-7 Taylor polynomial (|r| <= ln 2 / 2: relative error about 1e-7), 2^n from the exponent bits. */
static inline v16 exp_v(v16 x) {
  x = clamp(x, -87.0f, 87.0f);
  const v16 round = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to the nearest integer */
  v16 n = (x * 1.4426950408889634f + round) - round;
  v16 r = (x - n * 0.693359375f) + n * 2.1219444005469057e-4f;
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

static inline v16 sigmoid_v(v16 x) { return 1.0f / (1.0f + exp_v(-x)); }

/* tanh x = sign(x) (1 - e) / (1 + e), e = e^{-2|x|} in (0, 1]. */
static inline v16 tanh_v(v16 x) {
  vi16 neg = x < 0;
  v16 a = select(neg, -x, x);
  v16 e = exp_v(-2.0f * a);
  v16 t = (1.0f - e) / (1.0f + e);
  return select(neg, -t, t);
}

#endif
