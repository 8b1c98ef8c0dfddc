/* torchpt.c - see torchpt.h. The zip side is libzip's; the pickle side is the subset torch
 * writes for a state dict (torch/serialization.py _save, pickle protocol 2).
 *
 * Where a stored entry's bytes start in the file: libzip has no call for it, so the archive is
 * opened through a source over the mapping that remembers where each read began; reading the
 * first byte of an entry (compressed form, i.e. as stored) makes libzip read its local header
 * and then that byte, at the offset of the entry's data.
 */
#include "torchpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/formats/zip_lib.h"

#define PT_MAX_NDIM LT_MAX_DIMS

typedef struct pt_storage {
    char key[64];
    lt_dtype dtype;
    int64_t numel;
    const uint8_t *data; /* into the mapping */
    size_t nbytes;
} pt_storage;

typedef struct pt_tensor {
    char name[96];
    int storage;
    int64_t offset; /* elements */
    int ndim;
    int64_t shape[PT_MAX_NDIM];
    int64_t stride[PT_MAX_NDIM]; /* elements */
    bool strided;                /* not row-major: gathered into a copy */
    const void *data;
    size_t nbytes;
    bool mapped;
} pt_tensor;

struct lt_torchpt {
    char *path;
    char archive[256];
    void *map;
    size_t size;
    bool map_taken;
    pt_storage *st;
    int n_st, cap_st;
    pt_tensor *t;
    int n_t, cap_t;
    void **copies; /* data of tensors not aligned in the file */
    int n_copies;
};

/* ==== the pickle machine ==================================================================== */

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR, V_MARK } vkind;
typedef enum { G_ODICT, G_REBUILD, G_HALF, G_FLOAT, G_BF16 } gid;

typedef struct pv pv;
struct pv {
    vkind k;
    int64_t i;      /* int, bool, global id, storage or tensor index */
    const char *s;  /* string bytes (in the pickle buffer) */
    uint32_t n;     /* string length; tuple items; dict pairs */
    uint32_t cap;
    pv **items;     /* tuple: n; dict: 2n (key, value) */
};

typedef struct pk {
    lt_torchpt *pt;
    const uint8_t *p;
    size_t n, pos;
    const char *what; /* for messages: "FILE: data.pkl" */
    pv **stack;
    size_t sp, scap;
    pv **memo;
    size_t n_memo, memo_len; /* slots, entries set */
    void **allocs;
    size_t n_allocs, cap_allocs;
} pk;

static bool track(pk *m, void *p) {
    if (!p) return false;
    if (m->n_allocs == m->cap_allocs) {
        size_t c = m->cap_allocs ? m->cap_allocs * 2 : 256;
        void **a = lt_realloc(m->allocs, c * sizeof *a);
        if (!a) {
            lt_free(p);
            return false;
        }
        m->allocs = a, m->cap_allocs = c;
    }
    m->allocs[m->n_allocs++] = p;
    return true;
}

static pv *newv(pk *m, vkind k) {
    pv *v = lt_calloc(1, sizeof *v);
    if (!track(m, v)) return NULL;
    v->k = k;
    return v;
}

static const char *op_name(uint8_t op) {
    switch (op) {
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'G': return "BINFLOAT";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'P': return "PERSID";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 'd': return "DICT";
    case 'g': return "GET";
    case 'i': return "INST";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x8b: return "LONG4";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    default: return "unknown";
    }
}

static lt_status perr(pk *m, lt_err *err, lt_status code, const char *msg) {
    return lt_err_set(err, code, "%s: %s (byte %zu)", m->what, msg, m->pos);
}

static lt_status push(pk *m, pv *v, lt_err *err) {
    if (!v) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
    if (m->sp == m->scap) {
        size_t c = m->scap ? m->scap * 2 : 64;
        pv **s = lt_realloc(m->stack, c * sizeof *s);
        if (!s) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
        m->stack = s, m->scap = c;
    }
    m->stack[m->sp++] = v;
    return LT_OK;
}

static lt_status pop(pk *m, pv **v, lt_err *err) {
    if (!m->sp || m->stack[m->sp - 1]->k == V_MARK) return perr(m, err, LT_EFORMAT, "stack underflow");
    *v = m->stack[--m->sp];
    return LT_OK;
}

/* index of the topmost mark */
static lt_status find_mark(pk *m, size_t *at, lt_err *err) {
    for (size_t i = m->sp; i > 0; i--)
        if (m->stack[i - 1]->k == V_MARK) return *at = i - 1, LT_OK;
    return perr(m, err, LT_EFORMAT, "no MARK on the stack");
}

static lt_status need(pk *m, size_t k, lt_err *err) {
    return m->n - m->pos >= k ? LT_OK : perr(m, err, LT_EFORMAT, "truncated");
}

static uint64_t rd_le(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static lt_status make_tuple(pk *m, pv **items, size_t n, lt_err *err) {
    pv *t = newv(m, V_TUPLE);
    if (!t) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
    if (n) {
        t->items = lt_malloc(n * sizeof *t->items);
        if (!track(m, t->items)) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
        memcpy(t->items, items, n * sizeof *items);
    }
    t->n = (uint32_t)n;
    return push(m, t, err);
}

static lt_status dict_set(pk *m, pv *d, pv *k, pv *v, lt_err *err) {
    if (d->k != V_DICT) return perr(m, err, LT_EFORMAT, "SETITEM(S) on something that is not a dict");
    if (d->n == d->cap) {
        uint32_t c = d->cap ? d->cap * 2 : 8;
        pv **a = lt_malloc((size_t)c * 2 * sizeof *a);
        if (!track(m, a)) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
        if (d->n) memcpy(a, d->items, (size_t)d->n * 2 * sizeof *a);
        d->items = a, d->cap = c; /* the old array stays tracked and is freed at the end */
    }
    d->items[2 * d->n] = k, d->items[2 * d->n + 1] = v;
    d->n++;
    return LT_OK;
}

static lt_status memo_put(pk *m, uint64_t idx, lt_err *err) {
    if (!m->sp || m->stack[m->sp - 1]->k == V_MARK) return perr(m, err, LT_EFORMAT, "memo of an empty stack");
    if (idx >= m->n) return perr(m, err, LT_EFORMAT, "memo index out of range");
    if (idx >= m->n_memo) {
        size_t c = m->n_memo ? m->n_memo : 64;
        while (c <= idx) c *= 2;
        if (c > m->n) c = m->n;
        pv **a = lt_realloc(m->memo, c * sizeof *a);
        if (!a) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
        memset(a + m->n_memo, 0, (c - m->n_memo) * sizeof *a);
        m->memo = a, m->n_memo = c;
    }
    if (!m->memo[idx]) m->memo_len++;
    m->memo[idx] = m->stack[m->sp - 1];
    return LT_OK;
}

static lt_status memo_get(pk *m, uint64_t idx, lt_err *err) {
    if (idx >= m->n_memo || !m->memo[idx]) return perr(m, err, LT_EFORMAT, "BINGET of an unset memo entry");
    return push(m, m->memo[idx], err);
}

static bool is_int(const pv *v) { return v->k == V_INT; }

static lt_status global(pk *m, lt_err *err) {
    const char *a = (const char *)m->p + m->pos, *end = (const char *)m->p + m->n;
    const char *nl1 = memchr(a, '\n', (size_t)(end - a));
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (!nl2) return perr(m, err, LT_EFORMAT, "GLOBAL: truncated");
    char mod[64], name[64];
    snprintf(mod, sizeof mod, "%.*s", (int)(nl1 - a < 63 ? nl1 - a : 63), a);
    snprintf(name, sizeof name, "%.*s", (int)(nl2 - nl1 - 1 < 63 ? nl2 - nl1 - 1 : 63), nl1 + 1);
    m->pos = (size_t)(nl2 + 1 - (const char *)m->p);
    static const struct {
        const char *mod, *name;
        gid id;
    } ok[] = {{"collections", "OrderedDict", G_ODICT},
              {"torch._utils", "_rebuild_tensor_v2", G_REBUILD},
              {"torch", "HalfStorage", G_HALF},
              {"torch", "FloatStorage", G_FLOAT},
              {"torch", "BFloat16Storage", G_BF16}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if ((size_t)(nl1 - a) == strlen(ok[i].mod) && !memcmp(a, ok[i].mod, (size_t)(nl1 - a)) &&
            (size_t)(nl2 - nl1 - 1) == strlen(ok[i].name) && !memcmp(nl1 + 1, ok[i].name, (size_t)(nl2 - nl1 - 1))) {
            pv *v = newv(m, V_GLOBAL);
            if (v) v->i = ok[i].id;
            return push(m, v, err);
        }
    for (char *c = mod; *c; c++)
        if (*c < 32 || *c > 126) *c = '?';
    for (char *c = name; *c; c++)
        if (*c < 32 || *c > 126) *c = '?';
    return lt_err_set(err, LT_EUNSUPPORTED,
                      "%s: global '%s.%s' is not part of a state dict lathe reads (OrderedDict, "
                      "_rebuild_tensor_v2, Half/BFloat16/FloatStorage) (byte %zu)",
                      m->what, mod, name, m->pos);
}

/* BINPERSID: ('storage', storage type, key, location, numel) */
static lt_status persid(pk *m, lt_err *err) {
    pv *t = NULL;
    LT_TRY(pop(m, &t, err));
    if (t->k != V_TUPLE || t->n != 5 || t->items[0]->k != V_STR || t->items[0]->n != 7 ||
        memcmp(t->items[0]->s, "storage", 7) || t->items[1]->k != V_GLOBAL || t->items[1]->i < G_HALF ||
        t->items[2]->k != V_STR || t->items[3]->k != V_STR || !is_int(t->items[4]) || t->items[4]->i < 0)
        return perr(m, err, LT_EFORMAT, "a persistent id that is not ('storage', type, key, location, numel)");
    const pv *key = t->items[2];
    if (key->n == 0 || key->n >= 64 || memchr(key->s, '/', key->n) || memchr(key->s, 0, key->n))
        return perr(m, err, LT_EFORMAT, "a storage key that is not a short name");
    lt_dtype dt = t->items[1]->i == G_HALF ? LT_F16 : t->items[1]->i == G_BF16 ? LT_BF16 : LT_F32;
    lt_torchpt *pt = m->pt;
    int s = 0;
    while (s < pt->n_st && (strlen(pt->st[s].key) != key->n || memcmp(pt->st[s].key, key->s, key->n))) s++;
    if (s == pt->n_st) {
        if (pt->n_st == pt->cap_st) {
            int c = pt->cap_st ? pt->cap_st * 2 : 16;
            pt_storage *a = lt_realloc(pt->st, (size_t)c * sizeof *a);
            if (!a) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
            pt->st = a, pt->cap_st = c;
        }
        memset(&pt->st[s], 0, sizeof pt->st[s]);
        snprintf(pt->st[s].key, sizeof pt->st[s].key, "%.*s", (int)key->n, key->s);
        pt->st[s].dtype = dt;
        pt->n_st++;
    } else if (pt->st[s].dtype != dt) {
        return perr(m, err, LT_EFORMAT, "one storage key with two storage types");
    }
    if (t->items[4]->i > pt->st[s].numel) pt->st[s].numel = t->items[4]->i;
    pv *v = newv(m, V_STORAGE);
    if (v) v->i = s;
    return push(m, v, err);
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
static lt_status rebuild(pk *m, const pv *a, lt_err *err) {
    if (a->n != 6 && a->n != 7) return perr(m, err, LT_EFORMAT, "_rebuild_tensor_v2 with a wrong number of arguments");
    const pv *sto = a->items[0], *off = a->items[1], *size = a->items[2], *stride = a->items[3];
    if (sto->k != V_STORAGE || !is_int(off) || off->i < 0 || size->k != V_TUPLE || stride->k != V_TUPLE ||
        a->items[4]->k != V_BOOL)
        return perr(m, err, LT_EFORMAT, "_rebuild_tensor_v2 arguments of the wrong kinds");
    if (size->n != stride->n) return perr(m, err, LT_EFORMAT, "_rebuild_tensor_v2: size and stride differ in length");
    if (size->n > PT_MAX_NDIM)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a tensor of %u dimensions (lathe reads up to %d) (byte %zu)",
                          m->what, size->n, PT_MAX_NDIM, m->pos);
    lt_torchpt *pt = m->pt;
    if (pt->n_t == pt->cap_t) {
        int c = pt->cap_t ? pt->cap_t * 2 : 64;
        pt_tensor *t = lt_realloc(pt->t, (size_t)c * sizeof *t);
        if (!t) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", m->what);
        pt->t = t, pt->cap_t = c;
    }
    pt_tensor *t = &pt->t[pt->n_t];
    memset(t, 0, sizeof *t);
    t->storage = (int)sto->i;
    t->offset = off->i;
    t->ndim = (int)size->n;
    int64_t numel = 1, want = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (!is_int(size->items[d]) || size->items[d]->i < 0 || !is_int(stride->items[d]) || stride->items[d]->i < 0 ||
            stride->items[d]->i > ((int64_t)1 << 48))
            return perr(m, err, LT_EFORMAT, "_rebuild_tensor_v2: a size or stride that is not a natural number");
        t->shape[d] = size->items[d]->i;
        t->stride[d] = stride->items[d]->i;
        if (t->shape[d] > ((int64_t)1 << 40) || (numel && t->shape[d] > ((int64_t)1 << 48) / (numel ? numel : 1)))
            return perr(m, err, LT_EFORMAT, "_rebuild_tensor_v2: a tensor too large");
        numel *= t->shape[d];
    }
    /* row-major (a dimension of size 1 may have any stride), or strided: a slice of a larger
       matrix, as torch.save writes a state dict whose tensors are views (SliceGPT's sliced
       weights keep their whole storage), gathered into a copy when the file is opened */
    for (int d = t->ndim - 1; d >= 0 && numel; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want) t->strided = true;
        want *= t->shape[d];
    }
    pv *v = newv(m, V_TENSOR);
    if (v) v->i = pt->n_t;
    pt->n_t++;
    return push(m, v, err);
}

static lt_status reduce(pk *m, lt_err *err) {
    pv *args = NULL, *fn = NULL;
    LT_TRY(pop(m, &args, err));
    LT_TRY(pop(m, &fn, err));
    if (fn->k != V_GLOBAL || args->k != V_TUPLE) return perr(m, err, LT_EFORMAT, "REDUCE of something not callable");
    if (fn->i == G_ODICT) {
        if (args->n) return perr(m, err, LT_EFORMAT, "OrderedDict with arguments");
        return push(m, newv(m, V_DICT), err);
    }
    if (fn->i == G_REBUILD) return rebuild(m, args, err);
    return perr(m, err, LT_EFORMAT, "REDUCE of a storage type");
}

static lt_status run_pickle(pk *m, pv **result, lt_err *err) {
    *result = NULL;
    while (m->pos < m->n) {
        const size_t at = m->pos;
        const uint8_t op = m->p[m->pos++];
        uint64_t x;
        pv *v = NULL, *k = NULL;
        size_t mk = 0;
        switch (op) {
        case 0x80: /* PROTO */
            LT_TRY(need(m, 1, err));
            if (m->p[m->pos] < 2 || m->p[m->pos] > 5) return perr(m, err, LT_EUNSUPPORTED, "pickle protocol not 2..5");
            m->pos++;
            break;
        case 0x95: /* FRAME */
            LT_TRY(need(m, 8, err));
            m->pos += 8;
            break;
        case 'c': LT_TRY(global(m, err)); break;
        case 'q': LT_TRY(need(m, 1, err)); LT_TRY(memo_put(m, m->p[m->pos++], err)); break;
        case 'r':
            LT_TRY(need(m, 4, err));
            x = rd_le(m->p + m->pos, 4), m->pos += 4;
            LT_TRY(memo_put(m, x, err));
            break;
        case 0x94: LT_TRY(memo_put(m, m->memo_len, err)); break; /* MEMOIZE */
        case 'h': LT_TRY(need(m, 1, err)); LT_TRY(memo_get(m, m->p[m->pos++], err)); break;
        case 'j':
            LT_TRY(need(m, 4, err));
            x = rd_le(m->p + m->pos, 4), m->pos += 4;
            LT_TRY(memo_get(m, x, err));
            break;
        case '(': LT_TRY(push(m, newv(m, V_MARK), err)); break;
        case ')': LT_TRY(make_tuple(m, NULL, 0, err)); break;
        case 't':
            LT_TRY(find_mark(m, &mk, err));
            {
                size_t n = m->sp - mk - 1;
                m->sp = mk;
                LT_TRY(make_tuple(m, m->stack + mk + 1, n, err));
            }
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            for (size_t i = 0; i < n; i++)
                if (m->sp < n - i || m->stack[m->sp - 1 - i]->k == V_MARK)
                    return perr(m, err, LT_EFORMAT, "stack underflow");
            m->sp -= n;
            LT_TRY(make_tuple(m, m->stack + m->sp, n, err));
            break;
        }
        case '}': LT_TRY(push(m, newv(m, V_DICT), err)); break;
        case 's':
            LT_TRY(pop(m, &v, err));
            LT_TRY(pop(m, &k, err));
            if (!m->sp) return perr(m, err, LT_EFORMAT, "stack underflow");
            LT_TRY(dict_set(m, m->stack[m->sp - 1], k, v, err));
            break;
        case 'u':
            LT_TRY(find_mark(m, &mk, err));
            if ((m->sp - mk - 1) % 2 || mk == 0) return perr(m, err, LT_EFORMAT, "SETITEMS of an odd count");
            for (size_t i = mk + 1; i < m->sp; i += 2) LT_TRY(dict_set(m, m->stack[mk - 1], m->stack[i], m->stack[i + 1], err));
            m->sp = mk;
            break;
        case 'X': case 0x8c: { /* BINUNICODE, SHORT_BINUNICODE */
            int w = op == 'X' ? 4 : 1;
            LT_TRY(need(m, (size_t)w, err));
            x = rd_le(m->p + m->pos, w), m->pos += (size_t)w;
            LT_TRY(need(m, x, err));
            v = newv(m, V_STR);
            if (v) v->s = (const char *)m->p + m->pos, v->n = (uint32_t)x;
            m->pos += x;
            LT_TRY(push(m, v, err));
            break;
        }
        case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
            int w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            LT_TRY(need(m, (size_t)w, err));
            x = rd_le(m->p + m->pos, w), m->pos += (size_t)w;
            v = newv(m, V_INT);
            if (v) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
            LT_TRY(push(m, v, err));
            break;
        }
        case 0x8a: { /* LONG1: n bytes, little-endian two's complement */
            LT_TRY(need(m, 1, err));
            int w = m->p[m->pos++];
            if (w > 8) return perr(m, err, LT_EUNSUPPORTED, "an integer wider than 64 bits");
            LT_TRY(need(m, (size_t)w, err));
            x = w ? rd_le(m->p + m->pos, w) : 0;
            if (w && w < 8 && (m->p[m->pos + (size_t)w - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * w);
            m->pos += (size_t)w;
            v = newv(m, V_INT);
            if (v) v->i = (int64_t)x;
            LT_TRY(push(m, v, err));
            break;
        }
        case 0x88: case 0x89:
            v = newv(m, V_BOOL);
            if (v) v->i = op == 0x88;
            LT_TRY(push(m, v, err));
            break;
        case 'N': LT_TRY(push(m, newv(m, V_NONE), err)); break;
        case 'R': LT_TRY(reduce(m, err)); break;
        case 'Q': LT_TRY(persid(m, err)); break;
        case 'b': /* BUILD: only an OrderedDict's attributes (_metadata), which lathe does not need */
            LT_TRY(pop(m, &v, err));
            if (!m->sp || m->stack[m->sp - 1]->k != V_DICT || (v->k != V_DICT && v->k != V_NONE))
                return perr(m, err, LT_EFORMAT, "BUILD of something other than a dict's attributes");
            break;
        case '.':
            LT_TRY(pop(m, result, err));
            return LT_OK;
        default:
            m->pos = at;
            return lt_err_set(err, LT_EUNSUPPORTED,
                              "%s: pickle opcode 0x%02x (%s) is not part of a state dict lathe reads (byte %zu)",
                              m->what, op, op_name(op), at);
        }
    }
    return perr(m, err, LT_EFORMAT, "no STOP");
}

static void pk_free(pk *m) {
    for (size_t i = 0; i < m->n_allocs; i++) lt_free(m->allocs[i]);
    lt_free(m->allocs), lt_free(m->stack), lt_free(m->memo);
}

/* ==== the archive ============================================================================ */

/* A libzip source over the mapping that remembers where the last read began. */
typedef struct zsrc {
    const uint8_t *p;
    size_t n, pos;
    int64_t last;
    zip_error_t e;
} zsrc;

static zip_int64_t zsrc_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
    zsrc *s = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN: s->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
        size_t k = s->pos < s->n ? s->n - s->pos : 0;
        if (len < k) k = (size_t)len;
        if (k) s->last = (int64_t)s->pos;
        memcpy(data, s->p + s->pos, k);
        s->pos += k;
        return (zip_int64_t)k;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        lt_zip.zip_stat_init(st);
        st->size = s->n;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR: return lt_zip.zip_error_to_data(&s->e, data, len);
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SEEK: {
        zip_int64_t np = lt_zip.zip_source_seek_compute_offset(s->pos, s->n, data, len, &s->e);
        if (np < 0) return -1;
        s->pos = (size_t)np;
        return 0;
    }
    case ZIP_SOURCE_TELL: return (zip_int64_t)s->pos;
    case ZIP_SOURCE_SUPPORTS:
        return lt_zip.zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                              ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
                                              ZIP_SOURCE_SUPPORTS, -1);
    default: lt_zip.zip_error_set(&s->e, ZIP_ER_OPNOTSUPP, 0); return -1;
    }
}

static lt_status zerr(lt_err *err, lt_status code, const char *path, const char *what, zip_error_t *ze) {
    lt_status st = lt_err_set(err, code, "%s: %s: %s", path, what, lt_zip.zip_error_strerror(ze));
    lt_zip.zip_error_fini(ze);
    return st;
}

/* the entry NAME under the archive folder, or -1 */
static int64_t locate(zip_t *za, const char *archive, const char *name) {
    char full[512];
    snprintf(full, sizeof full, "%s/%s", archive, name);
    return lt_zip.zip_name_locate(za, full, ZIP_FL_ENC_RAW);
}

/* the bytes of a small entry, whatever its compression, NUL-terminated */
static lt_status read_entry(zip_t *za, int64_t idx, const char *path, const char *name, size_t max, char **out,
                            size_t *len, lt_err *err) {
    *out = NULL;
    zip_stat_t zs;
    if (lt_zip.zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return lt_err_set(err, LT_EFORMAT, "%s: cannot stat the entry %s", path, name);
    if (zs.size > max) return lt_err_set(err, LT_EFORMAT, "%s: the entry %s is too large (%llu bytes)", path, name,
                                         (unsigned long long)zs.size);
    char *b = lt_malloc((size_t)zs.size + 1);
    if (!b) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    zip_file_t *zf = lt_zip.zip_fopen_index(za, (zip_uint64_t)idx, 0);
    zip_int64_t r = zf ? lt_zip.zip_fread(zf, b, zs.size) : -1;
    if (zf) lt_zip.zip_fclose(zf);
    if (r < 0 || (zip_uint64_t)r != zs.size) {
        lt_free(b);
        return lt_err_set(err, LT_EFORMAT, "%s: cannot read the entry %s: %s", path, name, lt_zip.zip_strerror(za));
    }
    b[zs.size] = 0;
    *out = b, *len = (size_t)zs.size;
    return LT_OK;
}

/* Where the stored entry idx's bytes lie in the file. */
static lt_status entry_data(zip_t *za, zsrc *s, int64_t idx, const char *path, const char *name, size_t need_bytes,
                            const uint8_t **data, lt_err *err) {
    zip_stat_t zs;
    if (lt_zip.zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) ||
        !(zs.valid & ZIP_STAT_COMP_METHOD))
        return lt_err_set(err, LT_EFORMAT, "%s: cannot stat the entry %s", path, name);
    if (zs.comp_method != ZIP_CM_STORE || ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method) ||
        ((zs.valid & ZIP_STAT_COMP_SIZE) && zs.comp_size != zs.size))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: the entry %s is compressed or encrypted (torch.save stores "
                          "storages uncompressed)", path, name);
    if (zs.size < need_bytes)
        return lt_err_set(err, LT_EFORMAT, "%s: the entry %s has %llu bytes, its storage needs %zu", path, name,
                          (unsigned long long)zs.size, need_bytes);
    *data = s->p;
    if (!need_bytes) return LT_OK;
    uint8_t head[16];
    const size_t k = need_bytes < sizeof head ? need_bytes : sizeof head;
    s->last = -1;
    zip_file_t *zf = lt_zip.zip_fopen_index(za, (zip_uint64_t)idx, ZIP_FL_COMPRESSED);
    zip_int64_t r = zf ? lt_zip.zip_fread(zf, head, k) : -1;
    if (zf) lt_zip.zip_fclose(zf);
    if (r != (zip_int64_t)k || s->last < 0 || (uint64_t)s->last > s->n || zs.size > s->n - (size_t)s->last ||
        memcmp(s->p + s->last, head, k))
        return lt_err_set(err, LT_EFORMAT, "%s: cannot locate the data of the entry %s", path, name);
    *data = s->p + s->last;
    return LT_OK;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static lt_status resolve(lt_torchpt *pt, zip_t *za, zsrc *s, const pv *dict, lt_err *err) {
    const char *P = pt->path;
    for (int i = 0; i < pt->n_st; i++) {
        pt_storage *st = &pt->st[i];
        const size_t es = lt_dtype_info(st->dtype)->block_bytes;
        if ((uint64_t)st->numel > (uint64_t)(s->n / es))
            return lt_err_set(err, LT_EFORMAT, "%s: storage %s has %lld elements, more than the file holds", P, st->key,
                              (long long)st->numel);
        st->nbytes = (size_t)st->numel * es;
        char name[96];
        snprintf(name, sizeof name, "data/%s", st->key);
        const int64_t idx = locate(za, pt->archive, name);
        if (idx < 0) return lt_err_set(err, LT_EFORMAT, "%s: the storage entry %s/%s is missing", P, pt->archive, name);
        LT_TRY(entry_data(za, s, idx, P, name, st->nbytes, &st->data, err));
    }
    /* the state dict: names in order, each a tensor */
    pt_tensor *fin = lt_calloc((size_t)dict->n + 1, sizeof *fin);
    if (!fin) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    for (uint32_t i = 0; i < dict->n; i++) {
        const pv *k = dict->items[2 * i], *v = dict->items[2 * i + 1];
        if (k->k != V_STR || k->n == 0 || k->n >= sizeof fin[i].name || memchr(k->s, 0, k->n)) {
            lt_free(fin);
            return lt_err_set(err, LT_EFORMAT, "%s: a state dict key that is not a name of 1 to 95 bytes", P);
        }
        if (v->k != V_TENSOR) {
            lt_free(fin);
            return lt_err_set(err, LT_EFORMAT, "%s: '%.*s' is not a tensor (lathe reads state dicts: names to "
                              "tensors)", P, (int)k->n, k->s);
        }
        fin[i] = pt->t[v->i];
        memcpy(fin[i].name, k->s, k->n);
        fin[i].name[k->n] = 0;
    }
    const char **names = lt_malloc(((size_t)dict->n + 1) * sizeof *names); /* a key twice? (sorted) */
    if (!names) {
        lt_free(fin);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    }
    for (uint32_t i = 0; i < dict->n; i++) names[i] = fin[i].name;
    qsort(names, dict->n, sizeof *names, cmp_name);
    for (uint32_t i = 1; i < dict->n; i++)
        if (!strcmp(names[i - 1], names[i])) {
            lt_status st = lt_err_set(err, LT_EFORMAT, "%s: the key '%s' appears twice", P, names[i]);
            lt_free(names), lt_free(fin);
            return st;
        }
    lt_free(names);
    lt_free(pt->t);
    pt->t = fin, pt->n_t = pt->cap_t = (int)dict->n;
    pt->copies = lt_calloc((size_t)pt->n_t + 1, sizeof *pt->copies);
    if (!pt->copies) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    for (int i = 0; i < pt->n_t; i++) {
        pt_tensor *t = &pt->t[i];
        const pt_storage *st = &pt->st[t->storage];
        const size_t es = lt_dtype_info(st->dtype)->block_bytes;
        uint64_t numel = 1, span = 1; /* elements; span: the last one touched + 1 */
        for (int d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
        bool bad_view = false; /* a span that overflows, or a view holding more elements than it spans */
        if (t->strided && numel) {
            for (int d = 0; d < t->ndim; d++) {
                uint64_t step;
                bad_view |= __builtin_mul_overflow((uint64_t)(t->shape[d] - 1), (uint64_t)t->stride[d], &step) ||
                            __builtin_add_overflow(span, step, &span);
            }
            /* torch saves views that reuse no element; a stride-0 (expanded) tensor would let a tiny
               file ask for an arbitrarily large copy */
            bad_view |= numel > span;
        } else {
            span = numel;
        }
        if (bad_view)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has strides that overlap or overflow (a view lathe "
                              "does not gather; save t.contiguous())", P, t->name);
        if ((uint64_t)t->offset > st->nbytes / es || span > st->nbytes / es - (uint64_t)t->offset)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' (%llu elements at %lld) lies outside its storage "
                              "(%lld elements)", P, t->name, (unsigned long long)span, (long long)t->offset,
                              (long long)st->numel);
        t->nbytes = (size_t)numel * es;
        const uint8_t *d = st->data + (size_t)t->offset * es;
        t->data = d, t->mapped = true;
        if (t->strided && t->nbytes) { /* a view: its elements gathered in row-major order */
            uint8_t *c = lt_malloc(t->nbytes);
            if (!c) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
            int64_t idx[PT_MAX_NDIM] = {0};
            for (uint64_t k = 0; k < numel; k++) {
                uint64_t at = 0;
                for (int q = 0; q < t->ndim; q++) at += (uint64_t)idx[q] * (uint64_t)t->stride[q];
                memcpy(c + k * es, d + at * es, es);
                for (int q = t->ndim - 1; q >= 0 && ++idx[q] == t->shape[q]; q--) idx[q] = 0;
            }
            pt->copies[pt->n_copies++] = c;
            t->data = c, t->mapped = false;
            continue;
        }
        if ((uintptr_t)d % es && t->nbytes) { /* misaligned in the file: a copy */
            void *c = lt_malloc(t->nbytes);
            if (!c) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
            memcpy(c, d, t->nbytes);
            pt->copies[pt->n_copies++] = c;
            t->data = c, t->mapped = false;
        }
    }
    return LT_OK;
}

static lt_status open_pt(lt_torchpt *pt, lt_err *err) {
    const char *P = pt->path;
    LT_TRY(lt_file_map(P, 22, "a torch.save file", &pt->map, &pt->size, err));
    const uint8_t *h = pt->map;
    if (h[0] == 0x80 && h[1] <= 5)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a legacy torch.save file (a bare pickle, PyTorch before 1.6): "
                          "re-save it with a current torch", P);
    if (memcmp(h, "PK\x03\x04", 4))
        return lt_err_set(err, LT_EFORMAT, "%s: not a torch.save file (no zip archive)", P);
    lt_status zst = lt_zip_load(err);
    if (zst) {
        lt_err_prefix(err, "%s: reading a torch.save file", P);
        return zst;
    }
    zsrc s = {.p = pt->map, .n = pt->size, .last = -1};
    lt_zip.zip_error_init(&s.e);
    zip_error_t ze;
    lt_zip.zip_error_init(&ze);
    zip_source_t *zs = lt_zip.zip_source_function_create(zsrc_cb, &s, &ze);
    if (!zs) return zerr(err, LT_ENOMEM, P, "libzip", &ze);
    zip_t *za = lt_zip.zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za) {
        lt_zip.zip_source_free(zs);
        lt_zip.zip_error_fini(&s.e);
        return zerr(err, LT_EFORMAT, P, "not a valid zip archive", &ze);
    }
    lt_zip.zip_error_fini(&ze);
    lt_status st = LT_OK;
    const char *first = lt_zip.zip_get_num_entries(za, 0) > 0 ? lt_zip.zip_get_name(za, 0, ZIP_FL_ENC_RAW) : NULL;
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first || (size_t)(slash - first) >= sizeof pt->archive)
        st = lt_err_set(err, LT_EFORMAT, "%s: a zip archive, but not a torch.save file (its entries are not in one "
                        "folder)", P);
    else snprintf(pt->archive, sizeof pt->archive, "%.*s", (int)(slash - first), first);
    char *b = NULL;
    size_t n = 0;
    int64_t idx = st ? -1 : locate(za, pt->archive, "byteorder");
    if (idx >= 0) {
        st = read_entry(za, idx, P, "byteorder", 64, &b, &n, err);
        if (!st && strcmp(b, "little"))
            st = lt_err_set(err, LT_EUNSUPPORTED, "%s: byteorder '%.16s' (lathe reads little-endian files)", P, b);
        lt_free(b);
        b = NULL;
    }
    if (!st && (idx = locate(za, pt->archive, "data.pkl")) < 0)
        st = lt_err_set(err, LT_EFORMAT, "%s: a zip archive without %s/data.pkl: not a torch.save file", P, pt->archive);
    if (!st) st = read_entry(za, idx, P, "data.pkl", 256u << 20, &b, &n, err);
    if (!st) {
        char what[4200];
        snprintf(what, sizeof what, "%s: %s/data.pkl", P, pt->archive);
        pk m = {.pt = pt, .p = (const uint8_t *)b, .n = n, .what = what};
        pv *res = NULL;
        st = run_pickle(&m, &res, err);
        if (!st && res->k != V_DICT)
            st = lt_err_set(err, LT_EFORMAT, "%s: the pickle holds no dict: not a state dict", P);
        if (!st) st = resolve(pt, za, &s, res, err);
        pk_free(&m);
    }
    lt_free(b);
    lt_zip.zip_discard(za);
    lt_zip.zip_error_fini(&s.e);
    return st;
}

lt_status lt_pt_open(lt_torchpt **out, const char *path, lt_err *err) {
    *out = NULL;
    lt_torchpt *pt = lt_calloc(1, sizeof *pt);
    if (!pt || !(pt->path = lt_strdup(path))) {
        lt_free(pt);
        return lt_err_set(err, LT_ENOMEM, "out of memory");
    }
    lt_status st = open_pt(pt, err);
    if (st) {
        lt_pt_close(pt);
        return st;
    }
    *out = pt;
    return LT_OK;
}

void lt_pt_close(lt_torchpt *pt) {
    if (!pt) return;
    if (!pt->map_taken) lt_file_unmap(pt->map, pt->size);
    for (int i = 0; i < pt->n_copies; i++) lt_free(pt->copies[i]);
    lt_free(pt->copies), lt_free(pt->st), lt_free(pt->t), lt_free(pt->path), lt_free(pt);
}

int64_t lt_pt_n_tensors(const lt_torchpt *pt) { return pt->n_t; }
size_t lt_pt_file_size(const lt_torchpt *pt) { return pt->size; }
const char *lt_pt_archive_name(const lt_torchpt *pt) { return pt->archive; }

void lt_pt_tensor(const lt_torchpt *pt, int64_t i, lt_src_tensor *out) {
    const pt_tensor *t = &pt->t[i];
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", t->name);
    out->dtype = pt->st[t->storage].dtype;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->data = t->data;
    out->nbytes = t->nbytes;
    out->mapped = t->mapped;
}

int64_t lt_pt_find(const lt_torchpt *pt, const char *name) {
    for (int i = 0; i < pt->n_t; i++)
        if (!strcmp(pt->t[i].name, name)) return i;
    return -1;
}

void lt_pt_take_map(lt_torchpt *pt, void **map, size_t *size) {
    *map = pt->map, *size = pt->size;
    pt->map_taken = true;
}

/* ==== writing ================================================================================= */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
    uint32_t memo; /* next memo index */
} wbuf;

static void wb(wbuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        while (c < b->n + n) c *= 2;
        uint8_t *p = lt_realloc(b->p, c);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void wb1(wbuf *b, uint8_t c) { wb(b, &c, 1); }

static void w_put(wbuf *b) { /* BINPUT / LONG_BINPUT of the next memo index */
    if (b->memo < 256) {
        wb1(b, 'q'), wb1(b, (uint8_t)b->memo);
    } else {
        uint8_t x[5] = {'r', (uint8_t)b->memo, (uint8_t)(b->memo >> 8), (uint8_t)(b->memo >> 16), (uint8_t)(b->memo >> 24)};
        wb(b, x, 5);
    }
    b->memo++;
}
static uint32_t w_putid(wbuf *b) {
    uint32_t id = b->memo;
    w_put(b);
    return id;
}
static void w_get(wbuf *b, uint32_t id) {
    if (id < 256) {
        wb1(b, 'h'), wb1(b, (uint8_t)id);
    } else {
        uint8_t x[5] = {'j', (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24)};
        wb(b, x, 5);
    }
}
static void w_str(wbuf *b, const char *s) { /* BINUNICODE */
    uint32_t n = (uint32_t)strlen(s);
    uint8_t x[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    wb(b, x, 5);
    wb(b, s, n);
}
static void w_int(wbuf *b, int64_t v) { /* as pickle's save_long does for protocol 2 */
    if (v >= 0 && v < 256) {
        wb1(b, 'K'), wb1(b, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        uint8_t x[3] = {'M', (uint8_t)v, (uint8_t)(v >> 8)};
        wb(b, x, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)v;
        uint8_t x[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        wb(b, x, 5);
    } else { /* LONG1: the shortest two's complement */
        int n = 1;
        while (n < 8 && !(v >= -((int64_t)1 << (8 * n - 1)) && v < ((int64_t)1 << (8 * n - 1)))) n++;
        uint8_t x[10] = {0x8a, (uint8_t)n};
        for (int i = 0; i < n; i++) x[2 + i] = (uint8_t)((uint64_t)v >> (8 * i));
        wb(b, x, (size_t)n + 2);
    }
}
static void w_tuple(wbuf *b, const int64_t *v, int n) {
    if (n == 0) {
        wb1(b, ')');
        return;
    }
    if (n > 3) wb1(b, '(');
    for (int i = 0; i < n; i++) w_int(b, v[i]);
    wb1(b, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
    w_put(b);
}

static const char *storage_name(lt_dtype t) {
    return t == LT_F16 ? "HalfStorage" : t == LT_BF16 ? "BFloat16Storage" : "FloatStorage";
}

/* data.pkl: an OrderedDict of tensors, storage i for tensor i, as torch.save writes it */
static void w_pickle(wbuf *b, const lt_st_entry *e, int64_t n) {
    static const uint8_t proto[] = {0x80, 2};
    wb(b, proto, 2);
    wb(b, "ccollections\nOrderedDict\n", 25);
    const uint32_t od = w_putid(b);
    wb1(b, ')'), wb1(b, 'R');
    w_put(b);
    uint32_t rebuild = UINT32_MAX, storage = UINT32_MAX, cpu = UINT32_MAX, stype[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    for (int64_t i = 0; i < n; i++) {
        const int64_t s0 = i - i % 1000; /* pickle: SETITEMS in batches of 1000; a batch of one: SETITEM */
        const bool batch = (n - s0 < 1000 ? n - s0 : 1000) > 1;
        if (i == s0 && batch) wb1(b, '(');
        w_str(b, e[i].name);
        w_put(b);
        if (rebuild == UINT32_MAX) {
            wb(b, "ctorch._utils\n_rebuild_tensor_v2\n", 33);
            rebuild = w_putid(b);
        } else {
            w_get(b, rebuild);
        }
        wb1(b, '('), wb1(b, '(');
        if (storage == UINT32_MAX) w_str(b, "storage"), storage = w_putid(b);
        else w_get(b, storage);
        const int ti = e[i].dtype == LT_F16 ? 0 : e[i].dtype == LT_BF16 ? 1 : 2;
        if (stype[ti] == UINT32_MAX) {
            char g[48];
            int gl = snprintf(g, sizeof g, "ctorch\n%s\n", storage_name(e[i].dtype));
            wb(b, g, (size_t)gl);
            stype[ti] = w_putid(b);
        } else {
            w_get(b, stype[ti]);
        }
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)i);
        w_str(b, key);
        w_put(b);
        if (cpu == UINT32_MAX) w_str(b, "cpu"), cpu = w_putid(b);
        else w_get(b, cpu);
        int64_t numel = 1, stride[LT_MAX_DIMS];
        for (int d = e[i].ndim - 1; d >= 0; d--) stride[d] = numel, numel *= e[i].shape[d];
        w_int(b, numel);
        wb1(b, 't');
        w_put(b);
        wb1(b, 'Q');
        w_int(b, 0);
        w_tuple(b, e[i].shape, e[i].ndim);
        w_tuple(b, stride, e[i].ndim);
        wb1(b, 0x89); /* requires_grad False */
        w_get(b, od), wb1(b, ')'), wb1(b, 'R'); /* backward hooks: OrderedDict() */
        w_put(b);
        wb1(b, 't');
        w_put(b);
        wb1(b, 'R');
        w_put(b);
        if (i % 1000 == 999 || i == n - 1) wb1(b, batch ? 'u' : 's');
    }
    wb1(b, '.');
}

static lt_status add_entry(zip_t *za, const char *archive, const char *name, const void *data, size_t len,
                           uint64_t *pos, const char *path, lt_err *err) {
    char full[512];
    snprintf(full, sizeof full, "%s/%s", archive, name);
    zip_source_t *zs = lt_zip.zip_source_buffer(za, len ? data : "", len, 0);
    zip_int64_t idx = zs ? lt_zip.zip_file_add(za, full, zs, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        if (zs) lt_zip.zip_source_free(zs);
        return lt_err_set(err, LT_EIO, "%s: cannot add %s: %s", path, full, lt_zip.zip_strerror(za));
    }
    /* torch's alignment: the data of every entry starts at a multiple of 64 in the file, the
     * local header padded with an extra field "FB" (libzip writes the entries in order, each
     * a 30-byte local header, the name and the extra fields, then the data) */
    const size_t nl = strlen(full);
    const uint64_t bare = *pos + 30 + nl + 4;
    const uint16_t pad = (uint16_t)((64 - bare % 64) % 64);
    uint8_t z[64];
    memset(z, 'Z', sizeof z);
    if (lt_zip.zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0 ||
        lt_zip.zip_file_set_dostime(za, (zip_uint64_t)idx, 0, 0x21, 0) != 0 || /* 1980-01-01: the same bytes every time */
        lt_zip.zip_file_extra_field_set(za, (zip_uint64_t)idx, 0x4246, ZIP_EXTRA_FIELD_NEW, z, pad, ZIP_FL_LOCAL) != 0)
        return lt_err_set(err, LT_EIO, "%s: cannot set up %s: %s", path, full, lt_zip.zip_strerror(za));
    *pos = bare + pad + len;
    return LT_OK;
}

lt_status lt_pt_write(const char *path, const char *archive, const lt_st_entry *e, int64_t n, lt_err *err) {
    char arch[256];
    if (!archive) { /* torch.save: os.path.splitext(os.path.basename(path))[0] */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        const char *dot = strrchr(base, '.');
        int k = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        snprintf(arch, sizeof arch, "%.*s", k, base);
        archive = arch;
    }
    if (!archive[0] || strchr(archive, '/') || strlen(archive) > 200)
        return lt_err_set(err, LT_EINVAL, "%s: archive name '%s' is not a plain name", path, archive);
    for (int64_t i = 0; i < n; i++) {
        if (e[i].dtype != LT_F16 && e[i].dtype != LT_BF16 && e[i].dtype != LT_F32)
            return lt_err_set(err, LT_EINVAL, "%s: tensor '%s' is %s (torch.save files here hold f16, bf16, f32)",
                              path, e[i].name, lt_dtype_name(e[i].dtype));
        if (e[i].ndim < 0 || e[i].ndim > LT_MAX_DIMS || !e[i].name[0])
            return lt_err_set(err, LT_EINVAL, "%s: tensor %lld has no name or a bad rank", path, (long long)i);
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(e[j].name, e[i].name))
                return lt_err_set(err, LT_EINVAL, "%s: tensor '%s' appears twice", path, e[i].name);
    }
    wbuf b = {0};
    w_pickle(&b, e, n);
    if (b.oom) {
        lt_free(b.p);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    lt_status zst = lt_zip_load(err);
    if (zst) {
        lt_free(b.p);
        lt_err_prefix(err, "%s: writing a torch.save file", path);
        return zst;
    }
    int zerrno = 0;
    zip_t *za = lt_zip.zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerrno);
    if (!za) {
        lt_free(b.p);
        zip_error_t ze;
        lt_zip.zip_error_init_with_code(&ze, zerrno);
        return zerr(err, LT_EIO, path, "cannot create", &ze);
    }
    uint64_t pos = 0;
    lt_status st = add_entry(za, archive, "data.pkl", b.p, b.n, &pos, path, err);
    if (!st) st = add_entry(za, archive, ".format_version", "1", 1, &pos, path, err);
    if (!st) st = add_entry(za, archive, ".storage_alignment", "64", 2, &pos, path, err);
    if (!st) st = add_entry(za, archive, "byteorder", "little", 6, &pos, path, err);
    for (int64_t i = 0; !st && i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= e[i].shape[d];
        char name[32];
        snprintf(name, sizeof name, "data/%lld", (long long)i);
        st = add_entry(za, archive, name, e[i].data, (size_t)numel * lt_dtype_info(e[i].dtype)->block_bytes, &pos,
                       path, err);
    }
    if (!st) st = add_entry(za, archive, "version", "3\n", 2, &pos, path, err);
    if (st) {
        lt_zip.zip_discard(za);
    } else if (lt_zip.zip_close(za) != 0) {
        st = lt_err_set(err, LT_EIO, "%s: cannot write: %s", path, lt_zip.zip_strerror(za));
        lt_zip.zip_discard(za);
    }
    lt_free(b.p);
    return st;
}
