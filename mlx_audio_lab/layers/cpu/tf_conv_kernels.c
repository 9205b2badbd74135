/* Convolutions over time-frequency maps (T, F, C) for MLX's CPU back end (float32), called through ctypes by
 * mlx_audio_lab/layers/cpu/tf_conv_native.py, which builds this file with the system C compiler. Causal in time
 * (output frame t reads frames t - kT + 1 .. t), 'same' in frequency (output bin m reads bins s m - kF / 2 ..
 * s m + kF / 2), zeros outside the map; bias and ReLU applied in the same pass, so the output is written once
 * (MLX: an im2col copy, the product, the bias and the ReLU each a pass over memory). Output channels in 16-float
 * vectors (out a multiple of 16). GCC vector extensions, no intrinsics. */

#include "simd16.h"

#define LANES 16
#define MAX_VECS 8 /* output channels up to 128 */

static inline v16 relu_v(v16 x) { return select(x > 0.0f, x, splat(0.0f)); }

/* Dense conv with few input channels: x (B, T, F, C), w (kT, kF, C, O) (the taps' weights, output channels
 * contiguous), b (O) -> y (B, T, Fo, O) with ReLU when `relu`. Each output sums b, then the taps in (kT, kF, C)
 * order. */
static inline __attribute__((always_inline)) void dense(const float *restrict x, const float *restrict w,
                                                        const float *restrict b, float *restrict y, long B, long T,
                                                        long F, long C, long O, long kt, long kf, long stride,
                                                        long Fo, long relu, const long nv) {
  for (long n = 0; n < B; ++n) {
    for (long t = 0; t < T; ++t) {
      for (long m = 0; m < Fo; ++m) {
        v16 acc[MAX_VECS];
        for (long v = 0; v < nv; ++v) acc[v] = load(b + v * LANES);
        for (long i = 0; i < kt; ++i) {
          long ti = t + i - (kt - 1);
          if (ti < 0) continue;
          for (long j = 0; j < kf; ++j) {
            long fi = m * stride + j - kf / 2;
            if (fi < 0 || fi >= F) continue;
            const float *xp = x + ((n * T + ti) * F + fi) * C;
            const float *wp = w + (i * kf + j) * C * O;
            for (long c = 0; c < C; ++c) {
              float xv = xp[c];
              for (long v = 0; v < nv; ++v) acc[v] += load(wp + c * O + v * LANES) * xv;
            }
          }
        }
        float *yp = y + ((n * T + t) * Fo + m) * O;
        for (long v = 0; v < nv; ++v) store(yp + v * LANES, relu ? relu_v(acc[v]) : acc[v]);
      }
    }
  }
}

/* the vector count a compile-time constant in each case, so the accumulators stay in registers */
#define BY_VECTORS(call, nv) \
  switch (nv) {              \
    case 1: call(1); break;  \
    case 2: call(2); break;  \
    case 3: call(3); break;  \
    case 4: call(4); break;  \
    case 5: call(5); break;  \
    case 6: call(6); break;  \
    case 7: call(7); break;  \
    default: call(8); break; \
  }

void tf_dense_conv_f32(const float *restrict x, const float *restrict w, const float *restrict b,
                       float *restrict y, long B, long T, long F, long C, long O, long kt, long kf, long stride,
                       long Fo, long relu) {
#define DENSE(nv) dense(x, w, b, y, B, T, F, C, O, kt, kf, stride, Fo, relu, nv)
  BY_VECTORS(DENSE, O / LANES)
}

/* Depthwise conv along frequency (kT = 1) then a 1x1 conv, bias, ReLU: x (B, T, F, C), wd (kF, C) the depthwise
 * taps, wp (C, O) the pointwise weight transposed, b (O) -> y (B, T, Fo, O). The depthwise sum runs over the taps
 * in order (C a multiple of 16, at most 128). With `up` the depthwise conv is instead the transposed one of stride
 * 2, kernel 3, padding 1, output padding 1 (Fo = 2F): output 2m is x[m] w[1], output 2m + 1 is
 * x[m] w[2] + x[m + 1] w[0] (x[F] = 0). */
static inline __attribute__((always_inline)) void separable(const float *restrict x, const float *restrict wd,
                                                            const float *restrict wp, const float *restrict b,
                                                            float *restrict y, long B, long T, long F, long C,
                                                            long O, long kf, long stride, long Fo, long up,
                                                            const long nv) {
  const long nc = C / LANES;
  float d[MAX_VECS * LANES];
  for (long n = 0; n < B; ++n) {
    for (long t = 0; t < T; ++t) {
      const float *row = x + (n * T + t) * F * C;
      for (long m = 0; m < Fo; ++m) {
        for (long u = 0; u < nc; ++u) {
          v16 s = splat(0.0f);
          if (up) {
            const float *xm = row + (m >> 1) * C + u * LANES;
            if ((m & 1) == 0) {
              s = load(xm) * load(wd + C + u * LANES);
            } else {
              s = load(xm) * load(wd + 2 * C + u * LANES);
              if ((m >> 1) + 1 < F) s += load(xm + C) * load(wd + u * LANES);
            }
          } else {
            for (long j = 0; j < kf; ++j) {
              long fi = m * stride + j - kf / 2;
              if (fi < 0 || fi >= F) continue;
              s += load(row + fi * C + u * LANES) * load(wd + j * C + u * LANES);
            }
          }
          store(d + u * LANES, s);
        }
        v16 acc[MAX_VECS];
        for (long v = 0; v < nv; ++v) acc[v] = load(b + v * LANES);
        for (long c = 0; c < C; ++c) {
          float dv = d[c];
          for (long v = 0; v < nv; ++v) acc[v] += load(wp + c * O + v * LANES) * dv;
        }
        float *yp = y + ((n * T + t) * Fo + m) * O;
        for (long v = 0; v < nv; ++v) store(yp + v * LANES, relu_v(acc[v]));
      }
    }
  }
}

void tf_separable_conv_f32(const float *restrict x, const float *restrict wd, const float *restrict wp,
                           const float *restrict b, float *restrict y, long B, long T, long F, long C, long O,
                           long kf, long stride, long Fo, long up) {
#define SEPARABLE(nv) separable(x, wd, wp, b, y, B, T, F, C, O, kf, stride, Fo, up, nv)
  BY_VECTORS(SEPARABLE, O / LANES)
}
