/* modelsrc_gptq.c - see modelsrc_gptq.h. */
#include "modelsrc_gptq.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/base/quants.h"
#include "modelsrc_hf.h"
#include "modelsrc_impl.h"

/* ==== bits ================================================================================ */

void lt_gptq_pack_bits(const uint8_t *v, int64_t n, int bits, int32_t *words, int64_t stride) {
    const int64_t nw = (n * bits + 31) / 32;
    for (int64_t w = 0; w < nw; w++) words[w * stride] = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint64_t bit = (uint64_t)i * (uint64_t)bits, val = v[i] & ((1u << bits) - 1);
        const int64_t w = (int64_t)(bit / 32);
        const int sh = (int)(bit % 32);
        uint32_t *p = (uint32_t *)&words[w * stride];
        *p |= (uint32_t)(val << sh);
        if (sh + bits > 32) {
            uint32_t *q = (uint32_t *)&words[(w + 1) * stride];
            *q |= (uint32_t)(val >> (32 - sh));
        }
    }
}

void lt_gptq_unpack_bits(const int32_t *words, int64_t stride, int bits, int64_t n, uint8_t *v) {
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; i++) {
        const uint64_t bit = (uint64_t)i * (uint64_t)bits;
        const int64_t w = (int64_t)(bit / 32);
        const int sh = (int)(bit % 32);
        uint64_t x = (uint32_t)words[w * stride];
        if (sh + bits > 32) x |= (uint64_t)(uint32_t)words[(w + 1) * stride] << 32;
        v[i] = (uint8_t)((x >> sh) & mask);
    }
}

/* ==== config ================================================================================ */

static lt_status parse_qcfg(const cJSON *o, const char *P, lt_gptq_config *q, bool *found, lt_err *err) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "quant_method");
    if (cJSON_IsString(m) && strcmp(m->valuestring, "gptq") != 0)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: quant_method '%.32s' is not supported (lathe reads gptq)", P,
                          m->valuestring);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bits");
    if (!cJSON_IsNumber(b)) return lt_err_set(err, LT_EFORMAT, "%s: the GPTQ config lacks 'bits'", P);
    q->bits = b->valueint;
    if (q->bits != 2 && q->bits != 3 && q->bits != 4 && q->bits != 8)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: GPTQ bits %d (lathe reads 2, 3, 4 and 8)", P, q->bits);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group_size");
    q->group = cJSON_IsNumber(g) ? g->valueint : -1;
    if (q->group == 0 || q->group < -1) return lt_err_set(err, LT_EFORMAT, "%s: GPTQ group_size %d", P, q->group);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "sym");
    q->sym = !s || cJSON_IsTrue(s); /* AutoGPTQ: missing means symmetric */
    q->desc_act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "desc_act"));
    q->static_groups = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "static_groups"));
    q->lm_head = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "lm_head"));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "checkpoint_format");
    q->v2 = false;
    if (cJSON_IsString(f)) {
        if (!strcmp(f->valuestring, "gptq_v2")) q->v2 = true;
        else if (strcmp(f->valuestring, "gptq") != 0)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: GPTQ checkpoint_format '%.32s' (lathe reads gptq and gptq_v2)",
                              P, f->valuestring);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "is_marlin_format")))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: Marlin-format GPTQ checkpoints are not supported", P);
    *found = true;
    return LT_OK;
}

lt_status lt_gptq_read_config(const char *dir, const cJSON *config, lt_gptq_config *q, bool *found, lt_err *err) {
    memset(q, 0, sizeof *q);
    *found = false;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const cJSON *qc = config ? cJSON_GetObjectItemCaseSensitive(config, "quantization_config") : NULL;
    lt_status st = LT_OK;
    if (cJSON_IsObject(qc)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
        if (!cJSON_IsString(m) || !strcmp(m->valuestring, "gptq")) st = parse_qcfg(qc, path, q, found, err);
        else st = lt_err_set(err, LT_EUNSUPPORTED, "%s: quantization_config.quant_method '%.32s' is not supported "
                             "(lathe reads gptq)", path, m->valuestring);
    }
    if (st || *found) return st;
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return LT_OK;
    char *buf;
    size_t n;
    LT_TRY(lt_file_read_all(path, 1u << 20, &buf, &n, err));
    cJSON *j = cJSON_ParseWithLength(buf, n);
    lt_free(buf);
    if (!cJSON_IsObject(j)) st = lt_err_set(err, LT_EFORMAT, "%s: not a JSON object", path);
    else st = parse_qcfg(j, path, q, found, err);
    cJSON_Delete(j);
    return st;
}

/* ==== tensors =============================================================================== */

static lt_status want(const lt_src_tensor *t, const char *name, lt_dtype dt, int64_t d0, int64_t d1, const char *P,
                      lt_err *err) {
    if (!t) return lt_err_set(err, LT_EFORMAT, "%s: GPTQ tensor '%s' is missing", P, name);
    if (t->dtype != dt || t->ndim != (d1 ? 2 : 1) || t->shape[0] != d0 || (d1 && t->shape[1] != d1))
        return lt_err_set(err, LT_EFORMAT, "%s: GPTQ tensor '%s' should be %s [%lld%s%lld%s]", P, name,
                          lt_dtype_name(dt), (long long)d0, d1 ? ", " : "", (long long)(d1 ? d1 : 0), "");
    return LT_OK;
}

typedef struct gq_lin {
    int64_t N, K, G;
    uint8_t *q;    /* N * K codes, row n = output n */
    float *scale;  /* N * G */
    float *zero;   /* N * G, effective */
    int32_t *gidx; /* K, or NULL when k / group */
} gq_lin;

static void lin_free(gq_lin *l) {
    lt_free(l->q), lt_free(l->scale), lt_free(l->zero), lt_free(l->gidx);
    memset(l, 0, sizeof *l);
}

/* the stored zeros of a linear all equal to v? (the v1/v2 mislabel check) */
static bool zeros_all(const lt_src_tensor *qz, int bits, int64_t G, int64_t N, int v) {
    uint8_t *z = lt_malloc((size_t)N);
    bool all = z != NULL;
    for (int64_t g = 0; all && g < G; g++) {
        lt_gptq_unpack_bits((const int32_t *)qz->data + g * qz->shape[1], 1, bits, N, z);
        for (int64_t n = 0; all && n < N; n++) all = z[n] == v;
    }
    lt_free(z);
    return all;
}

static lt_status read_lin(const lt_modelsrc *src, const char *pre, const lt_gptq_config *q, bool v2, int64_t N,
                          int64_t K, gq_lin *l, lt_err *err) {
    const char *P = src->path;
    memset(l, 0, sizeof *l);
    const int bits = q->bits;
    const int64_t group = q->group > 0 ? q->group : K, G = (K + group - 1) / group;
    char nm[192];
    lt_src_tensor tw, tz, ts, tg;
    snprintf(nm, sizeof nm, "%s.qweight", pre);
    if (K * bits % 32 || N * bits % 32)
        return lt_err_set(err, LT_EFORMAT, "%s: '%s': %lld x %lld does not pack into 32-bit words at %d bits", P, nm,
                          (long long)N, (long long)K, bits);
    LT_TRY(want(lt_ms_find_shard_tensor(src, nm, &tw), nm, LT_I32, K * bits / 32, N, P, err));
    snprintf(nm, sizeof nm, "%s.scales", pre);
    const lt_src_tensor *ps = lt_ms_find_shard_tensor(src, nm, &ts);
    LT_TRY(want(ps, nm, LT_F16, ps ? ps->shape[0] : G, N, P, err));
    const int64_t Gf = ts.shape[0]; /* act-order exports may count groups from g_idx */
    if (Gf < G) return lt_err_set(err, LT_EFORMAT, "%s: '%s' has %lld groups, group_size %lld needs %lld", P, nm,
                                  (long long)Gf, (long long)group, (long long)G);
    snprintf(nm, sizeof nm, "%s.qzeros", pre);
    LT_TRY(want(lt_ms_find_shard_tensor(src, nm, &tz), nm, LT_I32, Gf, N * bits / 32, P, err));
    snprintf(nm, sizeof nm, "%s.g_idx", pre);
    const lt_src_tensor *pg = lt_ms_find_shard_tensor(src, nm, &tg);
    if (pg) LT_TRY(want(pg, nm, LT_I32, K, 0, P, err));

    l->N = N, l->K = K, l->G = Gf;
    l->q = lt_malloc((size_t)(N * K));
    l->scale = lt_malloc((size_t)(N * Gf) * sizeof(float));
    l->zero = lt_malloc((size_t)(N * Gf) * sizeof(float));
    uint8_t *col = lt_malloc((size_t)(K > N ? K : N));
    if (!l->q || !l->scale || !l->zero || !col) {
        lt_free(col);
        lin_free(l);
        return lt_err_set(err, LT_ENOMEM, "out of memory unpacking '%s'", pre);
    }
    const int32_t *w = tw.data;
    for (int64_t n = 0; n < N; n++) {
        lt_gptq_unpack_bits(w + n, N, bits, K, col);
        memcpy(l->q + n * K, col, (size_t)K);
    }
    const uint16_t *sc = ts.data;
    for (int64_t g = 0; g < Gf; g++) {
        lt_gptq_unpack_bits((const int32_t *)tz.data + g * tz.shape[1], 1, bits, N, col);
        for (int64_t n = 0; n < N; n++) {
            l->zero[n * Gf + g] = (float)col[n] + (v2 ? 0.0f : 1.0f);
            l->scale[n * Gf + g] = lt_f16_to_f32(sc[g * N + n]);
        }
    }
    lt_free(col);
    if (pg) {
        const int32_t *gi = tg.data;
        bool trivial = true;
        for (int64_t k = 0; k < K; k++) {
            if (gi[k] < 0 || gi[k] >= Gf) {
                lin_free(l);
                return lt_err_set(err, LT_EFORMAT, "%s: '%s' names group %d of %lld", P, nm, gi[k], (long long)Gf);
            }
            trivial &= gi[k] == k / group;
        }
        if (!trivial) {
            l->gidx = lt_malloc((size_t)K * sizeof(int32_t));
            if (!l->gidx) {
                lin_free(l);
                return lt_err_set(err, LT_ENOMEM, "out of memory");
            }
            memcpy(l->gidx, gi, (size_t)K * sizeof(int32_t));
        }
    }
    return LT_OK;
}

/* the weight lathe runs: gq4 blocks where they hold the values exactly, else f16 */
static lt_status push_lin(lt_modelsrc *src, const char *canon, const gq_lin *l, int bits, int group, lt_err *err) {
    const int64_t N = l->N, K = l->K;
    const lt_dtype t = bits == 4 ? lt_gq4_dtype_for(group, K, l->gidx) : LT_DTYPE_COUNT;
    const bool gq = t != LT_DTYPE_COUNT;
    const lt_dtype dt = gq ? t : LT_F16;
    const size_t rb = lt_row_bytes(dt, K);
    void *buf = lt_malloc(rb * (size_t)N);
    float *row = gq ? NULL : lt_malloc((size_t)K * sizeof(float));
    if (!buf || (!gq && !row)) {
        lt_free(buf), lt_free(row);
        return lt_err_set(err, LT_ENOMEM, "out of memory for '%s'", canon);
    }
    for (int64_t n = 0; n < N; n++) {
        const uint8_t *q = l->q + n * K;
        const float *s = l->scale + n * l->G, *z = l->zero + n * l->G;
        if (gq) {
            lt_gq4_pack_row(t, q, s, z, l->gidx, group, K, (char *)buf + (size_t)n * rb);
        } else {
            for (int64_t k = 0; k < K; k++) {
                const int g = l->gidx ? l->gidx[k] : (int)(k / group);
                row[k] = s[g] * ((float)q[k] - z[g]);
            }
            lt_dtype_row_from_f32(LT_F16, row, (char *)buf + (size_t)n * rb, K);
        }
    }
    lt_free(row);
    LT_TRY(lt_ms_own(src, buf, err));
    lt_src_tensor ts = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = buf, .nbytes = rb * (size_t)N};
    snprintf(ts.name, sizeof ts.name, "%s", canon);
    return lt_ms_push(src, &ts, err);
}

lt_status lt_gptq_load(lt_modelsrc *src, const lt_gptq_config *q, lt_err *err) {
    char canon[96], hf[128], pre[160], nm[176];
    bool v2 = q->v2, checked = false;
    lt_src_tensor th;
    if (src->cfg.tied_embeddings && !src->cfg.sliced && lt_ms_find_shard_tensor(src, "lm_head.qweight", &th))
        src->cfg.tied_embeddings = false; /* a quantized head beside a "tied" config: the head is its own */
    for (int i = 0; lt_ms_required(&src->cfg, i, canon); i++) {
        const size_t cl = strlen(canon);
        if (cl < 8 || strcmp(canon + cl - 7, ".weight") || !strcmp(canon, "token_embd.weight")) continue;
        if (!lt_hf_tensor_name(canon, hf)) continue;
        snprintf(pre, sizeof pre, "%.*s", (int)(strlen(hf) - 7), hf);
        snprintf(nm, sizeof nm, "%s.qweight", pre);
        lt_src_tensor tw;
        if (!lt_ms_find_shard_tensor(src, nm, &tw)) continue;
        if (lt_modelsrc_find(src, canon))
            return lt_err_set(err, LT_EFORMAT, "%s: '%s' is stored both quantized and as '%s'", src->path, pre, hf);
        int nd;
        int64_t s[4] = {0};
        if (!lt_ms_expected_shape(&src->cfg, canon, &nd, s) || nd != 2)
            return lt_err_set(err, LT_EFORMAT, "%s: '%s' does not fit config.json", src->path, nm);
        const int64_t N = s[0], K = s[1];
        if (!checked && !v2 && q->sym) { /* "gptq" label with v2 zeros? */
            lt_src_tensor tz;
            snprintf(nm, sizeof nm, "%s.qzeros", pre);
            const int64_t group = q->group > 0 ? q->group : K;
            if (lt_ms_find_shard_tensor(src, nm, &tz) && tz.dtype == LT_I32 && tz.ndim == 2 && tz.shape[1] == N * q->bits / 32 &&
                zeros_all(&tz, q->bits, tz.shape[0] < (K + group - 1) / group ? tz.shape[0] : (K + group - 1) / group,
                          N, 1 << (q->bits - 1)))
                v2 = true;
        }
        checked = true;
        gq_lin l;
        LT_TRY(read_lin(src, pre, q, v2, N, K, &l, err));
        lt_status st = push_lin(src, canon, &l, q->bits, q->group > 0 ? q->group : (int)K, err);
        lin_free(&l);
        LT_TRY(st);
    }
    return LT_OK;
}
