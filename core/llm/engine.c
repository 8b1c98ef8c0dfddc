/* engine.c - see engine.h. */
#include "engine.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "spec.h"
#include "stopstr.h"

typedef enum { REQ_WAITING, REQ_RUNNING, REQ_DONE } req_state;

typedef struct req {
    int id;
    req_state state;
    lt_req_params p;        /* cb, ud, gen, out_ids (prompt, stops and past are copied below) */
    int32_t *all;           /* the past tokens (off of them), then toks */
    int32_t *toks;          /* all + off: prompt, then the generated tokens */
    int off;                /* past tokens at the front of all (lt_req_params.past) */
    int n_prompt, n_gen, cap;
    int seq;                /* KV sequence while running (or the caller's) */
    bool own_seq;           /* the engine's sequence (freed at the end, preemptible) */
    int base;               /* tokens the sequence held before this request */
    int n_fed;              /* of toks, tokens in the cache */
    bool decoding;          /* prefill done in this residency: the next token is a decode */
    int gamma, ngram_max;   /* speculation: drafts per step (0 = off) */
    int gmax;               /* gamma's bound (adaptive; else gamma) */
    int n_draft;            /* drafts of this step, at toks[known .. known + n_draft) */
    float *pbuf;            /* [2 * V]: a row's distribution and the residual (speculation) */
    bool use_draft;         /* drafts by the engine's draft model */
    bool use_tf;            /* drafts by TriForce's drafter p.tf (neither: n-gram lookup) */
    int dseq, d_fed;        /* its sequence in the draft cache (-1: none) holding all[0 .. d_fed) */
    bool own_dseq;          /* the engine's draft sequence (else the caller's p.draft_seq) */
    int d_upto;             /* this step's draft round 0 reads all[d_fed .. d_upto) */
    lt_sampler *dsmp;       /* the drafter's sampler */
    float *qbuf;            /* [gmax + 1][V] the drafts' distributions */
    lt_sampler *smp;
    lt_tok_stream ts;
    lt_stopstr ss;
    bool use_stops;
    double t_admit;
    double t_last;          /* when its latest token came (the serve pane's times between tokens) */
    lt_req_result res;
} req;

static int known(const req *r) { return r->n_prompt + r->n_gen; }

/* A forward's token arrays (lt_batch's), grown on demand. */
typedef struct tokbuf {
    int32_t *tok, *seq, *pos;
    bool *want;
    int cap;
} tokbuf;

static void tokbuf_free(tokbuf *t) {
    lt_free(t->tok);
    lt_free(t->seq);
    lt_free(t->pos);
    lt_free(t->want);
}

struct lt_engine {
    lt_lm *lm;
    lt_kv_cache *kv;
    lt_engine_opts o;
    int32_t n_vocab;
    req **reqs; /* every request by id (NULL once forgotten) */
    int n_reqs, cap_reqs;
    int n_done; /* requests finished so far */
    req **running; /* oldest admission first */
    int n_running;
    req **waiting; /* queue; preempted requests go to the front */
    int n_waiting;
    /* the batch being built */
    tokbuf b; /* the step's batch */
    float *logits;
    int logit_rows;
    /* plan: per request in the batch, its tokens */
    req **pl_req;
    int *pl_n;
    int n_pl;
    lt_status fail; /* the status of a failed reservation */
    /* for lt_engine_snapshot_get: the last step, counters, rings of steps and token gaps */
    lt_engine_stats last;
    int64_t n_steps, n_preempted, drafted, accepted;
    int hist_decode[LT_ENGINE_HIST], hist_prefill[LT_ENGINE_HIST];
    float tbt_ms[LT_ENGINE_HIST];
    int64_t n_tbt;
    /* draft-model speculation: the draft model, its cache (the engine's), one draft batch */
    lt_lm *draft;
    lt_kv_cache *dkv;
    tokbuf d; /* a draft round's batch */
    float *d_logits;
    int d_rows;
    req **d_req;
};

const char *lt_engine_policy_name(lt_engine_policy p) {
    return p == LT_POLICY_PREFILL_FIRST ? "prefill-first" : "sarathi";
}

lt_status lt_engine_policy_parse(const char *s, lt_engine_policy *p, lt_err *err) {
    if (s && !strcmp(s, "sarathi")) *p = LT_POLICY_SARATHI;
    else if (s && !strcmp(s, "prefill-first")) *p = LT_POLICY_PREFILL_FIRST;
    else return lt_err_set(err, LT_EINVAL, "unknown policy '%s' (sarathi or prefill-first)", s ? s : "");
    return LT_OK;
}

lt_status lt_engine_create(lt_engine **out, lt_lm *lm, lt_kv_cache *kv, const lt_engine_opts *o, lt_err *err) {
    *out = NULL;
    lt_engine_opts d = {0};
    if (!o) o = &d;
    if (o->token_budget < 0) return lt_err_set(err, LT_EINVAL, "engine: token budget %d is negative", o->token_budget);
    if (o->max_running < 0) return lt_err_set(err, LT_EINVAL, "engine: max running %d is negative", o->max_running);
    if (o->policy != LT_POLICY_SARATHI && o->policy != LT_POLICY_PREFILL_FIRST)
        return lt_err_set(err, LT_EINVAL, "engine: unknown policy %d", (int)o->policy);
    lt_engine *e = lt_calloc(1, sizeof *e);
    if (!e) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    e->lm = lm;
    e->kv = kv;
    e->o = *o;
    int ms = lt_kv_max_seqs(kv);
    if (e->o.max_running <= 0 || e->o.max_running > ms) e->o.max_running = ms;
    e->n_vocab = lt_lm_config(lm)->n_vocab;
    if (o->draft) {
        lt_status s = lt_spec_draft_check(lm, o->draft, "engine: ", err);
        /* the draft cache: the target's context and sequences, about the target pool's tokens */
        lt_kv_opts ko = lt_lm_kv_opts(o->draft, lt_kv_max_ctx(kv), e->o.max_running);
        ko.block_size = lt_kv_block_size(kv);
        ko.n_blocks = lt_kv_blocks_total(kv) + 2 * e->o.max_running;
        if (s == LT_OK && o->draft_kv) e->dkv = o->draft_kv;
        else if (s == LT_OK) s = lt_kv_create(&e->dkv, lt_lm_backend(o->draft), &ko, err);
        if (s == LT_OK) e->d_req = lt_malloc((size_t)e->o.max_running * sizeof(req *));
        if (s == LT_OK && !e->d_req) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        if (s != LT_OK) {
            if (e->dkv) lt_err_prefix(err, "engine: draft model cache");
            if (e->dkv != o->draft_kv) lt_kv_free(e->dkv);
            lt_free(e);
            return s;
        }
        e->draft = o->draft;
    }
    *out = e;
    return LT_OK;
}

static void req_release_seq(lt_engine *e, req *r) {
    if (r->own_seq && r->seq >= 0) lt_kv_seq_free(e->kv, r->seq);
    if (r->own_seq) r->seq = -1;
}

static void drop_draft(lt_engine *e, req *r) {
    if (r->dseq >= 0 && r->own_dseq) lt_kv_seq_free(e->dkv, r->dseq);
    else if (r->dseq >= 0) lt_kv_seq_truncate(e->dkv, r->dseq, 0);
    if (r->own_dseq) r->dseq = -1;
    r->d_fed = 0;
}

static void req_free(req *r) {
    lt_sampler_free(r->smp);
    lt_sampler_free(r->dsmp);
    lt_free(r->qbuf);
    lt_free(r->pbuf);
    lt_free(r->all);
    lt_free(r);
}

void lt_engine_free(lt_engine *e) {
    if (!e) return;
    for (int i = 0; i < e->n_reqs; i++) {
        req *r = e->reqs[i];
        if (!r) continue;
        if (r->state == REQ_RUNNING) req_release_seq(e, r);
        if (r->state != REQ_DONE && r->use_draft) drop_draft(e, r);
        req_free(r);
    }
    lt_free(e->reqs);
    lt_free(e->running);
    lt_free(e->waiting);
    tokbuf_free(&e->b);
    lt_free(e->logits);
    lt_free(e->pl_req);
    lt_free(e->pl_n);
    if (e->dkv != e->o.draft_kv) lt_kv_free(e->dkv);
    tokbuf_free(&e->d);
    lt_free(e->d_logits);
    lt_free(e->d_req);
    lt_free(e);
}

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = lt_realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* Room for need tokens in all four arrays (a failure keeps the old capacity). */
static bool tokbuf_grow(tokbuf *t, int need) {
    int c = t->cap;
    bool ok = grow((void **)&t->tok, &c, need, sizeof(int32_t));
    c = t->cap;
    ok = ok && grow((void **)&t->seq, &c, need, sizeof(int32_t));
    c = t->cap;
    ok = ok && grow((void **)&t->pos, &c, need, sizeof(int32_t));
    c = t->cap;
    ok = ok && grow((void **)&t->want, &c, need, sizeof(bool));
    if (ok) t->cap = c;
    return ok;
}

lt_status lt_engine_add(lt_engine *e, const lt_req_params *p, int *id, lt_err *err) {
    if (!p || !p->prompt || p->n_prompt <= 0) return lt_err_set(err, LT_EINVAL, "request: the prompt has no tokens");
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= e->n_vocab)
            return lt_err_set(err, LT_ERANGE, "request: token id %d outside the vocabulary (0..%d)", p->prompt[i],
                              e->n_vocab - 1);
    if (p->n_stops > 0 && !e->o.tok) return lt_err_set(err, LT_EINVAL, "request: stop strings need a tokenizer");
    int ctx = lt_kv_max_ctx(e->kv), base = 0;
    if (p->seq >= 0) {
        if (!lt_kv_seq_valid(e->kv, p->seq))
            return lt_err_set(err, LT_EINVAL, "request: sequence %d does not exist", p->seq);
        for (int i = 0; i < e->n_reqs; i++)
            if (e->reqs[i] && e->reqs[i]->state != REQ_DONE && e->reqs[i]->seq == p->seq && !e->reqs[i]->own_seq)
                return lt_err_set(err, LT_EINVAL, "request: sequence %d is in use by request %d", p->seq, i);
        base = lt_kv_seq_len(e->kv, p->seq);
    }
    if (base + p->n_prompt > ctx)
        return lt_err_set(err, LT_ERANGE, "request: prompt of %d tokens does not fit the context (%d of %d used)",
                          p->n_prompt, base, ctx);
    if (p->spec_ngram < 0 || p->spec_ngram > 64 || p->ngram_max < 0)
        return lt_err_set(err, LT_EINVAL, "request: n-gram speculation drafts 0..64 tokens (got %d), ngram_max >= 0",
                          p->spec_ngram);
    if (p->spec_draft < 0 || p->spec_draft > 64)
        return lt_err_set(err, LT_EINVAL, "request: draft-model speculation drafts 0..64 tokens (got %d)",
                          p->spec_draft);
    if (p->spec_triforce < 0 || p->spec_triforce > 64 || p->gamma_max < 0 || p->gamma_max > 64)
        return lt_err_set(err, LT_EINVAL, "request: TriForce speculation drafts 0..64 tokens (got %d), gamma_max 0..64",
                          p->spec_triforce);
    if ((p->spec_draft > 0) + (p->spec_ngram > 0) + (p->spec_triforce > 0) > 1)
        return lt_err_set(err, LT_EINVAL, "request: n-gram, draft-model and TriForce speculation are exclusive");
    if (p->spec_draft > 0 && !e->draft)
        return lt_err_set(err, LT_EINVAL, "request: draft-model speculation needs an engine with a draft model");
    if (p->spec_triforce > 0 && !p->tf)
        return lt_err_set(err, LT_EINVAL, "request: TriForce speculation needs a TriForce drafter");
    for (int i = 0; p->spec_triforce > 0 && i < e->n_reqs; i++) /* a drafter serves one request at a time */
        if (e->reqs[i] && e->reqs[i]->state != REQ_DONE && e->reqs[i]->use_tf && e->reqs[i]->p.tf == p->tf)
            return lt_err_set(err, LT_EINVAL, "request: the TriForce drafter is in use by request %d", i);
    if (p->past && (p->seq < 0 || p->n_past != base))
        return lt_err_set(err, LT_EINVAL, "request: %d past tokens given for a sequence holding %d", p->n_past, base);
    if (p->spec_triforce > 0 && base > 0 && !p->past)
        return lt_err_set(err, LT_EINVAL, "request: TriForce on a sequence that holds tokens needs them (past)");
    if (p->keep_draft && (p->spec_draft <= 0 || !lt_kv_seq_valid(e->dkv, p->draft_seq)))
        return lt_err_set(err, LT_EINVAL, "request: draft sequence %d does not exist in the draft cache",
                          p->draft_seq);
    int gamma = p->spec_ngram > 0 ? p->spec_ngram : p->spec_draft > 0 ? p->spec_draft : p->spec_triforce;
    int gmax = gamma > 0 && p->spec_adaptive ? (p->gamma_max > 0 ? p->gamma_max : 12) : gamma;
    if (gmax < gamma) gmax = gamma;
    int off = p->past ? p->n_past : 0;
    int cap = p->n_prompt + (p->gen.n_predict > 0 ? p->gen.n_predict : ctx) + 1;
    if (cap > ctx - base + 1) cap = ctx - base + 1;
    if (cap < p->n_prompt + 1) cap = p->n_prompt + 1;
    cap += gmax + (gmax > 0); /* room for the drafts past the known tokens (TriForce: and a bonus) */
    if (!grow((void **)&e->reqs, &e->cap_reqs, e->n_reqs + 1, sizeof(req *)))
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    req *r = lt_calloc(1, sizeof *r);
    if (r) r->all = lt_malloc((size_t)(off + cap) * sizeof(int32_t));
    int need = e->n_reqs + 1; /* queue room: each list holds a request at most once */
    bool ok = r && r->all;
    if (ok) {
        void *w = lt_realloc(e->waiting, (size_t)need * sizeof(req *)), *rn = NULL;
        if (w) e->waiting = w;
        if (w) rn = lt_realloc(e->running, (size_t)need * sizeof(req *));
        if (rn) e->running = rn;
        ok = w && rn;
    }
    lt_status s = ok ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (s == LT_OK && gamma > 0) {
        r->pbuf = lt_malloc((size_t)2 * (size_t)e->n_vocab * sizeof(float));
        if (!r->pbuf) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    if (s == LT_OK) s = lt_sampler_create(&r->smp, &p->gen.sp, e->n_vocab, err);
    if (s == LT_OK && p->spec_draft > 0) { /* the drafter's sampler draws from a seed of its own */
        lt_sampler_params dp = p->gen.sp;
        dp.seed = p->gen.sp.seed + 0x9E3779B97F4A7C15ull;
        s = lt_sampler_create(&r->dsmp, &dp, e->n_vocab, err);
    }
    if (s == LT_OK && p->spec_triforce > 0) s = lt_spec_tf_begin(p->tf, &p->gen.sp, err);
    if (s == LT_OK && (p->spec_draft > 0 || p->spec_triforce > 0)) {
        r->qbuf = lt_malloc((size_t)(gmax + 1) * (size_t)e->n_vocab * sizeof(float));
        if (!r->qbuf) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    if (s != LT_OK) {
        if (r) {
            lt_sampler_free(r->smp);
            lt_sampler_free(r->dsmp);
            lt_free(r->qbuf);
            lt_free(r->pbuf);
            lt_free(r->all);
        }
        lt_free(r);
        return s;
    }
    r->id = e->n_reqs;
    r->p = *p;
    r->p.prompt = NULL;
    r->p.stops = NULL;
    r->p.past = NULL;
    r->off = off;
    if (off) memcpy(r->all, p->past, (size_t)off * sizeof(int32_t));
    r->toks = r->all + off;
    memcpy(r->toks, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    r->n_prompt = p->n_prompt;
    r->cap = cap;
    r->seq = p->seq >= 0 ? p->seq : -1;
    r->own_seq = p->seq < 0;
    r->base = base;
    r->gamma = gamma;
    r->gmax = gmax;
    r->res.gamma = gamma;
    r->use_draft = p->spec_draft > 0;
    r->use_tf = p->spec_triforce > 0;
    r->dseq = -1;
    r->own_dseq = true;
    if (p->keep_draft) { /* the caller's draft sequence: what agrees with past stays */
        r->dseq = p->draft_seq;
        r->own_dseq = false;
        r->d_fed = lt_kv_seq_len(e->dkv, r->dseq) < off ? lt_kv_seq_len(e->dkv, r->dseq) : off;
        lt_kv_seq_truncate(e->dkv, r->dseq, r->d_fed);
    }
    r->ngram_max = p->ngram_max > 0 ? p->ngram_max : 4;
    lt_tok_stream_init(&r->ts);
    r->ts.prev_id = p->prompt[p->n_prompt - 1];
    r->use_stops = p->n_stops > 0;
    lt_stopstr_init(&r->ss, p->stops, p->n_stops > 0 ? p->n_stops : 0);
    r->res.st.n_prompt = p->n_prompt;
    r->res.t_arrival = p->t_arrival > 0 ? p->t_arrival : lt_now();
    e->reqs[e->n_reqs++] = r;
    e->waiting[e->n_waiting++] = r;
    if (id) *id = r->id;
    return LT_OK;
}

static void list_remove(req **list, int *n, req *r) {
    for (int i = 0; i < *n; i++)
        if (list[i] == r) {
            memmove(list + i, list + i + 1, (size_t)(*n - i - 1) * sizeof(req *));
            (*n)--;
            return;
        }
}

/* The text held at the end (id -1) to r's callback. */
static void flush_cb(req *r, const char *text, size_t len) {
    if (r->p.spec_cb) r->p.spec_cb(r->p.ud, -1, text, len, false);
    else r->p.cb(r->p.ud, -1, text, len);
}

/* Ends r: the held text to its callback (unless it failed), its sequence freed (when the
 * engine's), out of the queues. */
static void finish(lt_engine *e, req *r, lt_gen_stop stop, lt_status status, const char *msg) {
    if (r->state == REQ_DONE) return;
    r->res.st.stop = stop;
    r->res.status = status;
    if (msg) snprintf(r->res.msg, sizeof r->res.msg, "%s", msg);
    const lt_tokenizer *tok = e->o.tok;
    if (tok && (r->p.cb || r->p.spec_cb) && status == LT_OK) {
        char text[256], out[256 + LT_STOPSTR_LEN];
        size_t len = lt_tok_stream_flush(tok, &r->ts, text, sizeof text);
        if (r->use_stops) {
            size_t k = r->ss.hit >= 0 ? 0 : lt_stopstr_feed(&r->ss, text, len, out);
            if (r->ss.hit < 0) k += lt_stopstr_flush(&r->ss, out + k);
            if (k) flush_cb(r, out, k);
        } else if (len) {
            flush_cb(r, text, len);
        }
    }
    /* the caller's sequence as lt_generate leaves it: every emitted token but the last one (all of
       them after end of generation); speculation may have written past that */
    int keep = r->n_fed < known(r) - (stop != LT_GEN_STOP_EOG) ? r->n_fed : known(r) - (stop != LT_GEN_STOP_EOG);
    if (r->state == REQ_RUNNING && !r->own_seq && r->seq >= 0 && r->base + keep < lt_kv_seq_len(e->kv, r->seq))
        lt_kv_seq_truncate(e->kv, r->seq, r->base + keep);
    if (r->use_draft && !r->own_dseq && r->d_fed > r->off + keep) { /* the caller's draft keeps as much */
        r->d_fed = r->off + keep;
        lt_kv_seq_truncate(e->dkv, r->dseq, r->d_fed);
    }
    if (r->use_draft && r->own_dseq) drop_draft(e, r);
    if (r->state == REQ_RUNNING) {
        req_release_seq(e, r);
        list_remove(e->running, &e->n_running, r);
    } else {
        list_remove(e->waiting, &e->n_waiting, r);
    }
    r->state = REQ_DONE;
    e->n_done++;
    double now = lt_now();
    r->res.finished = true;
    r->res.t_done = now;
    if (r->res.t_first > 0) {
        r->res.st.prefill_s = r->res.t_first - r->t_admit;
        r->res.st.decode_s = now - r->res.t_first;
    } else if (r->t_admit > 0) {
        r->res.st.prefill_s = now - r->t_admit;
    }
    lt_sampler_free(r->smp);
    r->smp = NULL;
    lt_free(r->pbuf);
    r->pbuf = NULL;
    lt_sampler_free(r->dsmp);
    r->dsmp = NULL;
    lt_free(r->qbuf);
    r->qbuf = NULL;
}

void lt_engine_cancel(lt_engine *e, int id) {
    if (id < 0 || id >= e->n_reqs || !e->reqs[id]) return;
    finish(e, e->reqs[id], LT_GEN_STOP_CANCEL, LT_OK, NULL);
}

void lt_engine_forget(lt_engine *e, int id) {
    if (id < 0 || id >= e->n_reqs || !e->reqs[id] || e->reqs[id]->state != REQ_DONE) return;
    req_free(e->reqs[id]);
    e->reqs[id] = NULL;
}

int lt_engine_n_running(const lt_engine *e) { return e->n_running; }
int lt_engine_n_waiting(const lt_engine *e) { return e->n_waiting; }
bool lt_engine_idle(const lt_engine *e) { return e->n_running == 0 && e->n_waiting == 0; }

const lt_req_result *lt_engine_result(const lt_engine *e, int id) {
    return id >= 0 && id < e->n_reqs && e->reqs[id] ? &e->reqs[id]->res : NULL;
}

const int32_t *lt_engine_tokens(const lt_engine *e, int id, int *n) {
    if (id < 0 || id >= e->n_reqs || !e->reqs[id]) {
        *n = 0;
        return NULL;
    }
    *n = e->reqs[id]->n_gen;
    return e->reqs[id]->toks + e->reqs[id]->n_prompt;
}

/* ---- scheduling -------------------------------------------------------------------------- */

/* Prompt tokens still to read: a speculating request's last one opens its first verification. */
static int remaining(const req *r) { return known(r) - (r->gamma > 0) - r->n_fed; }

static bool in_plan(const lt_engine *e, const req *r) {
    for (int i = 0; i < e->n_pl; i++)
        if (e->pl_req[i] == r) return true;
    return false;
}

/* Recompute preemption: free r's blocks, queue it first with everything it knows as prompt. */
static void preempt(lt_engine *e, req *r) {
    req_release_seq(e, r);
    if (r->use_draft) drop_draft(e, r);
    list_remove(e->running, &e->n_running, r);
    r->state = REQ_WAITING;
    r->n_fed = 0;
    r->decoding = false;
    r->res.n_preempted++;
    memmove(e->waiting + 1, e->waiting, (size_t)e->n_waiting * sizeof(req *));
    e->waiting[0] = r;
    e->n_waiting++;
}

/* The newest running request that is not in the batch and can be preempted, other than r. */
static req *victim(lt_engine *e, const req *r) {
    for (int i = e->n_running - 1; i >= 0; i--) {
        req *v = e->running[i];
        if (v != r && v->own_seq && !in_plan(e, v)) return v;
    }
    return NULL;
}

/* "KV cache full" for request r needing `need` positions, naming the pools. */
static void full_msg(const lt_engine *e, const req *r, int need, char *msg, size_t cap) {
    int bs = lt_kv_block_size(e->kv), hb = lt_kv_host_blocks_total(e->kv);
    if (hb > 0)
        snprintf(msg, cap,
                 "KV cache full: request %d needs %d tokens, the pools hold %d device + %d host blocks of %d "
                 "(raise --kv-host-blocks)",
                 r->id, need, lt_kv_blocks_total(e->kv), hb, bs);
    else
        snprintf(msg, cap, "KV cache full: request %d needs %d tokens, the pool holds %d blocks of %d", r->id, need,
                 lt_kv_blocks_total(e->kv), bs);
}

/* Makes room in r's sequence for *n more tokens, preempting newer requests when the pool is
 * out of blocks. A prefill chunk (shrink) is first halved while the KV cache has a host pool:
 * older blocks move there as later chunks run. Returns 1 = reserved (*n tokens), 0 = r itself
 * was preempted (or failed), -1 = error. */
static int reserve_running(lt_engine *e, req *r, int *n, bool shrink, int *n_pre, lt_err *err) {
    for (;;) {
        lt_err re = {0};
        lt_status s = lt_kv_seq_reserve(e->kv, r->seq, r->base + r->n_fed + *n, &re);
        if (s == LT_OK) return 1;
        if (s == LT_ENOMEM && shrink && *n > 1 && lt_kv_host_blocks_total(e->kv) > 0) {
            *n = (*n + 1) / 2;
            continue;
        }
        if (s != LT_ENOMEM) {
            *err = re;
            e->fail = s;
            return -1;
        }
        req *v = victim(e, r);
        if (v) {
            preempt(e, v);
            (*n_pre)++;
            continue;
        }
        /* nothing newer to free: give way ourselves, unless nobody else holds blocks */
        if (r->own_seq && e->n_running > 1) {
            preempt(e, r);
            (*n_pre)++;
            return 0;
        }
        char msg[256];
        full_msg(e, r, r->base + r->n_fed + *n, msg, sizeof msg);
        finish(e, r, LT_GEN_STOP_CONTEXT, LT_ENOMEM, msg);
        return 0;
    }
}

static bool plan_add(lt_engine *e, req *r, int n) {
    int need = e->n_pl + 1;
    void *a = lt_realloc(e->pl_req, (size_t)need * sizeof(req *));
    if (!a) return false;
    e->pl_req = a;
    void *b = lt_realloc(e->pl_n, (size_t)need * sizeof(int));
    if (!b) return false;
    e->pl_n = b;
    e->pl_req[e->n_pl] = r;
    e->pl_n[e->n_pl++] = n;
    return true;
}

static int decode_tokens(lt_engine *e, req *r, int left);

/* Admits waiting requests (sarathi: chunked to the budget; prefill-first: whole prompts while
 * the budget holds them, at least one) until the budget, the running limit or the pool stops it. */
static lt_status admit(lt_engine *e, int *left, bool whole, lt_err *err) {
    while (e->n_waiting > 0 && *left > 0 && e->n_running < e->o.max_running) {
        req *r = e->waiting[0];
        int rem = remaining(r);
        bool dec = rem == 0; /* a speculating one-token prompt: its first step is a verification */
        if (dec && whole && e->n_pl > 0) break; /* prefill-first: a decode does not join prompts */
        int n = dec ? decode_tokens(e, r, *left) : rem < *left ? rem : *left;
        if (whole && n < rem) {
            if (e->n_pl > 0) break; /* a whole prompt that does not fit waits for the next step */
            n = rem;
        }
        bool fresh = r->own_seq;
        if (fresh) {
            lt_err se = {0};
            if (lt_kv_seq_new(e->kv, &r->seq, &se) != LT_OK) break; /* no sequence slot free */
        }
        lt_err re = {0};
        lt_status s = lt_kv_seq_reserve(e->kv, r->seq, r->base + n, &re);
        while (s == LT_ENOMEM && !dec && n > 1 && lt_kv_host_blocks_total(e->kv) > 0) { /* see reserve_running */
            n = (n + 1) / 2;
            s = lt_kv_seq_reserve(e->kv, r->seq, r->base + n, &re);
        }
        if (s != LT_OK) {
            if (fresh) {
                lt_kv_seq_free(e->kv, r->seq);
                r->seq = -1;
            }
            r->n_draft = 0;
            if (s == LT_ENOMEM && (e->n_running > 0 || e->n_pl > 0)) break; /* wait for blocks */
            if (s == LT_ENOMEM) {
                char msg[256];
                full_msg(e, r, r->base + n, msg, sizeof msg);
                finish(e, r, LT_GEN_STOP_CONTEXT, LT_ENOMEM, msg);
                continue;
            }
            *err = re;
            return s;
        }
        memmove(e->waiting, e->waiting + 1, (size_t)(e->n_waiting - 1) * sizeof(req *));
        e->n_waiting--;
        r->state = REQ_RUNNING;
        r->decoding = dec;
        if (r->t_admit <= 0) r->t_admit = lt_now();
        e->running[e->n_running++] = r;
        if (!plan_add(e, r, n)) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        *left -= n;
        if (dec && whole) break;
    }
    return LT_OK;
}

/* Drafts for a decode of r with at most left tokens in the step: 1 + drafts tokens. */
static int decode_tokens(lt_engine *e, req *r, int left) {
    r->n_draft = 0;
    if (r->gamma <= 0) return 1;
    int want = r->gamma;
    if (want > left - 1) want = left - 1;
    int n_pred = r->p.gen.n_predict;
    if (n_pred > 0 && want > n_pred - r->n_gen - 1) want = n_pred - r->n_gen - 1; /* k + 1 tokens at most emitted */
    if (want > r->cap - known(r) - 1) want = r->cap - known(r) - 1;
    int room = lt_kv_max_ctx(e->kv) - (r->base + known(r)); /* positions left after the pending token */
    if (want > room) want = room;
    if (want <= 0) return 1;
    if (r->use_draft || r->use_tf) { /* drafted by draft_all / draft_tf once the plan is made */
        r->n_draft = want;
        return 1 + want;
    }
    r->n_draft = lt_spec_ngram_propose(r->all, r->off + known(r), want, r->ngram_max);
    return 1 + r->n_draft;
}

/* Builds the step's plan. */
static lt_status schedule(lt_engine *e, int *n_pre, lt_err *err) {
    e->n_pl = 0;
    int left = e->o.token_budget > 0 ? e->o.token_budget : INT_MAX;
    bool pf = e->o.policy == LT_POLICY_PREFILL_FIRST;
    bool prefills = e->n_waiting > 0;
    for (int i = 0; i < e->n_running && !prefills; i++)
        if (!e->running[i]->decoding) prefills = true;
    if (pf && prefills) {
        /* whole prompts: partial ones first (none arise under this policy but recomputes), then new */
        for (int i = 0; i < e->n_running && left > 0; i++) {
            req *r = e->running[i];
            if (r->decoding || in_plan(e, r)) continue;
            int rem = remaining(r);
            if (rem > left && e->n_pl > 0) break;
            int k = reserve_running(e, r, &rem, true, n_pre, err);
            if (k < 0) return e->fail;
            if (k == 0) {
                i = -1; /* the list changed: look again */
                continue;
            }
            if (!plan_add(e, r, rem)) return lt_err_set(err, LT_ENOMEM, "out of host memory");
            left -= rem;
        }
        LT_TRY(admit(e, &left, true, err));
        if (e->n_pl > 0) return LT_OK;
        left = e->o.token_budget > 0 ? e->o.token_budget : INT_MAX; /* nothing admitted: decode */
    }
    /* 1. running decodes, oldest first */
    for (int i = 0; i < e->n_running && left > 0; i++) {
        req *r = e->running[i];
        if (!r->decoding || in_plan(e, r)) continue;
        int nt = decode_tokens(e, r, left);
        int k = reserve_running(e, r, &nt, false, n_pre, err);
        if (k < 0) return e->fail;
        if (k == 0) {
            r->n_draft = 0;
            i = -1;
            continue;
        }
        if (!plan_add(e, r, nt)) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        left -= nt;
    }
    if (pf) return LT_OK;
    /* 2. partial prefills */
    for (int i = 0; i < e->n_running && left > 0; i++) {
        req *r = e->running[i];
        if (r->decoding || in_plan(e, r)) continue;
        int rem = remaining(r), n = rem < left ? rem : left;
        int k = reserve_running(e, r, &n, true, n_pre, err);
        if (k < 0) return e->fail;
        if (k == 0) {
            i = -1;
            continue;
        }
        if (!plan_add(e, r, n)) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        left -= n;
    }
    /* 3. new prompts, chunked */
    return admit(e, &left, false, err);
}

/* Draft-model drafting for the plan's decodes that asked for it, and the draft's reading of the
 * prompt chunks the plan prefills: round 0 feeds each request's tokens the draft cache lacks
 * (all[d_fed .. d_upto): up to the end of the target's chunk, or the known tokens of a decode),
 * round j > 0 its draft j - 1; every round is one batched forward of the draft model, and each
 * decode draws its next draft from the row of its last token (lt_sampler_dist + lt_sampler_draw).
 * The draft sees the request's tokens at their true positions when it has its past (else from 0:
 * fewer drafts accepted, the same output). A request whose draft cache has no room drafts
 * nothing this step. */
static lt_status draft_all(lt_engine *e, lt_err *err) {
    const int V = e->n_vocab;
    int nd = 0;
    for (int i = 0; i < e->n_pl; i++) {
        req *r = e->pl_req[i];
        if (!r->use_draft || (r->decoding && r->n_draft <= 0)) continue;
        int upto = r->off + (r->decoding ? known(r) : r->n_fed + e->pl_n[i]);
        if (r->decoding && r->d_fed >= upto) r->d_fed = upto - 1; /* the last token is read again */
        lt_err de = {0};
        bool ok = r->dseq >= 0 || lt_kv_seq_new(e->dkv, &r->dseq, &de) == LT_OK;
        if (ok && lt_kv_seq_len(e->dkv, r->dseq) > r->d_fed) lt_kv_seq_truncate(e->dkv, r->dseq, r->d_fed);
        int need = r->decoding ? upto + r->n_draft - 1 : upto;
        ok = ok && lt_kv_seq_reserve(e->dkv, r->dseq, need, &de) == LT_OK;
        if (!ok) {
            drop_draft(e, r);
            r->n_draft = 0;
            continue;
        }
        if (upto <= r->d_fed && !r->decoding) continue;
        r->d_upto = upto;
        e->d_req[nd++] = r;
    }
    lt_status s = LT_OK;
    for (int round = 0; nd > 0 && s == LT_OK; round++) {
        int n_tok = 0, n_rows = 0;
        for (int j = 0; j < nd; j++) {
            n_tok += round == 0 ? e->d_req[j]->d_upto - e->d_req[j]->d_fed : 1;
            n_rows += e->d_req[j]->decoding;
        }
        bool ok = tokbuf_grow(&e->d, n_tok);
        if (ok && e->d_rows < n_rows) {
            float *l = lt_realloc(e->d_logits, (size_t)n_rows * (size_t)V * sizeof(float));
            if (l) e->d_logits = l, e->d_rows = n_rows;
            ok = l != NULL;
        }
        if (!ok) {
            s = lt_err_set(err, LT_ENOMEM, "out of host memory");
            break;
        }
        int t = 0;
        for (int j = 0; j < nd; j++) {
            req *r = e->d_req[j];
            int to = round == 0 ? r->d_upto : r->off + known(r) + round;
            for (int q = round == 0 ? r->d_fed : to - 1; q < to; q++, t++) {
                e->d.tok[t] = r->all[q];
                e->d.seq[t] = r->dseq;
                e->d.pos[t] = q;
                e->d.want[t] = r->decoding && q == to - 1;
            }
        }
        lt_batch b = {.n_tokens = n_tok, .tokens = e->d.tok, .seq = e->d.seq, .pos = e->d.pos, .logits = e->d.want};
        s = lt_lm_forward(e->draft, e->dkv, &b, e->d_logits, err);
        if (s != LT_OK) {
            lt_err_prefix(err, "draft model");
            break;
        }
        int kept = 0, row = 0;
        for (int j = 0; j < nd; j++) {
            req *r = e->d_req[j];
            if (!r->decoding) { /* a prompt chunk read */
                r->d_fed = r->d_upto;
                continue;
            }
            r->d_fed = r->off + known(r) + round;
            float *q = r->qbuf + (size_t)round * V;
            lt_sampler_dist(r->dsmp, e->d_logits + (size_t)row++ * V, r->toks, known(r) + round, q);
            int32_t d = lt_sampler_draw(r->dsmp, q, V);
            if (d < 0) { /* NaN logits of the drafter: draft no further (the target decides) */
                r->n_draft = round;
                continue;
            }
            r->toks[known(r) + round] = d;
            if (round + 1 < r->n_draft) e->d_req[kept++] = r;
        }
        nd = kept;
    }
    if (s != LT_OK) /* the step fails as a failed forward does: the drafts go */
        for (int i = 0; i < e->n_pl; i++)
            if (e->pl_req[i]->use_draft) drop_draft(e, e->pl_req[i]);
    for (int i = 0; i < e->n_pl; i++)
        if (e->pl_req[i]->use_draft && e->pl_req[i]->decoding) e->pl_n[i] = 1 + e->pl_req[i]->n_draft;
    return s;
}

/* TriForce drafting for the plan's decodes that use it, one request after another; a drafter
 * that finds no room (a sequence slot or blocks for its view) drafts nothing this step. */
static lt_status draft_tf(lt_engine *e, lt_err *err) {
    for (int i = 0; i < e->n_pl; i++) {
        req *r = e->pl_req[i];
        if (!r->use_tf || !r->decoding || r->n_draft <= 0) continue;
        int k = 0;
        lt_status s =
            lt_spec_tf_draft(r->p.tf, r->seq, r->all, r->off + known(r), r->off, r->n_draft, r->qbuf, &k, err);
        if (s == LT_ENOMEM) k = 0;
        else if (s != LT_OK) {
            for (int j = 0; j < e->n_pl; j++) e->pl_req[j]->n_draft = 0;
            return s;
        }
        r->n_draft = k;
        e->pl_n[i] = 1 + k;
    }
    /* the target's latest query goes to a TriForce request's drafter: one of them rows last */
    for (int i = 0; i + 1 < e->n_pl; i++)
        if (e->pl_req[i]->use_tf) {
            req *r = e->pl_req[i];
            int n = e->pl_n[i];
            memmove(e->pl_req + i, e->pl_req + i + 1, (size_t)(e->n_pl - i - 1) * sizeof(req *));
            memmove(e->pl_n + i, e->pl_n + i + 1, (size_t)(e->n_pl - i - 1) * sizeof(int));
            e->pl_req[e->n_pl - 1] = r;
            e->pl_n[e->n_pl - 1] = n;
            break;
        }
    return LT_OK;
}

/* ---- the step ---------------------------------------------------------------------------- */

/* Streams r's next token id (drafted: an accepted draft); may finish r. False when r ended. */
static bool push(lt_engine *e, req *r, int32_t id, bool drafted) {
    const lt_tokenizer *tok = e->o.tok;
    const lt_gen_params *gp = &r->p.gen;
    if (id < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "the model produced NaN logits at position %d", r->base + known(r) - 1);
        finish(e, r, LT_GEN_STOP_CONTEXT, LT_EFORMAT, msg);
        return false;
    }
    double now = lt_now();
    if (r->res.t_first <= 0) r->res.t_first = now;
    if (r->t_last > 0) e->tbt_ms[e->n_tbt++ % LT_ENGINE_HIST] = (float)((now - r->t_last) * 1e3);
    r->t_last = now;
    bool eog = tok && !gp->ignore_eos && lt_tok_is_eog(tok, id);
    if (gp->stop_at_bos && tok && id == lt_tok_bos(tok)) eog = true;
    if (eog) {
        finish(e, r, LT_GEN_STOP_EOG, LT_OK, NULL);
        return false;
    }
    if (r->p.out_ids && r->n_gen < r->p.out_cap) r->p.out_ids[r->n_gen] = id;
    if (known(r) < r->cap) r->toks[known(r)] = id;
    r->n_gen++;
    r->res.st.n_gen = r->n_gen;
    char text[256], out[256 + LT_STOPSTR_LEN];
    size_t len = tok ? lt_tok_stream_feed(tok, &r->ts, id, text, sizeof text) : 0;
    const char *pass = text;
    if (r->use_stops) {
        len = lt_stopstr_feed(&r->ss, text, len, out);
        pass = out;
    }
    r->res.n_drafted_out += drafted;
    bool go = r->p.spec_cb ? r->p.spec_cb(r->p.ud, id, pass, len, drafted)
                           : !r->p.cb || r->p.cb(r->p.ud, id, pass, len);
    if (!go) {
        finish(e, r, LT_GEN_STOP_CANCEL, LT_OK, NULL);
        return false;
    }
    if (r->use_stops && r->ss.hit >= 0) {
        finish(e, r, LT_GEN_STOP_STRING, LT_OK, NULL);
        return false;
    }
    if (r->base + known(r) - 1 >= lt_kv_max_ctx(e->kv) || known(r) >= r->cap - r->gmax - (r->gmax > 0)) {
        finish(e, r, LT_GEN_STOP_CONTEXT, LT_OK, NULL);
        return false;
    }
    if (gp->n_predict > 0 && r->n_gen >= gp->n_predict) {
        finish(e, r, LT_GEN_STOP_LENGTH, LT_OK, NULL); /* no forward for a token nobody will sample from */
        return false;
    }
    r->decoding = true;
    return true;
}

/* Verifies r's k drafts (toks[old .. old + k), logits rows [k + 1][V], their distributions q
 * [k][V] or NULL for n-gram drafts) with core/llm/spec.h's acceptance (lt_spec_accept). The
 * cache keeps the pending token and the accepted drafts. */
static void verify(lt_engine *e, req *r, int k, const float *logits, const float *q) {
    const int old = known(r);
    int m = lt_spec_accept(r->smp, e->n_vocab, logits, r->toks, old, k, q, r->pbuf, false, r->pbuf + e->n_vocab);
    int32_t emit_ids[65];
    memcpy(emit_ids, r->toks + old, (size_t)m * sizeof(int32_t));
    r->res.drafted += k;
    r->res.accepted += m - 1;
    r->res.spec_steps++;
    e->drafted += k;
    e->accepted += m - 1;
    if (r->p.spec_adaptive && k > 0) { /* as spec.h: +1 after a full acceptance, -1 below half */
        if (m - 1 == k && r->gamma < r->gmax) r->gamma++;
        else if (2 * (m - 1) < k && r->gamma > 1) r->gamma--;
        r->res.gamma = r->gamma;
    }
    /* the cache: pending + accepted drafts stay, rejected positions go */
    r->n_fed = old + m - 1;
    lt_kv_seq_truncate(e->kv, r->seq, r->base + r->n_fed);
    if (r->use_draft && r->d_fed > r->off + r->n_fed) { /* the draft cache keeps what agrees with the tokens */
        r->d_fed = r->off + r->n_fed;
        if (r->dseq >= 0) lt_kv_seq_truncate(e->dkv, r->dseq, r->d_fed);
    }
    for (int i = 0; i < m; i++)
        if (!push(e, r, emit_ids[i], i < m - 1)) return;
}

lt_status lt_engine_step(lt_engine *e, lt_engine_stats *st, lt_err *err) {
    lt_engine_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    int n_pre = 0;
    lt_status s = schedule(e, &n_pre, err);
    if (s == LT_OK && e->dkv) s = draft_all(e, err);
    if (s == LT_OK) s = draft_tf(e, err);
    st->n_preempted = n_pre;
    int n_tok = 0, n_rows = 0, n_done0 = e->n_done;
    for (int i = 0; i < e->n_pl; i++) {
        n_tok += e->pl_n[i];
        if (e->pl_req[i]->decoding) st->n_decode += e->pl_n[i];
        else st->n_prefill += e->pl_n[i];
    }
    if (s == LT_OK && n_tok > 0) {
        bool ok = tokbuf_grow(&e->b, n_tok);
        int rows = 0;
        for (int i = 0; i < e->n_pl; i++) rows += e->pl_req[i]->decoding ? e->pl_n[i] : 1;
        if (ok && e->logit_rows < rows) {
            float *l = lt_realloc(e->logits, (size_t)rows * (size_t)e->n_vocab * sizeof(float));
            if (l) {
                e->logits = l;
                e->logit_rows = rows;
            }
            ok = l != NULL;
        }
        if (!ok) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    if (s != LT_OK)
        for (int i = 0; i < e->n_pl; i++) e->pl_req[i]->n_draft = 0;
    if (s == LT_OK && n_tok > 0) {
        int t = 0;
        for (int i = 0; i < e->n_pl; i++) {
            req *r = e->pl_req[i];
            int n = e->pl_n[i];
            bool spec = r->decoding && r->gamma > 0; /* the pending token and its drafts: every row */
            for (int j = 0; j < n; j++, t++) {
                e->b.tok[t] = r->toks[r->n_fed + j];
                e->b.seq[t] = r->seq;
                e->b.pos[t] = r->base + r->n_fed + j;
                e->b.want[t] = spec || (j == n - 1 && r->n_fed + n == known(r));
            }
            n_rows += spec ? n : r->n_fed + n == known(r);
        }
        lt_batch b = {.n_tokens = n_tok, .tokens = e->b.tok, .seq = e->b.seq, .pos = e->b.pos, .logits = e->b.want};
        if (e->n_pl > 0 && e->pl_req[e->n_pl - 1]->use_tf) b.q_last = lt_spec_tf_query(e->pl_req[e->n_pl - 1]->p.tf);
        double t0 = lt_now();
        s = lt_lm_forward(e->lm, e->kv, &b, e->logits, err);
        st->seconds = lt_now() - t0;
        if (s == LT_OK) {
            int row = 0;
            for (int i = 0; i < e->n_pl; i++) {
                req *r = e->pl_req[i];
                const float *lg = e->logits + (size_t)row * e->n_vocab;
                if (r->decoding && r->gamma > 0) { /* a verification (of no drafts, maybe) */
                    row += 1 + r->n_draft;
                    verify(e, r, r->n_draft, lg, r->use_draft || r->use_tf ? r->qbuf : NULL);
                    continue;
                }
                r->n_fed += e->pl_n[i];
                if (r->n_fed == known(r)) {
                    row++;
                    push(e, r, lt_sampler_sample(r->smp, lg, r->toks, known(r)), false);
                } else if (r->gamma > 0 && r->n_fed == known(r) - 1) {
                    r->decoding = true; /* the prompt's last token opens the first verification */
                }
            }
        }
    }
    if (s != LT_OK) { /* reserved but unwritten blocks go back; the requests stay as they were */
        for (int i = 0; i < e->n_pl; i++) {
            req *r = e->pl_req[i];
            if (r->state == REQ_RUNNING && r->seq >= 0) lt_kv_seq_truncate(e->kv, r->seq, lt_kv_seq_len(e->kv, r->seq));
        }
    }
    e->n_pl = 0;
    st->n_finished = e->n_done - n_done0;
    st->n_running = e->n_running;
    st->n_waiting = e->n_waiting;
    st->kv_used = lt_kv_blocks_used(e->kv);
    st->kv_total = lt_kv_blocks_total(e->kv);
    st->kv_host_used = lt_kv_host_blocks_used(e->kv);
    st->kv_host_total = lt_kv_host_blocks_total(e->kv);
    e->last = *st;
    e->n_preempted += st->n_preempted;
    if (st->n_decode + st->n_prefill > 0) {
        e->hist_decode[e->n_steps % LT_ENGINE_HIST] = st->n_decode;
        e->hist_prefill[e->n_steps % LT_ENGINE_HIST] = st->n_prefill;
        e->n_steps++;
    }
    return s;
}

void lt_engine_snapshot_get(const lt_engine *e, lt_engine_snapshot *o) {
    memset(o, 0, sizeof *o);
    o->n_running = e->n_running;
    o->n_waiting = e->n_waiting;
    o->n_decode = e->last.n_decode;
    o->n_prefill = e->last.n_prefill;
    o->kv_used = lt_kv_blocks_used(e->kv);
    o->kv_total = lt_kv_blocks_total(e->kv);
    o->kv_host_used = lt_kv_host_blocks_used(e->kv);
    o->kv_host_total = lt_kv_host_blocks_total(e->kv);
    o->n_steps = e->n_steps;
    o->n_finished = e->n_done;
    o->n_preempted = e->n_preempted;
    o->drafted = e->drafted;
    o->accepted = e->accepted;
    o->n_hist = e->n_steps < LT_ENGINE_HIST ? (int)e->n_steps : LT_ENGINE_HIST;
    for (int i = 0; i < o->n_hist; i++) {
        int64_t k = (e->n_steps - o->n_hist + i) % LT_ENGINE_HIST;
        o->hist_decode[i] = e->hist_decode[k];
        o->hist_prefill[i] = e->hist_prefill[k];
    }
    o->n_tbt = e->n_tbt < LT_ENGINE_HIST ? (int)e->n_tbt : LT_ENGINE_HIST;
    for (int i = 0; i < o->n_tbt; i++) o->tbt_ms[i] = e->tbt_ms[(e->n_tbt - o->n_tbt + i) % LT_ENGINE_HIST];
}
