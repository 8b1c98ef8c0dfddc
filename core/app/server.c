/* server.c - see server.h. Threads: MHD's listener and one thread per connection, and the
 * engine thread. One mutex (s->mu) guards the queue of new requests, every request's shared
 * fields (text so far, done, cancel) and the counters; the engine itself is touched by the
 * engine thread alone, never under the mutex (its token callback takes the mutex). */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/app/mhd_lib.h"
#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/llm/spec.h"
#include "openai.h"

/* TTFT histogram buckets (seconds), as Prometheus' le labels */
static const double k_ttft_le[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_TTFT ((int)(sizeof k_ttft_le / sizeof k_ttft_le[0]))
/* an idle engine is replaced after this many requests: records are forgotten once read, this also
   bounds its table of request ids (8 bytes per id) */
#define ENGINE_RECYCLE 256

typedef enum { PH_ROLE, PH_TEXT, PH_USAGE, PH_DONE, PH_END } phase;

typedef struct sreq {
    int refs;                  /* the connection's and the engine thread's */
    lt_server *srv;
    struct MHD_Connection *mc; /* its connection (disconnect checks) */
    lt_oai_request oa;
    int32_t *ids;              /* the prompt (one free slot in front) */
    int n_ids;
    const char *stops[LT_STOPSTR_MAX];
    int eid;                   /* engine id (engine thread) */
    /* shared under s->mu */
    char *text;
    size_t n_text, cap_text;
    int n_gen;
    bool done, cancel, cancel_sent, failed;
    lt_gen_stop stop;
    int status;                /* HTTP status of a failure */
    char msg[256];
    double t_arrival, t_first;
    pthread_cond_t cv;
    struct sreq *next;         /* the queue of new requests */
    /* the stream (its connection thread only) */
    phase ph;
    size_t sent;
    char *out;
    size_t n_out, off_out;
    char id[48];
    int64_t created;
} sreq;

struct lt_server {
    lt_server_opts o;
    char host[64], api_key[256], model[256];
    lt_lm *lm;
    const lt_tokenizer *tok;
    lt_kv_cache *kv;
    struct MHD_Daemon *d;
    int port;
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the engine thread waits for work */
    bool stopping;
    sreq *q_head, *q_tail;
    int inflight; /* queued + in the engine */
    int n_streams; /* streams MHD still holds */
    uint64_t counter;
    /* engine thread only */
    lt_engine *e;
    int e_adds;
    sreq **active;
    int n_active, cap_active;
    /* counters (under mu) */
    lt_server_stats st;
    int64_t ttft_bucket[N_TTFT + 1];
    double ttft_sum, e2e_sum;
    int64_t ttft_count;
    int64_t http_total;
};

static void lock(lt_server *s) { pthread_mutex_lock(&s->mu); }
static void unlock(lt_server *s) { pthread_mutex_unlock(&s->mu); }

/* ---- options ---------------------------------------------------------------------------------- */

lt_server_opts lt_server_defaults(void) {
    lt_server_opts o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = 8080;
    o.max_concurrency = 8;
    o.max_body = 1 << 20;
    o.model_name = "lathe";
    o.sp = lt_sampler_defaults();
    o.sp.seed = LT_SERVER_SEED_FRESH;
    o.n_predict = -1;
    o.engine.policy = LT_POLICY_SARATHI;
    o.engine.token_budget = 512;
    return o;
}

void lt_server_opts_add(lt_server_opts *o, const char **policy, lt_opt *table, int cap) {
    const lt_opt add[] = {
        {"--host", NULL, LT_OPT_STR, &o->host, "address to listen on (default 127.0.0.1: this machine only)"},
        {"--port", NULL, LT_OPT_INT, &o->port, "TCP port (default 8080; 0 = any free port)", 0, 65535},
        {"--api-key", NULL, LT_OPT_STR, &o->api_key, "require 'Authorization: Bearer KEY' (not on /health)"},
        {"--max-concurrency", NULL, LT_OPT_INT, &o->max_concurrency,
         "requests generating or queued at once; more get 503 (default 8)", 1, 1024},
        {"--max-body", NULL, LT_OPT_INT, &o->max_body, "largest request body in bytes; more gets 413 (default 1 MiB)",
         64, 1 << 30},
        {"--policy", NULL, LT_OPT_STR, policy, "sarathi (chunked prefill, default) or prefill-first"},
        {"--token-budget", NULL, LT_OPT_INT, &o->engine.token_budget, "tokens per engine step (default 512)", 1,
         1 << 20},
        {"--spec", NULL, LT_OPT_STR, &o->spec, "speculative decoding of every request: ngram or draft:MODEL"},
        {"--gamma", NULL, LT_OPT_INT, &o->gamma, "tokens drafted per step with --spec (default 4)", 1, 64},
    };
    int n = 0;
    while (n < cap && table[n].name) n++;
    for (size_t i = 0; i < sizeof add / sizeof add[0] && n < cap - 1; i++) table[n++] = add[i];
    if (n < cap) table[n] = (lt_opt){0};
}

lt_status lt_server_opts_check(lt_server_opts *o, const char *policy, lt_err *err) {
    if (policy && lt_engine_policy_parse(policy, &o->engine.policy, err) != LT_OK)
        return lt_err_prefix(err, "--policy");
    struct in6_addr a6;
    struct in_addr a4;
    if (o->host && strcmp(o->host, "localhost") == 0) o->host = "127.0.0.1";
    if (!o->host || (inet_pton(AF_INET, o->host, &a4) != 1 && inet_pton(AF_INET6, o->host, &a6) != 1))
        return lt_err_set(err, LT_EINVAL, "--host expects an IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1), got '%s'",
                          o->host ? o->host : "");
    if (o->api_key && strlen(o->api_key) >= 256) return lt_err_set(err, LT_EINVAL, "--api-key is longer than 255 bytes");
    return lt_spec_parse_engine(o->spec, o->gamma, &o->spec_ngram, &o->spec_draft, &o->draft_path, err);
}

/* ---- requests ----------------------------------------------------------------------------------- */

static void sreq_unref_locked(sreq *r) {
    if (--r->refs > 0) return;
    lt_oai_request_clear(&r->oa);
    lt_free(r->ids);
    lt_free(r->text);
    lt_free(r->out);
    pthread_cond_destroy(&r->cv);
    lt_free(r);
}

/* The engine's token callback (engine thread, outside the mutex). */
static bool on_token(void *ud, int32_t id, const char *text, size_t len) {
    sreq *r = ud;
    lt_server *s = r->srv;
    lock(s);
    if (len) {
        if (r->n_text + len + 1 > r->cap_text) {
            size_t nc = r->cap_text ? r->cap_text * 2 : 256;
            while (nc < r->n_text + len + 1) nc *= 2;
            char *t = lt_realloc(r->text, nc);
            if (!t) {
                r->cancel = true;
                snprintf(r->msg, sizeof r->msg, "out of host memory for the answer");
                r->failed = true;
                r->status = 500;
                unlock(s);
                return false;
            }
            r->text = t;
            r->cap_text = nc;
        }
        memcpy(r->text + r->n_text, text, len);
        r->n_text += len;
    }
    if (id >= 0) {
        r->n_gen++;
        s->st.generated_tokens++;
        if (r->t_first <= 0) {
            r->t_first = lt_now();
            double t = r->t_first - r->t_arrival;
            int b = 0;
            while (b < N_TTFT && t > k_ttft_le[b]) b++;
            s->ttft_bucket[b]++;
            s->ttft_sum += t;
            s->ttft_count++;
        }
    }
    bool go = !r->cancel;
    pthread_cond_broadcast(&r->cv);
    unlock(s);
    return go;
}

/* Marks r done (under mu) and wakes its connection. */
static void finish_locked(lt_server *s, sreq *r) {
    r->done = true;
    s->inflight--;
    s->st.requests++;
    if (r->cancel || r->stop == LT_GEN_STOP_CANCEL) s->st.cancelled++;
    s->e2e_sum += lt_now() - r->t_arrival;
    pthread_cond_broadcast(&r->cv);
}

static void fail_locked(lt_server *s, sreq *r, int status, const char *msg) {
    r->failed = true;
    r->status = status;
    snprintf(r->msg, sizeof r->msg, "%.255s", msg);
    finish_locked(s, r);
}

/* ---- the engine thread -------------------------------------------------------------------------- */

/* Room for one more active request (the list is the engine thread's alone). */
static bool active_reserve(lt_server *s) {
    if (s->n_active == s->cap_active) {
        int nc = s->cap_active ? s->cap_active * 2 : 16;
        sreq **a = lt_realloc(s->active, (size_t)nc * sizeof *a);
        if (!a) return false;
        s->active = a;
        s->cap_active = nc;
    }
    return true;
}

static lt_status engine_new(lt_server *s, lt_err *err) {
    lt_engine_opts eo = s->o.engine;
    eo.tok = s->tok;
    s->e_adds = 0;
    return lt_engine_create(&s->e, s->lm, s->kv, &eo, err);
}

/* Adds the queued requests to the engine (outside mu). */
static void admit(lt_server *s, sreq *list) {
    while (list) {
        sreq *r = list;
        list = r->next;
        lt_req_params p = {0};
        p.prompt = r->ids + 1;
        p.n_prompt = r->n_ids;
        p.gen.sp = r->oa.sp;
        p.gen.n_predict = r->oa.max_tokens > 0 ? r->oa.max_tokens : s->o.n_predict;
        p.gen.stop_at_bos = s->o.stop_at_bos;
        p.gen.ignore_eos = r->oa.ignore_eos;
        for (int i = 0; i < r->oa.n_stops; i++) r->stops[i] = r->oa.stops[i];
        p.stops = r->stops;
        p.n_stops = r->oa.n_stops;
        p.cb = on_token;
        p.ud = r;
        p.seq = -1;
        p.t_arrival = r->t_arrival;
        p.spec_ngram = s->o.spec_ngram;
        p.spec_draft = s->o.engine.draft ? s->o.spec_draft : 0;
        lt_err err = {0};
        lt_status st = active_reserve(s) ? lt_engine_add(s->e, &p, &r->eid, &err)
                                         : lt_err_set(&err, LT_ENOMEM, "out of host memory");
        lock(s);
        if (st == LT_OK) {
            s->active[s->n_active++] = r;
            s->e_adds++;
            s->st.prompt_tokens += r->n_ids;
        } else {
            fail_locked(s, r, st == LT_ERANGE || st == LT_EINVAL ? 400 : 500, err.msg);
            sreq_unref_locked(r);
        }
        unlock(s);
    }
}

/* Finished requests leave the active list (under mu). */
static void reap_locked(lt_server *s) {
    int k = 0;
    for (int i = 0; i < s->n_active; i++) {
        sreq *r = s->active[i];
        const lt_req_result *res = lt_engine_result(s->e, r->eid);
        if (!res || !res->finished) {
            s->active[k++] = r;
            continue;
        }
        r->stop = res->st.stop;
        if (res->status != LT_OK) fail_locked(s, r, 500, res->msg);
        else finish_locked(s, r);
        lt_engine_forget(s->e, r->eid); /* its record is read: the engine does not grow with the requests */
        sreq_unref_locked(r);
    }
    s->n_active = k;
}

static void *engine_main(void *arg) {
    lt_server *s = arg;
    int *cancels = NULL;
    int cap_cancels = 0;
    lock(s);
    for (;;) {
        while (!s->stopping && !s->q_head && s->n_active == 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        sreq *list = s->q_head;
        s->q_head = s->q_tail = NULL;
        int n_cancel = 0;
        if (cap_cancels < s->n_active) {
            int *c = lt_realloc(cancels, (size_t)s->n_active * sizeof *c);
            if (c) cancels = c, cap_cancels = s->n_active;
        }
        for (int i = 0; i < s->n_active && n_cancel < cap_cancels; i++)
            if (s->active[i]->cancel && !s->active[i]->cancel_sent) {
                s->active[i]->cancel_sent = true;
                cancels[n_cancel++] = s->active[i]->eid;
            }
        /* a fresh engine once the old one is idle and has kept many records */
        bool recycle = s->n_active == 0 && s->e_adds >= ENGINE_RECYCLE;
        unlock(s);
        if (recycle) {
            lt_engine_free(s->e);
            s->e = NULL;
            lt_err err = {0};
            if (engine_new(s, &err) != LT_OK) {
                lock(s);
                for (sreq *r = list; r;) {
                    sreq *nx = r->next;
                    fail_locked(s, r, 500, err.msg);
                    sreq_unref_locked(r);
                    r = nx;
                }
                s->stopping = true; /* nothing can run any more */
                break;
            }
        }
        admit(s, list);
        for (int i = 0; i < n_cancel; i++) lt_engine_cancel(s->e, cancels[i]);
        lt_engine_stats est = {0};
        lt_err err = {0};
        lt_status st = lt_engine_idle(s->e) ? LT_OK : lt_engine_step(s->e, &est, &err);
        if (st != LT_OK) { /* the forward failed: every request in it ends with the error */
            for (int i = 0; i < s->n_active; i++) lt_engine_cancel(s->e, s->active[i]->eid);
        }
        lock(s);
        if (st != LT_OK) {
            for (int i = 0; i < s->n_active; i++) {
                s->active[i]->stop = LT_GEN_STOP_CANCEL;
                fail_locked(s, s->active[i], 500, err.msg);
                sreq_unref_locked(s->active[i]);
            }
            s->n_active = 0;
        } else {
            reap_locked(s);
        }
        s->st.running = lt_engine_n_running(s->e);
        s->st.waiting = lt_engine_n_waiting(s->e);
        s->st.kv_used = lt_kv_blocks_used(s->kv);
        s->st.kv_host_used = lt_kv_host_blocks_used(s->kv);
        lt_engine_snapshot snap;
        lt_engine_snapshot_get(s->e, &snap);
        s->st.drafted = snap.drafted;
        s->st.accepted = snap.accepted;
    }
    /* stopping: everything in flight ends */
    sreq *list = s->q_head;
    s->q_head = s->q_tail = NULL;
    unlock(s);
    for (int i = 0; i < s->n_active; i++) lt_engine_cancel(s->e, s->active[i]->eid);
    lock(s);
    for (sreq *r = list; r;) {
        sreq *nx = r->next;
        fail_locked(s, r, 503, "the server is shutting down");
        sreq_unref_locked(r);
        r = nx;
    }
    for (int i = 0; i < s->n_active; i++) {
        s->active[i]->stop = LT_GEN_STOP_CANCEL;
        fail_locked(s, s->active[i], 503, "the server is shutting down");
        sreq_unref_locked(s->active[i]);
    }
    s->n_active = 0;
    s->st.running = s->st.waiting = 0;
    unlock(s);
    lt_free(cancels);
    return NULL;
}

/* ---- HTTP ----------------------------------------------------------------------------------------- */

typedef enum { R_NONE, R_HEALTH, R_MODELS, R_MODEL, R_METRICS, R_CHAT, R_COMPLETIONS } route;

typedef struct conn {
    lt_server *s;
    route rt;
    const char *method, *url;
    char *body;
    size_t n_body, cap_body;
    bool answered; /* a response is queued */
    bool too_big;  /* the body went over max_body (its size was not declared) */
    size_t dropped;
    double t0;
} conn;

static route route_of(const char *url) {
    if (!strcmp(url, "/health") || !strcmp(url, "/v1/health")) return R_HEALTH;
    if (!strcmp(url, "/v1/models") || !strcmp(url, "/models")) return R_MODELS;
    if (!strncmp(url, "/v1/models/", 11)) return R_MODEL;
    if (!strcmp(url, "/metrics")) return R_METRICS;
    if (!strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions")) return R_CHAT;
    if (!strcmp(url, "/v1/completions") || !strcmp(url, "/completions")) return R_COMPLETIONS;
    return R_NONE;
}

static void log_line(conn *c, int status, const char *extra) {
    lt_server *s = c->s;
    if (!s->o.log) return;
    char line[512];
    snprintf(line, sizeof line, "%s %s %d %.3f s%s%s", c->method, c->url, status, lt_now() - c->t0,
             extra && extra[0] ? " " : "", extra ? extra : "");
    for (char *p = line; *p; p++) /* a path or message may carry control bytes: not into a terminal */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    s->o.log(s->o.log_ud, line);
}

static enum MHD_Result send_buf(conn *c, struct MHD_Connection *mc, int status, const char *type, const char *body,
                                size_t len, const char *hname, const char *hval) {
    struct MHD_Response *resp = lt_mhd.MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    lt_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (hname) lt_mhd.MHD_add_response_header(resp, hname, hval);
    enum MHD_Result r = lt_mhd.MHD_queue_response(mc, (unsigned)status, resp);
    lt_mhd.MHD_destroy_response(resp);
    c->answered = true;
    lock(c->s);
    c->s->http_total++;
    if (status >= 400 && status < 500) c->s->st.http_4xx++;
    if (status >= 500) c->s->st.http_5xx++;
    unlock(c->s);
    return r;
}

/* An OpenAI error object with status. */
static enum MHD_Result send_error(conn *c, struct MHD_Connection *mc, int status, const char *msg, const char *param,
                                  const char *code) {
    const char *type = status == 401   ? "authentication_error"
                       : status == 503 ? "server_overloaded"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    char *j = lt_oai_error(msg, type, param, code);
    if (!j) return MHD_NO;
    const char *hn = NULL, *hv = NULL;
    if (status == 401) hn = MHD_HTTP_HEADER_WWW_AUTHENTICATE, hv = "Bearer";
    if (status == 503) hn = MHD_HTTP_HEADER_RETRY_AFTER, hv = "1";
    if (status == 405) hn = MHD_HTTP_HEADER_ALLOW, hv = c->rt == R_CHAT || c->rt == R_COMPLETIONS ? "POST" : "GET";
    enum MHD_Result r = send_buf(c, mc, status, "application/json", j, strlen(j), hn, hv);
    log_line(c, status, msg);
    lt_oai_free(j);
    return r;
}

/* The client closed its end (seen while we wait): an orderly EOF or a reset. */
static bool peer_gone(struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *ci = lt_mhd.MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    char b;
    ssize_t k = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void timed_wait(sreq *r, lt_server *s, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&r->cv, &s->mu, &ts);
}

/* Asks the engine thread to cancel r (under mu). */
static void cancel_locked(lt_server *s, sreq *r) {
    if (r->done || r->cancel) return;
    r->cancel = true;
    pthread_cond_signal(&s->cv);
}

static bool api_key_ok(lt_server *s, struct MHD_Connection *mc) {
    if (!s->api_key[0]) return true;
    const char *h = lt_mhd.MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h), m = strlen(s->api_key);
    unsigned diff = (unsigned)(n != m);
    for (size_t i = 0; i < m; i++) diff |= (unsigned)(i < n ? h[i] : 0) ^ (unsigned char)s->api_key[i];
    return diff == 0;
}

static enum MHD_Result send_metrics(conn *c, struct MHD_Connection *mc) {
    lt_server *s = c->s;
    char *b = lt_malloc(8192);
    if (!b) return MHD_NO;
    size_t n = 0, cap = 8192;
#define P(...) n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__)
    lock(s);
    P("# HELP lathe_requests_running Requests generating (holding KV blocks).\n# TYPE lathe_requests_running gauge\n"
      "lathe_requests_running %d\n", s->st.running);
    P("# HELP lathe_requests_waiting Requests queued for the engine.\n# TYPE lathe_requests_waiting gauge\n"
      "lathe_requests_waiting %d\n", s->st.waiting + (s->inflight - s->st.running - s->st.waiting > 0
                                                          ? s->inflight - s->st.running - s->st.waiting : 0));
    P("# HELP lathe_kv_blocks_used KV cache blocks in use.\n# TYPE lathe_kv_blocks_used gauge\nlathe_kv_blocks_used %d\n",
      s->st.kv_used);
    P("# HELP lathe_kv_blocks_total KV cache blocks in the pool.\n# TYPE lathe_kv_blocks_total gauge\n"
      "lathe_kv_blocks_total %d\n", s->st.kv_total);
    if (s->st.kv_host_total) {
        P("# HELP lathe_kv_host_blocks_used KV blocks moved to the host pool.\n# TYPE lathe_kv_host_blocks_used gauge\n"
          "lathe_kv_host_blocks_used %d\n", s->st.kv_host_used);
        P("# HELP lathe_kv_host_blocks_total KV blocks in the host pool.\n# TYPE lathe_kv_host_blocks_total gauge\n"
          "lathe_kv_host_blocks_total %d\n", s->st.kv_host_total);
    }
    P("# HELP lathe_requests_total Generation requests finished.\n# TYPE lathe_requests_total counter\n"
      "lathe_requests_total %lld\n", (long long)s->st.requests);
    P("# HELP lathe_requests_cancelled_total Requests ended by the client going away or the shutdown.\n"
      "# TYPE lathe_requests_cancelled_total counter\nlathe_requests_cancelled_total %lld\n",
      (long long)s->st.cancelled);
    P("# HELP lathe_prompt_tokens_total Prompt tokens admitted.\n# TYPE lathe_prompt_tokens_total counter\n"
      "lathe_prompt_tokens_total %lld\n", (long long)s->st.prompt_tokens);
    P("# HELP lathe_generation_tokens_total Tokens generated.\n# TYPE lathe_generation_tokens_total counter\n"
      "lathe_generation_tokens_total %lld\n", (long long)s->st.generated_tokens);
    P("# HELP lathe_spec_draft_tokens_total Speculative tokens drafted and checked (--spec).\n"
      "# TYPE lathe_spec_draft_tokens_total counter\nlathe_spec_draft_tokens_total %lld\n", (long long)s->st.drafted);
    P("# HELP lathe_spec_accepted_tokens_total Drafted tokens the model accepted.\n"
      "# TYPE lathe_spec_accepted_tokens_total counter\nlathe_spec_accepted_tokens_total %lld\n",
      (long long)s->st.accepted);
    P("# HELP lathe_http_responses_total HTTP answers by class.\n# TYPE lathe_http_responses_total counter\n"
      "lathe_http_responses_total{class=\"4xx\"} %lld\nlathe_http_responses_total{class=\"5xx\"} %lld\n",
      (long long)s->st.http_4xx, (long long)s->st.http_5xx);
    P("# HELP lathe_time_to_first_token_seconds From arrival to the first token.\n"
      "# TYPE lathe_time_to_first_token_seconds histogram\n");
    int64_t cum = 0;
    for (int i = 0; i < N_TTFT; i++) {
        cum += s->ttft_bucket[i];
        P("lathe_time_to_first_token_seconds_bucket{le=\"%g\"} %lld\n", k_ttft_le[i], (long long)cum);
    }
    cum += s->ttft_bucket[N_TTFT];
    P("lathe_time_to_first_token_seconds_bucket{le=\"+Inf\"} %lld\n", (long long)cum);
    P("lathe_time_to_first_token_seconds_sum %.6f\nlathe_time_to_first_token_seconds_count %lld\n", s->ttft_sum,
      (long long)s->ttft_count);
    P("# HELP lathe_request_seconds_sum Seconds from arrival to the end, over finished requests.\n"
      "# TYPE lathe_request_seconds_sum counter\nlathe_request_seconds_sum %.6f\n", s->e2e_sum);
    unlock(s);
#undef P
    if (n >= cap) n = cap - 1;
    enum MHD_Result r = send_buf(c, mc, 200, "text/plain; version=0.0.4", b, n, NULL, NULL);
    lt_free(b);
    return r;
}

/* ---- the stream ---------------------------------------------------------------------------------- */

static int append_event(sreq *r, char *json) {
    if (!json) return -1;
    size_t k = strlen(json), need = k + 9;
    char *o = lt_realloc(r->out, need);
    if (!o) {
        lt_oai_free(json);
        return -1;
    }
    r->out = o;
    r->n_out = (size_t)snprintf(o, need, "data: %s\n\n", json);
    r->off_out = 0;
    lt_oai_free(json);
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sreq *r = cls;
    lt_server *s = r->srv;
    lt_oai_ident id = {r->oa.kind, r->id, r->created, s->model};
    for (;;) {
        if (r->off_out < r->n_out) {
            size_t k = r->n_out - r->off_out < max ? r->n_out - r->off_out : max;
            memcpy(buf, r->out + r->off_out, k);
            r->off_out += k;
            return (ssize_t)k;
        }
        if (r->ph == PH_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (r->ph == PH_ROLE) { /* chat: the first chunk names the role */
            r->ph = PH_TEXT;
            if (r->oa.kind == LT_OAI_CHAT && append_event(r, lt_oai_chunk(&id, true, "", 0, NULL, NULL)) != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (r->ph == PH_DONE) {
            static const char done[] = "data: [DONE]\n\n";
            char *o = lt_realloc(r->out, sizeof done);
            if (!o) return MHD_CONTENT_READER_END_WITH_ERROR;
            r->out = o;
            memcpy(o, done, sizeof done);
            r->n_out = sizeof done - 1;
            r->off_out = 0;
            r->ph = PH_END;
            continue;
        }
        lock(s);
        if (r->ph == PH_USAGE) {
            lt_oai_usage u = {r->n_ids, r->n_gen};
            unlock(s);
            r->ph = PH_DONE;
            if (append_event(r, lt_oai_chunk(&id, false, NULL, 0, NULL, &u)) != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        while (!r->done && r->n_text == r->sent) {
            timed_wait(r, s, 0.1);
            if (!r->done && r->n_text == r->sent) {
                unlock(s);
                bool gone = peer_gone(r->mc);
                lock(s);
                if (gone) {
                    cancel_locked(s, r);
                    unlock(s);
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                }
            }
        }
        if (r->n_text > r->sent) {
            size_t k = r->n_text - r->sent;
            char *t = lt_malloc(k);
            if (t) memcpy(t, r->text + r->sent, k);
            r->sent = r->n_text;
            unlock(s);
            if (!t || append_event(r, lt_oai_chunk(&id, false, t, k, NULL, NULL)) != 0) {
                lt_free(t);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            lt_free(t);
            continue;
        }
        /* done: the last chunk, or the error that ended it */
        bool failed = r->failed;
        char msg[256];
        snprintf(msg, sizeof msg, "%s", r->msg);
        int status = r->status;
        lt_gen_stop stop = r->stop;
        unlock(s);
        char *j = failed ? lt_oai_error(msg, status == 503 ? "server_overloaded" : "server_error", NULL, NULL)
                         : lt_oai_chunk(&id, false, NULL, 0, lt_oai_finish_reason(stop), NULL);
        r->ph = !failed && r->oa.include_usage ? PH_USAGE : PH_DONE;
        if (append_event(r, j) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

/* MHD is done with the stream (ended, or the client went away). */
static void stream_free(void *cls) {
    sreq *r = cls;
    lt_server *s = r->srv;
    lock(s);
    s->n_streams--;
    cancel_locked(s, r);
    sreq_unref_locked(r);
    unlock(s);
}

/* ---- a generation request -------------------------------------------------------------------------- */

static void make_id(lt_server *s, sreq *r) {
    lock(s);
    uint64_t x = ++s->counter;
    unlock(s);
    x ^= (uint64_t)(lt_now() * 1e9) * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    snprintf(r->id, sizeof r->id, "%s%016llx", r->oa.kind == LT_OAI_CHAT ? "chatcmpl-" : "cmpl-",
             (unsigned long long)x);
    r->created = (int64_t)time(NULL);
}

static enum MHD_Result generate(conn *c, struct MHD_Connection *mc) {
    lt_server *s = c->s;
    sreq *r = lt_calloc(1, sizeof *r);
    if (!r) return send_error(c, mc, 500, "out of host memory", NULL, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->srv = s;
    r->mc = mc;
    r->refs = 1;
    r->eid = -1;
    lt_oai_fault f;
    lt_err err = {0};
    lt_oai_kind kind = c->rt == R_CHAT ? LT_OAI_CHAT : LT_OAI_COMPLETION;
    enum MHD_Result res;
    lt_status st = lt_oai_parse(kind, c->body, c->n_body, s->tok, &s->o.sp, &r->oa, &f, &err);
    if (st != LT_OK) {
        res = send_error(c, mc, st == LT_EINVAL ? 400 : 500, err.msg, f.param, f.code);
        goto out;
    }
    if (!r->oa.has_seed && s->o.sp.seed == LT_SERVER_SEED_FRESH) { /* a fresh seed per request, as OpenAI's API */
        lock(s);
        uint64_t k = ++s->counter;
        unlock(s);
        r->oa.sp.seed = (uint64_t)(lt_now() * 1e6) ^ (k * 0x9E3779B97F4A7C15ULL);
    }
    int64_t n = 0;
    st = lt_tok_encode_all(s->tok, r->oa.prompt, strlen(r->oa.prompt), true, r->oa.parse_special, 1, &r->ids, &n, &err);
    if (st != LT_OK) {
        res = send_error(c, mc, 400, err.msg, kind == LT_OAI_CHAT ? "messages" : "prompt", NULL);
        goto out;
    }
    if (n == 0) { /* an empty prompt starts from BOS (as `lathe generate`) */
        r->ids[1] = lt_tok_bos(s->tok) >= 0 ? lt_tok_bos(s->tok) : 0;
        n = 1;
    }
    int ctx = lt_kv_max_ctx(s->kv);
    if (n >= ctx) {
        char m[200];
        snprintf(m, sizeof m, "the prompt has %lld tokens, the context holds %d (lathe serve --ctx): shorten it",
                 (long long)n, ctx);
        res = send_error(c, mc, 400, m, kind == LT_OAI_CHAT ? "messages" : "prompt", "context_length_exceeded");
        goto out;
    }
    r->n_ids = (int)n;
    lt_oai_request_clear(&r->oa); /* the prompt text is no longer needed (stops and settings stay) */
    make_id(s, r);
    lock(s);
    if (s->stopping || s->inflight >= s->o.max_concurrency) {
        bool stopping = s->stopping;
        unlock(s);
        char m[200] = "the server is shutting down";
        if (!stopping)
            snprintf(m, sizeof m, "the server is busy: %d requests are running or queued (lathe serve "
                                  "--max-concurrency); retry later", s->o.max_concurrency);
        res = send_error(c, mc, 503, m, NULL, NULL);
        goto out;
    }
    s->inflight++;
    r->t_arrival = lt_now();
    r->refs = 2; /* the connection's and the engine thread's */
    r->next = NULL;
    if (s->q_tail) s->q_tail->next = r;
    else s->q_head = r;
    s->q_tail = r;
    pthread_cond_signal(&s->cv);
    unlock(s);

    if (r->oa.stream) {
        struct MHD_Response *resp = lt_mhd.MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, r, stream_free);
        if (!resp) {
            lock(s);
            cancel_locked(s, r);
            sreq_unref_locked(r);
            unlock(s);
            return MHD_NO;
        }
        lt_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        lt_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        res = lt_mhd.MHD_queue_response(mc, MHD_HTTP_OK, resp);
        lt_mhd.MHD_destroy_response(resp); /* stream_free drops the connection's reference */
        c->answered = true;
        lock(s);
        s->http_total++;
        s->n_streams++;
        unlock(s);
        log_line(c, 200, "(stream)");
        return res;
    }
    /* the whole answer: wait, watching for the client going away */
    lock(s);
    while (!r->done) {
        timed_wait(r, s, 0.1);
        if (!r->done && !r->cancel) {
            unlock(s);
            bool gone = peer_gone(mc);
            lock(s);
            if (gone) cancel_locked(s, r);
        }
    }
    bool cancelled = r->cancel && !r->failed; /* failed (e.g. out of memory) cancels too, but is answered */
    unlock(s);
    if (cancelled) {
        res = MHD_NO; /* nobody to answer: close */
        goto out;
    }
    if (r->failed) {
        res = send_error(c, mc, r->status, r->msg, NULL, NULL);
        goto out;
    }
    {
        lt_oai_ident id = {kind, r->id, r->created, s->model};
        lt_oai_usage u = {r->n_ids, r->n_gen};
        char *j = lt_oai_response(&id, r->text, r->n_text, lt_oai_finish_reason(r->stop), &u);
        if (!j) {
            res = send_error(c, mc, 500, "out of host memory", NULL, NULL);
            goto out;
        }
        res = send_buf(c, mc, 200, "application/json", j, strlen(j), NULL, NULL);
        char extra[96];
        snprintf(extra, sizeof extra, "%d+%d tokens", r->n_ids, r->n_gen);
        log_line(c, 200, extra);
        lt_oai_free(j);
    }
out:
    lock(s);
    sreq_unref_locked(r);
    unlock(s);
    return res;
}

/* ---- MHD's callbacks ----------------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls) {
    (void)version;
    lt_server *s = cls;
    conn *c = *req_cls;
    if (!c) { /* the headers are in: route, key, method, declared size */
        c = lt_calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        *req_cls = c;
        c->s = s;
        c->method = method;
        c->url = url;
        c->t0 = lt_now();
        c->rt = route_of(url);
        if (c->rt == R_NONE) {
            char m[200];
            snprintf(m, sizeof m, "unknown path '%.100s' (POST /v1/chat/completions, /v1/completions; GET /v1/models, "
                                  "/health, /metrics)", url);
            return send_error(c, mc, 404, m, NULL, "not_found");
        }
        if (c->rt != R_HEALTH && !api_key_ok(s, mc))
            return send_error(c, mc, 401, "missing or wrong API key: send 'Authorization: Bearer KEY' (lathe serve "
                                          "--api-key)", NULL, "invalid_api_key");
        bool post = c->rt == R_CHAT || c->rt == R_COMPLETIONS;
        if (strcmp(method, post ? "POST" : "GET") != 0 && !(!post && !strcmp(method, "HEAD"))) {
            char m[160];
            snprintf(m, sizeof m, "%s takes %s, not %.20s", url, post ? "POST" : "GET", method);
            return send_error(c, mc, 405, m, NULL, "method_not_allowed");
        }
        if (post) {
            const char *cl = lt_mhd.MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->o.max_body) {
                char m[160];
                snprintf(m, sizeof m, "the request body has %.20s bytes, more than %d (lathe serve --max-body)", cl,
                         s->o.max_body);
                return send_error(c, mc, 413, m, NULL, "request_too_large");
            }
        }
        return MHD_YES;
    }
    if (c->answered) { /* an error was sent before the body: drop what still comes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t k = *upload_size;
        *upload_size = 0;
        if (c->too_big || c->n_body + k > (size_t)s->o.max_body) {
            /* a body without a declared size grew too big: libmicrohttpd answers only once the
             * upload is over, so the rest is read and dropped (up to 64 MiB, then the
             * connection closes) and the 413 goes out at the end */
            c->too_big = true;
            c->dropped += k;
            return c->dropped > ((size_t)64 << 20) ? MHD_NO : MHD_YES;
        }
        if (c->n_body + k > c->cap_body) {
            size_t nc = c->cap_body ? c->cap_body : 4096;
            while (nc < c->n_body + k) nc *= 2;
            char *b = lt_realloc(c->body, nc);
            if (!b) return send_error(c, mc, 500, "out of host memory", NULL, NULL);
            c->body = b;
            c->cap_body = nc;
        }
        memcpy(c->body + c->n_body, upload, k);
        c->n_body += k;
        return MHD_YES;
    }
    /* the whole request is in */
    if (c->too_big) {
        char m[160];
        snprintf(m, sizeof m, "the request body is more than %d bytes (lathe serve --max-body)", s->o.max_body);
        return send_error(c, mc, 413, m, NULL, "request_too_large");
    }
    switch (c->rt) {
    case R_HEALTH: {
        lock(s);
        bool stopping = s->stopping;
        unlock(s);
        if (stopping) return send_error(c, mc, 503, "the server is shutting down", NULL, NULL);
        static const char ok[] = "{\"status\":\"ok\"}";
        return send_buf(c, mc, 200, "application/json", ok, sizeof ok - 1, NULL, NULL);
    }
    case R_MODELS: {
        char *j = lt_oai_models(s->model, (int64_t)time(NULL));
        if (!j) return MHD_NO;
        enum MHD_Result r = send_buf(c, mc, 200, "application/json", j, strlen(j), NULL, NULL);
        lt_oai_free(j);
        return r;
    }
    case R_MODEL: {
        if (strcmp(url + 11, s->model) != 0) {
            char m[400];
            snprintf(m, sizeof m, "the model '%.100s' does not exist: this server has '%.200s'", url + 11, s->model);
            return send_error(c, mc, 404, m, "model", "model_not_found");
        }
        char *j = lt_oai_model(s->model, (int64_t)time(NULL));
        if (!j) return MHD_NO;
        enum MHD_Result r = send_buf(c, mc, 200, "application/json", j, strlen(j), NULL, NULL);
        lt_oai_free(j);
        return r;
    }
    case R_METRICS:
        return send_metrics(c, mc);
    default:
        return generate(c, mc);
    }
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)mc;
    (void)toe;
    conn *c = *req_cls;
    if (!c) return;
    lt_free(c->body);
    lt_free(c);
    *req_cls = NULL;
}

/* libmicrohttpd's own complaints go nowhere: library code does not print. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    (void)fmt;
    (void)ap;
}

/* ---- start / stop ------------------------------------------------------------------------------- */

lt_status lt_server_start(lt_server **out, lt_lm *lm, const lt_tokenizer *tok, lt_kv_cache *kv,
                          const lt_server_opts *o, lt_err *err) {
    *out = NULL;
    if (!lm || !tok || !kv) return lt_err_set(err, LT_EINVAL, "serve: a model, its tokenizer and a KV cache are needed");
    lt_status lst = lt_mhd_load(err);
    if (lst) {
        lt_err_prefix(err, "serve");
        return lst;
    }
    lt_server *s = lt_calloc(1, sizeof *s);
    if (!s) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    s->o = *o;
    snprintf(s->host, sizeof s->host, "%s", o->host ? o->host : "127.0.0.1");
    snprintf(s->api_key, sizeof s->api_key, "%s", o->api_key ? o->api_key : "");
    snprintf(s->model, sizeof s->model, "%s", o->model_name ? o->model_name : "lathe");
    s->o.host = s->host;
    s->o.api_key = s->api_key;
    s->o.model_name = s->model;
    if (s->o.max_concurrency < 1) s->o.max_concurrency = 1;
    s->lm = lm;
    s->tok = tok;
    s->kv = kv;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->st.kv_total = lt_kv_blocks_total(kv);
    s->st.kv_host_total = lt_kv_host_blocks_total(kv);
    lt_status st = engine_new(s, err);
    if (st != LT_OK) goto fail;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    memset(&sa, 0, sizeof sa);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, s->host, &sa.v4.sin_addr) == 1) {
        sa.v4.sin_family = AF_INET;
        sa.v4.sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, s->host, &sa.v6.sin6_addr) == 1) {
        sa.v6.sin6_family = AF_INET6;
        sa.v6.sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        st = lt_err_set(err, LT_EINVAL, "--host expects an IPv4 or IPv6 address, got '%s'", s->host);
        goto fail;
    }
    unsigned limit = (unsigned)(4 * s->o.max_concurrency + 64);
    s->d = lt_mhd.MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->d) {
        st = lt_err_set(err, LT_EIO, "serve: cannot listen on %s port %d: %s", s->host, o->port,
                        errno ? strerror(errno) : "libmicrohttpd refused");
        goto fail;
    }
    const union MHD_DaemonInfo *di = lt_mhd.MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    if (pthread_create(&s->th, NULL, engine_main, s) != 0) {
        st = lt_err_set(err, LT_EIO, "serve: cannot start the engine thread");
        goto fail;
    }
    s->th_started = true;
    *out = s;
    return LT_OK;
fail:
    lt_server_free(s);
    return st;
}

int lt_server_port(const lt_server *s) { return s ? s->port : 0; }

void lt_server_free(lt_server *s) {
    if (!s) return;
    lock(s);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    unlock(s);
    if (s->th_started) pthread_join(s->th, NULL);
    /* let the streams write their last events before the connections close */
    for (int i = 0; i < 100 && s->d; i++) {
        lock(s);
        int left = s->n_streams;
        unlock(s);
        if (left <= 0) break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (s->d) lt_mhd.MHD_stop_daemon(s->d);
    lt_engine_free(s->e);
    lt_free(s->active);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    lt_free(s);
}

void lt_server_stats_get(lt_server *s, lt_server_stats *out) {
    lock(s);
    *out = s->st;
    unlock(s);
}
