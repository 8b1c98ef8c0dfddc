/* pool.c - the persistent pthread pool every CPU kernel runs on.
 *
 * lt_pool_run publishes (fn, ctx) by bumping a generation counter; workers spin on it for a
 * short while and then sleep on a futex, so back-to-back calls (decode runs ~10 per layer)
 * cost a microsecond or less, while an idle pool uses no CPU. Slots (ith) are claimed from
 * an atomic counter, so when the OS has descheduled a worker (2 cores shared with other
 * programs) the caller runs that slot itself instead of waiting a time slice. Completion
 * is a counter the caller spins on (then sleeps on) the same way.
 * Leaves out: work queues, nesting, affinity.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Iterations of the spin loops before falling back to the futex (~25 us on Zen 4). Enough
 * to bridge the gaps between the ops of a decode step; short, because on a machine shared
 * with other programs a long-spinning worker is charged for the CPU it burns and is then
 * preempted while it holds work (measured on 2 cores against a busy loop: 22 tok/s with a
 * ~5 us spin, 15 tok/s with a ~500 us spin, for a 1B q8_0 model). */
#define SPIN_ITERS 1000

struct lt_pool {
    int n; /* threads including the caller */
    pthread_t *th;
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    uint32_t gen_local;        /* caller's copy of the generation */
    _Atomic uint64_t job;      /* generation << 32 | next unclaimed slot (ith) */
    _Atomic uint32_t gen;      /* futex word: the generation, bumped once per run */
    _Atomic uint32_t done;     /* futex word: slots finished in the current run */
    _Atomic int sleepers;      /* workers blocked on gen */
    _Atomic int caller_asleep; /* caller blocked on done */
    _Atomic int stop;
    _Atomic int blas; /* lt_pool_blas_ok: 0 = not checked yet, 1 = usable, -1 = not */
    void *scratch[LT_POOL_SCRATCH_SLOTS];
    size_t scratch_size[LT_POOL_SCRATCH_SLOTS];
};

typedef struct worker_arg {
    lt_pool *p;
    int ith;
} worker_arg;

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Claims the next slot of run g, or -1 when none is left (or g is over). Every slot
 * (ith) of a run is executed exactly once, by whichever thread claims it: a worker that
 * the OS has descheduled does not hold up the caller, who takes its slot instead. */
static int claim(lt_pool *p, uint32_t g) {
    uint64_t w = atomic_load(&p->job);
    for (;;) {
        if ((uint32_t)(w >> 32) != g || (uint32_t)w >= (uint32_t)p->n) return -1;
        if (atomic_compare_exchange_weak(&p->job, &w, w + 1)) return (int)(uint32_t)w;
    }
}

static void finish_slot(lt_pool *p) {
    if (atomic_fetch_add(&p->done, 1) + 1 == (uint32_t)p->n && atomic_load(&p->caller_asleep))
        futex_wake(&p->done, 1);
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    lt_free(arg);
    lt_pool *p = wa.p;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->gen) == seen) futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->stop)) break;
        int s;
        while ((s = claim(p, g)) >= 0) {
            p->fn(p->ctx, s, p->n);
            finish_slot(p);
        }
    }
    return NULL;
}

static void publish(lt_pool *p) {
    uint32_t g = ++p->gen_local;
    atomic_store(&p->job, (uint64_t)g << 32 | 1); /* slot 0 belongs to the caller */
    atomic_store(&p->gen, g);
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->gen, INT_MAX);
}

lt_status lt_pool_create(lt_pool **out, int n_threads, lt_err *err) {
    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > 256) return lt_err_set(err, LT_EINVAL, "%d threads requested (at most 256)", n_threads);
    /* Our own threads split the work; OpenBLAS will be loaded without threads of its own
     * (blas.c): the variable that says so is set before ours start. */
    lt_cpu_blas_prepare();
    lt_pool *p = lt_calloc(1, sizeof *p);
    if (!p) return lt_err_set(err, LT_ENOMEM, "out of host memory creating the thread pool");
    p->n = n_threads;
    if (n_threads > 1) {
        p->th = lt_calloc((size_t)n_threads, sizeof *p->th);
        if (!p->th) {
            lt_free(p);
            return lt_err_set(err, LT_ENOMEM, "out of host memory creating the thread pool");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = lt_malloc(sizeof *wa);
        int rc = wa ? 0 : ENOMEM;
        if (wa) {
            wa->p = p;
            wa->ith = i;
            rc = pthread_create(&p->th[i], NULL, worker_main, wa);
            if (rc) lt_free(wa);
        }
        if (rc) {
            p->n = i; /* threads 1..i-1 exist */
            lt_pool_free(p);
            return lt_err_set(err, LT_ENOMEM, "cannot start worker thread %d of %d (error %d)", i, n_threads, rc);
        }
    }
    *out = p;
    return LT_OK;
}

void lt_pool_free(lt_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        atomic_store(&p->stop, 1);
        publish(p);
        for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    }
    for (int i = 0; i < LT_POOL_SCRATCH_SLOTS; i++) lt_aligned_free(p->scratch[i]);
    lt_free(p->th);
    lt_free(p);
}

void *lt_pool_scratch(lt_pool *p, int slot, size_t bytes) {
    LT_ASSERT(p && slot >= 0 && slot < LT_POOL_SCRATCH_SLOTS);
    if (bytes <= p->scratch_size[slot]) return p->scratch[slot];
    lt_aligned_free(p->scratch[slot]);
    p->scratch[slot] = lt_aligned_alloc(bytes);
    p->scratch_size[slot] = p->scratch[slot] ? bytes : 0;
    return p->scratch[slot];
}

int lt_pool_threads(const lt_pool *p) { return p ? p->n : 1; }

void lt_pool_run(lt_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    publish(p);
    fn(ctx, 0, p->n);
    finish_slot(p);
    int s;
    while ((s = claim(p, p->gen_local)) >= 0) { /* slots no worker has picked up yet */
        fn(ctx, s, p->n);
        finish_slot(p);
    }
    uint32_t d;
    int spins = 0;
    while ((d = atomic_load(&p->done)) != (uint32_t)p->n) {
        if (++spins < SPIN_ITERS) {
            cpu_relax();
            continue;
        }
        atomic_store(&p->caller_asleep, 1);
        if ((d = atomic_load(&p->done)) != (uint32_t)p->n) futex_wait(&p->done, d);
        atomic_store(&p->caller_asleep, 0);
        spins = 0;
    }
}

/* OpenBLAS's per-thread buffer (BUFFER_SIZE of Debian's x86-64 build, 128 MiB, plus its
 * alignment and guard pages), with a margin. */
#define BLAS_BUFFER_BYTES ((size_t)136 << 20)

static bool limited(int res) {
    struct rlimit rl;
    return getrlimit(res, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

bool lt_pool_blas_ok(lt_pool *p) {
    static _Atomic int solo; /* the check for callers without a pool */
    _Atomic int *state = p ? &p->blas : &solo;
    int s = atomic_load(state);
    if (s) return s > 0;
    bool ok = lt_cpu_blas_load();
    if (ok && (limited(RLIMIT_AS) || limited(RLIMIT_DATA))) { /* no limit: the kernel overcommits, never a spin */
        size_t need = (size_t)(p ? p->n : 1) * BLAS_BUFFER_BYTES;
        void *m = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ok = m != MAP_FAILED;
        if (ok) munmap(m, need);
    }
    atomic_store(state, ok ? 1 : -1);
    return ok;
}
