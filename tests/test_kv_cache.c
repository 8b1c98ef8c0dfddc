/* test_kv_cache.c - block accounting, fork/copy-on-write, truncation and exhaustion of the
 * paged KV cache, checked through the data it holds. */
#include <string.h>

#include "core/llm/kv_cache.h"
#include "testutil.h"

/* Writes value `val` into every element of position pos of seq, layer 0 keys and values. */
static void put(lt_kv_cache *kv, int seq, int pos, float val) {
    lt_tensor *k = lt_kv_k(kv, 0), *v = lt_kv_v(kv, 0);
    int64_t w = k->shape[1];
    float row[8];
    for (int i = 0; i < w; i++) row[i] = val;
    int32_t slot = lt_kv_slot(kv, seq, pos);
    lt_err err;
    CHECK(lt_tensor_set_range(k, (size_t)slot * w * 4, row, (size_t)w * 4, &err) == LT_OK);
    CHECK(lt_tensor_set_range(v, (size_t)slot * w * 4, row, (size_t)w * 4, &err) == LT_OK);
}

static float get(lt_kv_cache *kv, int seq, int pos) {
    lt_tensor *k = lt_kv_k(kv, 0);
    int64_t w = k->shape[1];
    float *all = (float *)k->data; /* CPU backend: host memory */
    return all[(size_t)lt_kv_slot(kv, seq, pos) * w];
}

/* Appends n positions with values base+i through reserve/commit, as a forward pass does. */
static lt_status append(lt_kv_cache *kv, int seq, int n, float base) {
    lt_err err;
    int len = lt_kv_seq_len(kv, seq);
    lt_status s = lt_kv_seq_reserve(kv, seq, len + n, &err);
    if (s != LT_OK) return s;
    for (int i = 0; i < n; i++) put(kv, seq, len + i, base + i);
    lt_kv_seq_commit(kv, seq, len + n);
    return LT_OK;
}

int main(void) {
    lt_backend *be;
    lt_err err;
    LT_ASSERT(lt_backend_create(&be, "cpu", NULL, &err) == LT_OK);
    lt_kv_opts o = {.n_layers = 2, .width = 8, .block_size = 4, .n_blocks = 10, .max_seqs = 4, .max_ctx = 32,
                    .dtype = LT_F32};
    lt_kv_cache *kv;
    CHECK(lt_kv_create(&kv, be, &o, &err) == LT_OK);
    CHECK(lt_kv_blocks_total(kv) == 10 && lt_kv_blocks_used(kv) == 0);
    CHECK(lt_backend_mem_used(be, LT_MEM_KV) == lt_kv_bytes(kv));

    int a, b;
    CHECK(lt_kv_seq_new(kv, &a, &err) == LT_OK);
    CHECK(append(kv, a, 6, 100) == LT_OK); /* 2 blocks, second half full */
    CHECK(lt_kv_seq_len(kv, a) == 6 && lt_kv_blocks_used(kv) == 2);
    for (int i = 0; i < 6; i++) CHECK(get(kv, a, i) == 100 + i);

    /* fork shares both blocks */
    CHECK(lt_kv_seq_fork(kv, a, &b, &err) == LT_OK);
    CHECK(lt_kv_blocks_used(kv) == 2 && lt_kv_seq_len(kv, b) == 6);
    /* b appends into the shared partial block: copy on write, a unchanged */
    CHECK(append(kv, b, 3, 200) == LT_OK);
    CHECK(lt_kv_blocks_used(kv) == 4); /* b: own copy of block 1 + one new block */
    for (int i = 0; i < 6; i++) CHECK(get(kv, b, i) == 100 + i);
    for (int i = 0; i < 3; i++) CHECK(get(kv, b, 6 + i) == 200 + i);
    CHECK(lt_kv_slot(kv, a, 0) == lt_kv_slot(kv, b, 0));  /* first block still shared */
    CHECK(lt_kv_slot(kv, a, 5) != lt_kv_slot(kv, b, 5));  /* second block copied */
    /* the copy carried layer 1 too */
    {
        float *k1 = (float *)lt_kv_k(kv, 1)->data;
        CHECK(k1[(size_t)lt_kv_slot(kv, a, 5) * 8] == k1[(size_t)lt_kv_slot(kv, b, 5) * 8]);
    }
    /* a appends: its block 1 is no longer shared, so no copy */
    CHECK(append(kv, a, 2, 300) == LT_OK);
    CHECK(lt_kv_blocks_used(kv) == 4);
    CHECK(get(kv, a, 6) == 300 && get(kv, b, 6) == 200);

    /* truncation frees whole blocks only */
    lt_kv_seq_truncate(kv, b, 5);
    CHECK(lt_kv_seq_len(kv, b) == 5 && lt_kv_blocks_used(kv) == 3);
    CHECK(append(kv, b, 1, 400) == LT_OK);
    CHECK(get(kv, b, 5) == 400 && get(kv, b, 4) == 104);
    lt_kv_seq_truncate(kv, b, 4);
    CHECK(lt_kv_blocks_used(kv) == 2); /* b keeps only the shared first block */

    /* exhaustion: a clear error, nothing changed */
    int c;
    CHECK(lt_kv_seq_new(kv, &c, &err) == LT_OK);
    int used = lt_kv_blocks_used(kv);
    lt_status s = lt_kv_seq_reserve(kv, c, 32, &err); /* needs 8 blocks, 8 free: ok */
    CHECK(s == LT_OK);
    lt_kv_seq_truncate(kv, c, 0);
    CHECK(lt_kv_blocks_used(kv) == used);
    CHECK(append(kv, c, 28, 0) == LT_OK); /* 7 blocks */
    int d;
    CHECK(lt_kv_seq_new(kv, &d, &err) == LT_OK);
    s = lt_kv_seq_reserve(kv, d, 8, &err);
    CHECKF(s == LT_ENOMEM && strstr(err.msg, "KV cache full"), "%s", err.msg);
    CHECK(lt_kv_seq_len(kv, d) == 0);
    /* over the per-sequence limit */
    s = lt_kv_seq_reserve(kv, c, 33, &err);
    CHECKF(s == LT_ERANGE && strstr(err.msg, "exceeds"), "%s", err.msg);
    /* no more sequence slots */
    int e;
    s = lt_kv_seq_new(kv, &e, &err);
    CHECKF(s == LT_ENOMEM && strstr(err.msg, "sequence slots"), "%s", err.msg);

    /* freeing everything returns every block */
    lt_kv_seq_free(kv, a);
    lt_kv_seq_free(kv, b);
    lt_kv_seq_free(kv, c);
    lt_kv_seq_free(kv, d);
    CHECK(lt_kv_blocks_used(kv) == 0);

    /* f16 pool and derived sizing */
    lt_kv_opts o2 = {.n_layers = 3, .width = 16, .max_ctx = 100, .max_seqs = 2, .dtype = LT_F16};
    lt_kv_cache *kv2;
    CHECK(lt_kv_create(&kv2, be, &o2, &err) == LT_OK);
    CHECK(lt_kv_block_size(kv2) == 16 && lt_kv_max_ctx(kv2) == 112 && lt_kv_blocks_total(kv2) == 14);
    CHECK(lt_kv_k(kv2, 2)->dtype == LT_F16);
    lt_kv_free(kv2);
    lt_kv_opts bad = o;
    bad.dtype = LT_Q8_0;
    CHECK(lt_kv_create(&kv2, be, &bad, &err) == LT_EINVAL);

    lt_kv_free(kv);
    CHECK(lt_backend_mem_used(be, LT_MEM_KV) == 0);
    lt_backend_free(be);
    return lt_test_done();
}
