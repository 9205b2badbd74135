/* Transformer pieces for MLX's CPU back end, float32: a whole decoder step, a whole pre-norm encoder layer (its
 * products on the BLAS at one thread per caller), bias + GELU, long unmasked attention, and a BLAS product split by
 * rows over the same two threads.
 *
 * One token through a pre-norm transformer decoder with cross attention (Whisper's text decoder), one C
 * call per token for MLX's CPU back end: layer norm, fused q/k/v projection, causal self attention over a fixed
 * (H, L, D) key/value cache, cross attention over keys stored transposed (H, D, S) and values (H, S, D), a GELU
 * (erf) MLP, the final layer norm and, optionally, the tied vocabulary projection. Called through ctypes by
 * mlx_audio_lab/layers/cpu/transformer_native.py, which packs the weights and builds this file with the system C
 * compiler. GCC vector extensions, no intrinsics.
 *
 * A token reads ~130 MB (Whisper tiny: 28 MB of layer weights, 18 MB of cross keys/values, 80 MB of vocabulary),
 * more than one core's memory bandwidth serves quickly, so each projection's output tiles, each attention's heads
 * and the vocabulary's row blocks are chunks that the calling thread and one helper thread claim from a shared
 * counter. The caller never waits for a chunk the helper has not claimed: on a busy machine where the helper is
 * not running, the caller does every chunk itself, and after waiting long for a chunk the helper took it runs
 * alone for a while (the core is busy elsewhere). After a decoder step, an encoder layer or a split product the
 * helper spins for a few milliseconds (a token's Python glue between steps never puts it to sleep), after attention
 * or bias + GELU alone ~50 us (their callers' MLX products need the core), then sleeps. One caller at a time uses the helper; a second,
 * concurrent caller runs its chunks alone. The encoder's products run inside chunks on the BLAS at one thread each:
 * OpenBLAS's own worker, once woken by a product, spins ~0.1 s after it, and on two cores it then takes the helper's
 * core (Whisper tiny.en's encoder: 188 ms with the BLAS's threads, 130 ms on these two). */

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "simd16.h"

void *malloc(size_t size); /* <stdlib.h> would bring select(2), whose name simd16.h uses */
void free(void *ptr);

#define LANES 16
#define TILE 8 /* vectors of outputs per accumulator block: 128 outputs, eight independent FMA chains */
#define PER_LAYER 18 /* weight pointers per layer, in the order transformer_native.LAYER_WEIGHTS names them */
#define VOCAB_ROWS 512 /* vocabulary rows per chunk (0.75 MB of Whisper's vocabulary: ~25 us on one core) */
#define PHASE_SHIFT 24 /* ticket = phase << PHASE_SHIFT | next chunk */
#define STEP_IDLE_NS 3000000L /* after a decoder step, an encoder layer or a split product the helper spins this
                               * long for the next phase before it sleeps: a token's Python glue between two steps
                               * (~0.2 ms) never puts it to sleep (their callers run no BLAS threads meanwhile) */
#define IDLE_NS 50000L /* after attention or bias + GELU alone: their callers run MLX ops in between, whose BLAS
                        * threads need the core */
#define STALL_NS 2000000L /* the caller waits this long, plus 4x its own longest chunk of the phase (an encoder
                           * layer's MLP chunk takes ~3 ms), for a chunk the helper is inside before it yields its
                           * core: only a descheduled helper (a busy machine) takes that long */
#define ALONE_NS 20000000L /* the caller then runs its phases alone for this long (a one-off slow chunk, e.g.
                            * the BLAS setting up the helper thread's buffers, costs at most this) */

static long padded(long n) { return (n + TILE * LANES - 1) / (TILE * LANES) * (TILE * LANES); }

static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* ---- the chunk pool: the caller and one helper thread ---- */

typedef void (*chunk_fn)(const void *arg, long chunk);

static struct {
  atomic_long ticket;   /* phase << PHASE_SHIFT | the next unclaimed chunk */
  atomic_long finished; /* chunks of the current phase done */
  atomic_int sleeping;  /* the helper waits on cv */
  atomic_long idle_ns;  /* how long the helper spins for the next phase: set by the entry point */
  _Atomic(chunk_fn) fn;
  _Atomic(const void *) arg;
  atomic_long n;
  long phase; /* the caller's phase counter */
  long alone_until; /* the caller runs its phases alone until then (the helper was slow to finish lately) */
  int state;  /* 0: no helper yet, 1: running, -1: could not start one */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_mutex_t caller; /* held by the one caller using the pool; another runs its chunks alone */
} pool = {.idle_ns = IDLE_NS, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
          .caller = PTHREAD_MUTEX_INITIALIZER};

/* Claim the next chunk of `phase`; 0 when the phase is over or has no chunk left. */
static int claim(long phase, long *chunk) {
  long t = atomic_load(&pool.ticket);
  for (;;) {
    if (t >> PHASE_SHIFT != phase) return 0;
    long i = t & ((1L << PHASE_SHIFT) - 1);
    if (i >= atomic_load(&pool.n)) return 0;
    if (atomic_compare_exchange_weak(&pool.ticket, &t, t + 1)) {
      *chunk = i;
      return 1;
    }
  }
}

/* Run chunks of `phase` until none is left; returns the longest chunk's time in ns when `timed`. */
static long work(long phase, int timed) {
  chunk_fn fn = atomic_load(&pool.fn);
  const void *arg = atomic_load(&pool.arg);
  long c, longest = 0;
  while (claim(phase, &c)) { /* a successful claim means fn and arg are this phase's */
    const long t0 = timed ? now_ns() : 0;
    fn(arg, c);
    const long took = timed ? now_ns() - t0 : 0;
    longest = took > longest ? took : longest;
    atomic_fetch_add(&pool.finished, 1);
  }
  return longest;
}

static void *helper(void *unused) {
  (void)unused;
  long seen = 0, idle_since = now_ns();
  for (long spins = 0;;) {
    long phase = atomic_load(&pool.ticket) >> PHASE_SHIFT;
    if (phase != seen) {
      work(phase, 0);
      seen = phase;
      spins = 0;
      idle_since = -1;
    } else if (++spins % 64 != 0) {
      spin_pause();
    } else if (idle_since < 0) {
      idle_since = now_ns(); /* the clock read only now and then: ~20 ns each */
    } else if (now_ns() - idle_since > atomic_load(&pool.idle_ns)) {
      pthread_mutex_lock(&pool.mu);
      atomic_store(&pool.sleeping, 1);
      while (atomic_load(&pool.ticket) >> PHASE_SHIFT == seen && atomic_load(&pool.sleeping))
        pthread_cond_wait(&pool.cv, &pool.mu);
      atomic_store(&pool.sleeping, 0);
      pthread_mutex_unlock(&pool.mu);
      spins = 0;
      idle_since = -1;
    }
  }
  return 0;
}

/* Wake the helper ahead of the work (a step's first phases are too short to wait for a sleeping thread). */
static void wake_helper(void) {
  if (pool.state == 1 && atomic_load(&pool.sleeping)) {
    pthread_mutex_lock(&pool.mu);
    atomic_store(&pool.sleeping, 0);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
  }
}

/* fn(arg, c) for c in [0, n), spread over the caller and the helper when `threads` > 1. */
static void parallel(chunk_fn fn, const void *arg, long n, long threads) {
  static pthread_mutex_t start = PTHREAD_MUTEX_INITIALIZER;
  if (threads > 1 && pool.state == 0) {
    pthread_mutex_lock(&start);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pool.state == 0) pool.state = pthread_create(&t, &attr, helper, 0) == 0 ? 1 : -1;
    pthread_attr_destroy(&attr);
    pthread_mutex_unlock(&start);
  }
  if (threads < 2 || pool.state != 1 || n < 2 || pthread_mutex_trylock(&pool.caller) != 0) {
    for (long c = 0; c < n; ++c) fn(arg, c);
    return;
  }
  if (pool.alone_until && now_ns() < pool.alone_until) {
    pthread_mutex_unlock(&pool.caller);
    for (long c = 0; c < n; ++c) fn(arg, c);
    return;
  }
  atomic_store(&pool.fn, fn);
  atomic_store(&pool.arg, arg);
  atomic_store(&pool.n, n);
  atomic_store(&pool.finished, 0);
  long phase = ++pool.phase;
  atomic_store(&pool.ticket, phase << PHASE_SHIFT);
  wake_helper();
  const long longest = work(phase, 1);
  long waiting_since = -1;
  for (long spins = 1; atomic_load(&pool.finished) < n; ++spins) { /* only chunks the helper is inside */
    if (spins % 64 != 0) {
      spin_pause();
    } else if (waiting_since < 0) {
      waiting_since = now_ns();
    } else if (now_ns() - waiting_since > STALL_NS + 4 * longest) {
      /* a busy machine descheduled the helper: let it run, here if need be, and go alone for a while */
      sched_yield();
      pool.alone_until = now_ns() + ALONE_NS;
    }
  }
  pthread_mutex_unlock(&pool.caller);
}

/* ---- the pieces ---- */

/* y[o] = b[o] + sum_k x[k] W[k, o] for the outputs of tile `t`: W packed tile by tile, wp[tile][k][0 .. TILE * LANES),
 * so each tile's weights stream contiguously; W and b zero past the real outputs (y has room for the padding). */
static void gemv_tile(const float *restrict x, const float *restrict wp, const float *restrict b, float *restrict y,
                      long n_in, long t) {
  const long o0 = t * TILE * LANES;
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
  long full = n / LANES * LANES;
  v16 mv = splat(-INFINITY);
  for (long j = 0; j < full; j += LANES) {
    v16 x = load(p + j);
    mv = select(x > mv, x, mv);
  }
  float top = -INFINITY;
  for (int i = 0; i < LANES; ++i) top = mv[i] > top ? mv[i] : top;
  for (long j = full; j < n; ++j) top = p[j] > top ? p[j] : top;
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

/* out[0 .. D) = sum_j p[j] V[j, :] / sum, V (n, D) with rows `ld` floats apart, D a multiple of LANES (at most
 * 256). */
static void weighted_rows(const float *restrict p, const float *restrict V, long n, long D, long ld, float sum,
                          float *restrict out) {
  v16 acc[16];
  long nv = D / LANES;
  for (long i = 0; i < nv; ++i) acc[i] = splat(0.0f);
  for (long j = 0; j < n; ++j) {
    const float *row = V + j * ld;
    float pj = p[j];
    for (long i = 0; i < nv; ++i) acc[i] += load(row + i * LANES) * pj;
  }
  float inv = 1.0f / sum;
  for (long i = 0; i < nv; ++i) store(out + i * LANES, acc[i] * inv);
}

/* ---- one step: the chunk functions read this ---- */

typedef struct {
  const float *x, *w, *b; /* gemv: input, packed weight, bias */
  float *y;               /* gemv output */
  long n_in;
  int gelu;               /* apply GELU (erf) to the tile's outputs */
  const float *q;         /* attention: (H * D) queries */
  float *K, *V;           /* self: (H, L, D) caches; cross: keys (H, D, S), values (H, S, D) as strided below */
  long v_head, v_row;     /* cross values: floats between heads and between positions ((H, S, D): S * D, D) */
  float *a;               /* attention output (H * D) */
  float *scores;          /* per head: max(L, S) floats */
  long H, D, L, S, pos;
  float scale;
  const float *E;         /* vocabulary (V, d) */
  float *logits;
  long vocab, d;
} step_t;

static void gemv_chunk(const void *arg, long t) {
  const step_t *s = arg;
  gemv_tile(s->x, s->w, s->b, s->y, s->n_in, t);
  if (s->gelu) {
    float *y = s->y + t * TILE * LANES;
    for (long i = 0; i < TILE * LANES; ++i) y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
  }
}

/* causal self attention of head h over positions 0 .. pos (the token's keys and values already in the cache) */
static void self_head(const void *arg, long h) {
  const step_t *s = arg;
  const long D = s->D, n = s->pos + 1;
  const float *q = s->q + h * D, *Kh = s->K + h * s->L * D;
  float *p = s->scores + h * (s->L > s->S ? s->L : s->S);
  for (long j = 0; j < n; ++j) {
    const float *kr = Kh + j * D;
    v16 acc = splat(0.0f);
    for (long i = 0; i < D; i += LANES) acc += load(q + i) * s->scale * load(kr + i);
    float t = 0.0f;
    for (int i = 0; i < LANES; ++i) t += acc[i];
    p[j] = t;
  }
  float sum = softmax_unnormalised(p, n);
  weighted_rows(p, s->V + h * s->L * D, n, D, D, sum, s->a + h * D);
}

/* cross attention of head h: all S scores at once from the transposed keys */
static void cross_head(const void *arg, long h) {
  const step_t *s = arg;
  const long D = s->D, S = s->S, full = S / LANES * LANES;
  const float *q = s->q + h * D, *Kt = s->K + h * D * S;
  float *p = s->scores + h * (s->L > s->S ? s->L : s->S);
  for (long j = 0; j < S; ++j) p[j] = 0.0f;
  for (long i = 0; i < D; ++i) {
    const float *kr = Kt + i * S;
    float qi = q[i] * s->scale;
    for (long j = 0; j < full; j += LANES) store(p + j, load(p + j) + load(kr + j) * qi);
    for (long j = full; j < S; ++j) p[j] += kr[j] * qi;
  }
  float sum = softmax_unnormalised(p, S);
  weighted_rows(p, s->V + h * s->v_head, S, D, s->v_row, sum, s->a + h * D);
}

/* logits of VOCAB_ROWS vocabulary rows: dot products with the final hidden state, four rows at a time */
static void vocab_chunk(const void *arg, long c) {
  const step_t *s = arg;
  const long d = s->d, r1 = (c + 1) * VOCAB_ROWS < s->vocab ? (c + 1) * VOCAB_ROWS : s->vocab;
  const float *x = s->x;
  long r = c * VOCAB_ROWS;
  for (; r + 4 <= r1; r += 4) {
    const float *e0 = s->E + r * d, *e1 = e0 + d, *e2 = e1 + d, *e3 = e2 + d;
    v16 s0 = splat(0.0f), s1 = splat(0.0f), s2 = splat(0.0f), s3 = splat(0.0f);
    for (long k = 0; k < d; k += LANES) {
      v16 xv = load(x + k);
      s0 += load(e0 + k) * xv;
      s1 += load(e1 + k) * xv;
      s2 += load(e2 + k) * xv;
      s3 += load(e3 + k) * xv;
    }
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
    for (int i = 0; i < LANES; ++i) {
      t0 += s0[i];
      t1 += s1[i];
      t2 += s2[i];
      t3 += s3[i];
    }
    s->logits[r] = t0;
    s->logits[r + 1] = t1;
    s->logits[r + 2] = t2;
    s->logits[r + 3] = t3;
  }
  for (; r < r1; ++r) {
    float t = 0.0f;
    for (long k = 0; k < d; ++k) t += s->E[r * d + k] * x[k];
    s->logits[r] = t;
  }
}

static void project(step_t *s, const float *x, const float *w, const float *b, float *y, long n_in, long n_out,
                    int gelu, long threads) {
  s->x = x;
  s->w = w;
  s->b = b;
  s->y = y;
  s->n_in = n_in;
  s->gelu = gelu;
  parallel(gemv_chunk, s, padded(n_out) / (TILE * LANES), threads);
}

/* One decoder step. w: PER_LAYER pointers per layer then the final norm's weight and bias; kv: per layer K then V,
 * each (H, L, D), written at `pos`; cross: per layer keys (H, D, S) then values (H, S, D), their heads v_head and
 * their positions v_row floats apart (S * D and D when contiguous; D and n_layers * d in one (S, n_layers * d)
 * product of every layer's values); x (d) the token's
 * embedding plus position, replaced by the final hidden state; scratch: transformer_native's scratch floats;
 * E (vocab, d) and logits (vocab): the tied projection, skipped when E is null; threads: 1 or 2. */
void decoder_step_f32(const float *const *w, float *const *kv, float *const *cross, float *restrict x,
                      float *restrict scratch, long n_layers, long d, long H, long ffn, long L, long S, long pos,
                      float scale, float eps, const float *E, float *logits, long vocab, long threads,
                      long v_head, long v_row) {
  const long D = d / H;
  float *h = scratch;           /* d (padded): normed input, projection outputs */
  float *y = h + padded(d);     /* 3d (padded): q, k, v */
  float *a = y + padded(3 * d); /* d: attention output */
  float *m = a + padded(d);     /* ffn (padded): MLP hidden */
  float *p = m + padded(ffn);   /* H * max(L, S): scores */
  step_t s = {.H = H, .D = D, .L = L, .S = S, .pos = pos, .scale = scale, .a = a, .scores = p, .v_head = v_head,
              .v_row = v_row};
  atomic_store(&pool.idle_ns, STEP_IDLE_NS);
  if (threads > 1) wake_helper();
  for (long l = 0; l < n_layers; ++l) {
    const float *const *lw = w + l * PER_LAYER;
    float *K = kv[2 * l], *V = kv[2 * l + 1];

    /* causal self attention: the token's keys and values go into the cache at pos */
    layer_norm(x, lw[0], lw[1], h, d, eps);
    project(&s, h, lw[2], lw[3], y, d, 3 * d, 0, threads);
    for (long hd = 0; hd < H; ++hd) {
      memcpy(K + (hd * L + pos) * D, y + d + hd * D, D * sizeof(float));
      memcpy(V + (hd * L + pos) * D, y + 2 * d + hd * D, D * sizeof(float));
    }
    s.q = y;
    s.K = K;
    s.V = V;
    parallel(self_head, &s, H, pos >= 64 ? threads : 1);
    project(&s, a, lw[4], lw[5], h, d, d, 0, threads);
    for (long i = 0; i < d; ++i) x[i] += h[i];

    /* cross attention over the audio */
    layer_norm(x, lw[6], lw[7], h, d, eps);
    project(&s, h, lw[8], lw[9], y, d, d, 0, threads);
    s.q = y;
    s.K = cross[2 * l];
    s.V = cross[2 * l + 1];
    parallel(cross_head, &s, H, threads);
    project(&s, a, lw[10], lw[11], h, d, d, 0, threads);
    for (long i = 0; i < d; ++i) x[i] += h[i];

    /* GELU MLP */
    layer_norm(x, lw[12], lw[13], h, d, eps);
    project(&s, h, lw[14], lw[15], m, d, ffn, 1, threads);
    project(&s, m, lw[16], lw[17], h, ffn, d, 0, threads);
    for (long i = 0; i < d; ++i) x[i] += h[i];
  }
  layer_norm(x, w[n_layers * PER_LAYER], w[n_layers * PER_LAYER + 1], h, d, eps);
  memcpy(x, h, d * sizeof(float));
  if (E) {
    s.x = x;
    s.E = E;
    s.logits = logits;
    s.vocab = vocab;
    s.d = d;
    parallel(vocab_chunk, &s, (vocab + VOCAB_ROWS - 1) / VOCAB_ROWS, threads);
  }
}

/* ---- bias + GELU (erf form) over a large (rows, cols) array, in place, for the encoder's MLP ---- */

#define GELU_ROWS 16 /* rows per chunk */

typedef struct {
  float *x;
  const float *b;
  long rows, cols;
} gelu_t;

/* erf by Abramowitz & Stegun 7.1.26 (absolute error 1.5e-7, the formula of fast_math.gelu): erf(y) =
 * 1 - t poly(t) e^{-y^2}, t = 1 / (1 + p y) for y >= 0, odd in y. */
static inline v16 erf_v(v16 y) {
  vi16 neg = y < 0;
  v16 a = select(neg, -y, y);
  v16 t = 1.0f / (1.0f + 0.3275911f * a);
  v16 poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  v16 e = 1.0f - poly * exp_v(-a * a);
  return select(neg, -e, e);
}

/* rows [r0, r1) of x (rows, cols) = gelu(x + b) */
static void bias_gelu_rows(float *x, const float *b, long r0, long r1, long cols) {
  const long full = cols / LANES * LANES;
  for (long r = r0; r < r1; ++r) {
    float *xr = x + r * cols;
    long i = 0;
    for (; i < full; i += LANES) {
      v16 v = load(xr + i) + load(b + i);
      store(xr + i, 0.5f * v * (1.0f + erf_v(v * 0.70710678118654752f)));
    }
    for (; i < cols; ++i) {
      float v = xr[i] + b[i];
      xr[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
  }
}

static void gelu_chunk(const void *arg, long c) {
  const gelu_t *g = arg;
  const long r1 = (c + 1) * GELU_ROWS < g->rows ? (c + 1) * GELU_ROWS : g->rows;
  bias_gelu_rows(g->x, g->b, c * GELU_ROWS, r1, g->cols);
}

/* x (rows, cols) = gelu(x + b) in place, b (cols), on `threads` (1 or 2) threads. */
void bias_gelu_f32(float *x, const float *b, long rows, long cols, long threads) {
  gelu_t g = {x, b, rows, cols};
  atomic_store(&pool.idle_ns, IDLE_NS);
  parallel(gelu_chunk, &g, (rows + GELU_ROWS - 1) / GELU_ROWS, threads);
}

/* ---- unmasked softmax attention over long sequences (an encoder's self attention) ---- */

#define ATT_ROWS 192 /* query rows per chunk: their (rows, S) scores stay in the core's cache (2 MB L2 here: 192
                      * rows beat 128 by ~7% in the BLAS products, interleaved on one core; 256, 320 no better) */

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);

typedef struct {
  const float *q, *k, *v;
  float *kt; /* keys transposed per (batch, head): (B, H, D, S), so q k^T is a plain product (~13% faster) */
  float *out;
  long T, S, H, D, C; /* C: row length of out (heads side by side) */
  long ld;            /* floats between rows of q, k and v (C, or 3 C for column blocks of one q|k|v product) */
  long blocks;        /* row blocks per (batch, head) */
  sgemm_fn sgemm;
} attention_t;

static __thread float *chunk_scratch; /* each thread's buffer for its chunks' intermediates, grown as needed */
static __thread long chunk_scratch_size;
static atomic_int scratch_failed; /* a scratch buffer could not be allocated */

/* This thread's scratch of at least n floats, or null (scratch_failed set) when memory ran out. */
static float *thread_scratch(long n) {
  if (chunk_scratch_size < n) {
    free(chunk_scratch);
    chunk_scratch = malloc(n * sizeof(float));
    chunk_scratch_size = chunk_scratch ? n : 0;
    if (!chunk_scratch) atomic_store(&scratch_failed, 1);
  }
  return chunk_scratch;
}

/* softmax(q k^T) v of one (batch, head, row block): the BLAS for both products (one thread each), one pass of
 * max, exp and row sums over the block's scores in between, the rows divided by their sums at the end. */
static void attention_chunk(const void *arg, long c) {
  const attention_t *a = arg;
  const long b = c / (a->H * a->blocks), h = c / a->blocks % a->H, r0 = c % a->blocks * ATT_ROWS;
  const long rows = r0 + ATT_ROWS < a->T ? ATT_ROWS : a->T - r0, S = a->S, D = a->D, C = a->C, ld = a->ld;
  float *s = thread_scratch(ATT_ROWS * S);
  if (!s) return;
  const float *q = a->q + (b * a->T + r0) * ld + h * D, *kt = a->kt + (b * a->H + h) * D * S;
  const float *v = a->v + b * S * ld + h * D;
  float *out = a->out + (b * a->T + r0) * C + h * D;
  a->sgemm(101, 111, 111, (int)rows, (int)S, (int)D, 1.0f, q, (int)ld, kt, (int)S, 0.0f, s, (int)S); /* q k^T */
  float sums[ATT_ROWS];
  for (long r = 0; r < rows; ++r) sums[r] = softmax_unnormalised(s + r * S, S);
  a->sgemm(101, 111, 111, (int)rows, (int)D, (int)S, 1.0f, s, (int)S, v, (int)ld, 0.0f, out, (int)C); /* p v */
  for (long r = 0; r < rows; ++r) {
    float inv = 1.0f / sums[r];
    for (long i = 0; i < D; ++i) out[r * C + i] *= inv;
  }
}

/* the keys of (batch, head) c transposed into kt: (S, D) rows C apart -> (D, S), 16 positions at a time */
static void transpose_chunk(const void *arg, long c) {
  const attention_t *a = arg;
  const long S = a->S, D = a->D, C = a->ld;
  const float *k = a->k + c / a->H * S * C + c % a->H * D;
  float *kt = a->kt + c * D * S;
  long j = 0;
  for (; j + 16 <= S; j += 16)
    for (long i = 0; i < D; ++i)
      for (long r = 0; r < 16; ++r) kt[i * S + j + r] = k[(j + r) * C + i];
  for (; j < S; ++j)
    for (long i = 0; i < D; ++i) kt[i * S + j] = k[j * C + i];
}

/* out (B, T, H * D) = softmax(q k^T) v per head, q (B, T, H * D) already scaled, k and v (B, S, H * D), rows of q, k
 * and v `ld` floats apart (H * D when contiguous); sgemm: the
 * BLAS's cblas_sgemm, on one thread per caller (the chunks spread over `threads`). Returns 0, or -1 when a scratch
 * buffer could not be allocated (out is then incomplete). */
int attention_f32(const float *q, const float *k, const float *v, float *out, long B, long T, long S, long H,
                  long D, void *sgemm, long threads, long ld) {
  float *kt = malloc(B * H * D * S * sizeof(float));
  if (!kt) return -1;
  attention_t a = {q, k, v, kt, out, T, S, H, D, H * D, ld, (T + ATT_ROWS - 1) / ATT_ROWS, (sgemm_fn)sgemm};
  atomic_store(&pool.idle_ns, IDLE_NS);
  atomic_store(&scratch_failed, 0);
  parallel(transpose_chunk, &a, B * H, threads);
  parallel(attention_chunk, &a, B * H * a.blocks, threads);
  free(kt);
  return atomic_load(&scratch_failed) ? -1 : 0;
}

/* ---- a whole pre-norm encoder layer (Whisper's): four phases over the two threads, one-thread BLAS products ---- */

#define ENC_ROWS 256 /* rows per chunk of the row-wise phases: the (rows, ffn) hidden block of Whisper tiny (1.5 MB) stays in
                      * the core's 2 MB L2 (tiny.en's encoder: 64 rows 163 ms, 128: 150, 256: 145, 376: 143, 752: 264) */

typedef struct {
  float *x;               /* (rows, d) hidden states, updated in place */
  long rows, d, ffn;
  const float *const *w;  /* ENCODER_WEIGHTS pointers, in transformer_native.ENCODER_WEIGHTS' order */
  float eps, scale;
  float *qkv, *att;       /* (rows, 3 d) projections, (rows, d) attention output */
  sgemm_fn sgemm;
} encoder_t;

/* rows [r0, r0 + n) of y (n, cols) = b, the bias a product then adds to (beta 1: the reference's order) */
static void fill_rows(float *y, const float *b, long n, long cols) {
  for (long r = 0; r < n; ++r) memcpy(y + r * cols, b, cols * sizeof(float));
}

/* chunk c: the first norm of its rows, then q | k | v = norm @ W_qkv^T + b, q times the scale */
static void enc_qkv_chunk(const void *arg, long c) {
  const encoder_t *e = arg;
  const long r0 = c * ENC_ROWS, n = r0 + ENC_ROWS < e->rows ? ENC_ROWS : e->rows - r0, d = e->d;
  float *h = thread_scratch(n * d);
  if (!h) return;
  for (long r = 0; r < n; ++r) layer_norm(e->x + (r0 + r) * d, e->w[0], e->w[1], h + r * d, d, e->eps);
  float *y = e->qkv + r0 * 3 * d;
  fill_rows(y, e->w[3], n, 3 * d);
  e->sgemm(101, 111, 112, (int)n, (int)(3 * d), (int)d, 1.0f, h, (int)d, e->w[2], (int)d, 1.0f, y, (int)(3 * d));
  for (long r = 0; r < n; ++r)
    for (long i = 0; i < d; ++i) y[r * 3 * d + i] *= e->scale;
}

/* chunk c: x += att @ W_o^T + b_o, then x += fc2(gelu(fc1(norm(x)))) for its rows */
static void enc_mlp_chunk(const void *arg, long c) {
  const encoder_t *e = arg;
  const long r0 = c * ENC_ROWS, n = r0 + ENC_ROWS < e->rows ? ENC_ROWS : e->rows - r0, d = e->d, f = e->ffn;
  float *t = thread_scratch(n * (2 * d + f));
  if (!t) return;
  float *h = t + n * d, *m = h + n * d, *x = e->x + r0 * d;
  fill_rows(t, e->w[5], n, d);
  e->sgemm(101, 111, 112, (int)n, (int)d, (int)d, 1.0f, e->att + r0 * d, (int)d, e->w[4], (int)d, 1.0f, t, (int)d);
  for (long i = 0; i < n * d; ++i) x[i] += t[i];
  for (long r = 0; r < n; ++r) layer_norm(x + r * d, e->w[6], e->w[7], h + r * d, d, e->eps);
  e->sgemm(101, 111, 112, (int)n, (int)f, (int)d, 1.0f, h, (int)d, e->w[8], (int)d, 0.0f, m, (int)f);
  bias_gelu_rows(m, e->w[9], 0, n, f);
  fill_rows(t, e->w[11], n, d);
  e->sgemm(101, 111, 112, (int)n, (int)d, (int)f, 1.0f, m, (int)f, e->w[10], (int)f, 1.0f, t, (int)d);
  for (long i = 0; i < n * d; ++i) x[i] += t[i];
}

/* x (B, T, d) through one pre-norm encoder layer in place: x += attention(norm1 x), x += mlp(norm2 x). w: norm1
 * weight, bias; W_qkv (3 d, d) (q, k, v stacked, as nn.Linear weights), b_qkv (3 d); W_o (d, d), b_o; norm2
 * weight, bias; W_1 (ffn, d), b_1; W_2 (d, ffn), b_2. q is scaled after its bias (the plain path's order); GELU is
 * the erf form of bias_gelu_f32. sgemm: the BLAS's cblas_sgemm, run on one thread per caller. Returns 0, or -1 when
 * memory ran out (x is then incomplete). */
int encoder_layer_f32(float *x, long B, long T, long d, long H, long ffn, const float *const *w, float eps,
                      float scale, void *sgemm, long threads) {
  const long rows = B * T, D = d / H, chunks = (rows + ENC_ROWS - 1) / ENC_ROWS;
  float *qkv = malloc(rows * 4 * d * sizeof(float)), *kt = malloc(B * H * D * T * sizeof(float));
  if (!qkv || !kt) {
    free(qkv);
    free(kt);
    return -1;
  }
  encoder_t e = {x, rows, d, ffn, w, eps, scale, qkv, qkv + rows * 3 * d, (sgemm_fn)sgemm};
  attention_t a = {qkv, qkv + d, qkv + 2 * d, kt, e.att, T, T, H, D, d, 3 * d, (T + ATT_ROWS - 1) / ATT_ROWS,
                   (sgemm_fn)sgemm};
  atomic_store(&pool.idle_ns, STEP_IDLE_NS);
  atomic_store(&scratch_failed, 0);
  parallel(enc_qkv_chunk, &e, chunks, threads);
  parallel(transpose_chunk, &a, B * H, threads);
  parallel(attention_chunk, &a, B * H * a.blocks, threads);
  parallel(enc_mlp_chunk, &e, chunks, threads);
  free(qkv);
  free(kt);
  return atomic_load(&scratch_failed) ? -1 : 0;
}

/* ---- a large product split by rows over the two threads, each part a one-thread BLAS call ---- */

typedef struct {
  sgemm_fn f;
  int tb;
  long m, n, k, lda, ldb, ldc, rows;
  float alpha, beta;
  const float *a, *b;
  float *c;
} split_t;

static void split_chunk(const void *arg, long c) {
  const split_t *g = arg;
  const long r0 = c * g->rows, n = r0 + g->rows < g->m ? g->rows : g->m - r0;
  g->f(101, 111, g->tb, (int)n, (int)g->n, (int)g->k, g->alpha, g->a + r0 * g->lda, (int)g->lda, g->b,
       (int)g->ldb, g->beta, g->c + r0 * g->ldc, (int)g->ldc);
}

/* cblas_sgemm(RowMajor, NoTrans, tb, ...) with its rows split into chunks over `threads` threads (sgemm on one
 * thread per caller): C (m, n) = alpha A (m, k) op(B) + beta C. */
void sgemm_rows_f32(void *sgemm, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float beta, float *c, long ldc, long threads) {
  long parts = threads > 1 ? 4 * threads : 1, rows = (m + parts - 1) / parts;
  if (rows < 32) rows = 32;
  split_t g = {(sgemm_fn)sgemm, tb, m, n, k, lda, ldb, ldc, rows, alpha, beta, a, b, c};
  atomic_store(&pool.idle_ns, STEP_IDLE_NS);
  parallel(split_chunk, &g, (m + rows - 1) / rows, threads);
}
