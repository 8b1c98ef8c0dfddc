/* eval.c - `eval ppl -f TEXT [--ctx 512] [--chunks N] [--batch 512] [--all-tokens] [--kld BASE]`:
 * the perplexity of the current model on a text file, computed as `lathe eval ppl` computes it
 * (core/llm/ppl.h: llama-perplexity's chunks and scores, the same option table and report),
 * on a fresh sequence of the model's own KV cache per chunk. --kld BASE names a loaded model
 * or opens a model file for the run (on the current model's device, freed afterwards).
 * Progress goes to the status bar (with ETA) and the throughput pane, a running estimate to
 * the transcript every few seconds; Esc stops it and reports the chunks done (a cancelled
 * command: its replay evaluates that many chunks). The digest is that of the printed result.
 * `compare [NAME...] [-f TEXT] [--ctx 512] [--chunks 10] [-p 64] [-n 32]`: the compression report
 * (core/compress/report.h) of loaded models side by side, the first (default: every loaded
 * language model in load order) the original: size, bits per weight, both perplexities, KLD
 * against the original, prefill/decode tok/s; the table goes to the transcript and stays in the
 * session for the workbench's report pane. Its digest covers the sizes, perplexities and KLDs
 * (not the speeds).
 * Leaves out: the evaluation (core/llm/ppl.c, core/compress/report.c).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/compress/calib.h"
#include "core/compress/report.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/ppl.h"

#define EVAL_USAGE "eval ppl -f TEXT [--ctx 512] [--chunks N] [--batch 512] [--all-tokens] [--kld BASE]"

typedef struct eval_ud {
    lt_session *s;
    lt_sink *sink;
    int stop_after; /* a replay of a cancelled run: stop once this many chunks are done (-1 = never) */
    double last_line;
} eval_ud;

static bool on_progress(void *ud, const lt_ppl_progress *p) {
    eval_ud *e = ud;
    lt_sink_progress(e->sink, "ppl", p->frac < 1 ? p->frac : 0.999);
    if (p->tps > 0) lt_session_report_rates(e->s, p->tps, -1, -1);
    double now = lt_now();
    if (p->chunks_done > 0 && p->chunks_done < p->n_chunks && now - e->last_line >= 5) {
        e->last_line = now;
        lt_sink_printf(e->sink, LT_TEXT_INFO, "chunk %d/%d: PPL %.4f\n", p->chunks_done, p->n_chunks, p->ppl);
    }
    if (e->stop_after >= 0 && p->chunks_done >= e->stop_after) return false;
    return !lt_session_cancelled(e->s);
}

/* The base model of --kld: a loaded model by name (the current one is compared with itself),
 * else a file opened for this run (*owned: close it and *kv afterwards). */
static lt_status get_base(lt_session *s, lt_conv *c, const char *what, const lt_ppl_opts *po, lt_lm **base,
                          lt_tokenizer **btok, lt_kv_cache **bkv, bool *owned, lt_err *err) {
    *owned = false;
    lt_err ignore;
    if (lt_session_get_lm(s, what, base, btok, bkv, &ignore) == LT_OK) return LT_OK;
    int n_par, max_rows;
    lt_ppl_shape(po, &n_par, &max_rows);
    lt_lm_opts lo = {.max_logits = max_rows > 0 ? max_rows : 1};
    LT_TRY(lt_cmd_open_lm(s, what, lt_conv_backend(c), &lo, base, btok, err));
    *owned = true;
    int bctx = lt_lm_config(*base)->max_seq, ctx = po->ctx;
    lt_kv_opts ko = lt_lm_kv_opts(*base, ctx < bctx || bctx <= 0 ? ctx : bctx, n_par);
    ko.dtype = LT_F16;
    return lt_kv_create(bkv, lt_conv_backend(c), &ko, err);
}

static lt_status cmd_eval(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_ppl_args pa;
    lt_ppl_args_default(&pa);
    lt_opt opts[LT_PPL_N_OPTS + 1] = {{0}};
    lt_ppl_opts_add(&pa, opts, LT_PPL_N_OPTS + 1);
    const char *pos[2];
    int n_pos;
    LT_TRY(lt_args_parse(a, "eval", EVAL_USAGE, opts, pos, 2, &n_pos, err));
    if (n_pos != 1 || strcmp(pos[0], "ppl"))
        return lt_err_set(err, LT_EINVAL, "eval: %s%s%s; usage: %s", n_pos ? "unknown evaluation '" : "what to evaluate",
                          n_pos ? pos[0] : "", n_pos ? "' (ppl)" : " (ppl)", EVAL_USAGE);
    if (!pa.file) return lt_err_set(err, LT_EINVAL, "eval ppl: -f TEXT is required; usage: %s", EVAL_USAGE);
    lt_conv *c;
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
    lt_tokenizer *tok = lt_conv_tok(c);
    if (!tok) return lt_err_set(err, LT_EUNSUPPORTED, "eval ppl: '%s' has no tokenizer - load it with --tokenizer FILE", name);
    lt_lm *m = lt_conv_lm(c);
    lt_ppl_opts po = {.ctx = pa.ctx, .n_chunks = pa.n_chunks, .batch = pa.batch, .all_tokens = pa.all_tokens,
                      .bos = lt_ppl_bos(tok)};
    int32_t *ids = NULL;
    int64_t n = 0;
    lt_sink_progress(sink, "ppl", 0);
    if (lt_ppl_tokenize_file(tok, pa.file, &ids, &n, err) != LT_OK) return lt_err_prefix(err, "eval ppl");
    lt_lm *base = NULL;
    lt_tokenizer *btok = NULL;
    lt_kv_cache *bkv = NULL;
    bool owned = false;
    lt_status st = LT_OK;
    if (pa.kld) {
        st = get_base(s, c, pa.kld, &po, &base, &btok, &bkv, &owned, err);
        if (st != LT_OK) lt_err_prefix(err, "eval ppl: base model %s", pa.kld);
        if (st == LT_OK && btok && base != m && lt_ppl_check_vocab(tok, btok, err) != LT_OK)
            st = lt_err_prefix(err, "eval ppl");
    }
    int limit = lt_session_token_limit(s); /* replay of a cancelled run: the chunks it finished */
    int per = pa.ctx - 1 - (pa.all_tokens ? 0 : pa.ctx / 2);
    eval_ud e = {s, sink, limit >= 0 && per > 0 ? limit / per : -1, lt_now()};
    po.base = base, po.base_kv = bkv;
    po.progress = on_progress, po.ud = &e;
    lt_ppl_result r;
    if (st == LT_OK) st = lt_ppl_eval(m, lt_conv_kv(c), ids, n, &po, &r, err);
    lt_sink_progress(sink, "ppl", 1);
    lt_session_report_rates(s, -1, 0, -1);
    if (owned) {
        lt_kv_free(bkv);
        lt_lm_close(base);
        lt_tok_free(btok);
    }
    lt_free(ids);
    if (st != LT_OK && st != LT_ECANCELLED) return st;
    lt_result *res = lt_session_result(s);
    res->n_tokens = (int)r.n_scored;
    res->cancelled = st == LT_ECANCELLED;
    lt_session_set_digest(s, lt_ppl_digest(&r));
    char report[1024];
    lt_ppl_format(&r, report, sizeof report);
    if (res->cancelled) {
        lt_err_clear(err);
        lt_sink_printf(sink, LT_TEXT_INFO, "[eval ppl cancelled after %d of %d chunks]\n%s", r.n_chunks,
                       r.n_chunks_total, r.n_chunks ? report : "");
        return LT_OK;
    }
    lt_sink_printf(sink, LT_TEXT_INFO, "perplexity of '%s' on %s%s%s:\n%s", name, pa.file, pa.kld ? ", KLD against " : "",
                   pa.kld ? pa.kld : "", report);
    return LT_OK;
}

/* ---- compare [NAME...] -------------------------------------------------------------------------- */

#define COMPARE_USAGE "compare [NAME...] [-f TEXT] [--ctx 512] [--chunks 10] [--batch 512] [-p 64] [-n 32]"

typedef struct cmp_ud {
    lt_session *s;
    lt_sink *sink;
} cmp_ud;

static bool on_compare(void *ud, const lt_creport_event *e) {
    cmp_ud *c = ud;
    lt_sink_progress(c->sink, "compare", e->frac < 1 ? e->frac : 0.999);
    return !lt_session_cancelled(c->s);
}

static lt_status cmd_compare(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *file = NULL;
    int ctx = 512, chunks = 10, batch = 512, np = 64, ng = 32;
    lt_opt opts[] = {
        {"-f", "--text", LT_OPT_STR, &file, "the text to score (default: the bundled tinyshakespeare.txt, which is "
                                            "also compress's calibration text - give a held-out one)"},
        {"--ctx", NULL, LT_OPT_INT, &ctx, "tokens per chunk", 4, 1 << 20},
        {"--chunks", NULL, LT_OPT_INT, &chunks, "chunks scored (0: every chunk of the text)", 0, 1 << 20},
        {"--batch", NULL, LT_OPT_INT, &batch, "tokens per forward", 1, 1 << 20},
        {"-p", NULL, LT_OPT_INT, &np, "prefill tokens of the speed measurement", 1, 1 << 16},
        {"-n", NULL, LT_OPT_INT, &ng, "decode tokens of the speed measurement (0: none)", 0, 1 << 16},
        {NULL},
    };
    const char *pos[LT_CREPORT_MAX + 1];
    int n_pos;
    LT_TRY(lt_args_parse(a, "compare", COMPARE_USAGE, opts, pos, LT_CREPORT_MAX + 1, &n_pos, err));
    const char *names[LT_CREPORT_MAX];
    int n = 0;
    if (n_pos > LT_CREPORT_MAX)
        return lt_err_set(err, LT_EINVAL, "compare: at most %d models; usage: %s", LT_CREPORT_MAX, COMPARE_USAGE);
    lt_model_info info[16];
    int ni = n_pos ? 0 : lt_session_models(s, info, 16);
    for (int i = 0; i < n_pos; i++) names[n++] = pos[i];
    for (int i = 0; i < ni && n < LT_CREPORT_MAX; i++)
        if (!strcmp(info[i].kind, "llm")) names[n++] = info[i].name;
    if (!n) return lt_err_set(err, LT_EINVAL, "compare: no model loaded - 'load PATH' first");
    char def[4096];
    if (!file) {
        LT_TRY(lt_calib_default_file(def, sizeof def, err));
        file = def;
    }
    lt_creport_model m[LT_CREPORT_MAX] = {{0}};
    lt_modelsrc *srcs[LT_CREPORT_MAX] = {0};
    lt_tokenizer *tok0 = NULL;
    lt_status st = LT_OK;
    for (int i = 0; st == LT_OK && i < n; i++) {
        lt_tokenizer *tok = NULL;
        st = lt_session_get_lm(s, names[i], &m[i].lm, &tok, &m[i].kv, err);
        if (st != LT_OK) {
            lt_err_prefix(err, "compare");
            break;
        }
        lt_session_llm(s, names[i], &(lt_conv *){0}, &m[i].name, err);
        if (!tok) st = lt_err_set(err, LT_EUNSUPPORTED, "compare: '%s' has no tokenizer", names[i]);
        else if (i == 0) tok0 = tok;
        else if (lt_tok_n_vocab(tok) != lt_tok_n_vocab(tok0))
            st = lt_err_set(err, LT_EINVAL, "compare: '%s' has a vocabulary of %d tokens, the base '%s' %d: KLD and "
                            "top-1 need the same vocabulary - compare models made from one original", names[i],
                            lt_tok_n_vocab(tok), m[0].name, lt_tok_n_vocab(tok0));
        else if (lt_ppl_check_vocab(tok, tok0, err) != LT_OK) /* same size, other tokens or BOS */
            st = lt_err_prefix(err, "compare: '%s' against the base '%s'", names[i], m[0].name);
        for (int j = 0; st == LT_OK && j < i; j++)
            if (m[j].lm == m[i].lm) st = lt_err_set(err, LT_EINVAL, "compare: '%s' is named twice", names[i]);
        const char *nm, *path, *tokp;
        lt_err ignore;
        if (st == LT_OK && lt_session_model_source(s, names[i], &nm, &path, &tokp, &ignore) == LT_OK &&
            lt_modelsrc_open(&srcs[i], path, tokp, &ignore) == LT_OK)
            m[i].src = srcs[i];
    }
    int32_t *ids = NULL;
    int64_t nids = 0;
    if (st == LT_OK && lt_ppl_tokenize_file(tok0, file, &ids, &nids, err) != LT_OK) st = lt_err_prefix(err, "compare");
    bool skip = st == LT_OK && lt_session_token_limit(s) >= 0; /* replaying a compare that was cancelled */
    lt_creport *r = lt_calloc(1, sizeof *r);
    if (st == LT_OK && !r) st = lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK && !skip) {
        lt_sink_printf(sink, LT_TEXT_INFO, "comparing %d model%s on %s (base '%s')\n", n, n > 1 ? "s" : "", file,
                       m[0].name);
        cmp_ud cu = {s, sink};
        lt_creport_opts o = {.ids = ids, .n_ids = nids, .ctx = ctx, .n_chunks = chunks, .batch = batch,
                             .bos = lt_ppl_bos(tok0), .n_prompt = np, .n_gen = ng ? ng : -1, .progress = on_compare,
                             .ud = &cu};
        lt_sink_progress(sink, "compare", 0);
        st = lt_creport_run(m, n, &o, r, err);
        lt_sink_progress(sink, "compare", 1);
        lt_session_report_rates(s, -1, 0, -1);
    }
    for (int i = 0; i < n; i++) lt_modelsrc_close(srcs[i]);
    lt_free(ids);
    if (skip || (st == LT_ECANCELLED && lt_session_cancelled(s))) {
        lt_free(r);
        lt_err_clear(err);
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[compare %s]\n", skip ? "skipped: it was cancelled in the recording"
                                                                   : "cancelled: no report");
        return LT_OK;
    }
    if (st != LT_OK) {
        lt_free(r);
        return st;
    }
    const char *base = strrchr(file, '/');
    snprintf(r->text, sizeof r->text, "%s", base ? base + 1 : file);
    uint64_t h = LT_FNV_INIT;
    for (int i = 0; i < r->n; i++) {
        char line[160];
        int k = snprintf(line, sizeof line, "%llu %.4f %.4f %.6f", (unsigned long long)r->rows[i].bytes,
                         r->rows[i].ppl, r->rows[i].ppl_all, r->rows[i].kld);
        h = lt_fnv1a64(h, line, (size_t)k);
    }
    lt_session_set_digest(s, h);
    lt_session_set_creport(s, r);
    char text[4096];
    lt_creport_format(r, text, sizeof text);
    lt_sink_printf(sink, LT_TEXT_INFO, "%s", text);
    lt_free(r);
    return LT_OK;
}

static const lt_cmd_arg k_eval_args[] = {{"ppl", "what to evaluate: ppl (perplexity of the current model)"},
                                         {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"eval", NULL, EVAL_USAGE,
     "perplexity of the current model on a text file, as llama-perplexity computes it (--kld: against a base model)",
     1, 20, k_eval_args, true, cmd_eval},
    {"compare", NULL, COMPARE_USAGE,
     "the compression report: size, bits/weight, perplexity, KLD against the first model, tok/s, side by side", 0,
     -1, NULL, true, cmd_compare},
    {NULL},
};

const lt_cmd_table lt_cmd_eval_table = {"eval", k_cmds};
