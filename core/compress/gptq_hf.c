/* gptq_hf.c - see gptq_hf.h. */
#include "gptq_hf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/formats/modelsrc_gptq.h"
#include "core/formats/modelsrc_hf.h"

typedef struct wctx {
    const lt_gptq_tensor *q;
    int n;
} wctx;

static bool skip_quantized(void *ctx, const char *canon) {
    const wctx *w = ctx;
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->q[i].name, canon)) return true;
    return false;
}

/* source row of HF row r of a q/k matrix of a GGUF (adjacent-pair rope) source */
static int src_row(int r, int head_dim) {
    const int h = r / head_dim, k = r % head_dim, half = head_dim / 2;
    const int j = k / half, i = k % half; /* neox index h*hd + j*half + i <- adjacent h*hd + 2i + j */
    return h * head_dim + 2 * i + j;
}

static lt_status pack_one(const lt_llm_config *c, const lt_gptq_tensor *t, char hf[128], void **bufs, int *nb,
                          lt_st_entry *e, char (*names)[160], int *ne, lt_err *err) {
    const lt_gq_matrix *m = t->m;
    const int N = m->rows, K = m->cols, bits = m->bits, G = m->n_groups;
    if (N * bits % 32 || K * bits % 32)
        return lt_err_set(err, LT_EINVAL, "gptq: '%s' (%d x %d) does not pack into 32-bit words at %d bits", t->name,
                          N, K, bits);
    int perm_hd = 0;
    const char *suf = strncmp(t->name, "blk.", 4) ? NULL : strchr(t->name + 4, '.');
    if (!c->rope_neox && suf && (!strcmp(suf, ".attn_q.weight") || !strcmp(suf, ".attn_k.weight")))
        perm_hd = c->head_dim;
    int32_t *qw = lt_calloc((size_t)K * bits / 32 * N, 4), *qz = lt_calloc((size_t)G * N * bits / 32, 4);
    uint16_t *sc = lt_malloc((size_t)G * N * 2);
    int32_t *gi = lt_malloc((size_t)K * 4);
    uint8_t *zr = lt_malloc((size_t)N);
    bufs[(*nb)++] = qw, bufs[(*nb)++] = qz, bufs[(*nb)++] = sc, bufs[(*nb)++] = gi;
    if (!qw || !qz || !sc || !gi || !zr) {
        lt_free(zr);
        return lt_err_set(err, LT_ENOMEM, "out of memory packing '%s'", t->name);
    }
    for (int n = 0; n < N; n++) {
        const int r = perm_hd ? src_row(n, perm_hd) : n;
        for (int k = 0; k < K; k++)
            if (m->q[(size_t)r * K + k] >> bits) {
                lt_free(zr);
                return lt_err_set(err, LT_EINVAL, "gptq: '%s' has a code of %d at %d bits", t->name,
                                  m->q[(size_t)r * K + k], bits);
            }
        lt_gptq_pack_bits(m->q + (size_t)r * K, K, bits, qw + n, N);
        for (int g = 0; g < G; g++) sc[(size_t)g * N + n] = lt_f32_to_f16(m->scale[(size_t)r * G + g]);
    }
    for (int g = 0; g < G; g++) {
        for (int n = 0; n < N; n++) {
            const float z = m->zero[(size_t)(perm_hd ? src_row(n, perm_hd) : n) * G + g];
            zr[n] = (uint8_t)(z < 0 ? 0 : z > (float)((1 << bits) - 1) ? (1 << bits) - 1 : z);
        }
        lt_gptq_pack_bits(zr, N, bits, qz + (size_t)g * N * bits / 32, 1);
    }
    lt_free(zr);
    for (int k = 0; k < K; k++) gi[k] = m->g_idx ? m->g_idx[k] : k / m->group;
    const size_t pl = strlen(hf) - 7; /* without ".weight" */
    const char *sfx[4] = {"qweight", "qzeros", "scales", "g_idx"};
    const void *data[4] = {qw, qz, sc, gi};
    const lt_dtype dts[4] = {LT_I32, LT_I32, LT_F16, LT_I32};
    const int64_t shp[4][2] = {{K * bits / 32, N}, {G, N * bits / 32}, {G, N}, {K, 0}};
    for (int i = 0; i < 4; i++) {
        snprintf(names[*ne], 160, "%.*s.%s", (int)pl, hf, sfx[i]);
        e[*ne] = (lt_st_entry){.name = names[*ne], .dtype = dts[i], .ndim = i == 3 ? 1 : 2,
                               .shape = {shp[i][0], shp[i][1]}, .data = data[i]};
        (*ne)++;
    }
    return LT_OK;
}

lt_status lt_gptq_write_hf(const lt_modelsrc *src, const char *dir, const lt_gptq_tensor *q, int n,
                           const lt_gptq_write_opts *o, lt_err *err) {
    if (n <= 0) return lt_err_set(err, LT_EINVAL, "gptq: %s: no quantized tensors to write", dir);
    const lt_gq_matrix *m0 = q[0].m;
    bool rowwise = true, act = false, untie = false;
    for (int i = 0; i < n; i++) {
        const lt_gq_matrix *m = q[i].m;
        if (m->bits != 2 && m->bits != 3 && m->bits != 4 && m->bits != 8)
            return lt_err_set(err, LT_EINVAL, "gptq: '%s': AutoGPTQ folders hold 2, 3, 4 or 8 bits, not %d", q[i].name,
                              m->bits);
        if (m->bits != m0->bits || m->sym != m0->sym)
            return lt_err_set(err, LT_EINVAL, "gptq: '%s' has other bits or symmetry than '%s' (one config per folder)",
                              q[i].name, q[0].name);
        rowwise &= m->n_groups == 1;
        act |= m->g_idx != NULL;
        const lt_src_tensor *t = lt_modelsrc_find(src, q[i].name);
        if (!t && !strcmp(q[i].name, "output.weight") && lt_modelsrc_config(src)->tied_embeddings)
            t = lt_modelsrc_find(src, "token_embd.weight"), untie = true; /* a tied head, written as lm_head */
        if (!t || t->ndim != 2 || t->shape[0] != m->rows || t->shape[1] != m->cols)
            return lt_err_set(err, LT_EINVAL, "gptq: '%s' is not a %d x %d matrix of the source model", q[i].name,
                              m->rows, m->cols);
    }
    for (int i = 0; !rowwise && i < n; i++)
        if (q[i].m->group != m0->group)
            return lt_err_set(err, LT_EINVAL, "gptq: '%s' has group size %d, '%s' %d (one config per folder)",
                              q[i].name, q[i].m->group, q[0].name, m0->group);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lt_err_set(err, LT_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    void **bufs = lt_calloc((size_t)n * 4 + 1, sizeof *bufs);
    lt_st_entry *e = lt_calloc((size_t)n * 4 + 1, sizeof *e);
    char (*names)[160] = lt_calloc((size_t)n * 4 + 1, sizeof *names);
    int nb = 0, ne = 0;
    lt_status st = bufs && e && names ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    char hf[128];
    for (int i = 0; !st && i < n; i++) {
        if (!lt_hf_tensor_name(q[i].name, hf) || strlen(hf) < 8 || strcmp(hf + strlen(hf) - 7, ".weight"))
            st = lt_err_set(err, LT_EINVAL, "gptq: '%s' has no Hugging Face linear name", q[i].name);
        else st = pack_one(lt_modelsrc_config(src), &q[i], hf, bufs, &nb, e, names, &ne, err);
    }
    char *qtext = NULL;
    if (!st) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "bits", m0->bits);
        cJSON_AddNumberToObject(j, "group_size", rowwise ? -1 : m0->group);
        cJSON_AddBoolToObject(j, "desc_act", act);
        cJSON_AddBoolToObject(j, "sym", m0->sym);
        char dbuf[32]; /* the float as its shortest decimal (0.01, not 0.00999999977648258) */
        snprintf(dbuf, sizeof dbuf, "%g", o ? (double)o->damp_percent : 0.0);
        cJSON_AddNumberToObject(j, "damp_percent", o && o->damp_percent > 0 ? strtod(dbuf, NULL) : 0.01);
        cJSON_AddBoolToObject(j, "static_groups", o && o->static_groups);
        cJSON_AddBoolToObject(j, "true_sequential", !o || o->true_sequential);
        cJSON_AddBoolToObject(j, "lm_head", skip_quantized(&(wctx){q, n}, "output.weight"));
        cJSON_AddStringToObject(j, "quant_method", "gptq");
        cJSON_AddStringToObject(j, "checkpoint_format", "gptq_v2");
        cJSON_AddStringToObject(j, "quantizer", "lathe");
        qtext = cJSON_Print(j);
        cJSON_Delete(j);
        if (!qtext) st = lt_err_set(err, LT_ENOMEM, "out of memory");
    }
    if (!st) {
        wctx w = {q, n};
        lt_hf_extra x = {.skip = skip_quantized, .ctx = &w, .entries = e, .n_entries = ne, .quant_config = qtext,
                         .untie = untie};
        st = lt_modelsrc_write_hf_ex(src, dir, o && o->other == LT_DTYPE_COUNT ? LT_DTYPE_COUNT : LT_F16, &x, err);
    }
    if (!st) {
        char path[4096];
        snprintf(path, sizeof path, "%s/quantize_config.json", dir);
        lt_afile af;
        st = lt_afile_open(&af, path, err);
        if (!st) st = lt_afile_close(&af, fwrite(qtext, 1, strlen(qtext), af.f) == strlen(qtext), err);
    }
    free(qtext);
    for (int i = 0; i < nb; i++) lt_free(bufs[i]);
    lt_free(bufs), lt_free(e), lt_free(names);
    return st;
}
