/* modelsrc_ct.c - see modelsrc_ct.h. */
#include "modelsrc_ct.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/quants.h"
#include "modelsrc_hf.h"
#include "modelsrc_impl.h"

void lt_ct_pack_bits(const uint8_t *keep, int64_t n, uint8_t *bits) {
    memset(bits, 0, (size_t)(n + 7) / 8);
    for (int64_t k = 0; k < n; k++)
        if (keep[k]) bits[k / 8] |= (uint8_t)(1u << (k % 8));
}

void lt_ct_unpack_bits(const uint8_t *bits, int64_t n, uint8_t *keep) {
    for (int64_t k = 0; k < n; k++) keep[k] = (uint8_t)(bits[k / 8] >> (k % 8) & 1);
}

/* ==== config ================================================================================ */

lt_status lt_ct_read_config(const cJSON *config, const char *P, lt_ct_config *c, lt_err *err) {
    memset(c, 0, sizeof *c);
    const cJSON *qc = config ? cJSON_GetObjectItemCaseSensitive(config, "quantization_config") : NULL;
    if (!cJSON_IsObject(qc)) qc = config ? cJSON_GetObjectItemCaseSensitive(config, "compression_config") : NULL;
    if (!cJSON_IsObject(qc)) return LT_OK;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    if (!cJSON_IsString(m) || strcmp(m->valuestring, "compressed-tensors") != 0) return LT_OK;
    c->ct = true;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (cJSON_IsObject(g) && g->child)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: compressed-tensors quantization ('config_groups') is not "
                          "supported - lathe reads its 2:4 sparse format (sparse-24-bitmask) of f16/bf16 weights", P);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(qc, "sparsity_config");
    const cJSON *f = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "format") : NULL;
    if (!cJSON_IsString(f) || !strcmp(f->valuestring, "dense")) return LT_OK; /* dense weights: a plain folder */
    if (strcmp(f->valuestring, "sparse-24-bitmask") != 0)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: compressed-tensors sparsity format '%.40s' is not supported "
                          "(lathe reads sparse-24-bitmask)", P, f->valuestring);
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(s, "sparsity_structure");
    if (cJSON_IsString(ss) && strcmp(ss->valuestring, "2:4") != 0)
        return lt_err_set(err, LT_EFORMAT, "%s: sparse-24-bitmask with sparsity_structure '%.16s' (it is 2:4)", P,
                          ss->valuestring);
    c->sparse24 = true;
    return LT_OK;
}

/* ==== tensors =============================================================================== */

/* <pre>.shape: I64 (or I32) with the two values N, K */
static lt_status check_shape(const lt_modelsrc *src, const char *pre, int64_t N, int64_t K, lt_err *err) {
    char nm[192];
    snprintf(nm, sizeof nm, "%s.shape", pre);
    lt_src_tensor t;
    if (!lt_ms_find_shard_tensor(src, nm, &t)) return lt_err_set(err, LT_EFORMAT, "%s: compressed-tensors '%s' is missing", src->path, nm);
    int64_t n = 1;
    for (int d = 0; d < t.ndim; d++) n *= t.shape[d];
    int64_t v[2] = {0, 0};
    if (n == 2 && t.dtype == LT_I64) memcpy(v, t.data, sizeof v);
    else if (n == 2 && t.dtype == LT_I32) v[0] = ((const int32_t *)t.data)[0], v[1] = ((const int32_t *)t.data)[1];
    else return lt_err_set(err, LT_EFORMAT, "%s: '%s' should hold the 2 dims of the weight (i64)", src->path, nm);
    if (v[0] != N || v[1] != K)
        return lt_err_set(err, LT_EFORMAT, "%s: '%s' says [%lld, %lld], config.json [%lld, %lld]", src->path, nm,
                          (long long)v[0], (long long)v[1], (long long)N, (long long)K);
    return LT_OK;
}

/* One linear: compressed [N, K/2] + bitmask -> s24_f16 or the dense matrix. */
static lt_status load_one(lt_modelsrc *src, const char *canon, const char *pre, int64_t N, int64_t K, lt_err *err) {
    char nc[192], nb[192];
    snprintf(nc, sizeof nc, "%s.compressed", pre);
    snprintf(nb, sizeof nb, "%s.bitmask", pre);
    lt_src_tensor tc, tb;
    lt_ms_find_shard_tensor(src, nc, &tc);
    if (!lt_ms_find_shard_tensor(src, nb, &tb)) return lt_err_set(err, LT_EFORMAT, "%s: compressed-tensors '%s' is missing", src->path, nb);
    const lt_dtype vt = tc.dtype;
    if (vt != LT_F16 && vt != LT_BF16 && vt != LT_F32)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s' is %s (lathe reads f16, bf16 or f32 2:4 values)", src->path,
                          nc, lt_dtype_name(vt));
    if (K % 4 || tc.ndim != 2 || tc.shape[0] != N || tc.shape[1] != K / 2)
        return lt_err_set(err, LT_EFORMAT, "%s: '%s' should be [%lld, %lld] (half of the %lld x %lld weight)",
                          src->path, nc, (long long)N, (long long)(K / 2), (long long)N, (long long)K);
    const int64_t KB = (K + 7) / 8;
    if (tb.dtype != LT_U8 || tb.ndim != 2 || tb.shape[0] != N || tb.shape[1] != KB)
        return lt_err_set(err, LT_EFORMAT, "%s: '%s' should be u8 [%lld, %lld]", src->path, nb, (long long)N,
                          (long long)KB);
    LT_TRY(check_shape(src, pre, N, K, err));
    uint8_t *keep = lt_malloc((size_t)K);
    float *row = lt_malloc((size_t)K * 3 / 2 * sizeof(float)); /* kept values, then the dense row */
    if (!keep || !row) {
        lt_free(keep), lt_free(row);
        return lt_err_set(err, LT_ENOMEM, "out of memory for '%s'", canon);
    }
    /* s24_f16 when every row is 2 of each 4 and the values are f16 */
    bool s24 = vt == LT_F16 && K % 16 == 0;
    const uint8_t *bits = tb.data;
    for (int64_t n = 0; n < N; n++) {
        lt_ct_unpack_bits(bits + n * KB, K, keep);
        int64_t kept = 0;
        for (int64_t g = 0; g < K; g += 4) {
            const int c = keep[g] + keep[g + 1] + keep[g + 2] + keep[g + 3];
            kept += c;
            s24 &= c == 2;
        }
        if (kept != K / 2) {
            lt_free(keep), lt_free(row);
            return lt_err_set(err, LT_EFORMAT, "%s: '%s' row %lld keeps %lld of %lld columns, not half", src->path, nb,
                              (long long)n, (long long)kept, (long long)K);
        }
    }
    const lt_dtype dt = s24 ? LT_S24_F16 : vt;
    const size_t rb = lt_row_bytes(dt, K), es = lt_row_bytes(vt, 1);
    uint8_t *buf = lt_calloc((size_t)N, rb);
    lt_status st = buf ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory for '%s'", canon);
    for (int64_t n = 0; !st && n < N; n++) {
        lt_ct_unpack_bits(bits + n * KB, K, keep);
        const uint8_t *v = (const uint8_t *)tc.data + (size_t)n * (size_t)(K / 2) * es;
        uint8_t *out = buf + (size_t)n * rb;
        if (s24) { /* f16 -> f32 -> f16 is exact: row[0, K/2) the kept values, then spread over row[K/2..) */
            float *kv = row, *dense = row + K / 2;
            lt_dtype_row_to_f32(LT_F16, v, kv, K / 2);
            for (int64_t k = 0, j = 0; k < K; k++) dense[k] = keep[k] ? kv[j++] : 0.0f;
            lt_s24_pack_f16(dense, keep, K, out);
        } else { /* decompressed: the values' bytes at the kept columns, zeros elsewhere */
            for (int64_t k = 0, j = 0; k < K; k++)
                if (keep[k]) memcpy(out + (size_t)k * es, v + (size_t)(j++) * es, es);
        }
    }
    lt_free(keep), lt_free(row);
    if (st) {
        lt_free(buf);
        return st;
    }
    LT_TRY(lt_ms_own(src, buf, err));
    lt_src_tensor ts = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = buf, .nbytes = rb * (size_t)N};
    snprintf(ts.name, sizeof ts.name, "%s", canon);
    return lt_ms_push(src, &ts, err);
}

lt_status lt_ct_load(lt_modelsrc *src, const lt_ct_config *c, lt_err *err) {
    if (!c->sparse24) return LT_OK;
    char canon[96], hf[128], pre[160], nm[176];
    for (int i = 0; lt_ms_required(&src->cfg, i, canon); i++) {
        const size_t cl = strlen(canon);
        if (cl < 8 || strcmp(canon + cl - 7, ".weight") || !lt_hf_tensor_name(canon, hf)) continue;
        snprintf(pre, sizeof pre, "%.*s", (int)(strlen(hf) - 7), hf);
        snprintf(nm, sizeof nm, "%s.compressed", pre);
        lt_src_tensor tc;
        if (!lt_ms_find_shard_tensor(src, nm, &tc)) continue;
        if (lt_modelsrc_find(src, canon))
            return lt_err_set(err, LT_EFORMAT, "%s: '%s' is stored both compressed and as '%s'", src->path, pre, hf);
        int nd;
        int64_t s[4] = {0};
        if (!lt_ms_expected_shape(&src->cfg, canon, &nd, s) || nd != 2)
            return lt_err_set(err, LT_EFORMAT, "%s: '%s' does not fit config.json", src->path, nm);
        LT_TRY(load_one(src, canon, pre, s[0], s[1], err));
    }
    return LT_OK;
}
