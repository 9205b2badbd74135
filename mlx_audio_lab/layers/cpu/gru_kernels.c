/* A whole GRU recurrence in one C call for MLX's CPU back end (float32), called through ctypes by
 * mlx_audio_lab/layers/cpu/gru_native.py, which builds this file with the system C compiler (-O3 -march=native).
 * PyTorch's cell, gate order (r, z, n): r = sigmoid(x_r + W_hr h + b_hr), z likewise,
 * n = tanh(x_n + r * (W_hn h + b_hn)), h' = n + z * (h - n). GCC vector extensions, no intrinsics. */

#include "simd16.h"

#define LANES 16
#define TILE 8 /* vectors of outputs per accumulator block: 128 gate rows, eight independent FMA chains */
#define PREFETCH 2 /* rows of a tile (k) fetched ahead */

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
      /* the weights come from L2 (3H x H floats, 768 KB at H = 256): asking for the rows two k ahead keeps the
       * loads fed (H = 256: 9 -> 5.5 us per step at load 1.6, 8.1 -> 7.1 at load 2.3); past the end is harmless */
      for (int i = 0; i < TILE; ++i) __builtin_prefetch(row + PREFETCH * TILE * LANES + i * LANES, 0, 3);
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
