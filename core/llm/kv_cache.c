/* kv_cache.c - block pool, block tables, refcounts, copy on write. See kv_cache.h.
 * Bookkeeping lives on the host; only K/V data lives on the backend. */
#include "kv_cache.h"

#include <string.h>

#include "core/base/alloc.h"

typedef struct kv_seq {
    bool alive;
    int len;      /* committed positions */
    int n_blocks; /* blocks in the table (covers the reserved length) */
    int32_t *table;
} kv_seq;

struct lt_kv_cache {
    lt_backend *be;
    int n_layers, width, block_size, n_blocks, max_seqs, max_blocks;
    lt_dtype dtype;
    size_t layer_bytes;
    void *mem;
    size_t mem_bytes;
    lt_tensor *k, *v;   /* [n_layers] */
    int32_t *refcnt;    /* [n_blocks] */
    int32_t *free_list; /* stack of free block ids */
    int n_free;
    kv_seq *seqs;       /* [max_seqs] */
};

lt_status lt_kv_create(lt_kv_cache **out, lt_backend *be, const lt_kv_opts *o, lt_err *err) {
    *out = NULL;
    if (o->n_layers <= 0 || o->width <= 0 || o->max_ctx <= 0)
        return lt_err_set(err, LT_EINVAL, "KV cache: layers, width and context must be positive");
    if (o->dtype != LT_F32 && o->dtype != LT_F16)
        return lt_err_set(err, LT_EINVAL, "KV cache: dtype must be f32 or f16, not %s", lt_dtype_name(o->dtype));
    int bs = o->block_size > 0 ? o->block_size : 16;
    int max_seqs = o->max_seqs > 0 ? o->max_seqs : 8;
    int max_blocks = (o->max_ctx + bs - 1) / bs;
    size_t block_bytes = (size_t)bs * o->width * (o->dtype == LT_F32 ? 4 : 2) * 2 * o->n_layers;
    int64_t n_blocks = o->n_blocks;
    if (n_blocks <= 0) {
        n_blocks = (int64_t)max_blocks * max_seqs;
        size_t fr = 0, tot = 0;
        lt_err e2;
        if (lt_backend_mem_info(be, &fr, &tot, &e2) == LT_OK && fr > 0) {
            int64_t cap = (int64_t)(fr / 2 / block_bytes);
            if (n_blocks > cap) n_blocks = cap > max_blocks ? cap : max_blocks;
        }
    }
    if (n_blocks < 1) n_blocks = 1;
    if (n_blocks > (1 << 30) / bs)
        return lt_err_set(err, LT_EINVAL, "KV cache: %lld blocks is too many", (long long)n_blocks);

    lt_kv_cache *kv = lt_calloc(1, sizeof *kv);
    if (!kv) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    kv->be = be;
    kv->n_layers = o->n_layers;
    kv->width = o->width;
    kv->block_size = bs;
    kv->n_blocks = (int)n_blocks;
    kv->max_seqs = max_seqs;
    kv->max_blocks = max_blocks;
    kv->dtype = o->dtype;
    kv->k = lt_calloc(o->n_layers, sizeof *kv->k);
    kv->v = lt_calloc(o->n_layers, sizeof *kv->v);
    kv->refcnt = lt_calloc(kv->n_blocks, sizeof *kv->refcnt);
    kv->free_list = lt_calloc(kv->n_blocks, sizeof *kv->free_list);
    kv->seqs = lt_calloc(max_seqs, sizeof *kv->seqs);
    if (!kv->k || !kv->v || !kv->refcnt || !kv->free_list || !kv->seqs) {
        lt_kv_free(kv);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    for (int i = 0; i < max_seqs; i++) {
        kv->seqs[i].table = lt_calloc(max_blocks, sizeof(int32_t));
        if (!kv->seqs[i].table) {
            lt_kv_free(kv);
            return lt_err_set(err, LT_ENOMEM, "out of host memory");
        }
    }
    int64_t rows = (int64_t)kv->n_blocks * bs;
    kv->layer_bytes = (size_t)rows * o->width * (o->dtype == LT_F32 ? 4 : 2);
    kv->mem_bytes = kv->layer_bytes * 2 * o->n_layers;
    lt_status s = lt_backend_alloc(be, kv->mem_bytes, LT_MEM_KV, &kv->mem, err);
    if (s != LT_OK) {
        lt_err_prefix(err, "KV cache of %d blocks x %d tokens", kv->n_blocks, bs);
        lt_kv_free(kv);
        return s;
    }
    for (int l = 0; l < o->n_layers; l++) {
        char *base = (char *)kv->mem + kv->layer_bytes * 2 * l;
        kv->k[l] = lt_tensor_2d(be, o->dtype, base, rows, o->width);
        kv->v[l] = lt_tensor_2d(be, o->dtype, base + kv->layer_bytes, rows, o->width);
    }
    /* free stack: pop from the end, so block 0 is handed out first */
    for (int i = 0; i < kv->n_blocks; i++) kv->free_list[i] = kv->n_blocks - 1 - i;
    kv->n_free = kv->n_blocks;
    *out = kv;
    return LT_OK;
}

void lt_kv_free(lt_kv_cache *kv) {
    if (!kv) return;
    if (kv->mem) lt_backend_release(kv->be, kv->mem, kv->mem_bytes, LT_MEM_KV);
    if (kv->seqs)
        for (int i = 0; i < kv->max_seqs; i++) lt_free(kv->seqs[i].table);
    lt_free(kv->seqs);
    lt_free(kv->free_list);
    lt_free(kv->refcnt);
    lt_free(kv->k);
    lt_free(kv->v);
    lt_free(kv);
}

lt_tensor *lt_kv_k(lt_kv_cache *kv, int layer) { return &kv->k[layer]; }
lt_tensor *lt_kv_v(lt_kv_cache *kv, int layer) { return &kv->v[layer]; }
int lt_kv_block_size(const lt_kv_cache *kv) { return kv->block_size; }
int lt_kv_max_ctx(const lt_kv_cache *kv) { return kv->max_blocks * kv->block_size; }
int lt_kv_max_seqs(const lt_kv_cache *kv) { return kv->max_seqs; }
int lt_kv_max_blocks_per_seq(const lt_kv_cache *kv) { return kv->max_blocks; }
int lt_kv_blocks_total(const lt_kv_cache *kv) { return kv->n_blocks; }
int lt_kv_blocks_used(const lt_kv_cache *kv) { return kv->n_blocks - kv->n_free; }
size_t lt_kv_bytes(const lt_kv_cache *kv) { return kv->mem_bytes; }

bool lt_kv_seq_valid(const lt_kv_cache *kv, int seq) {
    return seq >= 0 && seq < kv->max_seqs && kv->seqs[seq].alive;
}

static kv_seq *get_seq(const lt_kv_cache *kv, int seq) {
    LT_ASSERT(lt_kv_seq_valid(kv, seq));
    return &kv->seqs[seq];
}

lt_status lt_kv_seq_new(lt_kv_cache *kv, int *seq, lt_err *err) {
    for (int i = 0; i < kv->max_seqs; i++) {
        if (!kv->seqs[i].alive) {
            kv->seqs[i].alive = true;
            kv->seqs[i].len = 0;
            kv->seqs[i].n_blocks = 0;
            *seq = i;
            return LT_OK;
        }
    }
    return lt_err_set(err, LT_ENOMEM, "KV cache: all %d sequence slots are in use", kv->max_seqs);
}

static void unref(lt_kv_cache *kv, int32_t b) {
    LT_ASSERT(kv->refcnt[b] > 0);
    if (--kv->refcnt[b] == 0) kv->free_list[kv->n_free++] = b;
}

static void drop_blocks(lt_kv_cache *kv, kv_seq *s, int keep) {
    while (s->n_blocks > keep) unref(kv, s->table[--s->n_blocks]);
}

void lt_kv_seq_free(lt_kv_cache *kv, int seq) {
    if (!lt_kv_seq_valid(kv, seq)) return;
    kv_seq *s = &kv->seqs[seq];
    drop_blocks(kv, s, 0);
    s->alive = false;
    s->len = 0;
}

int lt_kv_seq_len(const lt_kv_cache *kv, int seq) { return get_seq(kv, seq)->len; }

static lt_status copy_block(lt_kv_cache *kv, int32_t dst, int32_t src, lt_err *err) {
    size_t rb = (size_t)kv->block_size * lt_row_bytes(kv->dtype, kv->width);
    for (int l = 0; l < kv->n_layers; l++) {
        LT_TRY(lt_tensor_copy_range(&kv->k[l], dst * rb, &kv->k[l], src * rb, rb, err));
        LT_TRY(lt_tensor_copy_range(&kv->v[l], dst * rb, &kv->v[l], src * rb, rb, err));
    }
    return LT_OK;
}

lt_status lt_kv_seq_reserve(lt_kv_cache *kv, int seq, int new_len, lt_err *err) {
    kv_seq *s = get_seq(kv, seq);
    if (new_len > kv->max_blocks * kv->block_size)
        return lt_err_set(err, LT_ERANGE, "context of %d tokens exceeds the KV cache limit of %d per sequence",
                          new_len, kv->max_blocks * kv->block_size);
    if (new_len <= s->len) return LT_OK;
    int need_blocks = (new_len + kv->block_size - 1) / kv->block_size;
    int first = s->len / kv->block_size; /* logical block receiving the first new position */
    bool cow = s->len % kv->block_size != 0 && first < s->n_blocks && kv->refcnt[s->table[first]] > 1;
    int fresh = (need_blocks > s->n_blocks ? need_blocks - s->n_blocks : 0) + (cow ? 1 : 0);
    if (fresh > kv->n_free)
        return lt_err_set(err, LT_ENOMEM,
                          "KV cache full: %d more blocks of %d tokens needed, %d of %d free "
                          "(raise --kv-blocks or shorten the context)",
                          fresh, kv->block_size, kv->n_free, kv->n_blocks);
    if (cow) {
        int32_t nb = kv->free_list[kv->n_free - 1];
        LT_TRY(copy_block(kv, nb, s->table[first], err));
        kv->n_free--;
        kv->refcnt[nb] = 1;
        unref(kv, s->table[first]);
        s->table[first] = nb;
    }
    /* A whole block past len that is shared (after a fork of a reserved-but-uncommitted
     * range) is never written by us without a private copy: fork only shares committed
     * blocks, see lt_kv_seq_fork. */
    while (s->n_blocks < need_blocks) {
        int32_t b = kv->free_list[--kv->n_free];
        kv->refcnt[b] = 1;
        s->table[s->n_blocks++] = b;
    }
    return LT_OK;
}

void lt_kv_seq_commit(lt_kv_cache *kv, int seq, int n) {
    kv_seq *s = get_seq(kv, seq);
    LT_ASSERT(n >= 0 && n <= s->n_blocks * kv->block_size);
    s->len = n;
}

void lt_kv_seq_truncate(lt_kv_cache *kv, int seq, int n) {
    kv_seq *s = get_seq(kv, seq);
    if (n < 0) n = 0;
    if (n > s->len) n = s->len;
    s->len = n;
    drop_blocks(kv, s, (n + kv->block_size - 1) / kv->block_size);
}

lt_status lt_kv_seq_fork(lt_kv_cache *kv, int src, int *dst, lt_err *err) {
    kv_seq *s = get_seq(kv, src);
    int d = -1;
    LT_TRY(lt_kv_seq_new(kv, &d, err));
    kv_seq *t = &kv->seqs[d];
    int nb = (s->len + kv->block_size - 1) / kv->block_size; /* committed blocks only */
    for (int i = 0; i < nb; i++) {
        t->table[i] = s->table[i];
        kv->refcnt[s->table[i]]++;
    }
    t->n_blocks = nb;
    t->len = s->len;
    *dst = d;
    return LT_OK;
}

lt_status lt_kv_seq_compose(lt_kv_cache *kv, int src, const int32_t *blocks, int n, int *dst, lt_err *err) {
    kv_seq *s = get_seq(kv, src);
    int bs = kv->block_size, committed = (s->len + bs - 1) / bs, len = 0;
    if (n < 0 || n > kv->max_blocks)
        return lt_err_set(err, LT_EINVAL, "KV compose: %d blocks (at most %d per sequence)", n, kv->max_blocks);
    for (int i = 0; i < n; i++) {
        int b = blocks[i];
        if (b < 0 || b >= committed)
            return lt_err_set(err, LT_EINVAL, "KV compose: block %d outside the %d filled blocks of sequence %d", b,
                              committed, src);
        int fill = b == committed - 1 ? s->len - b * bs : bs;
        if (fill < bs && i != n - 1)
            return lt_err_set(err, LT_EINVAL, "KV compose: the partial block %d must be listed last", b);
        len += fill;
    }
    int d = -1;
    LT_TRY(lt_kv_seq_new(kv, &d, err));
    kv_seq *t = &kv->seqs[d];
    for (int i = 0; i < n; i++) {
        t->table[i] = s->table[blocks[i]];
        kv->refcnt[t->table[i]]++;
    }
    t->n_blocks = n;
    t->len = len;
    *dst = d;
    return LT_OK;
}

int32_t lt_kv_slot(const lt_kv_cache *kv, int seq, int pos) {
    const kv_seq *s = get_seq(kv, seq);
    LT_ASSERT(pos >= 0 && pos < s->n_blocks * kv->block_size);
    return s->table[pos / kv->block_size] * kv->block_size + pos % kv->block_size;
}

const int32_t *lt_kv_block_table(const lt_kv_cache *kv, int seq, int *n) {
    const kv_seq *s = get_seq(kv, seq);
    *n = s->n_blocks;
    return s->table;
}
