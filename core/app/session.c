/* session.c - the session state and lt_session_exec: the loaded models, the settings, the
 * command registry, the journal entry of every command, the rates and memory the panes show.
 *
 * Leaves out: the commands themselves (core/cmd/), drawing and key handling (tui/), the
 * journal file format (journal.c), model architectures (the creator passes open functions).
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
#include "core/base/clock.h"
#include "journal.h"

#define MAX_MODELS 16

typedef struct sm {
    char name[64];
    char kind[16];
    char format[16];
    char device[96];
    size_t bytes;
    lt_conv *conv; /* language models */
    /* other kinds */
    void *obj;
    void (*close)(void *);
    char *source, *tokenizer; /* the file it was loaded from and the tokenizer given with it */
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
    lt_creport *creport;     /* the last `compare` (guarded by mu), NULL until one ran */
    lt_serve_view *serve;    /* the serve pane (guarded by mu), NULL until `bench serve` ran */
    uint64_t side_n, creport_at, serve_at; /* which of the two side reports came last */
};

void lt_sink_progress(lt_sink *sink, const char *what, double frac) {
    if (sink && sink->progress) sink->progress(sink->ud, what, frac);
}

void lt_sink_preview(lt_sink *sink, const lt_image *img, const char *const *lines, int n_lines) {
    if (sink && sink->preview) sink->preview(sink->ud, img, lines, n_lines);
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
    s->set = lt_settings_defaults(o ? o->device : NULL, o ? o->threads : 0);
    lt_status st = lt_cmds_create(&s->cmds, err);
    for (int i = 0; st == LT_OK && o && o->tables && o->tables[i]; i++) st = lt_cmds_add(s->cmds, o->tables[i], err);
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
        lt_wall_time(iso, sizeof iso, stamp, sizeof stamp);
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
    lt_conv_free(m->conv);
    lt_free(m->source);
    lt_free(m->tokenizer);
    lt_free(m);
}

void lt_session_free(lt_session *s) {
    if (!s) return;
    for (int i = 0; i < s->n_models; i++) sm_free(s->models[i]);
    lt_journal_close(s->journal);
    lt_metrics_free(s->metrics);
    lt_cmds_free(s->cmds);
    lt_free(s->creport);
    lt_free(s->serve);
    pthread_mutex_destroy(&s->mu);
    lt_free(s);
}

void lt_session_cancel(lt_session *s) { atomic_store(&s->cancel, 1); }
bool lt_session_cancelled(const lt_session *s) { return atomic_load(&((lt_session *)s)->cancel) != 0; }
const lt_result *lt_session_last(const lt_session *s) { return &s->last; }
bool lt_session_quit_requested(const lt_session *s) { return s->quit; }
void lt_session_request_quit(lt_session *s) { s->quit = true; }
const lt_session_opts *lt_session_options(const lt_session *s) { return &s->opts; }
const lt_cmds *lt_session_commands(const lt_session *s) { return s->cmds; }
const lt_settings *lt_session_settings(const lt_session *s) { return &s->set; }
void lt_session_update_settings(lt_session *s, const lt_settings *t, bool restart_seeds) {
    s->set = *t;
    if (restart_seeds) s->n_gen_cmds = 0;
}
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
    if (*line == '#') return LT_OK; /* a comment, quotes and all, is not split */
    if (*line == '/') line++;
    size_t cap = strlen(line) + 1;
    char *buf = lt_malloc(cap + 2);
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_args a;
    const lt_cmd *cmd = NULL;
    lt_status st = LT_OK;
    /* a command of free text (chat) takes the rest of the line as it is: only its word is split */
    size_t wl = strcspn(line, " \t\r\n");
    if (wl && wl < cap && !memchr(line, '"', wl) && !memchr(line, '\'', wl) && !memchr(line, '\\', wl)) {
        memcpy(buf, line, wl);
        buf[wl] = 0;
        lt_err ignore;
        const char *rest = line + wl + strspn(line + wl, " \t");
        if (lt_cmds_find(s->cmds, buf, &cmd, &ignore) != LT_OK ||
            !(cmd->text || (cmd->text_rest && cmd->text_rest(rest))))
            cmd = NULL;
    }
    if (cmd) {
        memset(&a, 0, sizeof a);
        a.argc = 1;
        a.argv[0] = buf;
        a.rest = line + wl + strspn(line + wl, " \t");
        size_t rl = strlen(a.rest);
        while (rl && (a.rest[rl - 1] == '\n' || a.rest[rl - 1] == '\r')) rl--;
        memcpy(buf + wl + 1, a.rest, rl); /* rest without a trailing newline, inside buf */
        buf[wl + 1 + rl] = 0;
        a.rest = buf + wl + 1;
        if (cmd->min_args > 0 && !a.rest[0]) st = lt_err_set(err, LT_EINVAL, "usage: %s", cmd->usage);
    } else {
        st = lt_cmd_split(line, buf, cap + 1, &a, err);
        if (st != LT_OK || a.argc == 0 || a.argv[0][0] == '#') {
            lt_free(buf);
            return st;
        }
        st = lt_cmds_find(s->cmds, a.argv[0], &cmd, err);
        if (st == LT_OK) st = lt_cmd_check_args(cmd, &a, err);
    }
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
        lt_wall_time(e.time, sizeof e.time, stamp, sizeof stamp);
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

bool lt_session_has_model(lt_session *s, const char *name) { return find_model(s, name) >= 0; }

lt_status lt_session_use(lt_session *s, const char *name, lt_err *err) {
    int i = find_model(s, name);
    if (i < 0 || !s->models[i]->conv) {
        char names[512] = "";
        size_t o = 0;
        for (int k = 0; k < s->n_models && o < sizeof names; k++)
            if (s->models[k]->conv)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "", s->models[k]->name);
        return lt_err_set(err, LT_ENOTFOUND, "use: no language model named '%s' is loaded (%s%s)", name,
                          o ? "loaded: " : "none is loaded", names);
    }
    pthread_mutex_lock(&s->mu);
    s->current = i;
    pthread_mutex_unlock(&s->mu);
    return LT_OK;
}

lt_status lt_session_llm(lt_session *s, const char *name, lt_conv **conv, const char **model_name, lt_err *err) {
    sm *m;
    if (name) {
        int i = find_model(s, name);
        if (i < 0 || !s->models[i]->conv)
            return lt_err_set(err, LT_ENOTFOUND, "no language model named '%s' is loaded", name);
        m = s->models[i];
    } else if (s->current < 0) {
        return lt_err_set(err, LT_ENOTFOUND, "no model loaded - 'load PATH' first");
    } else {
        m = s->models[s->current];
    }
    if (conv) *conv = m->conv;
    if (model_name) *model_name = m->name;
    return LT_OK;
}

lt_status lt_session_set_model_source(lt_session *s, const char *name, const char *path, const char *tokenizer,
                                      lt_err *err) {
    int i = find_model(s, name);
    if (i < 0) return lt_err_set(err, LT_ENOTFOUND, "no model named '%s' is loaded", name);
    char *p = path ? lt_strdup(path) : NULL, *t = tokenizer ? lt_strdup(tokenizer) : NULL;
    if ((path && !p) || (tokenizer && !t)) {
        lt_free(p);
        lt_free(t);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    pthread_mutex_lock(&s->mu);
    sm *m = s->models[i];
    lt_free(m->source);
    lt_free(m->tokenizer);
    m->source = p;
    m->tokenizer = t;
    pthread_mutex_unlock(&s->mu);
    return LT_OK;
}

lt_status lt_session_model_source(lt_session *s, const char *name, const char **model_name, const char **path,
                                  const char **tokenizer, lt_err *err) {
    LT_TRY(lt_session_llm(s, name, NULL, model_name, err));
    const sm *m = s->models[name ? find_model(s, name) : s->current];
    if (!m->source)
        return lt_err_set(err, LT_ENOTFOUND, "model '%s' was not loaded from a file (it has no source to read)",
                          m->name);
    if (path) *path = m->source;
    if (tokenizer) *tokenizer = m->tokenizer;
    return LT_OK;
}

lt_status lt_session_get_lm(lt_session *s, const char *name, lt_lm **lm, lt_tokenizer **tok, lt_kv_cache **kv,
                            lt_err *err) {
    lt_conv *c = NULL;
    LT_TRY(lt_session_llm(s, name, &c, NULL, err));
    if (lm) *lm = lt_conv_lm(c);
    if (tok) *tok = lt_conv_tok(c);
    if (kv) *kv = lt_conv_kv(c);
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

static sm *new_entry(const char *name, const char *kind, const char *format, const char *device, lt_err *err) {
    sm *m = lt_calloc(1, sizeof *m);
    if (!m) {
        lt_err_set(err, LT_ENOMEM, "out of host memory");
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    snprintf(m->format, sizeof m->format, "%s", format);
    snprintf(m->device, sizeof m->device, "%s", device ? device : "-");
    return m;
}

lt_status lt_session_add_llm(lt_session *s, const char *name, const char *format, lt_conv *conv, lt_err *err) {
    if (find_model(s, name) >= 0) {
        lt_conv_free(conv);
        return lt_err_set(err, LT_EINVAL, "a model named '%s' is already loaded - 'use %s' to switch to it, or add 'as "
                          "OTHER'", name, name);
    }
    sm *m = new_entry(name, "llm", format, lt_backend_device(lt_conv_backend(conv)), err);
    if (!m) {
        lt_conv_free(conv);
        return err->code;
    }
    m->conv = conv;
    lt_status st = add_model(s, m, true, err);
    if (st != LT_OK) sm_free(m);
    return st;
}

lt_status lt_session_put_object(lt_session *s, const char *name, const char *kind, void *obj, void (*close)(void *),
                                size_t bytes, const char *device, lt_err *err) {
    if (find_model(s, name) >= 0) return lt_err_set(err, LT_EINVAL, "a model named '%s' is already loaded", name);
    sm *m = new_entry(name, kind, "-", device, err);
    if (!m) return err->code;
    m->bytes = bytes;
    m->obj = obj;
    m->close = close;
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

lt_status lt_session_unload(lt_session *s, const char *name, char *unloaded, size_t cap, lt_err *err) {
    int i;
    if (name) {
        i = find_model(s, name);
        if (i < 0) return lt_err_set(err, LT_ENOTFOUND, "unload: no model named '%s' is loaded", name);
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
            if (s->models[k]->conv) {
                s->current = k;
                break;
            }
    } else if (s->current > i) {
        s->current--;
    }
    pthread_mutex_unlock(&s->mu);
    if (unloaded) snprintf(unloaded, cap, "%s", m->name);
    sm_free(m);
    return LT_OK;
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
        const lt_lm *lm = m->conv ? lt_conv_lm(m->conv) : NULL;
        snprintf(o->dtype, sizeof o->dtype, "%s", lm ? lt_dtype_name(lm->wtype) : "-");
        o->bytes = lm ? lm->weight_bytes : m->bytes;
        if (m->conv) lt_conv_kv_usage(m->conv, NULL, NULL, &o->ctx);
        o->current = i == s->current;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void lt_session_device_name(lt_session *s, char *buf, size_t cap, bool *is_host) {
    pthread_mutex_lock(&s->mu);
    if (s->current >= 0) {
        snprintf(buf, cap, "%s", s->models[s->current]->device);
        *is_host = lt_backend_is_host(lt_conv_backend(s->models[s->current]->conv));
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
        if (m->conv) {
            lt_backend *be = lt_conv_backend(m->conv);
            for (int c = 0; c < LT_MEM_CAT_COUNT; c++) o->mem[c] += lt_backend_mem_used(be, c);
            if (!dev || i == s->current) dev = be;
            int used, total;
            lt_conv_kv_usage(m->conv, &used, &total, NULL);
            o->kv_used += used;
            o->kv_total += total;
        } else {
            o->mem[LT_MEM_OTHER] += m->bytes;
        }
    }
    o->decode_tps = s->rate_decode_live > s->rate_decode_peak ? s->rate_decode_live : s->rate_decode_peak;
    s->rate_decode_peak = 0;
    o->prefill_tps = s->rate_prefill;
    o->last_decode_tps = s->rate_decode_last;
    if (s->current >= 0) {
        lt_conv_stats cs;
        lt_conv_stats_get(s->models[s->current]->conv, &cs);
        lt_conv_ctx_usage(s->models[s->current]->conv, &o->ctx_used, &o->ctx_max);
        if (cs.spec_on) snprintf(o->spec_kind, sizeof o->spec_kind, "%s", lt_spec_kind_name(cs.spec_kind));
        if (cs.spec_on && cs.spec.n_levels > 0) {
            o->spec_levels = cs.spec.n_levels > 2 ? 2 : cs.spec.n_levels;
            for (int l = 0; l < o->spec_levels; l++) {
                o->spec_accept[l] = cs.spec.level[l].accept_rate;
                o->spec_mean_len[l] = cs.spec.level[l].mean_len;
            }
            o->spec_tps = cs.spec_tps;
            o->spec_speedup = cs.plain_tps > 0 && cs.spec_tps > 0 ? cs.spec_tps / cs.plain_tps : 0;
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

/* ==== generation seeds and rates ================================================== */

lt_sampler_params lt_session_sampler_params(lt_session *s) {
    lt_sampler_params sp = lt_sampler_defaults();
    sp.temp = s->set.temp;
    sp.top_k = s->set.top_k;
    sp.top_p = s->set.top_p;
    sp.min_p = s->set.min_p;
    sp.repeat_penalty = s->set.repeat_penalty;
    sp.repeat_last_n = s->set.repeat_last_n;
    sp.seed = s->set.seed + s->n_gen_cmds++;
    return sp;
}

void lt_session_report_rates(lt_session *s, double prefill, double live, double last) {
    pthread_mutex_lock(&s->mu);
    if (prefill >= 0) s->rate_prefill = prefill;
    if (live >= 0) s->rate_decode_live = live;
    if (live > s->rate_decode_peak) s->rate_decode_peak = live;
    if (last >= 0) s->rate_decode_last = last;
    if (last > s->rate_decode_peak) s->rate_decode_peak = last;
    pthread_mutex_unlock(&s->mu);
}

void lt_session_set_creport(lt_session *s, const lt_creport *r) {
    pthread_mutex_lock(&s->mu);
    if (!s->creport) s->creport = lt_malloc(sizeof *s->creport);
    if (s->creport) *s->creport = *r;
    s->creport_at = ++s->side_n;
    pthread_mutex_unlock(&s->mu);
}

void lt_session_set_serve(lt_session *s, const lt_serve_view *v) {
    pthread_mutex_lock(&s->mu);
    if (!s->serve) s->serve = lt_malloc(sizeof *s->serve);
    if (s->serve) *s->serve = *v;
    s->serve_at = ++s->side_n;
    pthread_mutex_unlock(&s->mu);
}

bool lt_session_serve(lt_session *s, lt_serve_view *out) {
    pthread_mutex_lock(&s->mu);
    bool have = s->serve != NULL;
    if (have) {
        *out = *s->serve;
        out->over_report = s->serve_at > s->creport_at;
    }
    pthread_mutex_unlock(&s->mu);
    return have;
}

bool lt_session_creport(lt_session *s, lt_creport *out) {
    pthread_mutex_lock(&s->mu);
    bool have = s->creport != NULL;
    if (have) *out = *s->creport;
    pthread_mutex_unlock(&s->mu);
    return have;
}
