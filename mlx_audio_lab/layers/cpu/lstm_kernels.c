/* One LSTM layer's whole recurrence in one C call (float32), for mlx_audio_lab/layers/cpu/lstm_native.py, which
 * builds this file with the system C compiler (-O3 -march=native) and calls it through ctypes.
 *
 * The hidden units are split over `threads` POSIX threads (the caller's thread is one of them). Each thread owns
 * a contiguous block of units and the recurrent weight columns of their four gates (i, f, g, o as torch), laid
 * out as a (H, 4 n) matrix: n units per thread, so on a 2-core machine a 512-unit layer's 4 MB weight is two
 * 2 MB halves that each stay in one core's L2 cache, instead of 4 MB re-read from L3 every step. One barrier per
 * step (each thread reads the whole previous h, writes only its own units). GCC vector extensions, no
 * intrinsics; sigmoid and tanh from one vector exp (Cody-Waite reduction, degree-7 polynomial): absolute error
 * about 1e-7. */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "simd16.h"

#define W 16        /* floats per vector */
#define TILE 8      /* vectors of gate columns accumulated at once (8 independent FMA chains) */
#define MAX_THREADS 16
#ifndef SPINS
#define SPINS 4000 /* barrier spins before yielding the core (a busy machine deschedules the partner) */
#endif

static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

typedef struct {
  atomic_int count;
  atomic_int phase;
  int n;
} barrier_t;

static void barrier_wait(barrier_t *b) {
  int phase = atomic_load_explicit(&b->phase, memory_order_acquire);
  if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
    atomic_store_explicit(&b->count, 0, memory_order_relaxed);
    atomic_store_explicit(&b->phase, phase + 1, memory_order_release);
    return;
  }
  for (long s = 0; atomic_load_explicit(&b->phase, memory_order_acquire) == phase; s++) {
    if (s >= SPINS) sched_yield();
    else spin_pause();
  }
}

typedef struct {
  const float *gx;   /* (T, B, 4H) input part of the gates, both biases in */
  const float *wt;   /* per thread, its gate columns [i | f | g | o] of its n units (H, 4 n) in column tiles
                        of TILE * W (the last may be narrower), each tile (H, width) contiguous */
  const float *h0;   /* (B, H) */
  float *c;          /* (B, H) in: c0, out: the last cell */
  float *out;        /* (T, B, H) hidden states */
  float *rec;        /* (threads, 4 n) scratch */
  long T, B, H, n, threads;
  barrier_t bar;
  atomic_int go; /* 0: wait, 1: run, -1: give up (a thread could not be started) */
} job_t;

typedef struct {
  job_t *job;
  long id;
} arg_t;

static void run_thread(job_t *jb, long id) {
  const long H = jb->H, n = jb->n, G = 4 * n, j0 = id * n, B = jb->B;
  const float *wt = jb->wt + id * H * G;
  float *rec = jb->rec + id * G;
  for (long t = 0; t < jb->T; t++) {
    for (long b = 0; b < B; b++) {
      const float *h = t ? jb->out + ((t - 1) * B + b) * H : jb->h0 + b * H;
      for (long g0 = 0; g0 < G; g0 += TILE * W) { /* rec = h @ wt, TILE vectors of columns at a time */
        long m = (G - g0) / W < TILE ? (G - g0) / W : TILE;
        v16 acc[TILE];
        for (long v = 0; v < TILE; v++) acc[v] = splat(0.0f);
        const float *tile = wt + g0 * H; /* (H, m * W), contiguous */
        if (m == TILE) {
          for (long k = 0; k < H; k++) {
            const float *row = tile + k * TILE * W;
            v16 hk = splat(h[k]);
            for (long v = 0; v < TILE; v++) acc[v] += hk * load(row + v * W);
          }
        } else {
          for (long k = 0; k < H; k++) {
            const float *row = tile + k * m * W;
            v16 hk = splat(h[k]);
            for (long v = 0; v < m; v++) acc[v] += hk * load(row + v * W);
          }
        }
        for (long v = 0; v < m; v++) store(rec + g0 + v * W, acc[v]);
      }
      const float *gx = jb->gx + (t * B + b) * 4 * H;
      float *c = jb->c + b * H, *y = jb->out + (t * B + b) * H;
      for (long u = 0; u < n; u += W) {
        long j = j0 + u;
        v16 i = sigmoid_v(load(gx + j) + load(rec + u));
        v16 f = sigmoid_v(load(gx + H + j) + load(rec + n + u));
        v16 gg = tanh_v(load(gx + 2 * H + j) + load(rec + 2 * n + u));
        v16 o = sigmoid_v(load(gx + 3 * H + j) + load(rec + 3 * n + u));
        v16 cn = f * load(c + j) + i * gg;
        store(c + j, cn);
        store(y + j, o * tanh_v(cn));
      }
    }
    if (jb->threads > 1) barrier_wait(&jb->bar);
  }
}

static void *thread_main(void *p) {
  arg_t *a = (arg_t *)p;
  int go;
  for (long s = 0; (go = atomic_load_explicit(&a->job->go, memory_order_acquire)) == 0; s++) {
    if (s >= SPINS) sched_yield();
    else spin_pause();
  }
  if (go > 0) run_thread(a->job, a->id);
  return NULL;
}

/* The recurrence over T steps; n = H / threads units per thread, a multiple of 16. Returns 0, or -1 when the
 * threads could not be started (nothing computed then). */
int lstm_layer_f32(const float *gx, const float *wt, const float *h0, float *c, float *out, float *rec, long T,
                   long B, long H, long threads) {
  if (threads < 1 || threads > MAX_THREADS || H % (threads * W)) return -1;
  job_t jb = {gx, wt, h0, c, out, rec, T, B, H, H / threads, threads, {0, 0, (int)threads}, 0};
  pthread_t tid[MAX_THREADS];
  arg_t args[MAX_THREADS];
  for (long id = 1; id < threads; id++) {
    args[id] = (arg_t){&jb, id};
    if (pthread_create(&tid[id], NULL, thread_main, &args[id])) { /* give up before any step */
      atomic_store_explicit(&jb.go, -1, memory_order_release);
      for (long k = 1; k < id; k++) pthread_join(tid[k], NULL);
      return -1;
    }
  }
  atomic_store_explicit(&jb.go, 1, memory_order_release);
  run_thread(&jb, 0);
  for (long id = 1; id < threads; id++) pthread_join(tid[id], NULL);
  return 0;
}
