/* ct_hf.c - see ct_hf.h. */
#include "ct_hf.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/formats/modelsrc_ct.h"
#include "core/formats/modelsrc_hf.h"

bool lt_ct_has_sparse(const lt_modelsrc *src) {
    for (int i = 0; i < lt_modelsrc_n_tensors(src); i++) {
        const lt_dtype t = lt_modelsrc_tensor(src, i)->dtype;
        if (t == LT_S24_F16 || t == LT_S24_Q4) return true;
    }
    return false;
}

static bool is_s24(void *ctx, const char *canon) {
    const lt_src_tensor *t = lt_modelsrc_find(ctx, canon);
    return t && t->dtype == LT_S24_F16;
}

/* source row of HF row r of a q/k matrix of a GGUF (adjacent-pair rope) source */
static int src_row(int r, int head_dim) {
    const int h = r / head_dim, k = r % head_dim, half = head_dim / 2;
    const int j = k / half, i = k % half;
    return h * head_dim + 2 * i + j;
}

/* One s24_f16 row (K columns) -> K/2 kept f16 values and the packed bitmask. */
static void split_row(const lt_block_s24_f16 *b, int64_t K, uint16_t *vals, uint8_t *bits, uint8_t *keep) {
    memset(keep, 0, (size_t)K);
    for (int64_t i = 0; i < K / 16; i++)
        for (int k = 0; k < 8; k++) {
            const int p = (b[i].meta >> (2 * k)) & 3;
            keep[16 * i + 4 * (k / 2) + p] = 1;
            vals[8 * i + k] = b[i].v[k];
        }
    lt_ct_pack_bits(keep, K, bits);
}

lt_status lt_ct_write_hf(const lt_modelsrc *src, const char *dir, lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    const int nt = lt_modelsrc_n_tensors(src);
    int n = 0;
    for (int i = 0; i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (t->dtype == LT_S24_Q4)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s' is 2:4 with 4-bit values (s24_q4); compressed-tensors "
                              "holds that as marlin-24, which lathe does not write - save it as .gguf", dir, t->name);
        n += t->dtype == LT_S24_F16;
    }
    if (!n) return lt_err_set(err, LT_EINVAL, "%s: no 2:4 (s24_f16) matrices to write as compressed-tensors", dir);
    lt_st_entry *e = lt_calloc((size_t)n * 3 + 1, sizeof *e);
    void **bufs = lt_calloc((size_t)n * 3 + 1, sizeof *bufs);
    char (*names)[160] = lt_calloc((size_t)n * 3 + 1, sizeof *names);
    int ne = 0, nb = 0;
    lt_status st = e && bufs && names ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    uint64_t zeros = 0, total = 0;
    uint8_t *keep = NULL;
    for (int i = 0; !st && i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (t->dtype != LT_S24_F16) continue;
        char hf[128];
        if (!lt_hf_tensor_name(t->name, hf) || strlen(hf) < 8 || strcmp(hf + strlen(hf) - 7, ".weight")) {
            st = lt_err_set(err, LT_EINVAL, "%s: '%s' has no Hugging Face linear name", dir, t->name);
            break;
        }
        const int64_t N = t->shape[0], K = t->shape[1];
        int perm = 0;
        const char *suf = strncmp(t->name, "blk.", 4) ? NULL : strchr(t->name + 4, '.');
        if (!c->rope_neox && suf && (!strcmp(suf, ".attn_q.weight") || !strcmp(suf, ".attn_k.weight")))
            perm = c->head_dim;
        uint16_t *vals = lt_malloc((size_t)N * (size_t)K / 2 * 2);
        uint8_t *bits = lt_malloc((size_t)N * (size_t)((K + 7) / 8));
        int64_t *shape = lt_malloc(2 * sizeof(int64_t));
        lt_free(keep);
        keep = lt_malloc((size_t)K);
        bufs[nb++] = vals, bufs[nb++] = bits, bufs[nb++] = shape;
        if (!vals || !bits || !shape || !keep) {
            st = lt_err_set(err, LT_ENOMEM, "out of memory writing '%s'", t->name);
            break;
        }
        const size_t rb = lt_row_bytes(LT_S24_F16, K);
        for (int64_t r = 0; r < N; r++) {
            const int64_t sr = perm ? src_row((int)r, perm) : r;
            split_row((const lt_block_s24_f16 *)((const char *)t->data + (size_t)sr * rb), K, vals + r * (K / 2),
                      bits + r * ((K + 7) / 8), keep);
            for (int64_t k = 0; k < K / 2; k++) zeros += (vals[r * (K / 2) + k] & 0x7fff) == 0;
        }
        zeros += (uint64_t)(N * K / 2), total += (uint64_t)(N * K);
        shape[0] = N, shape[1] = K;
        const size_t pl = strlen(hf) - 7;
        const char *sfx[3] = {"compressed", "bitmask", "shape"};
        const void *data[3] = {vals, bits, shape};
        const lt_dtype dts[3] = {LT_F16, LT_U8, LT_I64};
        const int64_t shp[3][2] = {{N, K / 2}, {N, (K + 7) / 8}, {2, 1}};
        for (int s = 0; s < 3; s++) {
            snprintf(names[ne], 160, "%.*s.%s", (int)pl, hf, sfx[s]);
            e[ne] = (lt_st_entry){.name = names[ne], .dtype = dts[s], .ndim = 2, .shape = {shp[s][0], shp[s][1]},
                                  .data = data[s]};
            ne++;
        }
    }
    /* llm-compressor's form: every Linear, less the dense ones (vLLM matches both by module name) */
    cJSON *ignore = cJSON_CreateArray();
    cJSON_AddItemToArray(ignore, cJSON_CreateString("lm_head"));
    for (int i = 0; !st && i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        char hf[128];
        if (t->dtype == LT_S24_F16 || t->ndim != 2 || strncmp(t->name, "blk.", 4) || !lt_hf_tensor_name(t->name, hf) ||
            strlen(hf) < 8 || strcmp(hf + strlen(hf) - 7, ".weight"))
            continue;
        hf[strlen(hf) - 7] = 0;
        cJSON_AddItemToArray(ignore, cJSON_CreateString(hf));
    }
    lt_free(keep);
    char *qtext = NULL;
    if (!st) {
        cJSON *q = cJSON_CreateObject(), *sp = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
        cJSON_AddStringToObject(sp, "format", "sparse-24-bitmask");
        cJSON_AddStringToObject(sp, "sparsity_structure", "2:4");
        char g[32];
        snprintf(g, sizeof g, "%.6f", total ? (double)zeros / (double)total : 0.0);
        cJSON_AddNumberToObject(sp, "global_sparsity", strtod(g, NULL));
        cJSON_AddItemToObject(sp, "targets", cJSON_CreateStringArray((const char *[]){"Linear"}, 1));
        cJSON_AddItemToObject(sp, "ignore", ignore);
        ignore = NULL;
        cJSON_AddItemToObject(q, "sparsity_config", sp);
        cJSON_AddItemToObject(q, "transform_config", cJSON_CreateObject());
        qtext = cJSON_Print(q);
        cJSON_Delete(q);
        if (!qtext) st = lt_err_set(err, LT_ENOMEM, "out of memory");
    }
    cJSON_Delete(ignore);
    if (!st) {
        lt_hf_extra x = {.skip = is_s24, .ctx = (void *)src, .entries = e, .n_entries = ne, .quant_config = qtext};
        st = lt_modelsrc_write_hf_ex(src, dir, LT_DTYPE_COUNT, &x, err);
    }
    free(qtext);
    for (int i = 0; i < nb; i++) lt_free(bufs[i]);
    lt_free(bufs), lt_free(e), lt_free(names);
    return st;
}
