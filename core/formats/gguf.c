/* gguf.c - GGUF v2/v3 reader (mmap, full header validation), vocab loader, and v3 writer.
 *
 * The reader walks the header once with a bounds-checked cursor: every count is checked
 * against the bytes left before anything is allocated, so a hostile file can neither make
 * us allocate more than O(file size) nor loop longer than O(file size). Nested arrays are
 * validated (depth <= 4) but not exposed by the accessors. Tensor types map to lathe dtypes
 * through the dtype table (core/base/dtype.h). Leaves out: GGUF v1, writing nested arrays,
 * and any tensor type the table does not map (it has F32/F16/BF16/Q8_0/Q4_0).
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGN 32
#define GGUF_MAX_DEPTH 4

/* ==== reader state ==================================================================== */

typedef struct gguf_kv {
    lt_gguf_str key;
    lt_gguf_type type;
    const uint8_t *val;      /* start of the value (after the type) */
    lt_gguf_type elem;       /* arrays: element type */
    uint64_t n;              /* arrays: element count */
    const uint8_t **strs;    /* string arrays: pointer to each element's length prefix */
} gguf_kv;

typedef struct gguf_ti {
    lt_gguf_str name;
    int ndim;
    int64_t ne[4];           /* GGUF order: ne[0] innermost */
    lt_dtype dt;
    uint64_t off;            /* relative to the data section */
    uint64_t size;
} gguf_ti;

struct lt_gguf {
    char *path;
    uint8_t *map;
    size_t size;
    uint32_t version;
    int64_t n_kv, n_t;
    gguf_kv *kv;
    gguf_ti *ti;
    uint64_t data_off;
};

typedef struct cursor {
    const uint8_t *b;
    size_t off, size;
} cursor;

static bool rd(cursor *c, void *dst, size_t n) {
    if (n > c->size - c->off) return false;
    memcpy(dst, c->b + c->off, n);
    c->off += n;
    return true;
}

static bool rd_u32(cursor *c, uint32_t *v) { return rd(c, v, 4); }
static bool rd_u64(cursor *c, uint64_t *v) { return rd(c, v, 8); }

static bool rd_str(cursor *c, lt_gguf_str *s) {
    uint64_t n;
    if (!rd_u64(c, &n)) return false;
    if (n > c->size - c->off) return false;
    s->p = (const char *)c->b + c->off;
    s->n = n;
    c->off += n;
    return true;
}

static size_t scalar_size(lt_gguf_type t) {
    switch (t) {
    case LT_GGUF_UINT8: case LT_GGUF_INT8: case LT_GGUF_BOOL: return 1;
    case LT_GGUF_UINT16: case LT_GGUF_INT16: return 2;
    case LT_GGUF_UINT32: case LT_GGUF_INT32: case LT_GGUF_FLOAT32: return 4;
    case LT_GGUF_UINT64: case LT_GGUF_INT64: case LT_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *type_name(lt_gguf_type t) {
    static const char *const n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                    "bool", "string", "array", "uint64", "int64", "float64"};
    return (unsigned)t < 13 ? n[t] : "invalid";
}

#define GGML_TYPE_NAMES 43 /* ids 0..42 have names below */

/* GGML type ids -> names, for messages (ids map to lathe dtypes through the dtype table). */
static const char *ggml_type_name(uint32_t t) {
    static const char *const n[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
        "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
        "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8",
        "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4", "NVFP4",
        "Q1_0", "Q2_0"};
    _Static_assert(sizeof n / sizeof n[0] == GGML_TYPE_NAMES, "one name per GGML type id");
    return t < sizeof n / sizeof n[0] ? n[t] : NULL;
}

/* GGML's name of a type id, or lathe's own dtype name for its extension ids (s24_f16 ...). */
static const char *type_label(uint32_t t) {
    const char *n = ggml_type_name(t);
    return n ? n : lt_dtype_name(lt_dtype_from_gguf(t));
}

/* One error naming every GGML type in the file lathe cannot read, with its tensor count
 * ("Q8_K (3 tensors), IQ2_XS (1 tensor)"); false (nothing set) when there is none. */
static const char *supported_types(char *buf, size_t n);
static bool unsupported_error(const char *P, const uint64_t *count, lt_err *err) {
    char list[512], sup[256];
    size_t o = 0;
    uint64_t total = 0;
    list[0] = 0;
    for (uint32_t t = 0; t < GGML_TYPE_NAMES; t++) {
        if (!count[t]) continue;
        total += count[t];
        if (o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s (%llu tensor%s)", o ? ", " : "", ggml_type_name(t),
                                  (unsigned long long)count[t], count[t] == 1 ? "" : "s");
    }
    if (!total) return false;
    lt_err_set(err, LT_EUNSUPPORTED, "%s: lathe does not support the types of %llu tensor%s: %s (supported: %s)", P,
               (unsigned long long)total, total == 1 ? "" : "s", list, supported_types(sup, sizeof sup));
    return true;
}

/* "F32, F16, BF16, Q8_0, Q4_0, Q4_1, ...": GGML's names of the tensor types lathe reads (dtype table order). */
static const char *supported_types(char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < LT_DTYPE_COUNT; i++) {
        const lt_dtype_traits *d = lt_dtype_info((lt_dtype)i);
        if (d->gguf_type >= 0 && ggml_type_name((uint32_t)d->gguf_type) && o < n) /* GGML's types (not lathe's s24) */
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", ggml_type_name((uint32_t)d->gguf_type));
    }
    return buf;
}

/* Skips (validates) one value of type t; arrays recurse up to GGUF_MAX_DEPTH. */
static bool skip_value(cursor *c, lt_gguf_type t, int depth) {
    if (t == LT_GGUF_STRING) {
        lt_gguf_str s;
        return rd_str(c, &s);
    }
    if (t == LT_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (depth >= GGUF_MAX_DEPTH || !rd_u32(c, &et) || !rd_u64(c, &n)) return false;
        if (et > LT_GGUF_FLOAT64) return false;
        size_t es = scalar_size((lt_gguf_type)et);
        if (es) {
            if (n > (c->size - c->off) / es) return false;
            c->off += n * es;
            return true;
        }
        /* every string/array element takes at least 8 bytes: bounds the loop by the file */
        if (n > (c->size - c->off) / 8) return false;
        for (uint64_t i = 0; i < n; i++)
            if (!skip_value(c, (lt_gguf_type)et, depth + 1)) return false;
        return true;
    }
    size_t es = scalar_size(t);
    if (!es || es > c->size - c->off) return false;
    if (t == LT_GGUF_BOOL && c->b[c->off] > 1) return false;
    c->off += es;
    return true;
}

static int cmp_str(lt_gguf_str a, lt_gguf_str b) {
    size_t n = a.n < b.n ? (size_t)a.n : (size_t)b.n;
    int r = memcmp(a.p, b.p, n);
    if (r) return r;
    return a.n < b.n ? -1 : a.n > b.n;
}

static int cmp_kv_key(const void *a, const void *b) {
    return cmp_str((*(gguf_kv *const *)a)->key, (*(gguf_kv *const *)b)->key);
}
static int cmp_ti_name(const void *a, const void *b) {
    return cmp_str((*(gguf_ti *const *)a)->name, (*(gguf_ti *const *)b)->name);
}
static int cmp_ti_off(const void *a, const void *b) {
    uint64_t x = (*(gguf_ti *const *)a)->off, y = (*(gguf_ti *const *)b)->off;
    return x < y ? -1 : x > y;
}

static bool str_eq(lt_gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.n == n && memcmp(s.p, z, n) == 0;
}

/* Printable (truncated) form of a file string for messages. */
static const char *show(lt_gguf_str s, char *buf, size_t cap) {
    size_t n = s.n < cap - 1 ? (size_t)s.n : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        buf[i] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    buf[n] = 0;
    return buf;
}

static lt_status parse(lt_gguf *g, lt_err *err) {
    const char *P = g->path;
    cursor c = {g->map, 0, g->size};
    char magic[4];
    uint32_t ver;
    uint64_t n_t, n_kv;
    if (!rd(&c, magic, 4) || memcmp(magic, GGUF_MAGIC, 4) != 0)
        return lt_err_set(err, LT_EFORMAT, "%s: not a GGUF file (bad magic)", P);
    if (!rd_u32(&c, &ver)) return lt_err_set(err, LT_EFORMAT, "%s: truncated GGUF header", P);
    if (ver == 1) return lt_err_set(err, LT_EUNSUPPORTED, "%s: GGUF v1 is not supported (convert to v3)", P);
    if (ver != 2 && ver != 3) return lt_err_set(err, LT_EFORMAT, "%s: unknown GGUF version %u", P, ver);
    g->version = ver;
    if (!rd_u64(&c, &n_t) || !rd_u64(&c, &n_kv))
        return lt_err_set(err, LT_EFORMAT, "%s: truncated GGUF header", P);
    /* a key/value takes >= 13 bytes, a tensor info >= 32: bound counts before allocating */
    if (n_kv > (g->size - c.off) / 13)
        return lt_err_set(err, LT_EFORMAT, "%s: key/value count %llu exceeds the file size", P,
                          (unsigned long long)n_kv);
    if (n_t > (g->size - c.off) / 32)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor count %llu exceeds the file size", P,
                          (unsigned long long)n_t);
    g->n_kv = (int64_t)n_kv;
    g->n_t = (int64_t)n_t;
    g->kv = lt_calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->ti = lt_calloc(n_t ? n_t : 1, sizeof *g->ti);
    if (!g->kv || !g->ti) return lt_err_set(err, LT_ENOMEM, "%s: out of memory reading the header", P);

    uint32_t align = GGUF_DEFAULT_ALIGN;
    char sb[80];
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        uint32_t t;
        if (!rd_str(&c, &kv->key) || !rd_u32(&c, &t))
            return lt_err_set(err, LT_EFORMAT, "%s: truncated key/value %llu", P, (unsigned long long)i);
        if (kv->key.n == 0 || kv->key.n > 65535 || memchr(kv->key.p, 0, kv->key.n))
            return lt_err_set(err, LT_EFORMAT, "%s: key/value %llu has an invalid key", P, (unsigned long long)i);
        if (t > LT_GGUF_FLOAT64)
            return lt_err_set(err, LT_EFORMAT, "%s: key '%s' has invalid type %u", P, show(kv->key, sb, sizeof sb), t);
        kv->type = (lt_gguf_type)t;
        kv->val = c.b + c.off;
        if (t == LT_GGUF_ARRAY) {
            uint32_t et;
            uint64_t n;
            size_t save = c.off;
            if (!rd_u32(&c, &et) || !rd_u64(&c, &n) || et > LT_GGUF_FLOAT64)
                return lt_err_set(err, LT_EFORMAT, "%s: key '%s': bad array header", P, show(kv->key, sb, sizeof sb));
            kv->elem = (lt_gguf_type)et;
            kv->n = n;
            if (et == LT_GGUF_STRING) {
                if (n > (c.size - c.off) / 8)
                    return lt_err_set(err, LT_EFORMAT, "%s: key '%s': array length %llu exceeds the file size", P,
                                      show(kv->key, sb, sizeof sb), (unsigned long long)n);
                kv->strs = lt_malloc((n ? n : 1) * sizeof *kv->strs);
                if (!kv->strs) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
                for (uint64_t j = 0; j < n; j++) {
                    lt_gguf_str s;
                    kv->strs[j] = c.b + c.off;
                    if (!rd_str(&c, &s))
                        return lt_err_set(err, LT_EFORMAT, "%s: key '%s': string %llu runs past the end of the file",
                                          P, show(kv->key, sb, sizeof sb), (unsigned long long)j);
                }
                continue;
            }
            c.off = save;
        }
        if (!skip_value(&c, kv->type, 0))
            return lt_err_set(err, LT_EFORMAT, "%s: key '%s': value is truncated or malformed", P,
                              show(kv->key, sb, sizeof sb));
        if (str_eq(kv->key, "general.alignment")) {
            if (t != LT_GGUF_UINT32)
                return lt_err_set(err, LT_EFORMAT, "%s: general.alignment has type %s, expected uint32", P,
                                  type_name(kv->type));
            memcpy(&align, kv->val, 4);
            if (align == 0 || (align & (align - 1)) || align > (1u << 24))
                return lt_err_set(err, LT_EFORMAT, "%s: general.alignment %u is not a power of two", P, align);
        }
    }

    uint64_t unsupported[GGML_TYPE_NAMES] = {0}; /* tensors per GGML type lathe cannot read */
    for (uint64_t i = 0; i < n_t; i++) {
        gguf_ti *ti = &g->ti[i];
        uint32_t nd, t;
        if (!rd_str(&c, &ti->name) || !rd_u32(&c, &nd))
            return lt_err_set(err, LT_EFORMAT, "%s: truncated tensor info %llu", P, (unsigned long long)i);
        if (ti->name.n == 0 || ti->name.n >= sizeof(((lt_src_tensor *)0)->name) || memchr(ti->name.p, 0, ti->name.n))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor %llu has an invalid name (empty, too long or with NUL)", P,
                              (unsigned long long)i);
        const char *tn = show(ti->name, sb, sizeof sb);
        if (nd < 1 || nd > 4)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has %u dimensions (1 to 4 allowed)", P, tn, nd);
        ti->ndim = (int)nd;
        uint64_t numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            if (!rd_u64(&c, &v)) return lt_err_set(err, LT_EFORMAT, "%s: truncated tensor info '%s'", P, tn);
            if (v == 0 || v > (1ull << 40) || numel > (1ull << 50) / v)
                return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has an invalid dimension %llu", P, tn,
                                  (unsigned long long)v);
            numel *= v;
            ti->ne[d] = (int64_t)v;
        }
        if (!rd_u32(&c, &t) || !rd_u64(&c, &ti->off))
            return lt_err_set(err, LT_EFORMAT, "%s: truncated tensor info '%s'", P, tn);
        lt_dtype dt = lt_dtype_from_gguf(t);
        if (dt == LT_DTYPE_COUNT) {
            if (!ggml_type_name(t)) return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has unknown type %u", P, tn, t);
            unsupported[t]++; /* all of them are named once the whole table is read */
            continue;
        }
        ti->dt = dt;
        int bs = lt_dtype_block(ti->dt);
        if (ti->ne[0] % bs)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s': row length %lld is not a multiple of the %s block (%d)",
                              P, tn, (long long)ti->ne[0], type_label(t), bs);
        ti->size = numel / (uint64_t)bs * (uint64_t)lt_dtype_block_bytes(ti->dt);
        if (ti->off % align)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' offset %llu is not aligned to %u", P, tn,
                              (unsigned long long)ti->off, align);
    }
    if (unsupported_error(P, unsupported, err)) return LT_EUNSUPPORTED;
    uint64_t data = ((uint64_t)c.off + align - 1) / align * align;
    if (n_t > 0 && data > g->size)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor data section starts past the end of the file", P);
    g->data_off = data;
    uint64_t avail = data <= g->size ? g->size - data : 0;
    for (uint64_t i = 0; i < n_t; i++) {
        gguf_ti *ti = &g->ti[i];
        if (ti->off > avail || ti->size > avail - ti->off)
            return lt_err_set(err, LT_EFORMAT,
                              "%s: tensor '%s' data (offset %llu, %llu bytes) lies outside the file (truncated?)", P,
                              show(ti->name, sb, sizeof sb), (unsigned long long)ti->off,
                              (unsigned long long)ti->size);
    }

    /* duplicates and overlaps, via sorted index arrays */
    size_t nmax = (size_t)(n_kv > n_t ? n_kv : n_t);
    void **idx = lt_malloc((nmax ? nmax : 1) * sizeof *idx);
    if (!idx) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    lt_status st = LT_OK;
    for (uint64_t i = 0; i < n_kv; i++) idx[i] = &g->kv[i];
    qsort(idx, n_kv, sizeof *idx, cmp_kv_key);
    for (uint64_t i = 1; i < n_kv && !st; i++)
        if (cmp_kv_key(&idx[i - 1], &idx[i]) == 0)
            st = lt_err_set(err, LT_EFORMAT, "%s: duplicate key '%s'", P,
                            show(((gguf_kv *)idx[i])->key, sb, sizeof sb));
    for (uint64_t i = 0; i < n_t && !st; i++) idx[i] = &g->ti[i];
    if (!st) qsort(idx, n_t, sizeof *idx, cmp_ti_name);
    for (uint64_t i = 1; i < n_t && !st; i++)
        if (cmp_ti_name(&idx[i - 1], &idx[i]) == 0)
            st = lt_err_set(err, LT_EFORMAT, "%s: duplicate tensor '%s'", P,
                            show(((gguf_ti *)idx[i])->name, sb, sizeof sb));
    if (!st) qsort(idx, n_t, sizeof *idx, cmp_ti_off);
    for (uint64_t i = 1; i < n_t && !st; i++) {
        gguf_ti *a = idx[i - 1], *b = idx[i];
        if (a->off + a->size > b->off) {
            char sb2[80];
            st = lt_err_set(err, LT_EFORMAT, "%s: tensors '%s' and '%s' overlap", P, show(a->name, sb, sizeof sb),
                            show(b->name, sb2, sizeof sb2));
        }
    }
    lt_free(idx);
    return st;
}

lt_status lt_gguf_open(lt_gguf **out, const char *path, lt_err *err) {
    *out = NULL;
    void *m;
    size_t size;
    LT_TRY(lt_file_map(path, 24, "a GGUF file", &m, &size, err));
    lt_gguf *g = lt_calloc(1, sizeof *g);
    if (!g || !(g->path = lt_strdup(path))) {
        lt_file_unmap(m, size);
        lt_free(g);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    g->map = m;
    g->size = size;
    lt_status st = parse(g, err);
    if (st) {
        lt_gguf_close(g);
        return st;
    }
    *out = g;
    return LT_OK;
}

void lt_gguf_close(lt_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) lt_free(g->kv[i].strs);
    lt_free(g->kv);
    lt_free(g->ti);
    lt_file_unmap(g->map, g->size);
    lt_free(g->path);
    lt_free(g);
}

const char *lt_gguf_path(const lt_gguf *g) { return g->path; }
uint32_t lt_gguf_version(const lt_gguf *g) { return g->version; }
size_t lt_gguf_file_size(const lt_gguf *g) { return g->size; }
void lt_gguf_drop_header(const lt_gguf *g) {
    /* data_off may lie past the end of a file without tensors: never advise beyond the mapping */
    lt_file_map_drop(g->map, (size_t)(g->data_off < g->size ? g->data_off : g->size));
}
int64_t lt_gguf_n_kv(const lt_gguf *g) { return g->n_kv; }
int64_t lt_gguf_n_tensors(const lt_gguf *g) { return g->n_t; }

int64_t lt_gguf_find(const lt_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (str_eq(g->kv[i].key, key)) return i;
    return -1;
}

lt_gguf_str lt_gguf_kv_key(const lt_gguf *g, int64_t i) {
    LT_ASSERT(i >= 0 && i < g->n_kv);
    return g->kv[i].key;
}

lt_gguf_type lt_gguf_kv_type(const lt_gguf *g, int64_t i) {
    LT_ASSERT(i >= 0 && i < g->n_kv);
    return g->kv[i].type;
}

static lt_status get_kv(const lt_gguf *g, const char *key, const gguf_kv **kv, lt_err *err) {
    int64_t i = lt_gguf_find(g, key);
    if (i < 0) return lt_err_set(err, LT_ENOTFOUND, "%s: key '%s' not found", g->path, key);
    *kv = &g->kv[i];
    return LT_OK;
}

static lt_status wrong_type(const lt_gguf *g, const char *key, const char *want, lt_gguf_type got, lt_err *err) {
    return lt_err_set(err, LT_EFORMAT, "%s: key '%s' has type %s, expected %s", g->path, key, type_name(got), want);
}

/* Reads any integer kv as int64/uint64 pair; returns false for non-integers. */
static bool kv_int(const gguf_kv *kv, int64_t *sv, uint64_t *uv, bool *neg) {
    const uint8_t *p = kv->val;
    *neg = false;
    switch (kv->type) {
    case LT_GGUF_UINT8: *uv = p[0]; break;
    case LT_GGUF_INT8: { int8_t v; memcpy(&v, p, 1); *sv = v; *neg = v < 0; *uv = (uint64_t)v; break; }
    case LT_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *uv = v; break; }
    case LT_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *sv = v; *neg = v < 0; *uv = (uint64_t)v; break; }
    case LT_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *uv = v; break; }
    case LT_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *sv = v; *neg = v < 0; *uv = (uint64_t)v; break; }
    case LT_GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); *uv = v; break; }
    case LT_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *sv = v; *neg = v < 0; *uv = (uint64_t)v; break; }
    default: return false;
    }
    if (!*neg) *sv = *uv > INT64_MAX ? INT64_MAX : (int64_t)*uv;
    return true;
}

lt_status lt_gguf_get_u64(const lt_gguf *g, const char *key, uint64_t *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    int64_t sv;
    uint64_t uv;
    bool neg;
    if (!kv_int(kv, &sv, &uv, &neg)) return wrong_type(g, key, "an integer", kv->type, err);
    if (neg) return lt_err_set(err, LT_ERANGE, "%s: key '%s' is negative (%lld)", g->path, key, (long long)sv);
    *out = uv;
    return LT_OK;
}

lt_status lt_gguf_get_u32(const lt_gguf *g, const char *key, uint32_t *out, lt_err *err) {
    uint64_t v;
    LT_TRY(lt_gguf_get_u64(g, key, &v, err));
    if (v > UINT32_MAX)
        return lt_err_set(err, LT_ERANGE, "%s: key '%s' value %llu does not fit 32 bits", g->path, key,
                          (unsigned long long)v);
    *out = (uint32_t)v;
    return LT_OK;
}

lt_status lt_gguf_get_i32(const lt_gguf *g, const char *key, int32_t *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    int64_t sv;
    uint64_t uv;
    bool neg;
    if (!kv_int(kv, &sv, &uv, &neg)) return wrong_type(g, key, "an integer", kv->type, err);
    if (neg ? sv < INT32_MIN : uv > INT32_MAX)
        return lt_err_set(err, LT_ERANGE, "%s: key '%s' value does not fit a 32-bit signed integer", g->path, key);
    *out = (int32_t)sv;
    return LT_OK;
}

lt_status lt_gguf_get_f32(const lt_gguf *g, const char *key, float *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    if (kv->type == LT_GGUF_FLOAT32) {
        memcpy(out, kv->val, 4);
    } else if (kv->type == LT_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
    } else {
        return wrong_type(g, key, "float32", kv->type, err);
    }
    return LT_OK;
}

lt_status lt_gguf_get_bool(const lt_gguf *g, const char *key, bool *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    if (kv->type != LT_GGUF_BOOL) return wrong_type(g, key, "bool", kv->type, err);
    *out = kv->val[0] != 0;
    return LT_OK;
}

lt_status lt_gguf_get_str(const lt_gguf *g, const char *key, lt_gguf_str *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    if (kv->type != LT_GGUF_STRING) return wrong_type(g, key, "string", kv->type, err);
    uint64_t n;
    memcpy(&n, kv->val, 8);
    out->n = n;
    out->p = (const char *)kv->val + 8;
    return LT_OK;
}

lt_status lt_gguf_get_arr(const lt_gguf *g, const char *key, lt_gguf_type *elem, uint64_t *n, const void **data,
                          lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    if (kv->type != LT_GGUF_ARRAY) return wrong_type(g, key, "array", kv->type, err);
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    if (data) *data = scalar_size(kv->elem) ? kv->val + 12 : NULL;
    return LT_OK;
}

lt_status lt_gguf_arr_str(const lt_gguf *g, const char *key, uint64_t i, lt_gguf_str *out, lt_err *err) {
    const gguf_kv *kv = NULL;
    LT_TRY(get_kv(g, key, &kv, err));
    if (kv->type != LT_GGUF_ARRAY || kv->elem != LT_GGUF_STRING)
        return lt_err_set(err, LT_EFORMAT, "%s: key '%s' is not an array of strings", g->path, key);
    if (i >= kv->n)
        return lt_err_set(err, LT_ERANGE, "%s: key '%s': index %llu out of range (%llu)", g->path, key,
                          (unsigned long long)i, (unsigned long long)kv->n);
    uint64_t n;
    memcpy(&n, kv->strs[i], 8);
    out->n = n;
    out->p = (const char *)kv->strs[i] + 8;
    return LT_OK;
}

void lt_gguf_tensor(const lt_gguf *g, int64_t i, lt_src_tensor *out) {
    LT_ASSERT(i >= 0 && i < g->n_t);
    const gguf_ti *ti = &g->ti[i];
    memset(out, 0, sizeof *out);
    memcpy(out->name, ti->name.p, ti->name.n);
    out->name[ti->name.n] = 0;
    out->dtype = ti->dt;
    out->ndim = ti->ndim;
    for (int d = 0; d < ti->ndim; d++) out->shape[d] = ti->ne[ti->ndim - 1 - d];
    out->data = g->map + g->data_off + ti->off;
    out->nbytes = (size_t)ti->size;
    out->mapped = true;
}

/* ==== vocab ============================================================================ */

static char *dup_str(lt_gguf_str s) {
    char *p = lt_malloc((size_t)s.n + 1);
    if (!p) return NULL;
    memcpy(p, s.p, (size_t)s.n);
    p[s.n] = 0;
    return p;
}

/* s as a NUL-terminated copy at *at (a string block sized for it), advancing *at. */
static char *pool_str(char **at, lt_gguf_str s) {
    char *p = *at;
    if (s.n) memcpy(p, s.p, (size_t)s.n);
    p[s.n] = 0;
    *at += (size_t)s.n + 1;
    return p;
}

/* Optional integer id: absent -> keep default; present -> must fit int32. */
static lt_status opt_id(const lt_gguf *g, const char *key, int32_t *out, lt_err *err) {
    if (lt_gguf_find(g, key) < 0) return LT_OK;
    int64_t i = lt_gguf_find(g, key);
    int64_t sv;
    uint64_t uv;
    bool neg;
    if (!kv_int(&g->kv[i], &sv, &uv, &neg)) return wrong_type(g, key, "an integer", g->kv[i].type, err);
    if (neg || uv > INT32_MAX) *out = -1;
    else *out = (int32_t)uv;
    return LT_OK;
}

static lt_status opt_bool(const lt_gguf *g, const char *key, bool *out, lt_err *err) {
    if (lt_gguf_find(g, key) < 0) return LT_OK;
    return lt_gguf_get_bool(g, key, out, err);
}

static lt_status fill_vocab(lt_vocab *v, const lt_gguf *g, lt_err *err) {
    const char *P = g->path;
    lt_gguf_str model;
    if (lt_gguf_find(g, "tokenizer.ggml.model") < 0)
        return lt_err_set(err, LT_ENOTFOUND, "%s: no tokenizer in the file (tokenizer.ggml.model absent)", P);
    LT_TRY(lt_gguf_get_str(g, "tokenizer.ggml.model", &model, err));
    char mb[64];
    if (str_eq(model, "llama")) v->type = LT_VOCAB_SPM;
    else if (str_eq(model, "gpt2")) v->type = LT_VOCAB_BPE;
    else if (str_eq(model, "bert")) v->type = LT_VOCAB_WPM;
    else if (str_eq(model, "t5")) v->type = LT_VOCAB_UGM;
    else if (str_eq(model, "no_vocab") || str_eq(model, "none"))
        return lt_err_set(err, LT_ENOTFOUND, "%s: the file has no vocab (tokenizer.ggml.model = no_vocab)", P);
    else
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: tokenizer model '%s' is not supported", P,
                          show(model, mb, sizeof mb));

    lt_gguf_type et;
    uint64_t n;
    const void *data;
    LT_TRY(lt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data, err));
    if (et != LT_GGUF_STRING) return lt_err_set(err, LT_EFORMAT, "%s: tokenizer.ggml.tokens is not a string array", P);
    if (n == 0 || n > (1u << 22))
        return lt_err_set(err, LT_EFORMAT, "%s: tokenizer.ggml.tokens has %llu entries", P, (unsigned long long)n);
    /* the texts of the tokens and merges go into one block (lt_vocab.str_pool): sized first */
    uint64_t n_merges = 0;
    bool merges = lt_gguf_find(g, "tokenizer.ggml.merges") >= 0;
    if (merges) {
        LT_TRY(lt_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n_merges, &data, err));
        if (et != LT_GGUF_STRING || n_merges > (1u << 24))
            return lt_err_set(err, LT_EFORMAT, "%s: tokenizer.ggml.merges is not a string array", P);
    }
    size_t pool = 0; /* bounded by the file's size: every text lies in the mapping */
    for (uint64_t i = 0; i < n; i++) {
        lt_gguf_str s;
        LT_TRY(lt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, err));
        if (s.n > UINT32_MAX / 2) return lt_err_set(err, LT_EFORMAT, "%s: token %llu is too long", P, (unsigned long long)i);
        pool += (size_t)s.n + 1;
    }
    for (uint64_t i = 0; i < n_merges; i++) {
        lt_gguf_str s;
        LT_TRY(lt_gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, err));
        if (memchr(s.p, 0, s.n))
            return lt_err_set(err, LT_EFORMAT, "%s: merge %llu contains a NUL byte", P, (unsigned long long)i);
        pool += (size_t)s.n + 1;
    }
    char *at = lt_vocab_pool(v, pool);
    v->n_tokens = (int32_t)n;
    v->tokens = lt_calloc(n, sizeof *v->tokens);
    v->token_len = lt_calloc(n, sizeof *v->token_len);
    if (!at || !v->tokens || !v->token_len) return lt_err_set(err, LT_ENOMEM, "%s: out of memory for the vocab", P);
    for (uint64_t i = 0; i < n; i++) {
        lt_gguf_str s;
        LT_TRY(lt_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, err));
        v->tokens[i] = pool_str(&at, s);
        v->token_len[i] = (uint32_t)s.n;
        if ((int32_t)s.n > v->max_token_len) v->max_token_len = (int32_t)s.n;
    }
    if (lt_gguf_find(g, "tokenizer.ggml.scores") >= 0) {
        uint64_t m;
        LT_TRY(lt_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &m, &data, err));
        if (et != LT_GGUF_FLOAT32 || m != n)
            return lt_err_set(err, LT_EFORMAT, "%s: tokenizer.ggml.scores must be %llu float32 values", P,
                              (unsigned long long)n);
        if (!(v->scores = lt_malloc(n * sizeof(float)))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
        memcpy(v->scores, data, n * sizeof(float));
    }
    if (lt_gguf_find(g, "tokenizer.ggml.token_type") >= 0) {
        uint64_t m;
        LT_TRY(lt_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &m, &data, err));
        if ((et != LT_GGUF_INT32 && et != LT_GGUF_UINT32) || m != n)
            return lt_err_set(err, LT_EFORMAT, "%s: tokenizer.ggml.token_type must be %llu int32 values", P,
                              (unsigned long long)n);
        if (!(v->token_types = lt_malloc(n * sizeof(int32_t))))
            return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
        memcpy(v->token_types, data, n * sizeof(int32_t));
    }
    if (merges) {
        v->merges = lt_calloc(n_merges ? n_merges : 1, sizeof *v->merges);
        if (!v->merges) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
        for (uint64_t i = 0; i < n_merges; i++) {
            lt_gguf_str s;
            LT_TRY(lt_gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, err));
            v->merges[i] = pool_str(&at, s);
        }
        v->n_merges = (int32_t)n_merges;
    }
    if (v->type == LT_VOCAB_SPM) { /* llama.cpp's defaults when the keys are absent */
        v->bos_id = 1;
        v->eos_id = 2;
        v->unk_id = 0;
    }
    LT_TRY(opt_id(g, "tokenizer.ggml.bos_token_id", &v->bos_id, err));
    LT_TRY(opt_id(g, "tokenizer.ggml.eos_token_id", &v->eos_id, err));
    LT_TRY(opt_id(g, "tokenizer.ggml.unknown_token_id", &v->unk_id, err));
    LT_TRY(opt_id(g, "tokenizer.ggml.padding_token_id", &v->pad_id, err));
    LT_TRY(opt_id(g, "tokenizer.ggml.eot_token_id", &v->eot_id, err));
    /* ids outside the vocab are treated as absent (some converters write -1 or garbage) */
    int32_t *ids[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id, &v->eot_id};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] >= v->n_tokens) *ids[i] = -1;
    v->add_bos = v->type == LT_VOCAB_SPM;
    v->add_eos = false;
    v->add_space_prefix = v->type == LT_VOCAB_SPM;
    LT_TRY(opt_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err));
    LT_TRY(opt_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err));
    LT_TRY(opt_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err));
    if (lt_gguf_find(g, "tokenizer.ggml.pre") >= 0) {
        lt_gguf_str s;
        LT_TRY(lt_gguf_get_str(g, "tokenizer.ggml.pre", &s, err));
        size_t k = s.n < sizeof v->pre - 1 ? (size_t)s.n : sizeof v->pre - 1;
        memcpy(v->pre, s.p, k);
        v->pre[k] = 0;
        if (strlen(v->pre) != k) v->pre[0] = 0;
    }
    /* llama.cpp adds BOS for Llama 3 style vocabs unless the file says otherwise */
    if ((!strcmp(v->pre, "llama3") || !strcmp(v->pre, "llama-v3") || !strcmp(v->pre, "llama-bpe")) &&
        lt_gguf_find(g, "tokenizer.ggml.add_bos_token") < 0)
        v->add_bos = true;
    if (lt_gguf_find(g, "tokenizer.chat_template") >= 0) {
        lt_gguf_str s;
        LT_TRY(lt_gguf_get_str(g, "tokenizer.chat_template", &s, err));
        if (!(v->chat_template = dup_str(s))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    }
    return lt_vocab_validate(v, P, err);
}

lt_status lt_vocab_from_gguf(lt_vocab **out, const lt_gguf *g, lt_err *err) {
    *out = NULL;
    lt_vocab *v = lt_vocab_create();
    if (!v) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", g->path);
    lt_status st = fill_vocab(v, g, err);
    if (st) {
        lt_vocab_free(v);
        return st;
    }
    *out = v;
    return LT_OK;
}

/* ==== writer =========================================================================== */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = lt_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}

typedef struct wtensor {
    char *name;
    lt_dtype dt;
    int ndim;
    int64_t shape[4];
    const void *data;           /* borrowed bytes, or NULL when fill produces them */
    lt_gguf_fill_fn fill;
    void *fill_ud;
    size_t size;
} wtensor;

struct lt_gguf_writer {
    buf kv;
    int64_t n_kv;
    char **keys;
    wtensor *t;
    int64_t n_t, cap_t;
};

lt_status lt_gguf_writer_create(lt_gguf_writer **out, lt_err *err) {
    *out = lt_calloc(1, sizeof **out);
    return *out ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory creating a GGUF writer");
}

void lt_gguf_writer_free(lt_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) lt_free(w->keys[i]);
    lt_free(w->keys);
    for (int64_t i = 0; i < w->n_t; i++) lt_free(w->t[i].name);
    lt_free(w->t);
    lt_free(w->kv.p);
    lt_free(w);
}

/* Starts a key/value: checks the key is new, writes key + type. */
static lt_status begin_kv(lt_gguf_writer *w, const char *key, lt_gguf_type t, lt_err *err) {
    if (!key || !*key) return lt_err_set(err, LT_EINVAL, "GGUF writer: empty key");
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return lt_err_set(err, LT_EINVAL, "GGUF writer: duplicate key '%s'", key);
    char **k = lt_realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *k);
    if (!k) return lt_err_set(err, LT_ENOMEM, "GGUF writer: out of memory");
    w->keys = k;
    if (!(k[w->n_kv] = lt_strdup(key))) return lt_err_set(err, LT_ENOMEM, "GGUF writer: out of memory");
    w->n_kv++;
    put_str(&w->kv, key, strlen(key));
    put_u32(&w->kv, (uint32_t)t);
    return LT_OK;
}

static lt_status end_kv(lt_gguf_writer *w, lt_err *err) {
    return w->kv.oom ? lt_err_set(err, LT_ENOMEM, "GGUF writer: out of memory") : LT_OK;
}

lt_status lt_gguf_set_str(lt_gguf_writer *w, const char *key, const char *val, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_STRING, err));
    put_str(&w->kv, val, strlen(val));
    return end_kv(w, err);
}

lt_status lt_gguf_set_u32(lt_gguf_writer *w, const char *key, uint32_t val, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_UINT32, err));
    put_u32(&w->kv, val);
    return end_kv(w, err);
}

lt_status lt_gguf_set_i32(lt_gguf_writer *w, const char *key, int32_t val, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_INT32, err));
    put(&w->kv, &val, 4);
    return end_kv(w, err);
}

lt_status lt_gguf_set_f32(lt_gguf_writer *w, const char *key, float val, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_FLOAT32, err));
    put(&w->kv, &val, 4);
    return end_kv(w, err);
}

lt_status lt_gguf_set_bool(lt_gguf_writer *w, const char *key, bool val, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_BOOL, err));
    uint8_t b = val ? 1 : 0;
    put(&w->kv, &b, 1);
    return end_kv(w, err);
}

lt_status lt_gguf_set_arr_str(lt_gguf_writer *w, const char *key, const char *const *vals, const uint32_t *lens,
                              uint64_t n, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_ARRAY, err));
    put_u32(&w->kv, LT_GGUF_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, vals[i], lens ? lens[i] : strlen(vals[i]));
    return end_kv(w, err);
}

lt_status lt_gguf_set_arr_f32(lt_gguf_writer *w, const char *key, const float *vals, uint64_t n, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_ARRAY, err));
    put_u32(&w->kv, LT_GGUF_FLOAT32);
    put_u64(&w->kv, n);
    put(&w->kv, vals, n * 4);
    return end_kv(w, err);
}

lt_status lt_gguf_set_arr_i32(lt_gguf_writer *w, const char *key, const int32_t *vals, uint64_t n, lt_err *err) {
    LT_TRY(begin_kv(w, key, LT_GGUF_ARRAY, err));
    put_u32(&w->kv, LT_GGUF_INT32);
    put_u64(&w->kv, n);
    put(&w->kv, vals, n * 4);
    return end_kv(w, err);
}

static lt_status add_tensor(lt_gguf_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                            const void *data, lt_gguf_fill_fn fill, void *fill_ud, lt_err *err) {
    if (!name || !*name || strlen(name) >= sizeof(((lt_src_tensor *)0)->name))
        return lt_err_set(err, LT_EINVAL, "GGUF writer: invalid tensor name");
    if (lt_dtype_info(dt)->gguf_type < 0)
        return lt_err_set(err, LT_EINVAL, "GGUF writer: tensor '%s': dtype %s cannot be stored in GGUF", name,
                          lt_dtype_name(dt));
    if (ndim < 1 || ndim > 4) return lt_err_set(err, LT_EINVAL, "GGUF writer: tensor '%s': %d dims", name, ndim);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0) return lt_err_set(err, LT_EINVAL, "GGUF writer: tensor '%s': bad shape", name);
        numel *= shape[d];
    }
    if (shape[ndim - 1] % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "GGUF writer: tensor '%s': row length %lld not a multiple of %d", name,
                          (long long)shape[ndim - 1], lt_dtype_block(dt));
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return lt_err_set(err, LT_EINVAL, "GGUF writer: duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *t = lt_realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return lt_err_set(err, LT_ENOMEM, "GGUF writer: out of memory");
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = lt_strdup(name))) return lt_err_set(err, LT_ENOMEM, "GGUF writer: out of memory");
    t->dt = dt;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = data;
    t->fill = fill;
    t->fill_ud = fill_ud;
    t->size = (size_t)(numel / lt_dtype_block(dt)) * (size_t)lt_dtype_block_bytes(dt);
    w->n_t++;
    return LT_OK;
}

lt_status lt_gguf_add_tensor(lt_gguf_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                             const void *data, lt_err *err) {
    return add_tensor(w, name, dt, ndim, shape, data, NULL, NULL, err);
}

lt_status lt_gguf_add_tensor_fill(lt_gguf_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                                  lt_gguf_fill_fn fill, void *ud, lt_err *err) {
    if (!fill) return lt_err_set(err, LT_EINVAL, "GGUF writer: tensor '%s': no fill function", name ? name : "?");
    return add_tensor(w, name, dt, ndim, shape, NULL, fill, ud, err);
}

static bool write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

static bool pad_to(FILE *f, uint64_t *pos, uint64_t align) {
    static const uint8_t zeros[64];
    uint64_t pad = (align - *pos % align) % align;
    *pos += pad;
    return write_all(f, zeros, (size_t)pad);
}

lt_status lt_gguf_write(lt_gguf_writer *w, const char *path, lt_err *err) {
    buf h = {0};
    put(&h, GGUF_MAGIC, 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_t);
    put_u64(&h, (uint64_t)w->n_kv);
    put(&h, w->kv.p, w->kv.n);
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) put_u64(&h, (uint64_t)t->shape[d]);
        put_u32(&h, (uint32_t)lt_dtype_info(t->dt)->gguf_type);
        put_u64(&h, off);
        off += (t->size + GGUF_DEFAULT_ALIGN - 1) / GGUF_DEFAULT_ALIGN * GGUF_DEFAULT_ALIGN;
    }
    if (h.oom || w->kv.oom) {
        lt_free(h.p);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory building the GGUF header", path);
    }
    size_t scratch_n = 0; /* one buffer, as large as the largest filled tensor */
    for (int64_t i = 0; i < w->n_t; i++)
        if (w->t[i].fill && w->t[i].size > scratch_n) scratch_n = w->t[i].size;
    void *scratch = scratch_n ? lt_malloc(scratch_n) : NULL;
    if (scratch_n && !scratch) {
        lt_free(h.p);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory (%.1f MiB for one tensor)", path, scratch_n / 1048576.0);
    }
    lt_afile af;
    lt_status st = lt_afile_open(&af, path, err);
    if (st == LT_OK) {
        uint64_t pos = h.n;
        bool ok = write_all(af.f, h.p, h.n) && pad_to(af.f, &pos, GGUF_DEFAULT_ALIGN);
        lt_status fst = LT_OK;
        for (int64_t i = 0; ok && i < w->n_t; i++) {
            const wtensor *t = &w->t[i];
            const void *data = t->data;
            if (t->fill) {
                fst = t->fill(t->fill_ud, scratch, t->size, err);
                if (fst != LT_OK) break;
                data = scratch;
            }
            pos += t->size;
            ok = write_all(af.f, data, t->size) && pad_to(af.f, &pos, GGUF_DEFAULT_ALIGN);
        }
        if (fst != LT_OK) {
            lt_afile_abort(&af); /* the fill function's error stands */
            st = fst;
        } else {
            st = lt_afile_close(&af, ok, err);
        }
    }
    lt_free(scratch);
    lt_free(h.p);
    return st;
}
