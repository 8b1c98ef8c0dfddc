/* conv.c - see conv.h. */
#include "conv.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/digest.h"
#include "core/text/chat.h"

struct lt_conv {
    lt_backend *be;
    lt_lm *lm;
    lt_tokenizer *tok;
    lt_kv_cache *kv;
    lt_conv_opts o;
    int chat_seq;
    int32_t pending; /* sampled but not yet fed token, -1 = none */
    int32_t *hist;   /* the tokens in chat_seq's cache (n_hist of them; valid while hist_ok) */
    int hist_cap;
    int n_hist;
    bool hist_ok;
    /* speculative decoding (NULL = plain) */
    lt_spec *spec;
    lt_lm *spec_draft; /* owned */
    pthread_mutex_t mu; /* guards the statistics and the spec pointer for lt_conv_stats_get */
    lt_conv_stats stats;
};

static lt_status new_hist(lt_conv *c, lt_err *err) {
    lt_free(c->hist);
    c->hist_cap = lt_kv_max_ctx(c->kv) + 2;
    c->hist = lt_malloc((size_t)c->hist_cap * sizeof(int32_t));
    c->n_hist = 0;
    c->hist_ok = true;
    return c->hist ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
}

lt_status lt_conv_create(lt_conv **out, lt_backend *be, lt_lm *lm, lt_tokenizer *tok, const lt_conv_opts *o,
                         lt_err *err) {
    *out = NULL;
    lt_conv *c = lt_calloc(1, sizeof *c);
    if (!c) {
        lt_tok_free(tok);
        lt_lm_close(lm);
        lt_backend_free(be);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    c->be = be, c->lm = lm, c->tok = tok;
    if (o) c->o = *o;
    c->chat_seq = -1;
    c->pending = -1;
    lt_kv_opts ko = lt_lm_kv_opts(lm, c->o.ctx > 0 ? c->o.ctx : 0, 2);
    ko.dtype = LT_F16;
    lt_status st = lt_kv_create(&c->kv, be, &ko, err);
    if (st == LT_OK) st = lt_kv_seq_new(c->kv, &c->chat_seq, err);
    if (st == LT_OK) st = new_hist(c, err);
    if (st != LT_OK) {
        lt_conv_free(c);
        return st;
    }
    *out = c;
    return LT_OK;
}

void lt_conv_free(lt_conv *c) {
    if (!c) return;
    lt_spec_free(c->spec); /* before the caches and models it holds */
    lt_lm_close(c->spec_draft);
    lt_free(c->hist);
    lt_kv_free(c->kv);
    lt_lm_close(c->lm);
    lt_tok_free(c->tok);
    lt_backend_free(c->be);
    pthread_mutex_destroy(&c->mu);
    lt_free(c);
}

lt_backend *lt_conv_backend(const lt_conv *c) { return c->be; }
lt_lm *lt_conv_lm(const lt_conv *c) { return c->lm; }
lt_tokenizer *lt_conv_tok(const lt_conv *c) { return c->tok; }
lt_kv_cache *lt_conv_kv(const lt_conv *c) { return c->kv; }
int lt_conv_chat_seq(const lt_conv *c) { return c->chat_seq; }
const lt_conv_opts *lt_conv_options(const lt_conv *c) { return &c->o; }
const lt_spec_params *lt_conv_spec_params(const lt_conv *c) { return c->spec ? lt_spec_get_params(c->spec) : NULL; }

lt_gen_params lt_conv_gen_params(const lt_conv *c, lt_sampler_params sp, int n_predict) {
    lt_gen_params gp = {0};
    gp.sp = sp;
    gp.n_predict = n_predict;
    gp.stop_at_bos = c->o.llama2c;
    gp.ignore_eos = c->o.synthetic; /* random weights pick end tokens at random */
    return gp;
}

bool lt_conv_chat_fresh(const lt_conv *c) {
    bool first = lt_kv_seq_len(c->kv, c->chat_seq) == 0 && c->pending < 0;
    if (c->o.llama2c && c->tok && c->pending == lt_tok_bos(c->tok)) first = false; /* BOS is pending: a new story */
    return first;
}

lt_status lt_conv_encode(const lt_conv *c, const char *system, const char *text, bool first, bool chat,
                         bool parse_special, int32_t **ids,
                         int *n, lt_err *err) {
    char *rendered = NULL;
    const char *t = text;
    bool templ = chat && strcmp(lt_chat_template_name(c->tok), "plain") != 0;
    bool sys = chat && first && system && system[0];
    if (templ) {
        lt_chat_msg msgs[2] = {{"system", system}, {"user", text}};
        const lt_chat_msg *m = sys ? msgs : msgs + 1;
        int k = sys ? 2 : 1;
        size_t need = lt_chat_render(c->tok, m, k, true, NULL, 0) + 1;
        rendered = lt_malloc(need);
        if (!rendered) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        lt_chat_render(c->tok, m, k, true, rendered, need);
        t = rendered;
    } else if (sys) { /* no template: the system prompt as a paragraph before the text */
        size_t need = strlen(system) + strlen(text) + 3;
        rendered = lt_malloc(need);
        if (!rendered) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        snprintf(rendered, need, "%s\n\n%s", system, text);
        t = rendered;
    }
    int64_t k = 0;
    lt_status st = lt_tok_encode_all(c->tok, t, strlen(t), first, templ || parse_special, 1, ids, &k, err);
    lt_free(rendered);
    if (st != LT_OK) return lt_err_prefix(err, "cannot tokenize the prompt");
    if (k > INT32_MAX - 1) {
        lt_free(*ids);
        *ids = NULL;
        return lt_err_set(err, LT_ERANGE, "the prompt has too many tokens");
    }
    *n = (int)k;
    return LT_OK;
}

/* Plain decoding reports text through the same callback, never as a draft. */
typedef struct plain_cb {
    lt_spec_cb cb;
    void *ud;
} plain_cb;

static bool plain_text(void *ud, int32_t id, const char *text, size_t len) {
    plain_cb *pc = ud;
    return pc->cb ? pc->cb(pc->ud, id, text, len, false) : true;
}

lt_status lt_conv_check_room(const lt_conv *c, int seq, int n, bool use_pending, lt_err *err) {
    if (use_pending && c->pending >= 0) n++;
    if (n == 0) n = 1;
    int ctx = lt_kv_max_ctx(c->kv), used = lt_kv_seq_len(c->kv, seq);
    if (used + n >= ctx && n >= ctx)
        return lt_err_set(err, LT_ERANGE, "the prompt has %d tokens, the context holds %d - shorten it", n, ctx);
    if (used + n >= ctx)
        return lt_err_set(err, LT_ERANGE,
                          "context full (%d of %d tokens used, the prompt needs %d more) - 'reset' starts over", used,
                          ctx, n);
    return LT_OK;
}

lt_status lt_conv_run(lt_conv *c, int seq, int32_t *ids, int n, bool use_pending, const lt_gen_params *gp, lt_spec_cb cb,
                      void *ud, lt_conv_run_result *res, lt_err *err) {
    memset(res, 0, sizeof *res);
    LT_TRY(lt_conv_check_room(c, seq, n, use_pending, err));
    int32_t *p = ids + 1;
    if (use_pending && c->pending >= 0) {
        ids[0] = c->pending;
        p = ids;
        n++;
    }
    if (n == 0) { /* an empty prompt on a fresh sequence: start from BOS */
        ids[1] = c->tok && lt_tok_bos(c->tok) >= 0 ? lt_tok_bos(c->tok) : 0;
        n = 1;
    }
    int ctx = lt_kv_max_ctx(c->kv), used = lt_kv_seq_len(c->kv, seq);
    int cap = gp->n_predict > 0 ? gp->n_predict : ctx;
    if (cap > ctx) cap = ctx;
    int32_t *out = lt_malloc((size_t)(cap + 1) * sizeof(int32_t));
    if (!out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_gen_stats st = {0};
    lt_status r = LT_OK;
    bool chat = seq == c->chat_seq;
    if (gp->n_predict != 0 && c->spec) { /* speculative: same contract as lt_generate */
        const int32_t *past = NULL;
        if (used > 0 && chat && c->hist_ok && c->n_hist == used) past = c->hist;
        else if (used > 0)
            r = lt_err_set(err, LT_EINVAL, "speculation: the tokens of this conversation are unknown - 'reset' first");
        lt_spec_stats sst;
        if (r == LT_OK) r = lt_spec_generate(c->spec, c->tok, seq, past, used, p, n, gp, cb, ud, out, NULL, cap, &sst, err);
        if (r == LT_OK) {
            st = sst.gen;
            pthread_mutex_lock(&c->mu);
            c->stats.spec = sst;
            if (st.n_gen > 1 && st.decode_s > 0) c->stats.spec_tps = st.n_gen / st.decode_s;
            pthread_mutex_unlock(&c->mu);
        }
    } else if (gp->n_predict != 0) {
        plain_cb pc = {cb, ud};
        r = lt_generate(c->lm, c->tok, c->kv, seq, p, n, gp, plain_text, &pc, out, cap, &st, err);
        if (r == LT_OK && st.n_gen > 1 && st.decode_s > 0) lt_conv_note_plain_rate(c, st.n_gen / st.decode_s);
    }
    if (gp->n_predict == 0) { /* replay of a command cancelled before its first token */
        float *lg = lt_malloc((size_t)lt_lm_config(c->lm)->n_vocab * sizeof(float));
        r = lg ? lt_lm_eval(c->lm, c->kv, seq, p, n, false, lg, err) : lt_err_set(err, LT_ENOMEM, "out of host memory");
        lt_free(lg);
        st = (lt_gen_stats){.n_prompt = n, .stop = LT_GEN_STOP_LENGTH};
    }
    if (chat) { /* keep the conversation's tokens in step with its cache (speculation needs them) */
        int k = st.n_gen < cap ? st.n_gen : cap, len = lt_kv_seq_len(c->kv, seq);
        if (r == LT_OK && c->hist_ok && c->n_hist == used && used + n + k >= len) {
            memcpy(c->hist + used, p, (size_t)n * sizeof(int32_t));
            if (len > used + n) memcpy(c->hist + used + n, out, (size_t)(len - used - n) * sizeof(int32_t));
            c->n_hist = len;
        } else {
            c->hist_ok = len == 0;
            c->n_hist = 0;
        }
    }
    res->st = st;
    if (r == LT_OK) {
        int k = st.n_gen < cap ? st.n_gen : cap;
        res->digest = lt_digest_ids(out, k);
        if (use_pending) {
            if (st.stop == LT_GEN_STOP_EOG) lt_conv_end_turn(c);
            else c->pending = k > 0 ? out[k - 1] : -1;
        }
    }
    lt_free(out);
    return r;
}

void lt_conv_end_turn(lt_conv *c) {
    int32_t end = !c->tok ? -1 : c->o.llama2c ? lt_tok_bos(c->tok) : lt_tok_eos(c->tok);
    c->pending = end >= 0 ? end : -1;
}

int32_t lt_conv_pending(const lt_conv *c) { return c->pending; }

void lt_conv_reset(lt_conv *c) {
    lt_kv_seq_truncate(c->kv, c->chat_seq, 0);
    c->pending = -1;
    c->n_hist = 0;
    c->hist_ok = true;
}

/* ---- speculative decoding ------------------------------------------------------------------ */

lt_status lt_conv_set_spec(lt_conv *c, const lt_spec_params *p, bool *new_cache, lt_err *err) {
    *new_cache = false;
    lt_lm *draft = p->draft;
    lt_kv_cache *nkv = NULL;
    int nseq = -1;
    lt_status r = LT_OK;
    int bs = lt_kv_block_size(c->kv);
    int chunk = p->chunk ? p->chunk : bs;
    if (p->kind == LT_SPEC_TRIFORCE && (chunk % bs || lt_kv_max_seqs(c->kv) < 4)) {
        /* TriForce needs chunks made of whole blocks and a sequence slot for its view (plus
         * one for `generate`): a new cache, so the conversation starts over */
        if (chunk % bs && chunk > 64)
            r = lt_err_set(err, LT_EINVAL, "--chunk %d is not a multiple of the KV block size %d (use one, or <= 64)",
                           chunk, bs);
        lt_kv_opts ko = lt_lm_kv_opts(c->lm, lt_kv_max_ctx(c->kv), 4);
        ko.dtype = LT_F16;
        ko.block_size = chunk % bs ? chunk : bs;
        if (r == LT_OK) r = lt_kv_create(&nkv, c->be, &ko, err);
        if (r == LT_OK) r = lt_kv_seq_new(nkv, &nseq, err);
        if (r != LT_OK) lt_err_prefix(err, "spec: TriForce cache");
    }
    int32_t *nhist = NULL; /* the new cache may hold more tokens (whole chunks): a history to match */
    int nhist_cap = nkv ? lt_kv_max_ctx(nkv) + 2 : 0;
    if (r == LT_OK && nkv && !(nhist = lt_malloc((size_t)nhist_cap * sizeof(int32_t))))
        r = lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_spec *sp = NULL;
    if (r == LT_OK) r = lt_spec_create(&sp, c->lm, nkv ? nkv : c->kv, p, err);
    if (r != LT_OK) {
        lt_free(nhist);
        lt_kv_free(nkv);
        lt_lm_close(draft);
        return r;
    }
    pthread_mutex_lock(&c->mu);
    lt_spec_free(c->spec);
    lt_lm_close(c->spec_draft);
    c->spec = sp;
    c->spec_draft = draft;
    memset(&c->stats.spec, 0, sizeof c->stats.spec);
    c->stats.spec_tps = 0;
    c->stats.spec_on = true;
    c->stats.spec_kind = p->kind;
    c->stats.spec_desc[0] = 0;
    if (nkv) {
        lt_kv_free(c->kv);
        c->kv = nkv;
        lt_free(c->hist);
        c->hist = nhist;
        c->hist_cap = nhist_cap;
        c->chat_seq = nseq;
        c->pending = -1;
        c->n_hist = 0;
        c->hist_ok = true;
        *new_cache = true;
    }
    pthread_mutex_unlock(&c->mu);
    return LT_OK;
}

void lt_conv_spec_off(lt_conv *c) {
    pthread_mutex_lock(&c->mu);
    lt_spec_free(c->spec);
    lt_lm_close(c->spec_draft);
    c->spec = NULL;
    c->spec_draft = NULL;
    c->stats.spec_on = false;
    c->stats.spec_desc[0] = 0;
    memset(&c->stats.spec, 0, sizeof c->stats.spec);
    pthread_mutex_unlock(&c->mu);
}

void lt_conv_spec_describe(lt_conv *c, const char *desc) {
    pthread_mutex_lock(&c->mu);
    snprintf(c->stats.spec_desc, sizeof c->stats.spec_desc, "%s", desc);
    pthread_mutex_unlock(&c->mu);
}

void lt_conv_stats_get(lt_conv *c, lt_conv_stats *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void lt_conv_kv_usage(lt_conv *c, int *used, int *total, int *max_ctx) {
    pthread_mutex_lock(&c->mu);
    if (used) *used = lt_kv_blocks_used(c->kv);
    if (total) *total = lt_kv_blocks_total(c->kv);
    if (max_ctx) *max_ctx = lt_kv_max_ctx(c->kv);
    pthread_mutex_unlock(&c->mu);
}

void lt_conv_ctx_usage(lt_conv *c, int *used, int *max_ctx) {
    pthread_mutex_lock(&c->mu);
    if (used) *used = lt_kv_seq_len(c->kv, c->chat_seq) + (c->pending >= 0 ? 1 : 0);
    if (max_ctx) *max_ctx = lt_kv_max_ctx(c->kv);
    pthread_mutex_unlock(&c->mu);
}

void lt_conv_note_plain_rate(lt_conv *c, double tps) {
    pthread_mutex_lock(&c->mu);
    c->stats.plain_tps = tps;
    pthread_mutex_unlock(&c->mu);
}
