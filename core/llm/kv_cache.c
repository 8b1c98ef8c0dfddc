/* kv_cache.c - block pool, block tables, refcounts, copy on write, the host pool behind the
 * device pool. See kv_cache.h. Bookkeeping lives on the host; only K/V data lives on the
 * backend. */
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
    /* the host pool (n_hblocks 0: none) */
    lt_backend *hbe;    /* a CPU backend: be itself when be is the CPU, else owned */
    bool own_hbe;
    int n_hblocks, n_hfree;
    void *hmem;
    size_t hmem_bytes;
    lt_tensor *hk, *hv; /* [n_layers] */
    int32_t *hrefcnt, *hfree;
    uint64_t *stamp;    /* [n_blocks] last use of each device block (LRU) */
    uint8_t *mark;      /* [n_blocks] scratch */
    uint64_t tick;
    int64_t spilled, fetched;
};

static lt_status host_pool_create(lt_kv_cache *kv, int n, lt_err *err) {
    if (n > (1 << 30) / kv->block_size)
        return lt_err_set(err, LT_EINVAL, "KV cache: %d host blocks is too many", n);
    kv->hk = lt_calloc(kv->n_layers, sizeof *kv->hk);
    kv->hv = lt_calloc(kv->n_layers, sizeof *kv->hv);
    kv->hrefcnt = lt_calloc(n, sizeof *kv->hrefcnt);
    kv->hfree = lt_calloc(n, sizeof *kv->hfree);
    kv->stamp = lt_calloc(kv->n_blocks, sizeof *kv->stamp);
    kv->mark = lt_calloc(kv->n_blocks, 1);
    if (!kv->hk || !kv->hv || !kv->hrefcnt || !kv->hfree || !kv->stamp || !kv->mark)
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (lt_backend_is_host(kv->be)) {
        kv->hbe = kv->be;
    } else {
        LT_TRY(lt_backend_create(&kv->hbe, "cpu", &(lt_backend_opts){0}, err));
        kv->own_hbe = true;
    }
    int64_t rows = (int64_t)n * kv->block_size;
    size_t lb = (size_t)rows * lt_row_bytes(kv->dtype, kv->width);
    kv->hmem_bytes = lb * 2 * kv->n_layers;
    lt_status s = lt_backend_alloc(kv->hbe, kv->hmem_bytes, LT_MEM_KV, &kv->hmem, err);
    if (s != LT_OK) {
        kv->hmem = NULL;
        lt_err_prefix(err, "KV host pool of %d blocks x %d tokens", n, kv->block_size);
        return s;
    }
    for (int l = 0; l < kv->n_layers; l++) {
        char *base = (char *)kv->hmem + lb * 2 * l;
        kv->hk[l] = lt_tensor_2d(kv->hbe, kv->dtype, base, rows, kv->width);
        kv->hv[l] = lt_tensor_2d(kv->hbe, kv->dtype, base + lb, rows, kv->width);
    }
    for (int i = 0; i < n; i++) kv->hfree[i] = n - 1 - i;
    kv->n_hblocks = kv->n_hfree = n;
    return LT_OK;
}

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
    if (o->host_blocks > 0) {
        s = host_pool_create(kv, o->host_blocks, err);
        if (s != LT_OK) {
            lt_kv_free(kv);
            return s;
        }
    }
    *out = kv;
    return LT_OK;
}

void lt_kv_free(lt_kv_cache *kv) {
    if (!kv) return;
    if (kv->mem) lt_backend_release(kv->be, kv->mem, kv->mem_bytes, LT_MEM_KV);
    if (kv->hmem) lt_backend_release(kv->hbe, kv->hmem, kv->hmem_bytes, LT_MEM_KV);
    if (kv->own_hbe) lt_backend_free(kv->hbe);
    lt_free(kv->hk);
    lt_free(kv->hv);
    lt_free(kv->hrefcnt);
    lt_free(kv->hfree);
    lt_free(kv->stamp);
    lt_free(kv->mark);
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
int lt_kv_host_blocks_total(const lt_kv_cache *kv) { return kv->n_hblocks; }
int lt_kv_host_blocks_used(const lt_kv_cache *kv) { return kv->n_hblocks - kv->n_hfree; }
lt_backend *lt_kv_host_backend(lt_kv_cache *kv) { return kv->hbe; }
lt_tensor *lt_kv_host_k(lt_kv_cache *kv, int layer) { return kv->hk ? &kv->hk[layer] : NULL; }
lt_tensor *lt_kv_host_v(lt_kv_cache *kv, int layer) { return kv->hv ? &kv->hv[layer] : NULL; }
int64_t lt_kv_spilled(const lt_kv_cache *kv) { return kv->spilled; }
int64_t lt_kv_fetched(const lt_kv_cache *kv) { return kv->fetched; }

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

/* e: a block table entry (>= 0 device block, < 0 host block -1 - e). */
static void unref(lt_kv_cache *kv, int32_t e) {
    if (e < 0) {
        int32_t h = -1 - e;
        LT_ASSERT(h < kv->n_hblocks && kv->hrefcnt[h] > 0);
        if (--kv->hrefcnt[h] == 0) kv->hfree[kv->n_hfree++] = h;
        return;
    }
    LT_ASSERT(kv->refcnt[e] > 0);
    if (--kv->refcnt[e] == 0) kv->free_list[kv->n_free++] = e;
}

static void ref(lt_kv_cache *kv, int32_t e) {
    if (e < 0) kv->hrefcnt[-1 - e]++;
    else kv->refcnt[e]++;
}

int lt_kv_seq_host_blocks(const lt_kv_cache *kv, int seq) {
    const kv_seq *s = &kv->seqs[seq];
    LT_ASSERT(lt_kv_seq_valid(kv, seq));
    int n = 0;
    if (kv->n_hblocks)
        for (int i = 0; i < s->n_blocks; i++) n += s->table[i] < 0;
    return n;
}

/* Device blocks that may move to the host: full and committed in a sequence that holds
 * them (a block is written only past a sequence's length, and a shared block never without
 * a private copy, so these never change). Marks them in kv->mark; returns how many. */
static int mark_spillable(lt_kv_cache *kv) {
    memset(kv->mark, 0, (size_t)kv->n_blocks);
    int n = 0;
    for (int q = 0; q < kv->max_seqs; q++) {
        const kv_seq *s = &kv->seqs[q];
        if (!s->alive) continue;
        for (int i = 0; i < s->len / kv->block_size && i < s->n_blocks; i++) {
            int32_t e = s->table[i];
            if (e >= 0 && !kv->mark[e]) kv->mark[e] = 1, n++;
        }
    }
    return n;
}

static lt_status copy_rows_out(lt_kv_cache *kv, int32_t dev, int32_t host, lt_err *err) {
    size_t rb = (size_t)kv->block_size * lt_row_bytes(kv->dtype, kv->width);
    for (int l = 0; l < kv->n_layers; l++) {
        LT_TRY(lt_tensor_get_range(&kv->k[l], dev * rb, (char *)kv->hk[l].data + host * rb, rb, err));
        LT_TRY(lt_tensor_get_range(&kv->v[l], dev * rb, (char *)kv->hv[l].data + host * rb, rb, err));
    }
    return LT_OK;
}

static lt_status copy_rows_in(lt_kv_cache *kv, int32_t dev, int32_t host, lt_err *err) {
    size_t rb = (size_t)kv->block_size * lt_row_bytes(kv->dtype, kv->width);
    for (int l = 0; l < kv->n_layers; l++) {
        LT_TRY(lt_tensor_set_range(&kv->k[l], dev * rb, (const char *)kv->hk[l].data + host * rb, rb, err));
        LT_TRY(lt_tensor_set_range(&kv->v[l], dev * rb, (const char *)kv->hv[l].data + host * rb, rb, err));
    }
    return LT_OK;
}

/* Moves the least recently used spillable device block to the host pool (every table
 * naming it is rewritten) and frees it. LT_ENOMEM (no message) when nothing can move. */
static lt_status spill_one(lt_kv_cache *kv, lt_err *err) {
    if (kv->n_hfree == 0 || mark_spillable(kv) == 0) return LT_ENOMEM;
    int32_t victim = -1;
    for (int q = 0; q < kv->max_seqs; q++) { /* oldest stamp; ties: lower sequence, then position */
        const kv_seq *s = &kv->seqs[q];
        if (!s->alive) continue;
        for (int i = 0; i < s->len / kv->block_size && i < s->n_blocks; i++) {
            int32_t e = s->table[i];
            if (e >= 0 && kv->mark[e] && (victim < 0 || kv->stamp[e] < kv->stamp[victim])) victim = e;
        }
    }
    int32_t h = kv->hfree[kv->n_hfree - 1];
    LT_TRY(copy_rows_out(kv, victim, h, err));
    kv->n_hfree--;
    kv->hrefcnt[h] = kv->refcnt[victim];
    int seen = 0;
    for (int q = 0; q < kv->max_seqs; q++) {
        kv_seq *s = &kv->seqs[q];
        if (!s->alive) continue;
        for (int i = 0; i < s->n_blocks; i++)
            if (s->table[i] == victim) s->table[i] = -1 - h, seen++;
    }
    LT_ASSERT(seen == kv->refcnt[victim]);
    kv->refcnt[victim] = 0;
    kv->free_list[kv->n_free++] = victim;
    kv->spilled++;
    return LT_OK;
}

/* A free device block (refcount still 0), spilling one to the host pool when none is. */
static lt_status take_block(lt_kv_cache *kv, int32_t *b, lt_err *err) {
    if (kv->n_free == 0 && kv->n_hblocks) {
        lt_status s = spill_one(kv, err);
        if (s != LT_OK && s != LT_ENOMEM) return s;
    }
    if (kv->n_free == 0) return lt_err_set(err, LT_ENOMEM, "KV cache full");
    *b = kv->free_list[--kv->n_free];
    if (kv->stamp) kv->stamp[*b] = kv->tick;
    return LT_OK;
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
    /* a partially filled last block that is shared or on the host gets a private device copy */
    bool cow = s->len % kv->block_size != 0 && first < s->n_blocks &&
               (s->table[first] < 0 || kv->refcnt[s->table[first]] > 1);
    int fresh = (need_blocks > s->n_blocks ? need_blocks - s->n_blocks : 0) + (cow ? 1 : 0);
    if (fresh == 0) return LT_OK;
    int room = kv->n_free;
    if (fresh > room && kv->n_hblocks) {
        int movable = mark_spillable(kv);
        room += movable < kv->n_hfree ? movable : kv->n_hfree;
    }
    if (fresh > room) {
        if (kv->n_hblocks)
            return lt_err_set(err, LT_ENOMEM,
                              "KV cache full: %d more blocks of %d tokens needed, %d of %d device blocks free, "
                              "%d of %d host blocks free (raise --kv-host-blocks or shorten the context)",
                              fresh, kv->block_size, kv->n_free, kv->n_blocks, kv->n_hfree, kv->n_hblocks);
        return lt_err_set(err, LT_ENOMEM,
                          "KV cache full: %d more blocks of %d tokens needed, %d of %d free "
                          "(raise --kv-blocks or shorten the context)",
                          fresh, kv->block_size, kv->n_free, kv->n_blocks);
    }
    kv->tick++;
    if (kv->stamp) /* this sequence is the most recently used */
        for (int i = 0; i < s->n_blocks; i++)
            if (s->table[i] >= 0) kv->stamp[s->table[i]] = kv->tick;
    if (cow) {
        int32_t nb;
        LT_TRY(take_block(kv, &nb, err));
        int32_t src = s->table[first]; /* read after take_block: a spill may have moved it */
        lt_status st = src >= 0 ? copy_block(kv, nb, src, err) : copy_rows_in(kv, nb, -1 - src, err);
        if (st != LT_OK) {
            kv->free_list[kv->n_free++] = nb;
            return st;
        }
        if (src < 0) kv->fetched++;
        kv->refcnt[nb] = 1;
        unref(kv, src);
        s->table[first] = nb;
    }
    /* A whole block past len that is shared (after a fork of a reserved-but-uncommitted
     * range) is never written by us without a private copy: fork only shares committed
     * blocks, see lt_kv_seq_fork. */
    while (s->n_blocks < need_blocks) {
        int32_t b;
        LT_TRY(take_block(kv, &b, err));
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
        ref(kv, s->table[i]);
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
        ref(kv, t->table[i]);
    }
    t->n_blocks = n;
    t->len = len;
    *dst = d;
    return LT_OK;
}

int32_t lt_kv_slot(const lt_kv_cache *kv, int seq, int pos) {
    const kv_seq *s = get_seq(kv, seq);
    LT_ASSERT(pos >= 0 && pos < s->n_blocks * kv->block_size && s->table[pos / kv->block_size] >= 0);
    return s->table[pos / kv->block_size] * kv->block_size + pos % kv->block_size;
}

const int32_t *lt_kv_block_table(const lt_kv_cache *kv, int seq, int *n) {
    const kv_seq *s = get_seq(kv, seq);
    *n = s->n_blocks;
    return s->table;
}
