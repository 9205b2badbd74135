/* One LSTM layer's whole recurrence in one C call (float32), for mlx_audio_lab/layers/cpu/lstm_native.py, which
 * builds this file with the system C compiler (-O3 -march=native) and calls it through ctypes.
 *
 * The hidden units are split in `threads` blocks over as many POSIX threads (the caller's thread is one of them).
 * Each block is a contiguous run of units and the recurrent weight columns of their four gates (i, f, g, o as
 * torch), laid out as a (H, 4 n) matrix: n units per block, so on a 2-core machine a 512-unit layer's 4 MB weight
 * is two 2 MB halves that each stay in one core's L2 cache, instead of 4 MB re-read from L3 every step. Thread k
 * runs block k of each step once the step before is complete (each block reads the whole previous h, writes only
 * its own units); a block its thread has not started within `grace_ns` of the others finishing is taken by another
 * thread, so a descheduled thread (a busy machine) costs a block's time, not its time slice. GCC vector extensions, no
 * intrinsics; sigmoid and tanh from one vector exp (Cody-Waite reduction, degree-7 polynomial): absolute error
 * about 1e-7. */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "simd16.h"

#define W 16        /* floats per vector */
#define TILE 8      /* vectors of gate columns accumulated at once (8 independent FMA chains) */
#define MAX_THREADS 16
#ifndef SPINS
#define SPINS 4000 /* spins waiting for a step before yielding the core (a busy machine deschedules the partner) */
#endif

static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

typedef struct {
  const float *gx;   /* (T, B, 4H) input part of the gates, both biases in */
  const float *wt;   /* per block, its gate columns [i | f | g | o] of its n units (H, 4 n) in column tiles
                        of TILE * W (the last may be narrower), each tile (H, width) contiguous */
  const float *h0;   /* (B, H) */
  float *c;          /* (B, H) in: c0, out: the last cell */
  float *out;        /* (T, B, H) hidden states */
  float *rec;        /* (threads, 4 n) scratch, one row per block */
  long T, B, H, n, threads, grace_ns;
  atomic_long done;              /* blocks finished over all steps: step t is complete at (t + 1) * threads */
  atomic_long claim[MAX_THREADS]; /* per block: the last step a thread took it for (-1: none yet) */
  atomic_int go; /* 0: wait, 1: run, -1: give up (a thread could not be started) */
} job_t;

typedef struct {
  job_t *job;
  long id;
} arg_t;

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Block k (units k n .. k n + n - 1) of step t: its recurrent product and cell update, for every batch row. */
static void run_block(job_t *jb, long t, long k) {
  const long H = jb->H, n = jb->n, G = 4 * n, j0 = k * n, B = jb->B;
  const float *wt = jb->wt + k * H * G;
  float *rec = jb->rec + k * G;
  for (long b = 0; b < B; b++) {
    const float *h = t ? jb->out + ((t - 1) * B + b) * H : jb->h0 + b * H;
    for (long g0 = 0; g0 < G; g0 += TILE * W) { /* rec = h @ wt, TILE vectors of columns at a time */
      long m = (G - g0) / W < TILE ? (G - g0) / W : TILE;
      v16 acc[TILE];
      for (long v = 0; v < TILE; v++) acc[v] = splat(0.0f);
      const float *tile = wt + g0 * H; /* (H, m * W), contiguous */
      if (m == TILE) {
        for (long q = 0; q < H; q++) {
          const float *row = tile + q * TILE * W;
          v16 hq = splat(h[q]);
          for (long v = 0; v < TILE; v++) acc[v] += hq * load(row + v * W);
        }
      } else {
        for (long q = 0; q < H; q++) {
          const float *row = tile + q * m * W;
          v16 hq = splat(h[q]);
          for (long v = 0; v < m; v++) acc[v] += hq * load(row + v * W);
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
}

/* Take block k for step t if nobody has (its step t - 1 is its last claim). */
static int claim_block(job_t *jb, long k, long t) {
  long prev = t - 1;
  return atomic_load_explicit(&jb->claim[k], memory_order_relaxed) == prev &&
         atomic_compare_exchange_strong_explicit(&jb->claim[k], &prev, t, memory_order_acq_rel,
                                                 memory_order_relaxed);
}

/* Every thread runs its own block of each step as soon as the step before is complete; a thread whose own block
 * is done takes a partner's block that nobody has started within `grace_ns` (the partner descheduled, on a busy
 * machine, or not started yet), so one thread runs the whole layer when the others do not get a core. Which
 * thread computes a block changes nothing in its result. Waits spin, then yield the core. */
static void run_thread(job_t *jb, long id) {
  const long nb = jb->threads, total = jb->T * nb;
  long since = now_ns(), spins = 0;
  for (;;) {
    long d = atomic_load_explicit(&jb->done, memory_order_acquire);
    if (d >= total) return;
    long t = d / nb, k = -1;
    if (claim_block(jb, id, t)) {
      k = id;
    } else if (nb > 1 && now_ns() - since >= jb->grace_ns) {
      for (long o = 1; o < nb && k < 0; o++)
        if (claim_block(jb, (id + o) % nb, t)) k = (id + o) % nb;
    }
    if (k >= 0) {
      run_block(jb, t, k);
      atomic_fetch_add_explicit(&jb->done, 1, memory_order_release);
      since = now_ns();
      spins = 0;
    } else if (++spins >= SPINS) {
      sched_yield();
    } else {
      spin_pause();
    }
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

/* The recurrence over T steps; n = H / threads units per thread, a multiple of 16; a block waits `grace_ns` for
 * its own thread before another takes it. Returns 0, or -1 when the threads could not be started (nothing computed
 * then). */
int lstm_layer_f32(const float *gx, const float *wt, const float *h0, float *c, float *out, float *rec, long T,
                   long B, long H, long threads, long grace_ns) {
  if (threads < 1 || threads > MAX_THREADS || H % (threads * W)) return -1;
  job_t jb = {gx, wt, h0, c, out, rec, T, B, H, H / threads, threads, grace_ns, 0, {0}, 0};
  atomic_init(&jb.done, 0);
  for (long k = 0; k < MAX_THREADS; k++) atomic_init(&jb.claim[k], -1);
  atomic_init(&jb.go, 0);
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
