/* get_rows.c - the CPU get_rows op: rows of a table of any dtype gathered by id and widened
 * to f32 (token embeddings, picking the rows that need logits). Semantics in
 * core/backend/backend.h; the CUDA twin is kernels/cuda/get_rows.cu.
 * Leaves out: checking the ids against the table (the CPU backend's adapter does that,
 * kernels/cpu/backend_cpu.c); the row conversions themselves are in quant.c.
 */
#include "cpu_impl.h"

typedef struct rows_ctx {
    float *y;
    const char *table;
    lt_dtype t;
    int64_t cols, n;
    const int32_t *ids;
} rows_ctx;

static void rows_job(void *arg, int ith, int nth) {
    rows_ctx *c = arg;
    int64_t r0, r1;
    lt_cpu_split(c->n, ith, nth, 1, &r0, &r1);
    size_t rb = lt_row_bytes(c->t, c->cols);
    for (int64_t i = r0; i < r1; i++) lt_cpu_dequant_row(c->t, c->table + (size_t)c->ids[i] * rb, c->y + i * c->cols, c->cols);
}

void lt_cpu_get_rows(lt_pool *p, float *y, const void *table, lt_dtype t, int64_t cols, const int32_t *ids,
                     int64_t n) {
    rows_ctx c = {y, table, t, cols, n, ids};
    lt_cpu_run(p, n * cols, rows_job, &c);
}
