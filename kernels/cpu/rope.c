/* rope.c - the CPU rope op: rotary embedding in place, adjacent pairs (llama) or NeoX halves,
 * with cosf/sinf of the float angle pos * freq as llama2.c's run.c computes it. Semantics in
 * core/backend/backend.h; the CUDA twin is kernels/cuda/rope.cu.
 * Partial rotary: only the first n_rot dimensions of each head rotate.
 * cos and sin are multiplied by the attention factor `scale` (1 = plain rope).
 * Leaves out: rope scaling of the frequencies (the caller folds it into freqs).
 */
#include <math.h>

#include "cpu_impl.h"

typedef struct rope_ctx {
    float *x;
    const int32_t *pos;
    const float *freqs;
    int64_t T;
    int n_heads, head_dim, n_rot;
    bool neox;
    float scale;
} rope_ctx;

static void rope_job(void *arg, int ith, int nth) {
    rope_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    const int half = c->n_rot / 2; /* dimensions past n_rot pass through */
    for (int64_t t = t0; t < t1; t++) {
        const float fpos = (float)c->pos[t];
        for (int i = 0; i < half; i++) {
            const float val = fpos * c->freqs[i];
            const float fcr = cosf(val) * c->scale, fci = sinf(val) * c->scale;
            for (int h = 0; h < c->n_heads; h++) {
                float *v = c->x + (t * c->n_heads + h) * (int64_t)c->head_dim;
                int i0 = c->neox ? i : 2 * i, i1 = c->neox ? i + half : 2 * i + 1;
                const float v0 = v[i0], v1 = v[i1];
                v[i0] = v0 * fcr - v1 * fci;
                v[i1] = v0 * fci + v1 * fcr;
            }
        }
    }
}

void lt_cpu_rope(lt_pool *p, float *x, const int32_t *pos, const float *freqs, int64_t T, int n_heads, int head_dim,
                 int n_rot, bool neox, float scale) {
    rope_ctx c = {x, pos, freqs, T, n_heads, head_dim, n_rot, neox, scale};
    /* cosf/sinf dominate: count them as the work */
    lt_cpu_run(p, T * (n_rot / 2) * 16, rope_job, &c);
}
