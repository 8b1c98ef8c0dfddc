/* session.c - the session state, lt_session_exec and the built-in commands (load, unload,
 * models, set, chat, reset, generate, bench, spec, session save, replay, help, quit).
 *
 * Leaves out: drawing and key handling (tui/), the journal file format (journal.c), model
 * architectures (the creator passes open functions).
 */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/llm/generate.h"
#include "journal.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/spec.h"
#include "core/text/chat.h"
#include "core/text/vocab.h"

#define MAX_MODELS 16

typedef struct sm {
    char name[64];
    char kind[16];
    char format[16];
    char device[96];
    size_t bytes;
    /* llm */
    lt_backend *be;
    lt_lm *lm;
    lt_tokenizer *tok;
    lt_kv_cache *kv;
    int chat_seq;      /* -1 = none */
    int32_t pending;   /* sampled but not yet fed token, -1 = none */
    bool llama2c;
    bool synthetic; /* random weights: no notion of the end of a text */
    int32_t *hist;  /* the tokens in chat_seq's cache (n_hist of them; valid while hist_ok) */
    int n_hist;
    bool hist_ok;
    /* speculative decoding (`spec`; NULL = plain) */
    lt_spec *spec;
    lt_lm *spec_draft;    /* the draft model `spec` opened (owned), or NULL */
    char spec_desc[160];  /* "ngram", "draft stories (gamma 4)"... */
    double plain_tps;     /* last plain decode rate of this model; 0 = none measured */
    double spec_tps;      /* last speculative decode rate */
    lt_spec_stats spec_st; /* of the last speculative run (n_levels 0 = none yet) */
    /* other kinds */
    void *obj;
    void (*close)(void *);
} sm;

struct lt_session {
    lt_session_opts opts;
    char state_dir[1024];
    lt_cmds *cmds;
    lt_settings set;
    pthread_mutex_t mu; /* guards models[], n_models, current, rates (read by the UI thread) */
    sm *models[MAX_MODELS];
    int n_models;
    int current; /* index of the current language model, -1 = none */
    atomic_int cancel;
    lt_result last;
    int token_limit;
    uint64_t n_gen_cmds; /* generation counter: seed of the k-th generation = seed + k */
    bool quit;
    lt_journal *journal;
    lt_metrics *metrics;
    double rate_prefill, rate_decode_live, rate_decode_last;
    double rate_decode_peak; /* highest decode rate since the last sample (short jobs show up) */
};

extern const lt_cmd_table lt_session_cmd_table;

uint64_t lt_fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t digest_ids(const int32_t *ids, int n) {
    uint64_t h = LT_FNV_INIT;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        unsigned char b[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
        h = lt_fnv1a64(h, b, 4);
    }
    return h;
}

void lt_sink_printf(lt_sink *sink, lt_text_kind kind, const char *fmt, ...) {
    if (!sink || !sink->text) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    sink->text(sink->ud, kind, buf, (size_t)n);
}

static void progress(lt_sink *sink, const char *what, double f) {
    if (sink && sink->progress) sink->progress(sink->ud, what, f);
}

/* Weight upload progress of a model load, shown as 20%..80% of the load; Esc stops it. */
typedef struct load_progress {
    lt_session *s;
    lt_sink *sink;
} load_progress;

static bool on_load_progress(void *ud, double f) {
    load_progress *lp = ud;
    progress(lp->sink, "load", 0.2 + 0.6 * f);
    return !atomic_load(&lp->s->cancel);
}

/* ==== lifetime ================================================================== */

static int mkdirs(const char *path) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

lt_status lt_session_create(lt_session **out, const lt_session_opts *o, lt_err *err) {
    *out = NULL;
    lt_session *s = lt_calloc(1, sizeof *s);
    if (!s) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (o) s->opts = *o;
    s->current = -1;
    s->token_limit = -1;
    pthread_mutex_init(&s->mu, NULL);
    lt_sampler_params d = lt_sampler_defaults();
    s->set.temp = d.temp;
    s->set.top_k = d.top_k;
    s->set.top_p = d.top_p;
    s->set.min_p = d.min_p;
    s->set.seed = 0;
    s->set.max_tokens = 256;
    snprintf(s->set.device, sizeof s->set.device, "%s", o && o->device ? o->device : "auto");
    s->set.threads = o ? o->threads : 0;
    s->set.tint = true;
    lt_status st = lt_cmds_create(&s->cmds, err);
    if (st == LT_OK) st = lt_cmds_add(s->cmds, &lt_session_cmd_table, err);
    if (st == LT_OK) st = lt_metrics_create(&s->metrics, 0, err);
    if (st == LT_OK && o && o->journal) {
        const char *dir = o->state_dir;
        if (!dir || !dir[0]) {
            lt_session_free(s);
            return lt_err_set(err, LT_EINVAL, "session: a journal needs a state directory");
        }
        snprintf(s->state_dir, sizeof s->state_dir, "%s", dir);
        char sess[1100], path[1200], iso[32], stamp[32];
        snprintf(sess, sizeof sess, "%s/sessions", dir);
        if (mkdirs(sess) != 0) {
            lt_session_free(s);
            return lt_err_set(err, LT_EIO, "cannot create %s: %s", sess, strerror(errno));
        }
        lt_journal_time(iso, sizeof iso, stamp, sizeof stamp);
        snprintf(path, sizeof path, "%s/%s-%d.lathe", sess, stamp, (int)getpid());
        st = lt_journal_open(&s->journal, path, err);
    }
    if (st != LT_OK) {
        lt_session_free(s);
        return st;
    }
    *out = s;
    return LT_OK;
}

static void sm_free(sm *m) {
    if (!m) return;
    if (m->close) m->close(m->obj);
    lt_spec_free(m->spec); /* before the caches and models it holds */
    lt_lm_close(m->spec_draft);
    lt_free(m->hist);
    lt_kv_free(m->kv);
    lt_lm_close(m->lm);
    lt_tok_free(m->tok);
    lt_backend_free(m->be);
    lt_free(m);
}

void lt_session_free(lt_session *s) {
    if (!s) return;
    for (int i = 0; i < s->n_models; i++) sm_free(s->models[i]);
    lt_journal_close(s->journal);
    lt_metrics_free(s->metrics);
    lt_cmds_free(s->cmds);
    pthread_mutex_destroy(&s->mu);
    lt_free(s);
}

void lt_session_cancel(lt_session *s) { atomic_store(&s->cancel, 1); }
bool lt_session_cancelled(const lt_session *s) { return atomic_load(&((lt_session *)s)->cancel) != 0; }
const lt_result *lt_session_last(const lt_session *s) { return &s->last; }
bool lt_session_quit_requested(const lt_session *s) { return s->quit; }
const lt_cmds *lt_session_commands(const lt_session *s) { return s->cmds; }
const lt_settings *lt_session_settings(const lt_session *s) { return &s->set; }
lt_metrics *lt_session_metrics(lt_session *s) { return s->metrics; }
const char *lt_session_journal_path(const lt_session *s) { return s->journal ? lt_journal_path(s->journal) : NULL; }
void lt_session_set_token_limit(lt_session *s, int n) { s->token_limit = n; }
void lt_session_set_digest(lt_session *s, uint64_t d) {
    s->last.has_digest = true;
    s->last.digest = d;
}

lt_result *lt_session_result(lt_session *s) { return &s->last; }
int lt_session_token_limit(const lt_session *s) { return s->token_limit; }

lt_status lt_session_add_commands(lt_session *s, const lt_cmd_table *t, lt_err *err) {
    return lt_cmds_add(s->cmds, t, err);
}

/* ==== exec ======================================================================= */

lt_status lt_session_exec(lt_session *s, const char *line, lt_sink *sink, lt_err *err) {
    lt_err_clear(err);
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '/') line++;
    size_t cap = strlen(line) + 1;
    char *buf = lt_malloc(cap + 1);
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_args a;
    lt_status st = lt_cmd_split(line, buf, cap + 1, &a, err);
    if (st != LT_OK || a.argc == 0 || a.argv[0][0] == '#') {
        lt_free(buf);
        return st;
    }
    const lt_cmd *cmd = NULL;
    st = lt_cmds_find(s->cmds, a.argv[0], &cmd, err);
    if (st == LT_OK) st = lt_cmd_check_args(cmd, &a, err);
    if (st != LT_OK) {
        lt_free(buf);
        s->token_limit = -1;
        return st;
    }
    memset(&s->last, 0, sizeof s->last);
    snprintf(s->last.cmd, sizeof s->last.cmd, "%s", cmd->name);
    atomic_store(&s->cancel, 0);
    lt_settings before = s->set;
    double t0 = lt_now();
    st = cmd->exec(s, &a, sink, err);
    s->last.seconds = lt_now() - t0;
    s->last.code = st;
    s->token_limit = -1;
    if (st != LT_OK) snprintf(s->last.msg, sizeof s->last.msg, "%s", err->msg);
    if (s->journal && cmd->journaled) {
        lt_journal_entry e = {0};
        char stamp[32];
        lt_journal_time(e.time, sizeof e.time, stamp, sizeof stamp);
        /* store the canonical line: the text after a leading '/' */
        e.line = (char *)line;
        snprintf(e.cmd, sizeof e.cmd, "%s", cmd->name);
        e.code = st;
        e.cancelled = s->last.cancelled;
        snprintf(e.msg, sizeof e.msg, "%s", s->last.msg);
        e.has_digest = s->last.has_digest;
        e.digest = s->last.digest;
        e.seed = s->last.seed;
        e.n_tokens = s->last.n_tokens;
        e.ms = s->last.seconds * 1000;
        e.params = before;
        lt_err jerr;
        if (lt_journal_append(s->journal, &e, &jerr) != LT_OK)
            lt_sink_printf(sink, LT_TEXT_ERROR, "journal: %s\n", jerr.msg);
    }
    lt_free(buf);
    return st;
}

/* ==== models ====================================================================== */

static int find_model(lt_session *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i]->name, name)) return i;
    return -1;
}

static sm *current_llm(lt_session *s, lt_err *err) {
    if (s->current < 0) {
        lt_err_set(err, LT_ENOTFOUND, "no model loaded - 'load PATH' first");
        return NULL;
    }
    return s->models[s->current];
}

lt_status lt_session_get_lm(lt_session *s, const char *name, lt_lm **lm, lt_tokenizer **tok, lt_kv_cache **kv,
                            lt_err *err) {
    sm *m;
    if (name) {
        int i = find_model(s, name);
        if (i < 0 || strcmp(s->models[i]->kind, "llm"))
            return lt_err_set(err, LT_ENOTFOUND, "no language model named '%s' is loaded", name);
        m = s->models[i];
    } else if (!(m = current_llm(s, err))) {
        return err->code;
    }
    if (lm) *lm = m->lm;
    if (tok) *tok = m->tok;
    if (kv) *kv = m->kv;
    return LT_OK;
}

static lt_status add_model(lt_session *s, sm *m, bool make_current, lt_err *err) {
    if (s->n_models >= MAX_MODELS) return lt_err_set(err, LT_ERANGE, "at most %d models can be loaded", MAX_MODELS);
    pthread_mutex_lock(&s->mu);
    s->models[s->n_models] = m;
    if (make_current) s->current = s->n_models;
    s->n_models++;
    pthread_mutex_unlock(&s->mu);
    return LT_OK;
}

lt_status lt_session_put_object(lt_session *s, const char *name, const char *kind, void *obj, void (*close)(void *),
                                size_t bytes, const char *device, lt_err *err) {
    if (find_model(s, name) >= 0) return lt_err_set(err, LT_EINVAL, "a model named '%s' is already loaded", name);
    sm *m = lt_calloc(1, sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    snprintf(m->format, sizeof m->format, "-");
    snprintf(m->device, sizeof m->device, "%s", device ? device : "-");
    m->bytes = bytes;
    m->obj = obj;
    m->close = close;
    m->chat_seq = -1;
    lt_status st = add_model(s, m, false, err);
    if (st != LT_OK) {
        m->close = NULL; /* ownership stays with the caller on failure */
        lt_free(m);
    }
    return st;
}

void *lt_session_get_object(lt_session *s, const char *name, const char *kind) {
    int i = find_model(s, name);
    if (i < 0 || strcmp(s->models[i]->kind, kind)) return NULL;
    return s->models[i]->obj;
}

int lt_session_models(lt_session *s, lt_model_info *out, int cap) {
    pthread_mutex_lock(&s->mu);
    int n = 0;
    for (int i = 0; i < s->n_models && n < cap; i++, n++) {
        const sm *m = s->models[i];
        lt_model_info *o = &out[n];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", m->name);
        snprintf(o->kind, sizeof o->kind, "%s", m->kind);
        snprintf(o->format, sizeof o->format, "%s", m->format);
        snprintf(o->device, sizeof o->device, "%s", m->device);
        snprintf(o->dtype, sizeof o->dtype, "%s", m->lm ? lt_dtype_name(m->lm->wtype) : "-");
        o->bytes = m->lm ? m->lm->weight_bytes : m->bytes;
        o->ctx = m->kv ? lt_kv_max_ctx(m->kv) : 0;
        o->current = i == s->current;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void lt_session_device_name(lt_session *s, char *buf, size_t cap, bool *is_host) {
    pthread_mutex_lock(&s->mu);
    if (s->current >= 0) {
        snprintf(buf, cap, "%s", s->models[s->current]->device);
        *is_host = lt_backend_is_host(s->models[s->current]->be);
    } else {
        snprintf(buf, cap, "host (no model loaded)");
        *is_host = true;
    }
    pthread_mutex_unlock(&s->mu);
}

void lt_session_sample(lt_session *s, lt_metric_sample *o) {
    memset(o, 0, sizeof *o);
    o->util = -1;
    pthread_mutex_lock(&s->mu);
    lt_backend *dev = NULL;
    for (int i = 0; i < s->n_models; i++) {
        sm *m = s->models[i];
        if (m->be) {
            for (int c = 0; c < LT_MEM_CAT_COUNT; c++) o->mem[c] += lt_backend_mem_used(m->be, c);
            if (!dev || i == s->current) dev = m->be;
        } else {
            o->mem[LT_MEM_OTHER] += m->bytes;
        }
        if (m->kv) {
            o->kv_used += lt_kv_blocks_used(m->kv);
            o->kv_total += lt_kv_blocks_total(m->kv);
        }
    }
    o->decode_tps = s->rate_decode_live > s->rate_decode_peak ? s->rate_decode_live : s->rate_decode_peak;
    s->rate_decode_peak = 0;
    o->prefill_tps = s->rate_prefill;
    o->last_decode_tps = s->rate_decode_last;
    if (s->current >= 0) {
        const sm *m = s->models[s->current];
        if (m->spec)
            snprintf(o->spec_kind, sizeof o->spec_kind, "%s", lt_spec_kind_name(lt_spec_get_params(m->spec)->kind));
        if (m->spec && m->spec_st.n_levels > 0) {
            o->spec_levels = m->spec_st.n_levels > 2 ? 2 : m->spec_st.n_levels;
            for (int l = 0; l < o->spec_levels; l++) {
                o->spec_accept[l] = m->spec_st.level[l].accept_rate;
                o->spec_mean_len[l] = m->spec_st.level[l].mean_len;
            }
            o->spec_tps = m->spec_tps;
            o->spec_speedup = m->plain_tps > 0 && m->spec_tps > 0 ? m->spec_tps / m->plain_tps : 0;
        }
    }
    bool host = !dev || lt_backend_is_host(dev);
    if (!host) {
        lt_err e;
        if (lt_backend_mem_info(dev, &o->mem_free, &o->mem_total, &e) != LT_OK) o->mem_free = o->mem_total = 0;
        size_t known = 0, in_use = o->mem_total - o->mem_free;
        for (int c = 0; c < LT_MEM_CAT_COUNT; c++) known += o->mem[c];
        if (o->mem_total && in_use > known) o->mem[LT_MEM_OTHER] += in_use - known; /* context, other processes */
    }
    pthread_mutex_unlock(&s->mu);
    if (host) { /* process memory: what lathe's categories do not explain is "other" */
        size_t rss, total, avail;
        lt_host_mem(&rss, &total, &avail);
        size_t known = 0;
        for (int c = 0; c < LT_MEM_CAT_COUNT; c++) known += o->mem[c];
        if (rss > known) o->mem[LT_MEM_OTHER] += rss - known;
        o->mem_total = total;
        o->mem_free = avail;
    }
    lt_metrics_push(s->metrics, o);
}

static void set_rates(lt_session *s, double prefill, double live, double last) {
    pthread_mutex_lock(&s->mu);
    if (prefill >= 0) s->rate_prefill = prefill;
    if (live >= 0) s->rate_decode_live = live;
    if (live > s->rate_decode_peak) s->rate_decode_peak = live;
    if (last >= 0) s->rate_decode_last = last;
    if (last > s->rate_decode_peak) s->rate_decode_peak = last;
    pthread_mutex_unlock(&s->mu);
}

/* ==== commands: models ============================================================ */

static const char *base_name(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b && b[1] ? b + 1 : path;
    snprintf(buf, cap, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

static lt_status cmd_load(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *path = a->argv[1], *name = NULL, *tokp = NULL;
    for (int i = 2; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "as") && i + 1 < a->argc) name = a->argv[++i];
        else if (!strcmp(a->argv[i], "--tokenizer") && i + 1 < a->argc) tokp = a->argv[++i];
        else return lt_err_set(err, LT_EINVAL, "load: unexpected '%s'; usage: %s", a->argv[i],
                               "load PATH|synthetic:PRESET [as NAME] [--tokenizer FILE]");
    }
    char nbuf[64];
    bool synth = !strncmp(path, "synthetic:", 10);
    if (!name) name = synth ? path + 10 : base_name(path, nbuf, sizeof nbuf);
    if (!name[0] || strlen(name) >= sizeof nbuf) return lt_err_set(err, LT_EINVAL, "load: bad model name '%s'", name);
    if (find_model(s, name) >= 0)
        return lt_err_set(err, LT_EINVAL, "a model named '%s' is already loaded - unload it or add 'as NAME'", name);
    if (synth && !s->opts.open_synthetic) return lt_err_set(err, LT_EUNSUPPORTED, "load: synthetic models are not available here");
    if (!synth && !s->opts.open_lm) return lt_err_set(err, LT_EUNSUPPORTED, "load: no model opener in this session");

    if (s->token_limit >= 0) { /* replaying a load that was cancelled: it loaded nothing then either */
        s->last.cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[load of %s skipped: it was cancelled in the recording]\n", path);
        return LT_OK;
    }
    sm *m = lt_calloc(1, sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    m->chat_seq = -1;
    m->pending = -1;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->kind, sizeof m->kind, "llm");
    lt_modelsrc *src = NULL;
    lt_vocab *v = NULL;
    lt_status st;
    progress(sink, "load", 0.0);
    load_progress lp = {s, sink};
    lt_lm_opts lo = {.progress = on_load_progress, .progress_ud = &lp};
    lt_backend_opts bo = {.n_threads = s->set.threads};
    st = lt_backend_create(&m->be, s->set.device, &bo, err);
    if (st == LT_OK && synth) {
        snprintf(m->format, sizeof m->format, "synthetic");
        st = s->opts.open_synthetic(&m->lm, path + 10, m->be, &lo, err);
        if (st == LT_OK && tokp) st = lt_vocab_from_llama2c(&v, tokp, lt_lm_config(m->lm)->n_vocab, err);
    } else if (st == LT_OK) {
        char guess[1100];
        if (!tokp && access(path, F_OK) == 0) { /* llama2.c: tokenizer.bin beside the model */
            char dir[1024];
            snprintf(dir, sizeof dir, "%s", path);
            char *sl = strrchr(dir, '/');
            if (sl) *sl = 0;
            else snprintf(dir, sizeof dir, ".");
            snprintf(guess, sizeof guess, "%s/tokenizer.bin", dir);
            FILE *f = fopen(path, "rb");
            char magic[4] = {0};
            bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
            if (f) fclose(f);
            if (!gguf && access(guess, R_OK) == 0) tokp = guess;
        }
        st = lt_modelsrc_open(&src, path, tokp, err);
        if (st == LT_OK) {
            progress(sink, "load", 0.2);
            snprintf(m->format, sizeof m->format, "%s", lt_modelsrc_format(src));
            m->llama2c = !strcmp(lt_modelsrc_format(src), "llama2c");
            v = lt_modelsrc_take_vocab(src);
            st = s->opts.open_lm(&m->lm, src, m->be, &lo, err);
        }
    }
    m->synthetic = synth;
    if (st == LT_OK && v) {
        st = lt_tok_create(&m->tok, v, err);
        v = NULL;
    }
    lt_modelsrc_close(src);
    if (v) lt_vocab_free(v);
    if ((st == LT_OK || st == LT_ECANCELLED) && atomic_load(&s->cancel)) {
        /* Esc while loading: drop it, a cancelled (not failed) command */
        sm_free(m);
        s->last.cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[load of %s cancelled]\n", path);
        return LT_OK;
    }
    if (st == LT_OK) {
        progress(sink, "load", 0.8);
        lt_kv_opts ko = lt_lm_kv_opts(m->lm, 0, 2);
        ko.dtype = LT_F16;
        st = lt_kv_create(&m->kv, m->be, &ko, err);
    }
    if (st == LT_OK) st = lt_kv_seq_new(m->kv, &m->chat_seq, err);
    if (st == LT_OK && !(m->hist = lt_malloc((size_t)(lt_kv_max_ctx(m->kv) + 2) * sizeof(int32_t))))
        st = lt_err_set(err, LT_ENOMEM, "out of host memory");
    m->hist_ok = true;
    if (st == LT_OK) {
        snprintf(m->device, sizeof m->device, "%s", lt_backend_device(m->be));
        st = add_model(s, m, true, err);
    }
    if (st != LT_OK) {
        sm_free(m);
        return lt_err_prefix(err, "load");
    }
    progress(sink, "load", 1.0);
    const lt_llm_config *c = lt_lm_config(m->lm);
    lt_sink_printf(sink, LT_TEXT_INFO, "loaded '%s' (%s, %s, %d layers, dim %d, vocab %d, ctx %d, %.1f MiB) on %s%s\n",
                   m->name, m->format, lt_dtype_name(m->lm->wtype), c->n_layers, c->dim, c->n_vocab,
                   lt_kv_max_ctx(m->kv), m->lm->weight_bytes / 1048576.0, m->device, m->tok ? "" : " - no tokenizer");
    int32_t shape[8] = {c->n_vocab, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->max_seq,
                        (int32_t)m->lm->wtype};
    lt_session_set_digest(s, digest_ids(shape, 8));
    return LT_OK;
}

static lt_status cmd_unload(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    int i;
    if (a->argc > 1) {
        i = find_model(s, a->argv[1]);
        if (i < 0) return lt_err_set(err, LT_ENOTFOUND, "unload: no model named '%s' is loaded", a->argv[1]);
    } else if ((i = s->current) < 0) {
        return lt_err_set(err, LT_ENOTFOUND, "unload: no model loaded");
    }
    pthread_mutex_lock(&s->mu);
    sm *m = s->models[i];
    memmove(&s->models[i], &s->models[i + 1], sizeof(sm *) * (size_t)(s->n_models - i - 1));
    s->n_models--;
    if (s->current == i) {
        s->current = -1;
        for (int k = s->n_models - 1; k >= 0; k--)
            if (!strcmp(s->models[k]->kind, "llm")) {
                s->current = k;
                break;
            }
    } else if (s->current > i) {
        s->current--;
    }
    pthread_mutex_unlock(&s->mu);
    lt_sink_printf(sink, LT_TEXT_INFO, "unloaded '%s'\n", m->name);
    sm_free(m);
    return LT_OK;
}

static lt_status cmd_models(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_model_info info[MAX_MODELS];
    int n = lt_session_models(s, info, MAX_MODELS);
    uint64_t h = LT_FNV_INIT;
    if (!n) lt_sink_printf(sink, LT_TEXT_INFO, "no models loaded\n");
    for (int i = 0; i < n; i++) {
        lt_sink_printf(sink, LT_TEXT_INFO, "%c %-16s %-6s %-9s %-5s %8.1f MiB  ctx %-5d %s\n", info[i].current ? '*' : ' ',
                       info[i].name, info[i].kind, info[i].format, info[i].dtype, info[i].bytes / 1048576.0,
                       info[i].ctx, info[i].device);
        h = lt_fnv1a64(h, info[i].name, strlen(info[i].name) + 1);
        h = lt_fnv1a64(h, info[i].format, strlen(info[i].format) + 1);
    }
    lt_session_set_digest(s, h);
    return LT_OK;
}

/* ==== commands: settings ========================================================== */

static lt_status parse_float(const char *v, float lo, float hi, float *out, const char *key, lt_err *err) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || d < lo || d > hi)
        return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not a number in [%g, %g]", key, v, lo, hi);
    *out = (float)d;
    return LT_OK;
}

static lt_status parse_int(const char *v, long lo, long hi, long *out, const char *key, lt_err *err) {
    char *end;
    errno = 0;
    long long d = strtoll(v, &end, 10);
    if (end == v || *end || errno || d < lo || d > hi)
        return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not an integer in [%ld, %ld]", key, v, lo, hi);
    *out = (long)d;
    return LT_OK;
}

static const char *k_keys = "temp, top-k, top-p, min-p, seed, max-tokens, device, threads, tint";

static void print_settings(lt_session *s, lt_sink *sink) {
    const lt_settings *t = &s->set;
    lt_sink_printf(sink, LT_TEXT_INFO,
                   "temp %g  top-k %d  top-p %g  min-p %g  seed %llu  max-tokens %d  device %s  threads %d  tint %s\n",
                   t->temp, t->top_k, t->top_p, t->min_p, (unsigned long long)t->seed, t->max_tokens, t->device,
                   t->threads, t->tint ? "on" : "off");
}

static lt_status cmd_set(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc == 1) {
        print_settings(s, sink);
        return LT_OK;
    }
    if (a->argc != 3) return lt_err_set(err, LT_EINVAL, "usage: set KEY VALUE (keys: %s)", k_keys);
    const char *k = a->argv[1], *v = a->argv[2];
    lt_settings n = s->set;
    long l = 0;
    lt_status st;
    if (!strcmp(k, "temp")) st = parse_float(v, 0, 100, &n.temp, k, err);
    else if (!strcmp(k, "top-p")) st = parse_float(v, 0, 1, &n.top_p, k, err);
    else if (!strcmp(k, "min-p")) st = parse_float(v, 0, 1, &n.min_p, k, err);
    else if (!strcmp(k, "top-k")) st = parse_int(v, 0, 1 << 30, &l, k, err), n.top_k = (int)l;
    else if (!strcmp(k, "max-tokens")) st = parse_int(v, 1, 1 << 24, &l, k, err), n.max_tokens = (int)l;
    else if (!strcmp(k, "threads")) st = parse_int(v, 0, 1024, &l, k, err), n.threads = (int)l;
    else if (!strcmp(k, "seed")) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        st = (end == v || *end || errno || v[0] == '-')
                 ? lt_err_set(err, LT_EINVAL, "set seed: '%s' is not a non-negative integer", v)
                 : LT_OK;
        n.seed = u;
        s->n_gen_cmds = 0; /* setting the seed restarts the sequence of generation seeds */
    } else if (!strcmp(k, "device")) {
        if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
            st = lt_err_set(err, LT_EINVAL, "set device: '%s' is not cpu, cuda or auto", v);
        else st = LT_OK, snprintf(n.device, sizeof n.device, "%s", v);
    } else if (!strcmp(k, "tint")) {
        if (strcmp(v, "on") && strcmp(v, "off")) st = lt_err_set(err, LT_EINVAL, "set tint: '%s' is not on or off", v);
        else st = LT_OK, n.tint = !strcmp(v, "on");
    } else
        st = lt_err_set(err, LT_EINVAL, "set: unknown setting '%s' (%s)", k, k_keys);
    if (st != LT_OK) return st;
    s->set = n;
    print_settings(s, sink);
    char d[160];
    snprintf(d, sizeof d, "%s=%s", k, v);
    lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, d, strlen(d)));
    return LT_OK;
}

/* ==== commands: generation ======================================================== */

typedef struct gen_ctx {
    lt_session *s;
    lt_sink *sink;
    double t_start, t_first, t_last_rate;
    int n_prompt, n;
    bool tint; /* send accepted drafts as LT_TEXT_MODEL_DRAFT */
} gen_ctx;

static bool gen_cb_kind(gen_ctx *g, int32_t id, const char *text, size_t len, lt_text_kind kind);

static bool gen_cb(void *ud, int32_t id, const char *text, size_t len) {
    return gen_cb_kind(ud, id, text, len, LT_TEXT_MODEL);
}

static bool spec_cb(void *ud, int32_t id, const char *text, size_t len, bool drafted) {
    gen_ctx *g = ud;
    return gen_cb_kind(g, id, text, len, drafted && g->tint ? LT_TEXT_MODEL_DRAFT : LT_TEXT_MODEL);
}

static bool gen_cb_kind(gen_ctx *g, int32_t id, const char *text, size_t len, lt_text_kind kind) {
    double now = lt_now();
    if (id >= 0) {
        if (g->n == 0) {
            g->t_first = now;
            set_rates(g->s, g->n_prompt / (now - g->t_start > 1e-9 ? now - g->t_start : 1e-9), -1, -1);
        }
        g->n++;
        if (g->n > 1 && now - g->t_last_rate > 0.1) {
            set_rates(g->s, -1, (g->n - 1) / (now - g->t_first), -1);
            g->t_last_rate = now;
        }
    }
    if (len && g->sink && g->sink->text) g->sink->text(g->sink->ud, kind, text, len);
    return !atomic_load(&g->s->cancel);
}

/* Encodes text for model m; first = start of a conversation (adds BOS). */
static lt_status encode(sm *m, const char *text, bool first, bool chat, int32_t **ids, int *n, lt_err *err) {
    char *rendered = NULL;
    const char *t = text;
    bool templ = chat && strcmp(lt_chat_template_name(m->tok), "plain") != 0;
    if (templ) {
        lt_chat_msg msg = {"user", text};
        size_t need = lt_chat_render(m->tok, &msg, 1, true, NULL, 0) + 1;
        rendered = lt_malloc(need);
        if (!rendered) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        lt_chat_render(m->tok, &msg, 1, true, rendered, need);
        t = rendered;
    }
    size_t len = strlen(t);
    int64_t cap = (int64_t)len + 8;
    *ids = lt_malloc((size_t)(cap + 1) * sizeof(int32_t));
    int64_t k = *ids ? lt_tok_encode(m->tok, t, len, first, templ, *ids + 1, cap) : -1;
    lt_free(rendered);
    if (k < 0 || k > cap) {
        lt_free(*ids);
        *ids = NULL;
        return lt_err_set(err, LT_EINVAL, "cannot tokenize the prompt");
    }
    *n = (int)k;
    return LT_OK;
}

lt_sampler_params lt_session_sampler_params(lt_session *s) {
    lt_sampler_params sp = lt_sampler_defaults();
    sp.temp = s->set.temp;
    sp.top_k = s->set.top_k;
    sp.top_p = s->set.top_p;
    sp.min_p = s->set.min_p;
    sp.seed = s->set.seed + s->n_gen_cmds++;
    return sp;
}

void lt_session_report_rates(lt_session *s, double prefill, double live, double last) {
    set_rates(s, prefill, live, last);
}

static lt_gen_params gen_params(lt_session *s, sm *m, uint64_t *seed_out) {
    lt_gen_params gp = {0};
    gp.sp = lt_session_sampler_params(s);
    gp.n_predict = s->set.max_tokens;
    gp.stop_at_bos = m->llama2c;
    gp.ignore_eos = m->synthetic; /* random weights pick end tokens at random */
    if (s->token_limit >= 0) { /* replay of a cancelled command: exactly that many tokens */
        gp.n_predict = s->token_limit;
    }
    *seed_out = gp.sp.seed;
    return gp;
}

/* Runs a generation on seq of m with prompt ids[1..n] (ids[0] free for a pending token). */
static lt_status run_gen(lt_session *s, sm *m, int seq, int32_t *ids, int n, bool use_pending, lt_sink *sink,
                         lt_gen_stop *stop, lt_err *err) {
    int32_t *p = ids + 1;
    if (use_pending && m->pending >= 0) {
        ids[0] = m->pending;
        p = ids;
        n++;
    }
    if (n == 0) { /* an empty prompt on a fresh sequence: start from BOS */
        ids[1] = lt_tok_bos(m->tok) >= 0 ? lt_tok_bos(m->tok) : 0;
        n = 1;
    }
    int ctx = lt_kv_max_ctx(m->kv), used = lt_kv_seq_len(m->kv, seq);
    if (used + n >= ctx)
        return lt_err_set(err, LT_ERANGE, "context full (%d of %d tokens used) - 'reset' starts over", used, ctx);
    uint64_t seed;
    lt_gen_params gp = gen_params(s, m, &seed);
    int cap = gp.n_predict > 0 ? gp.n_predict : ctx;
    if (cap > ctx) cap = ctx;
    int32_t *out = lt_malloc((size_t)(cap + 1) * sizeof(int32_t));
    if (!out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    gen_ctx g = {.s = s, .sink = sink, .t_start = lt_now(), .n_prompt = n};
    g.tint = s->set.tint && sink && sink->tint;
    g.t_last_rate = g.t_start;
    lt_gen_stats st = {0};
    lt_status r = LT_OK;
    bool chat = seq == m->chat_seq;
    if (gp.n_predict != 0 && m->spec) { /* speculative: same contract as lt_generate */
        const int32_t *past = NULL;
        if (used > 0 && chat && m->hist_ok && m->n_hist == used) past = m->hist;
        else if (used > 0)
            r = lt_err_set(err, LT_EINVAL, "speculation: the tokens of this conversation are unknown - 'reset' first");
        lt_spec_stats sst;
        if (r == LT_OK)
            r = lt_spec_generate(m->spec, m->tok, seq, past, used, p, n, &gp, spec_cb, &g, out, NULL, cap, &sst, err);
        if (r == LT_OK) {
            st = sst.gen;
            pthread_mutex_lock(&s->mu);
            m->spec_st = sst;
            if (st.n_gen > 1 && st.decode_s > 0) m->spec_tps = st.n_gen / st.decode_s;
            pthread_mutex_unlock(&s->mu);
        }
    } else if (gp.n_predict != 0) {
        r = lt_generate(m->lm, m->tok, m->kv, seq, p, n, &gp, gen_cb, &g, out, cap, &st, err);
        if (r == LT_OK && st.n_gen > 1 && st.decode_s > 0) {
            pthread_mutex_lock(&s->mu);
            m->plain_tps = st.n_gen / st.decode_s;
            pthread_mutex_unlock(&s->mu);
        }
    }
    if (gp.n_predict == 0) { /* replay of a command cancelled before its first token */
        float *lg = lt_malloc((size_t)lt_lm_config(m->lm)->n_vocab * sizeof(float));
        r = lg ? lt_lm_eval(m->lm, m->kv, seq, p, n, false, lg, err) : lt_err_set(err, LT_ENOMEM, "out of host memory");
        lt_free(lg);
        st = (lt_gen_stats){.n_prompt = n, .stop = LT_GEN_STOP_LENGTH};
    }
    set_rates(s, -1, 0, st.n_gen > 1 && st.decode_s > 0 ? st.n_gen / st.decode_s : -1);
    if (chat) { /* keep the conversation's tokens in step with its cache (speculation needs them) */
        int k = st.n_gen < cap ? st.n_gen : cap, len = lt_kv_seq_len(m->kv, seq);
        if (r == LT_OK && m->hist_ok && m->n_hist == used && used + n + k >= len) {
            memcpy(m->hist + used, p, (size_t)n * sizeof(int32_t));
            if (len > used + n) memcpy(m->hist + used + n, out, (size_t)(len - used - n) * sizeof(int32_t));
            m->n_hist = len;
        } else {
            m->hist_ok = len == 0;
            m->n_hist = 0;
        }
    }
    if (r == LT_OK) {
        int k = st.n_gen < cap ? st.n_gen : cap;
        s->last.has_digest = true;
        s->last.digest = digest_ids(out, k);
        s->last.n_tokens = st.n_gen;
        s->last.seed = seed;
        s->last.cancelled = st.stop == LT_GEN_STOP_CANCEL;
        if (use_pending) {
            if (st.stop == LT_GEN_STOP_EOG) m->pending = m->llama2c ? lt_tok_bos(m->tok) : lt_tok_eos(m->tok);
            else m->pending = k > 0 ? out[k - 1] : -1;
        }
        *stop = st.stop;
        lt_sink_printf(sink, LT_TEXT_MODEL, "\n");
        if (s->last.cancelled) lt_sink_printf(sink, LT_TEXT_INFO, "[cancelled after %d tokens]\n", st.n_gen);
    }
    lt_free(out);
    return r;
}

static lt_status cmd_chat(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    sm *m = current_llm(s, err);
    if (!m) return err->code;
    if (!m->tok) return lt_err_set(err, LT_EUNSUPPORTED, "'%s' has no tokenizer - load it with --tokenizer FILE", m->name);
    const char *text = a->rest;
    bool first = lt_kv_seq_len(m->kv, m->chat_seq) == 0 && m->pending < 0;
    if (m->llama2c && m->pending == lt_tok_bos(m->tok)) first = false; /* BOS is pending: a new story */
    int32_t *ids;
    int n;
    LT_TRY(encode(m, text, first, true, &ids, &n, err));
    lt_sink_printf(sink, LT_TEXT_USER, "%s\n", text);
    lt_gen_stop stop;
    lt_status r = run_gen(s, m, m->chat_seq, ids, n, true, sink, &stop, err);
    lt_free(ids);
    return r;
}

static lt_status cmd_generate(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    sm *m = current_llm(s, err);
    if (!m) return err->code;
    if (!m->tok) return lt_err_set(err, LT_EUNSUPPORTED, "'%s' has no tokenizer - load it with --tokenizer FILE", m->name);
    const char *text = a->rest;
    int saved = s->set.max_tokens;
    if (a->argc >= 3 && !strcmp(a->argv[1], "-n")) {
        long l = 0;
        LT_TRY(parse_int(a->argv[2], 1, 1 << 24, &l, "-n", err));
        s->set.max_tokens = (int)l;
        text = strstr(a->rest, a->argv[2]) + strlen(a->argv[2]);
        while (*text == ' ') text++;
    }
    int32_t *ids = NULL;
    int n = 0, seq = -1;
    lt_status r = encode(m, text, true, false, &ids, &n, err);
    if (r == LT_OK) r = lt_kv_seq_new(m->kv, &seq, err);
    if (r == LT_OK) {
        lt_sink_printf(sink, LT_TEXT_USER, "%s\n", text);
        lt_sink_printf(sink, LT_TEXT_MODEL, "%s", text);
        lt_gen_stop stop;
        r = run_gen(s, m, seq, ids, n, false, sink, &stop, err);
        lt_kv_seq_free(m->kv, seq);
    }
    s->set.max_tokens = saved;
    lt_free(ids);
    return r;
}

static lt_status cmd_reset(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    sm *m = current_llm(s, err);
    if (!m) return err->code;
    lt_kv_seq_truncate(m->kv, m->chat_seq, 0);
    m->pending = -1;
    m->n_hist = 0;
    m->hist_ok = true;
    lt_sink_printf(sink, LT_TEXT_INFO, "conversation with '%s' cleared\n", m->name);
    return LT_OK;
}

static lt_status cmd_bench(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    sm *m = current_llm(s, err);
    if (!m) return err->code;
    int ctx = lt_kv_max_ctx(m->kv);
    long np = ctx / 4 < 128 ? ctx / 4 : 128, ng = ctx / 4 < 64 ? ctx / 4 : 64;
    for (int i = 1; i < a->argc; i++) {
        long *dst = !strcmp(a->argv[i], "-p") ? &np : !strcmp(a->argv[i], "-n") ? &ng : NULL;
        if (!dst || i + 1 >= a->argc) return lt_err_set(err, LT_EINVAL, "usage: bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]");
        LT_TRY(parse_int(a->argv[++i], 1, ctx, dst, dst == &np ? "-p" : "-n", err));
    }
    if (s->token_limit >= 0) ng = s->token_limit; /* replay of a cancelled bench */
    if (np + ng > ctx) return lt_err_set(err, LT_ERANGE, "bench: -p %ld plus -n %ld exceeds the context (%d)", np, ng, ctx);
    int V = lt_lm_config(m->lm)->n_vocab;
    float *logits = lt_malloc((size_t)V * sizeof(float));
    int32_t *ids = lt_malloc((size_t)(np + ng) * sizeof(int32_t));
    int seq = -1;
    lt_status r = logits && ids ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    uint64_t x = 42;
    for (long i = 0; i < np && ids; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % (uint64_t)V);
    }
    double pre_s = 0, dec_s = 0;
    int done = 0;
    if (r == LT_OK) r = lt_kv_seq_new(m->kv, &seq, err);
    if (r == LT_OK) {
        progress(sink, "bench", 0);
        double t0 = lt_now();
        r = lt_lm_eval(m->lm, m->kv, seq, ids, (int)np, false, logits, err);
        pre_s = lt_now() - t0;
        if (r == LT_OK) set_rates(s, np / pre_s, -1, -1);
        double t1 = lt_now(), tl = t1;
        while (r == LT_OK && done < ng && !atomic_load(&s->cancel)) {
            int32_t cur = lt_argmax(logits, V);
            ids[np + done] = cur;
            r = lt_lm_eval(m->lm, m->kv, seq, &cur, 1, false, logits, err);
            done++;
            double now = lt_now();
            if (now - tl > 0.1) {
                progress(sink, "bench", (double)done / ng);
                set_rates(s, -1, done / (now - t1), -1);
                tl = now;
            }
        }
        dec_s = lt_now() - t1;
        lt_kv_seq_free(m->kv, seq);
    }
    if (r == LT_OK) {
        double dtps = done > 0 ? done / dec_s : 0;
        set_rates(s, -1, 0, dtps > 0 ? dtps : -1);
        if (done > 1) {
            pthread_mutex_lock(&s->mu);
            m->plain_tps = dtps; /* plain decoding: the baseline of spec's speedup */
            pthread_mutex_unlock(&s->mu);
        }
        progress(sink, "bench", 1);
        s->last.cancelled = done < ng;
        s->last.n_tokens = done;
        lt_session_set_digest(s, digest_ids(ids + np, done));
        lt_sink_printf(sink, LT_TEXT_INFO, "bench '%s' on %s: prefill %ld tokens %.1f tok/s, decode %d tokens %.1f tok/s%s\n",
                       m->name, m->device, np, np / pre_s, done, dtps, s->last.cancelled ? " [cancelled]" : "");
    }
    lt_free(logits);
    lt_free(ids);
    return r;
}

/* ==== commands: speculative decoding ============================================== */

/* Opens a draft model file (or synthetic:PRESET) with the session's opener on backend be. */
static lt_status open_draft(lt_session *s, const char *path, lt_backend *be, lt_lm **out, lt_err *err) {
    *out = NULL;
    if (!strncmp(path, "synthetic:", 10)) {
        if (!s->opts.open_synthetic) return lt_err_set(err, LT_EUNSUPPORTED, "synthetic models are not available here");
        return s->opts.open_synthetic(out, path + 10, be, NULL, err);
    }
    if (!s->opts.open_lm) return lt_err_set(err, LT_EUNSUPPORTED, "no model opener in this session");
    lt_modelsrc *src = NULL;
    LT_TRY(lt_modelsrc_open(&src, path, NULL, err));
    lt_status st = s->opts.open_lm(out, src, be, NULL, err);
    lt_modelsrc_close(src);
    return st;
}

static void spec_status(lt_session *s, sm *m, lt_sink *sink) {
    if (!m->spec) {
        lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': off\n", m->name);
        return;
    }
    lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': %s\n", m->name, m->spec_desc);
    const lt_spec_stats *t = &m->spec_st;
    if (t->n_levels == 0) {
        lt_sink_printf(sink, LT_TEXT_INFO, "  no speculative run yet\n");
        return;
    }
    for (int l = 0; l < t->n_levels && l < 2; l++)
        lt_sink_printf(sink, LT_TEXT_INFO, "  %s: acceptance %.1f%% (%lld of %lld drafts), mean accepted length %.2f\n",
                       l == 0 ? "target" : "bottom", 100 * t->level[l].accept_rate, (long long)t->level[l].accepted,
                       (long long)t->level[l].drafted, t->level[l].mean_len);
    if (m->plain_tps > 0 && m->spec_tps > 0)
        lt_sink_printf(sink, LT_TEXT_INFO, "  decode %.1f tok/s, plain %.1f tok/s: speedup %.2fx\n", m->spec_tps,
                       m->plain_tps, m->spec_tps / m->plain_tps);
    else
        lt_sink_printf(sink, LT_TEXT_INFO, "  decode %.1f tok/s, speedup - (no plain decoding measured: 'bench')\n",
                       m->spec_tps);
}

#define SPEC_USAGE \
    "spec [off|ngram|draft MODEL|triforce] [--gamma N] [--adaptive] [--budget N] [--chunk N] [--draft MODEL]"
static const char *k_spec_usage = SPEC_USAGE;

static lt_status cmd_spec(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    sm *m = current_llm(s, err);
    if (!m) return err->code;
    if (a->argc == 1) {
        spec_status(s, m, sink);
        lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, m->spec_desc, m->spec ? strlen(m->spec_desc) : 0));
        return LT_OK;
    }
    lt_spec_kind kind;
    const char *model = NULL;
    int i = 2;
    if (!strcmp(a->argv[1], "draft")) {
        kind = LT_SPEC_DRAFT;
        if (a->argc > 2 && strncmp(a->argv[2], "--", 2)) model = a->argv[i++];
    } else {
        LT_TRY(lt_spec_parse(a->argv[1], &kind, &model, err));
    }
    lt_spec_params p = lt_spec_defaults(kind);
    bool has_budget = false, has_chunk = false, has_gamma = false;
    for (; i < a->argc; i++) {
        const char *o = a->argv[i];
        long v = 0;
        if (!strcmp(o, "--adaptive")) {
            p.adaptive = true;
            continue;
        }
        bool known = !strcmp(o, "--gamma") || !strcmp(o, "--budget") || !strcmp(o, "--chunk") || !strcmp(o, "--draft");
        if (!known) return lt_err_set(err, LT_EINVAL, "spec: unexpected '%s'; usage: %s", o, k_spec_usage);
        if (i + 1 >= a->argc) return lt_err_set(err, LT_EINVAL, "spec: %s needs a value; usage: %s", o, k_spec_usage);
        const char *val = a->argv[++i];
        if (!strcmp(o, "--draft")) {
            model = val;
            continue;
        }
        bool g = !strcmp(o, "--gamma"), bu = !strcmp(o, "--budget");
        long hi = g ? 64 : bu ? 1 << 20 : 1024;
        char *end;
        errno = 0;
        v = strtol(val, &end, 10);
        if (end == val || *end || errno || v < 1 || v > hi)
            return lt_err_set(err, LT_EINVAL, "spec %s: '%s' is not an integer in [1, %ld]", o, val, hi);
        if (g) p.gamma = (int)v, has_gamma = true;
        else if (bu) p.budget = (int)v, has_budget = true;
        else p.chunk = (int)v, has_chunk = true;
    }
    if (kind != LT_SPEC_TRIFORCE && (has_budget || has_chunk))
        return lt_err_set(err, LT_EINVAL, "spec: --budget and --chunk apply to triforce only");
    if (kind == LT_SPEC_OFF && (has_gamma || p.adaptive || model))
        return lt_err_set(err, LT_EINVAL, "spec off takes no options");
    if (kind == LT_SPEC_NGRAM && model) return lt_err_set(err, LT_EINVAL, "spec ngram takes no model");
    if (kind == LT_SPEC_DRAFT && !model)
        return lt_err_set(err, LT_EINVAL, "spec draft needs a model: spec draft PATH [--gamma N]");
    if (kind == LT_SPEC_OFF) {
        pthread_mutex_lock(&s->mu);
        lt_spec_free(m->spec);
        lt_lm_close(m->spec_draft);
        m->spec = NULL;
        m->spec_draft = NULL;
        m->spec_desc[0] = 0;
        memset(&m->spec_st, 0, sizeof m->spec_st);
        pthread_mutex_unlock(&s->mu);
        lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s' off\n", m->name);
        lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, "off", 3));
        return LT_OK;
    }
    lt_lm *draft = NULL;
    lt_kv_cache *nkv = NULL;
    int nseq = -1;
    lt_status r = LT_OK;
    if (model) {
        progress(sink, "load", 0.1);
        r = open_draft(s, model, m->be, &draft, err);
        if (r != LT_OK) lt_err_prefix(err, "spec: draft model %s", model);
        progress(sink, "load", 1.0);
    }
    p.draft = draft;
    int bs = lt_kv_block_size(m->kv);
    int chunk = p.chunk ? p.chunk : bs;
    if (r == LT_OK && kind == LT_SPEC_TRIFORCE && (chunk % bs || lt_kv_max_seqs(m->kv) < 4)) {
        /* TriForce needs chunks made of whole blocks and a sequence slot for its view (plus
         * one for `generate`): a new cache, so the conversation starts over */
        if (chunk % bs && chunk > 64)
            r = lt_err_set(err, LT_EINVAL, "--chunk %d is not a multiple of the KV block size %d (use one, or <= 64)",
                           chunk, bs);
        lt_kv_opts ko = lt_lm_kv_opts(m->lm, lt_kv_max_ctx(m->kv), 4);
        ko.dtype = LT_F16;
        ko.block_size = chunk % bs ? chunk : bs;
        if (r == LT_OK) r = lt_kv_create(&nkv, m->be, &ko, err);
        if (r == LT_OK) r = lt_kv_seq_new(nkv, &nseq, err);
        if (r != LT_OK) lt_err_prefix(err, "spec: TriForce cache");
    }
    lt_spec *sp = NULL;
    if (r == LT_OK) r = lt_spec_create(&sp, m->lm, nkv ? nkv : m->kv, &p, err);
    if (r != LT_OK) {
        lt_kv_free(nkv);
        lt_lm_close(draft);
        return err->msg[0] && strncmp(err->msg, "spec", 4) ? lt_err_prefix(err, "spec") : r;
    }
    pthread_mutex_lock(&s->mu);
    lt_spec_free(m->spec);
    lt_lm_close(m->spec_draft);
    m->spec = sp;
    m->spec_draft = draft;
    memset(&m->spec_st, 0, sizeof m->spec_st);
    m->spec_tps = 0;
    if (nkv) {
        lt_kv_free(m->kv);
        m->kv = nkv;
        m->chat_seq = nseq;
        m->pending = -1;
        m->n_hist = 0;
        m->hist_ok = true;
    }
    const lt_spec_params *q = lt_spec_get_params(sp);
    char base[64];
    int k = snprintf(m->spec_desc, sizeof m->spec_desc, "%s", lt_spec_kind_name(kind));
    if (model)
        k += snprintf(m->spec_desc + k, sizeof m->spec_desc - (size_t)k, " %s", base_name(model, base, sizeof base));
    if (kind == LT_SPEC_TRIFORCE)
        k += snprintf(m->spec_desc + k, sizeof m->spec_desc - (size_t)k, " (budget %d, chunk %d, gamma %d%s)",
                      q->budget, chunk, q->gamma ? q->gamma : 6, q->adaptive ? ", adaptive" : "");
    else
        snprintf(m->spec_desc + k, sizeof m->spec_desc - (size_t)k, " (gamma %d%s)", q->gamma ? q->gamma : 4,
                 q->adaptive ? ", adaptive" : "");
    pthread_mutex_unlock(&s->mu);
    lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': %s%s\n", m->name, m->spec_desc,
                   nkv ? " - new KV cache for TriForce, conversation cleared" : "");
    lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, m->spec_desc, strlen(m->spec_desc)));
    return LT_OK;
}

/* ==== commands: session ========================================================== */

static lt_status cmd_session(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc != 3 || strcmp(a->argv[1], "save")) return lt_err_set(err, LT_EINVAL, "usage: session save PATH");
    if (!s->journal) return lt_err_set(err, LT_ENOTFOUND, "session save: this session has no journal");
    const char *src = lt_journal_path(s->journal), *dst = a->argv[2];
    FILE *in = fopen(src, "rb");
    if (!in) return lt_err_set(err, LT_EIO, "session save: cannot read %s: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return lt_err_set(err, LT_EIO, "session save: cannot write %s: %s", dst, strerror(errno));
    }
    char buf[8192];
    size_t k;
    bool ok = true;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) ok = ok && fwrite(buf, 1, k, out) == k;
    fclose(in);
    if (fclose(out) != 0 || !ok) return lt_err_set(err, LT_EIO, "session save: writing %s failed", dst);
    lt_sink_printf(sink, LT_TEXT_INFO, "session saved to %s\n", dst);
    return LT_OK;
}

typedef struct replay_ud {
    lt_sink *sink;
} replay_ud;

static void replay_report(void *ud, const lt_journal_entry *e, bool same, const char *detail) {
    replay_ud *r = ud;
    lt_sink_printf(r->sink, same ? LT_TEXT_INFO : LT_TEXT_ERROR, "%4d %-40.40s %s%s%s\n", e->line_no, e->line,
                   same ? "OK" : "DIFF", detail[0] ? " " : "", detail);
}

static lt_status cmd_replay(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *path = NULL;
    bool check = false;
    for (int i = 1; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--check")) check = true;
        else if (!path) path = a->argv[i];
        else return lt_err_set(err, LT_EINVAL, "usage: replay FILE [--check]");
    }
    if (!path) return lt_err_set(err, LT_EINVAL, "usage: replay FILE [--check]");
    lt_session_opts o = s->opts;
    o.journal = false;
    o.device = s->set.device;
    o.threads = s->set.threads;
    lt_session *fresh;
    LT_TRY(lt_session_create(&fresh, &o, err));
    for (int i = 1; i < lt_cmds_n_tables(s->cmds); i++) { /* the tables other modules registered */
        lt_status st = lt_session_add_commands(fresh, lt_cmds_table(s->cmds, i), err);
        if (st != LT_OK) {
            lt_session_free(fresh);
            return st;
        }
    }
    replay_ud ud = {sink};
    int first = 0, n = 0;
    lt_status r = lt_journal_replay(path, fresh, NULL, check, replay_report, &ud, &first, &n, NULL, err);
    lt_session_free(fresh);
    if (r != LT_OK) return r;
    if (first) return lt_err_set(err, LT_EFORMAT, "replay %s: diverges at line %d", path, first);
    lt_sink_printf(sink, LT_TEXT_INFO, "replay %s: %d commands, all OK\n", path, n);
    return LT_OK;
}

static lt_status cmd_help(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc > 1) {
        const lt_cmd *c;
        LT_TRY(lt_cmds_find(s->cmds, a->argv[1], &c, err));
        lt_sink_printf(sink, LT_TEXT_INFO, "%s - %s\n", c->usage, c->help);
        return LT_OK;
    }
    for (int i = 0, n = lt_cmds_count(s->cmds); i < n; i++) {
        const lt_cmd *c = lt_cmds_at(s->cmds, i);
        lt_sink_printf(sink, LT_TEXT_INFO, "%-48s %s\n", c->usage, c->help);
    }
    return LT_OK;
}

static lt_status cmd_quit(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    s->quit = true;
    return LT_OK;
}

static const lt_cmd_arg k_load_args[] = {{"PATH", "model file/folder, or synthetic:PRESET (tiny, small, llama-1b...)"},
                                         {NULL, NULL}};
static const lt_cmd_arg k_set_args[] = {{"KEY", "temp, top-k, top-p, min-p, seed, max-tokens, device, threads"},
                                        {"VALUE", "the new value"},
                                        {NULL, NULL}};
static const lt_cmd_arg k_text_args[] = {{"TEXT", "the prompt"}, {NULL, NULL}};
static const lt_cmd_arg k_session_args[] = {{"save", "the word 'save'"}, {"PATH", "where to copy the journal"}, {NULL, NULL}};
static const lt_cmd_arg k_spec_args[] = {{"MODE", "off, ngram, draft MODEL, triforce"}, {NULL, NULL}};
static const lt_cmd_arg k_replay_args[] = {{"FILE", "a .lathe session file"}, {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"load", "l", "load PATH|synthetic:PRESET [as NAME] [--tokenizer FILE]", "load a model and make it current", 1, 5,
     k_load_args, true, cmd_load},
    {"unload", NULL, "unload [NAME]", "free a model (default: the current one)", 0, 1, NULL, true, cmd_unload},
    {"models", NULL, "models", "list the loaded models", 0, 0, NULL, true, cmd_models},
    {"set", NULL, "set [KEY VALUE]", "change a setting (no arguments: show them)", 0, 2, k_set_args, true, cmd_set},
    {"chat", "c", "chat TEXT", "send TEXT in the conversation (plain input does this)", 1, -1, k_text_args, true,
     cmd_chat},
    {"reset", NULL, "reset", "clear the conversation of the current model", 0, 0, NULL, true, cmd_reset},
    {"generate", "gen", "generate [-n N] TEXT", "one-off continuation of TEXT (conversation untouched)", 1, -1,
     k_text_args, true, cmd_generate},
    {"bench", NULL, "bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]", "measure prefill and decode speed of the current model",
     0, 4, NULL, true, cmd_bench},
    {"spec", NULL, SPEC_USAGE,
     "speculative decoding of chat/generate (no arguments: state and acceptance)", 0, 9, k_spec_args, true, cmd_spec},
    {"session", NULL, "session save PATH", "copy this session's journal to PATH", 2, 2, k_session_args, false,
     cmd_session},
    {"replay", NULL, "replay FILE [--check]", "re-run a session file in a fresh session and compare results", 1, 2,
     k_replay_args, false, cmd_replay},
    {"help", "h", "help [COMMAND]", "list the commands or show one", 0, 1, NULL, false, cmd_help},
    {"quit", "q", "quit", "leave the workbench", 0, 0, NULL, false, cmd_quit},
    {NULL},
};

const lt_cmd_table lt_session_cmd_table = {"session", k_cmds};
