/* safetensors.c - safetensors reader (mmap + cJSON header, validated) and writer.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data section; offsets are relative to its start. "dtype" strings map to lathe
 * dtypes through the dtype table (core/base/dtype.h). Leaves out: dtypes the table does not
 * map (it has F32/F16/BF16; others are reported as unsupported), tensors of rank > 4,
 * writing metadata.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
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

#define ST_MAX_HEADER (100u << 20)

struct lt_safetensors {
    char *path;
    uint8_t *map;
    size_t size;
    lt_src_tensor *t;
    int64_t n;
    int64_t *by_name;   /* tensor indices sorted by name (find, duplicate check) */
};

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const lt_src_tensor *const *)a)->name, (*(const lt_src_tensor *const *)b)->name);
}

static int cmp_off(const void *a, const void *b) {
    const lt_src_tensor *x = *(const lt_src_tensor *const *)a, *y = *(const lt_src_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static const char *const k_unsupported[] = {"F64", "I16", "I8", "U16", "U32", "U64", "BOOL",
                                            "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};

/* "F32, F16, BF16": the safetensors dtypes lathe reads (dtype table order). */
static const char *supported_dtypes(char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < LT_DTYPE_COUNT; i++) {
        const char *sn = lt_dtype_info((lt_dtype)i)->st_name;
        if (sn && o < n) o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", sn);
    }
    return buf;
}

/* Reads a JSON number as a non-negative integer <= max. */
static bool json_uint(const cJSON *j, uint64_t max, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0) || d > (double)max || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static lt_status parse_entry(lt_safetensors *st, const cJSON *e, uint64_t data_len, lt_src_tensor *t, lt_err *err) {
    const char *P = st->path, *name = e->string;
    if (!name || !*name || strlen(name) >= sizeof t->name)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor name is empty or longer than %zu bytes", P, sizeof t->name - 1);
    if (!cJSON_IsObject(e)) return lt_err_set(err, LT_EFORMAT, "%s: entry '%s' is not an object", P, name);
    strcpy(t->name, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", P, name);
    const char *d = dt->valuestring;
    t->dtype = lt_dtype_from_safetensors(d);
    if (t->dtype == LT_DTYPE_COUNT) {
        char sup[64];
        for (size_t i = 0; i < sizeof k_unsupported / sizeof *k_unsupported; i++)
            if (strcmp(d, k_unsupported[i]) == 0)
                return lt_err_set(err, LT_EUNSUPPORTED,
                                  "%s: tensor '%s' has dtype %s, which lathe does not support (%s)", P, name, d,
                                  supported_dtypes(sup, sizeof sup));
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has unknown dtype '%.32s'", P, name, d);
    }
    int rank = cJSON_GetArraySize(sh);
    if (rank > LT_MAX_DIMS)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)", P, name,
                          rank, LT_MAX_DIMS);
    uint64_t numel = 1;
    t->ndim = rank ? rank : 1;
    t->shape[0] = 1;
    int i = 0;
    for (const cJSON *x = sh->child; x; x = x->next, i++) {
        uint64_t v;
        if (!json_uint(x, 1ull << 40, &v) || (v && numel > (1ull << 50) / v))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has an invalid shape", P, name);
        numel *= v;
        t->shape[i] = (int64_t)v;
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(of) != 2 || !json_uint(of->child, 1ull << 53, &b) ||
        !json_uint(of->child->next, 1ull << 53, &en) || en < b)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has invalid data_offsets", P, name);
    uint64_t want = numel * (uint64_t)lt_dtype_block_bytes(t->dtype);
    if (en - b != want)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has %llu data bytes, its shape and dtype need %llu", P,
                          name, (unsigned long long)(en - b), (unsigned long long)want);
    if (en > data_len)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' data [%llu, %llu) lies past the end of the file "
                          "(truncated?)", P, name, (unsigned long long)b, (unsigned long long)en);
    t->data = st->map + (st->size - data_len) + b;
    t->nbytes = (size_t)want;
    return LT_OK;
}

static lt_status parse(lt_safetensors *st, lt_err *err) {
    const char *P = st->path;
    uint64_t hl;
    memcpy(&hl, st->map, 8);
    if (hl > st->size - 8 || hl > ST_MAX_HEADER)
        return lt_err_set(err, LT_EFORMAT, "%s: header length %llu exceeds the file size (%zu bytes)", P,
                          (unsigned long long)hl, st->size);
    cJSON *root = cJSON_ParseWithLength((const char *)st->map + 8, (size_t)hl);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lt_err_set(err, LT_EFORMAT, "%s: header is not a valid JSON object", P);
    }
    uint64_t data_len = st->size - 8 - hl;
    int64_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next) n++;
    st->t = lt_calloc(n ? (size_t)n : 1, sizeof *st->t);
    lt_src_tensor **idx = lt_calloc(n ? (size_t)n : 1, sizeof *idx);
    lt_status s = LT_OK;
    if (!st->t || !idx) s = lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    for (const cJSON *e = root->child; e && !s; e = e->next) {
        if (e->string && strcmp(e->string, "__metadata__") == 0) continue;
        s = parse_entry(st, e, data_len, &st->t[st->n], err);
        if (!s) st->n++;
    }
    cJSON_Delete(root);
    if (!s && !(st->by_name = lt_malloc((size_t)(st->n ? st->n : 1) * sizeof *st->by_name)))
        s = lt_err_set(err, LT_ENOMEM, "%s: out of memory", P);
    if (!s) {
        for (int64_t i = 0; i < st->n; i++) idx[i] = &st->t[i];
        qsort(idx, (size_t)st->n, sizeof *idx, cmp_name);
        for (int64_t i = 0; i < st->n; i++) st->by_name[i] = idx[i] - st->t;
        for (int64_t i = 1; i < st->n && !s; i++)
            if (!strcmp(idx[i - 1]->name, idx[i]->name))
                s = lt_err_set(err, LT_EFORMAT, "%s: duplicate tensor '%s'", P, idx[i]->name);
    }
    if (!s) {
        int64_t m = 0;
        for (int64_t i = 0; i < st->n; i++)
            if (st->t[i].nbytes) idx[m++] = &st->t[i];
        qsort(idx, (size_t)m, sizeof *idx, cmp_off);
        for (int64_t i = 1; i < m && !s; i++)
            if ((const uint8_t *)idx[i - 1]->data + idx[i - 1]->nbytes > (const uint8_t *)idx[i]->data)
                s = lt_err_set(err, LT_EFORMAT, "%s: tensors '%s' and '%s' overlap", P, idx[i - 1]->name,
                               idx[i]->name);
    }
    lt_free(idx);
    return s;
}

lt_status lt_st_open(lt_safetensors **out, const char *path, lt_err *err) {
    *out = NULL;
    void *m;
    size_t msize;
    LT_TRY(lt_file_map(path, 10, "a safetensors file", &m, &msize, err));
    lt_safetensors *st = lt_calloc(1, sizeof *st);
    if (!st || !(st->path = lt_strdup(path))) {
        lt_file_unmap(m, msize);
        lt_free(st);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    st->map = m;
    st->size = msize;
    lt_status s = parse(st, err);
    if (s) {
        lt_st_close(st);
        return s;
    }
    *out = st;
    return LT_OK;
}

void lt_st_close(lt_safetensors *st) {
    if (!st) return;
    lt_file_unmap(st->map, st->size);
    lt_free(st->t);
    lt_free(st->by_name);
    lt_free(st->path);
    lt_free(st);
}

int64_t lt_st_n_tensors(const lt_safetensors *st) { return st->n; }
size_t lt_st_file_size(const lt_safetensors *st) { return st->size; }

void lt_st_tensor(const lt_safetensors *st, int64_t i, lt_src_tensor *out) {
    LT_ASSERT(i >= 0 && i < st->n);
    *out = st->t[i];
    out->mapped = true;
}

int64_t lt_st_find(const lt_safetensors *st, const char *name) {
    int64_t lo = 0, hi = st->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[st->by_name[mid]].name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* ==== writer =========================================================================== */

lt_status lt_st_write(const char *path, const lt_st_entry *entries, int64_t n, lt_err *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return lt_err_set(err, LT_ENOMEM, "out of memory");
    uint64_t off = 0;
    lt_status s = LT_OK;
    for (int64_t i = 0; i < n && !s; i++) {
        const lt_st_entry *e = &entries[i];
        const char *dn = lt_dtype_info(e->dtype)->st_name;
        if (!dn) {
            s = lt_err_set(err, LT_EINVAL, "%s: tensor '%s': dtype %s cannot be stored in safetensors", path, e->name,
                           lt_dtype_name(e->dtype));
            break;
        }
        if (e->ndim < 1 || e->ndim > 4 || cJSON_GetObjectItemCaseSensitive(root, e->name)) {
            s = lt_err_set(err, LT_EINVAL, "%s: tensor '%s': bad rank or duplicate name", path, e->name);
            break;
        }
        uint64_t numel = 1;
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        for (int d = 0; d < e->ndim; d++) {
            numel *= (uint64_t)e->shape[d];
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        }
        uint64_t size = numel * (uint64_t)lt_dtype_block_bytes(e->dtype);
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + size)));
        off += size;
        cJSON_AddStringToObject(o, "dtype", dn);
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddItemToObject(o, "data_offsets", of);
        cJSON_AddItemToObject(root, e->name, o);
    }
    char *json = s ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s) return s;
    if (!json) return lt_err_set(err, LT_ENOMEM, "out of memory");
    size_t jl = strlen(json);
    uint64_t hl = (jl + 7) / 8 * 8;
    lt_afile af;
    s = lt_afile_open(&af, path, err);
    if (s == LT_OK) {
        FILE *f = af.f;
        bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(json, 1, jl, f) == jl;
        for (size_t i = jl; ok && i < hl; i++) ok = fputc(' ', f) != EOF;
        for (int64_t i = 0; ok && i < n; i++) {
            const lt_st_entry *e = &entries[i];
            size_t size = (size_t)lt_dtype_block_bytes(e->dtype);
            for (int d = 0; d < e->ndim; d++) size *= (size_t)e->shape[d];
            ok = size == 0 || fwrite(e->data, 1, size, f) == size;
        }
        s = lt_afile_close(&af, ok, err);
    }
    free(json);
    return s;
}
