/* One token through a pre-norm transformer decoder with cross attention (Whisper's text decoder), float32, one C
 * call per token for MLX's CPU back end: layer norm, fused q/k/v projection, causal self attention over a fixed
 * (H, L, D) key/value cache, cross attention over keys stored transposed (H, D, S) and values (H, S, D), a GELU
 * (erf) MLP, the final layer norm. Called through ctypes by mlx_audio_lab/layers/cpu/decoder_native.py, which
 * packs the weights and builds this file with the system C compiler. GCC vector extensions, no intrinsics. */

#include <math.h>

#include "simd16.h"

#define LANES 16
#define TILE 8 /* vectors of outputs per accumulator block: 128 outputs, eight independent FMA chains */
#define PER_LAYER 18 /* weight pointers per layer, in the order decoder_native.LAYER_WEIGHTS names them */

static long padded(long n) { return (n + TILE * LANES - 1) / (TILE * LANES) * (TILE * LANES); }

/* y[o] = b[o] + sum_k x[k] W[k, o] for o in [0, padded(n_out)): W packed tile by tile, wp[tile][k][0 .. TILE * LANES),
 * so each tile's weights stream contiguously; W and b zero past n_out (y has room for the padding). */
static void gemv(const float *restrict x, const float *restrict wp, const float *restrict b, float *restrict y,
                 long n_in, long n_out) {
  for (long o0 = 0; o0 < padded(n_out); o0 += TILE * LANES) {
    const float *w = wp + o0 * n_in;
    v16 s[TILE];
    for (int i = 0; i < TILE; ++i) s[i] = load(b + o0 + i * LANES);
    for (long k = 0; k < n_in; ++k) {
      const float *row = w + k * TILE * LANES;
      float xk = x[k];
      for (int i = 0; i < TILE; ++i) s[i] += load(row + i * LANES) * xk;
    }
    for (int i = 0; i < TILE; ++i) store(y + o0 + i * LANES, s[i]);
  }
}

/* y = (x - mean) / sqrt(var + eps) * w + b over n floats (two passes, as the NumPy step). */
static void layer_norm(const float *restrict x, const float *restrict w, const float *restrict b,
                       float *restrict y, long n, float eps) {
  float mean = 0.0f, var = 0.0f;
  for (long i = 0; i < n; ++i) mean += x[i];
  mean /= (float)n;
  for (long i = 0; i < n; ++i) {
    float c = x[i] - mean;
    var += c * c;
  }
  float inv = 1.0f / sqrtf(var / (float)n + eps);
  for (long i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

/* p[0 .. n) = exp(p - max p), returns their sum. */
static float softmax_unnormalised(float *restrict p, long n) {
  float top = -INFINITY;
  for (long j = 0; j < n; ++j) top = p[j] > top ? p[j] : top;
  long full = n / LANES * LANES;
  v16 acc = splat(0.0f);
  for (long j = 0; j < full; j += LANES) {
    v16 e = exp_v(load(p + j) - top);
    store(p + j, e);
    acc += e;
  }
  float sum = 0.0f;
  for (int i = 0; i < LANES; ++i) sum += acc[i];
  for (long j = full; j < n; ++j) {
    p[j] = expf(p[j] - top);
    sum += p[j];
  }
  return sum;
}

/* out[0 .. D) = sum_j p[j] V[j, :] / sum, V (n, D) rows contiguous, D a multiple of LANES (at most 256). */
static void weighted_rows(const float *restrict p, const float *restrict V, long n, long D, float sum,
                          float *restrict out) {
  v16 acc[16];
  long nv = D / LANES;
  for (long i = 0; i < nv; ++i) acc[i] = splat(0.0f);
  for (long j = 0; j < n; ++j) {
    const float *row = V + j * D;
    float pj = p[j];
    for (long i = 0; i < nv; ++i) acc[i] += load(row + i * LANES) * pj;
  }
  float inv = 1.0f / sum;
  for (long i = 0; i < nv; ++i) store(out + i * LANES, acc[i] * inv);
}

/* One decoder step. w: PER_LAYER pointers per layer then the final norm's weight and bias; kv: per layer K then V,
 * each (H, L, D), written at `pos`; cross: per layer keys (H, D, S) then values (H, S, D); x (d) the token's
 * embedding plus position, replaced by the final hidden state; scratch: decoder_native.scratch_floats floats. */
void decoder_step_f32(const float *const *w, float *const *kv, const float *const *cross, float *restrict x,
                      float *restrict scratch, long n_layers, long d, long H, long ffn, long L, long S, long pos,
                      float scale, float eps) {
  const long D = d / H;
  float *h = scratch;        /* d (padded): normed input, projection outputs */
  float *y = h + padded(d);  /* 3d (padded): q, k, v */
  float *a = y + padded(3 * d); /* d: attention output */
  float *m = a + padded(d);  /* ffn (padded): MLP hidden */
  float *p = m + padded(ffn); /* max(L, S): scores */
  for (long l = 0; l < n_layers; ++l) {
    const float *const *lw = w + l * PER_LAYER;
    float *K = kv[2 * l], *V = kv[2 * l + 1];
    const float *CK = cross[2 * l], *CV = cross[2 * l + 1];

    /* causal self attention: the token's keys and values go into the cache at pos */
    layer_norm(x, lw[0], lw[1], h, d, eps);
    gemv(h, lw[2], lw[3], y, d, 3 * d);
    for (long hd = 0; hd < H; ++hd) {
      const float *q = y + hd * D;
      float *Kh = K + hd * L * D, *Vh = V + hd * L * D;
      memcpy(Kh + pos * D, y + d + hd * D, D * sizeof(float));
      memcpy(Vh + pos * D, y + 2 * d + hd * D, D * sizeof(float));
      for (long j = 0; j <= pos; ++j) {
        const float *kr = Kh + j * D;
        v16 s = splat(0.0f);
        for (long i = 0; i < D; i += LANES) s += load(q + i) * scale * load(kr + i);
        float t = 0.0f;
        for (int i = 0; i < LANES; ++i) t += s[i];
        p[j] = t;
      }
      float sum = softmax_unnormalised(p, pos + 1);
      weighted_rows(p, Vh, pos + 1, D, sum, a + hd * D);
    }
    gemv(a, lw[4], lw[5], h, d, d);
    for (long i = 0; i < d; ++i) x[i] += h[i];

    /* cross attention over the audio: scores for all S keys at once from the transposed keys */
    layer_norm(x, lw[6], lw[7], h, d, eps);
    gemv(h, lw[8], lw[9], y, d, d);
    long full = S / LANES * LANES;
    for (long hd = 0; hd < H; ++hd) {
      const float *q = y + hd * D;
      const float *Kt = CK + hd * D * S;
      for (long j = 0; j < S; ++j) p[j] = 0.0f;
      for (long i = 0; i < D; ++i) {
        const float *kr = Kt + i * S;
        float qi = q[i] * scale;
        for (long j = 0; j < full; j += LANES) store(p + j, load(p + j) + load(kr + j) * qi);
        for (long j = full; j < S; ++j) p[j] += kr[j] * qi;
      }
      float sum = softmax_unnormalised(p, S);
      weighted_rows(p, CV + hd * S * D, S, D, sum, a + hd * D);
    }
    gemv(a, lw[10], lw[11], h, d, d);
    for (long i = 0; i < d; ++i) x[i] += h[i];

    /* GELU MLP */
    layer_norm(x, lw[12], lw[13], h, d, eps);
    gemv(h, lw[14], lw[15], m, d, ffn);
    for (long i = 0; i < ffn; ++i) m[i] = 0.5f * m[i] * (1.0f + erff(m[i] * 0.70710678118654752f));
    gemv(m, lw[16], lw[17], h, ffn, d);
    for (long i = 0; i < d; ++i) x[i] += h[i];
  }
  layer_norm(x, w[n_layers * PER_LAYER], w[n_layers * PER_LAYER + 1], h, d, eps);
  memcpy(x, h, d * sizeof(float));
}
