/* test_session.c - the session headless, on the bundled stories260K model: load, chat
 * (streamed text, seeded determinism), set, reset, generate, bench, models, unload; errors
 * that keep the previous state; cancellation from another thread during a long
 * generation (a synthetic model with a 4096-token context); metrics samples; and a
 * load/unload cycle whose host and backend memory return to the baseline. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/llm/generate.h"
#include "core/app/session.h"
#include "core/cmd/cmds.h"
#include "models/llama.h"
#include "testutil.h"

typedef struct collect {
    char text[8192];
    size_t n;
    atomic_int model_chunks;
    int progress_calls;
    double last_frac;
} collect;

static void on_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    collect *c = ud;
    if (k == LT_TEXT_MODEL) atomic_fetch_add(&c->model_chunks, 1);
    if (c->n + n + 1 >= sizeof c->text && c->n > 4096) { /* keep the newest text */
        memmove(c->text, c->text + c->n - 4096, 4096);
        c->n = 4096;
    }
    if (c->n + n < sizeof c->text) {
        for (size_t i = 0; i < n; i++) c->text[c->n + i] = s[i] ? s[i] : '?'; /* random models emit NUL bytes */
        c->n += n;
        c->text[c->n] = 0;
    }
}

static void on_progress(void *ud, const char *what, double f) {
    collect *c = ud;
    c->progress_calls++;
    c->last_frac = f;
}

static lt_session *new_session(void) {
    lt_session_opts o = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset, .threads = 2};
    lt_session *s = NULL;
    lt_err err;
    if (lt_session_create(&s, &o, &err) != LT_OK) fprintf(stderr, "session: %s\n", err.msg);
    return s;
}

static char g_load[2048];

static int exec_ok(lt_session *s, const char *line, lt_sink *sink) {
    lt_err err;
    lt_status st = lt_session_exec(s, line, sink, &err);
    if (st != LT_OK) fprintf(stderr, "'%s' failed: %s\n", line, err.msg);
    return st == LT_OK;
}

static void test_basics(void) {
    lt_session *s = new_session();
    collect c = {0};
    lt_sink sink = {.ud = &c, .text = on_text, .progress = on_progress};
    lt_err err;
    CHECK(exec_ok(s, g_load, &sink));
    CHECK(c.progress_calls >= 2 && c.last_frac == 1.0);
    CHECK(strstr(c.text, "loaded 'stories'") != NULL);
    lt_model_info mi[4];
    CHECK(lt_session_models(s, mi, 4) == 1 && mi[0].current && !strcmp(mi[0].format, "llama2c") && mi[0].ctx == 512);
    CHECK(exec_ok(s, "set seed 5", &sink) && exec_ok(s, "set max-tokens 30", &sink));
    c.n = 0;
    CHECK(exec_ok(s, "chat Once upon a time", &sink));
    const lt_result *r = lt_session_last(s);
    CHECK(r->has_digest && r->n_tokens > 0 && r->n_tokens <= 30 && !r->cancelled && r->seed == 5);
    CHECK(atomic_load(&c.model_chunks) > 0 && strstr(c.text, "Once upon a time") && c.n > 40);
    uint64_t d1 = r->digest;
    /* the conversation continues: more cache in use */
    lt_kv_cache *kv;
    CHECK(lt_session_get_lm(s, NULL, NULL, NULL, &kv, &err) == LT_OK);
    int used = lt_kv_blocks_used(kv);
    CHECK(used > 0);
    CHECK(exec_ok(s, "chat The dog", &sink) && lt_session_last(s)->seed == 6);
    CHECK(lt_kv_blocks_used(kv) >= used);
    /* generate leaves the conversation alone */
    used = lt_kv_blocks_used(kv);
    CHECK(exec_ok(s, "generate -n 10 Lily went", &sink) && lt_session_last(s)->n_tokens == 10);
    CHECK(lt_kv_blocks_used(kv) == used);
    /* chat text is never split as arguments: apostrophes, quotes and 40 words reach the model as typed */
    c.text[0] = 0, c.n = 0;
    const char *words = "Don't stop, \"she\" said: one two three four five six seven eight nine ten eleven twelve "
                        "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two "
                        "twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty";
    char chat_line[600];
    snprintf(chat_line, sizeof chat_line, "chat %s", words);
    CHECK(exec_ok(s, chat_line, &sink) && strstr(c.text, words));
    snprintf(chat_line, sizeof chat_line, "generate -n 3 %s", words);
    CHECK(exec_ok(s, chat_line, &sink) && lt_session_last(s)->n_tokens == 3);
    CHECK(lt_session_exec(s, "generate -n x It's", &sink, &err) == LT_EINVAL && strstr(err.msg, "generate: -n expects"));
    CHECK(lt_session_exec(s, "chat", &sink, &err) == LT_EINVAL && strstr(err.msg, "usage: chat"));
    /* reset + the same seed gives the same story */
    CHECK(exec_ok(s, "reset", &sink) && lt_kv_blocks_used(kv) == 0);
    CHECK(exec_ok(s, "set seed 5", &sink) && exec_ok(s, "chat Once upon a time", &sink));
    CHECKF(lt_session_last(s)->digest == d1, "same seed, different tokens");
    /* a different seed gives a different story (temp 0.8 on a 512-token vocab) */
    CHECK(exec_ok(s, "reset", &sink) && exec_ok(s, "set seed 99", &sink) && exec_ok(s, "chat Once upon a time", &sink));
    CHECK(lt_session_last(s)->digest != d1);
    /* parse-special: "</s>" in generate's text is the EOS token (on, the default) or four bytes of text */
    CHECK(exec_ok(s, "set temp 0", &sink) && exec_ok(s, "generate -n 8 Lily went home</s>", &sink));
    uint64_t d_on = lt_session_last(s)->digest;
    c.text[0] = 0, c.n = 0;
    CHECK(exec_ok(s, "set parse-special off", &sink) && exec_ok(s, "set", &sink) && strstr(c.text, "parse-special off"));
    CHECK(exec_ok(s, "generate -n 8 Lily went home</s>", &sink) && lt_session_last(s)->digest != d_on);
    CHECK(exec_ok(s, "set parse-special on", &sink) && exec_ok(s, "generate -n 8 Lily went home</s>", &sink) &&
          lt_session_last(s)->digest == d_on);
    CHECK(lt_session_exec(s, "set parse-special maybe", &sink, &err) != LT_OK && strstr(err.msg, "parse-special"));
    CHECK(exec_ok(s, "set temp 0.8", &sink));
    /* bench: greedy decode, deterministic digest, rates in the metrics */
    CHECK(exec_ok(s, "bench -p 32 -n 16", &sink));
    uint64_t b1 = lt_session_last(s)->digest;
    CHECK(lt_session_last(s)->n_tokens == 16 && strstr(c.text, "tok/s"));
    CHECK(exec_ok(s, "bench -p 32 -n 16", &sink) && lt_session_last(s)->digest == b1);
    CHECK(lt_session_exec(s, "bench -p 600", &sink, &err) == LT_EINVAL);
    CHECK(lt_session_exec(s, "bench -x 1", &sink, &err) == LT_EINVAL && strstr(err.msg, "usage"));
    CHECK(lt_session_exec(s, "bench --help -p 99999", &sink, &err) == LT_EINVAL && strstr(err.msg, "usage: bench"));
    CHECK(lt_session_exec(s, "set temp nan", &sink, &err) == LT_EINVAL && strstr(err.msg, "not a number"));
    lt_metric_sample m;
    lt_session_sample(s, &m);
    CHECK(m.prefill_tps > 0 && m.last_decode_tps > 0 && m.mem[LT_MEM_WEIGHTS] > 0 && m.mem[LT_MEM_KV] > 0);
    CHECK(m.kv_total > 0 && m.mem_total > 0);
    lt_metric_sample back;
    CHECK(lt_metrics_latest(lt_session_metrics(s), &back) && back.kv_total == m.kv_total);
    /* errors keep the previous state */
    CHECK(lt_session_exec(s, "load /nonexistent/model.gguf", &sink, &err) == LT_EIO && strstr(err.msg, "nonexistent"));
    const char *bad = lt_test_tmpdir("session");
    char path[1024];
    snprintf(path, sizeof path, "%s/garbage.gguf", bad);
    FILE *f = fopen(path, "wb");
    fputs("GGUF this is not a model", f);
    fclose(f);
    char line[1200];
    snprintf(line, sizeof line, "load %s as junk", path);
    CHECK(lt_session_exec(s, line, &sink, &err) != LT_OK && strstr(err.msg, "garbage.gguf"));
    CHECK(lt_session_exec(s, g_load, &sink, &err) == LT_EINVAL && strstr(err.msg, "already loaded"));
    CHECK(lt_session_exec(s, "unload nothing", &sink, &err) == LT_ENOTFOUND);
    CHECK(lt_session_models(s, mi, 4) == 1 && !strcmp(mi[0].name, "stories") && mi[0].current);
    CHECK(exec_ok(s, "chat Tom", &sink));
    /* a second model becomes current; unloading it falls back to the first */
    CHECK(exec_ok(s, "load synthetic:tiny as t", &sink));
    CHECK(lt_session_models(s, mi, 4) == 2 && mi[1].current && !mi[0].current);
    CHECK(lt_session_exec(s, "chat hi", &sink, &err) == LT_EUNSUPPORTED && strstr(err.msg, "tokenizer"));
    CHECK(exec_ok(s, "bench -p 8 -n 4", &sink)); /* bench needs no tokenizer */
    CHECK(exec_ok(s, "models", &sink) && strstr(c.text, "synthetic"));
    CHECK(exec_ok(s, "unload t", &sink));
    CHECK(lt_session_models(s, mi, 4) == 1 && mi[0].current);
    CHECK(exec_ok(s, "unload", &sink) && lt_session_models(s, mi, 4) == 0);
    CHECK(lt_session_exec(s, "unload", &sink, &err) == LT_ENOTFOUND);
    CHECK(lt_session_exec(s, "load synthetic:nope", &sink, &err) == LT_ENOTFOUND && strstr(err.msg, "tiny"));
    lt_session_free(s);
}

/* ---- chat settings, use, stop markers, the context meter ----------------------------- */

static char g_stories[1024], g_tok[1024];

static void test_chat_features(void) {
    lt_session *s = new_session();
    collect c = {0};
    lt_sink sink = {.ud = &c, .text = on_text};
    lt_err err;
    char line[2400];
    CHECK(exec_ok(s, g_load, &sink));
    /* loading a name that is loaded says how to switch to it */
    CHECK(lt_session_exec(s, g_load, &sink, &err) == LT_EINVAL &&
          strstr(err.msg, "'stories' is already loaded - 'use stories' to switch to it, or add 'as OTHER'"));
    /* --ctx on load, else the ctx setting, else the model's */
    snprintf(line, sizeof line, "load \"%s\" as b --tokenizer \"%s\" --ctx 128", g_stories, g_tok);
    CHECK(exec_ok(s, line, &sink));
    CHECK(exec_ok(s, "set ctx 64", &sink));
    snprintf(line, sizeof line, "load \"%s\" as c --tokenizer \"%s\"", g_stories, g_tok);
    CHECK(exec_ok(s, line, &sink));
    snprintf(line, sizeof line, "load \"%s\" as d --ctx x", g_stories);
    CHECK(lt_session_exec(s, line, &sink, &err) == LT_EINVAL && strstr(err.msg, "--ctx"));
    CHECK(lt_session_exec(s, "set ctx -1", &sink, &err) == LT_EINVAL && strstr(err.msg, "set ctx"));
    lt_model_info mi[4];
    CHECK(lt_session_models(s, mi, 4) == 3 && mi[0].ctx == 512 && mi[1].ctx == 128 && mi[2].ctx == 64 && mi[2].current);
    CHECK(!strstr(c.text, "beyond")); /* within the trained context: no note */
    /* beyond the model's trained context (512): allowed, with a note */
    snprintf(line, sizeof line, "load \"%s\" as e --tokenizer \"%s\" --ctx 1024", g_stories, g_tok);
    CHECK(exec_ok(s, line, &sink));
    CHECKF(strstr(c.text, "note: ctx 1024 is beyond the model's trained context (512)"), "%s", c.text);
    CHECK(lt_session_models(s, mi, 4) == 4 && mi[3].ctx == 1024 && exec_ok(s, "unload e", &sink));
    CHECK(exec_ok(s, "use c", &sink));
    /* use: the chat goes to the model named */
    CHECK(exec_ok(s, "use stories", &sink) && strstr(c.text, "using 'stories'"));
    const char *name = NULL;
    CHECK(lt_session_llm(s, NULL, NULL, &name, &err) == LT_OK && !strcmp(name, "stories"));
    CHECK(lt_session_exec(s, "use nope", &sink, &err) == LT_ENOTFOUND && strstr(err.msg, "loaded: stories, b, c"));
    CHECK(exec_ok(s, "set temp 0", &sink) && exec_ok(s, "set max-tokens 5", &sink));
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "chat Once upon a time", &sink));
    const lt_result *r = lt_session_last(s);
    CHECK(r->has_stop && r->stop == LT_GEN_STOP_LENGTH && strstr(c.text, "[stopped: max-tokens 5]\n"));
    lt_metric_sample m;
    lt_session_sample(s, &m);
    CHECKF(m.ctx_used > 5 && m.ctx_max == 512, "ctx %d of %d", m.ctx_used, m.ctx_max);
    lt_conv *cb;
    int used = -1;
    CHECK(lt_session_llm(s, "b", &cb, NULL, &err) == LT_OK);
    lt_conv_ctx_usage(cb, &used, NULL);
    CHECK(used == 0); /* the turn went to stories, not to b */
    CHECK(exec_ok(s, "use b", &sink));
    lt_session_sample(s, &m);
    CHECK(m.ctx_used == 0 && m.ctx_max == 128);
    CHECK(exec_ok(s, "use stories", &sink) && exec_ok(s, "reset", &sink));
    lt_session_sample(s, &m);
    CHECK(m.ctx_used == 0 && m.ctx_max == 512);
    /* a full context ends the reply with a line that says so */
    CHECK(exec_ok(s, "use c", &sink) && exec_ok(s, "set max-tokens 500", &sink));
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "chat Once upon a time there was", &sink));
    CHECKF(lt_session_last(s)->stop == LT_GEN_STOP_CONTEXT && strstr(c.text, "[stopped: context full, 64 tokens]"),
           "stop %d: %s", (int)lt_session_last(s)->stop, c.text);
    lt_session_sample(s, &m);
    CHECK(m.ctx_max == 64 && m.ctx_used >= 63);
    CHECK(exec_ok(s, "unload c", &sink)); /* the last other language model becomes current */
    lt_session_sample(s, &m);
    CHECK(m.ctx_max == 128 && m.ctx_used == 0);
    /* a natural end of the story (BOS for llama2.c models): no line */
    CHECK(exec_ok(s, "use stories", &sink) && exec_ok(s, "reset", &sink));
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "chat Once upon a time", &sink));
    CHECKF(lt_session_last(s)->stop == LT_GEN_STOP_EOG && !strstr(c.text, "[stopped"), "stop %d: %s",
           (int)lt_session_last(s)->stop, c.text);
    /* stop sequences: the reply ends right before the first one, never showing it */
    CHECK(exec_ok(s, "set max-tokens 40", &sink));
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "generate Lily went to the", &sink));
    /* the prompt is echoed (user, then model text): the generated text follows the second copy */
    const char *echo = strstr(c.text, "Lily went to the");
    const char *gen = echo ? strstr(echo + 16, "Lily went to the") : NULL;
    CHECK(gen != NULL);
    gen = gen ? gen + 16 : "";
    char stop[8] = "";
    if (strlen(gen) > 30) memcpy(stop, gen + 20, 4); /* 4 bytes from inside the reply */
    const char *first = strstr(gen, stop);           /* where it first appears */
    size_t want = first ? (size_t)(first - gen) : 0;
    char expect[200];
    snprintf(expect, sizeof expect, "Lily went to the%.*s\n[stopped: stop sequence \"%s\"]", (int)want, gen, stop);
    snprintf(line, sizeof line, "set stop \"%s\" \"zzzz\"", stop);
    CHECK(stop[0] && exec_ok(s, line, &sink) && lt_session_settings(s)->n_stops == 2);
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "generate Lily went to the", &sink));
    r = lt_session_last(s);
    CHECKF(r->stop == LT_GEN_STOP_STRING && !strcmp(r->stop_text, stop) && !r->cancelled && strstr(c.text, expect),
           "stop '%s', want '%s' in '%s'", stop, expect, c.text);
    /* a chat reply cut by a stop sequence ends its turn: the next turn starts with the end-of-turn
     * token (BOS for a llama2.c model), not with the last sampled token (which held stop text) */
    {
        lt_conv *cc;
        CHECK(exec_ok(s, "reset", &sink) && exec_ok(s, "set stop e", &sink));
        CHECK(exec_ok(s, "chat Lily went to the", &sink) && lt_session_last(s)->stop == LT_GEN_STOP_STRING);
        CHECK(lt_session_llm(s, NULL, &cc, NULL, &err) == LT_OK);
        CHECKF(lt_conv_pending(cc) == lt_tok_bos(lt_conv_tok(cc)), "pending %d, want BOS %d", (int)lt_conv_pending(cc),
               (int)lt_tok_bos(lt_conv_tok(cc)));
        CHECK(exec_ok(s, "set max-tokens 3", &sink) && exec_ok(s, "set stop off", &sink));
        CHECK(exec_ok(s, "chat Tom", &sink) && lt_session_last(s)->stop == LT_GEN_STOP_LENGTH); /* it goes on */
        CHECK(exec_ok(s, "set stop e", &sink) && exec_ok(s, "set max-tokens 40", &sink) && exec_ok(s, "reset", &sink));
    }
    /* a stop sequence with a line break or a tab is listed with escapes, on one line */
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "set stop \"\n\" \"a\tb\"", &sink) && !strcmp(lt_session_settings(s)->stops[0], "\n"));
    CHECK(exec_ok(s, "set", &sink));
    CHECKF(strstr(c.text, "stop \"\\n\" \"a\\tb\"  ctx"), "%s", c.text);
    CHECK(exec_ok(s, "set stop off", &sink) && lt_session_settings(s)->n_stops == 0);
    CHECK(lt_session_exec(s, "set stop a b c d e", &sink, &err) == LT_EINVAL && strstr(err.msg, "at most 4"));
    CHECK(lt_session_exec(s, "set temp 0.5 0.6", &sink, &err) == LT_EINVAL && strstr(err.msg, "one value"));
    /* repetition penalty reaches the sampler */
    CHECK(exec_ok(s, "set repeat-penalty 1.3", &sink) && exec_ok(s, "set repeat-last-n 32", &sink));
    lt_sampler_params sp = lt_session_sampler_params(s);
    CHECK(sp.repeat_penalty == 1.3f && sp.repeat_last_n == 32);
    CHECK(lt_session_exec(s, "set repeat-penalty 0", &sink, &err) == LT_EINVAL && strstr(err.msg, "[0.1, 10]"));
    /* the system prompt: the rest of the line as typed; a started conversation starts over */
    CHECK(exec_ok(s, "chat Tom", &sink));
    lt_conv *cs;
    CHECK(lt_session_llm(s, "stories", &cs, NULL, &err) == LT_OK && !lt_conv_chat_fresh(cs));
    c.n = 0, c.text[0] = 0;
    CHECK(exec_ok(s, "set system Don't say \"hi  ", &sink));
    CHECK(!strcmp(lt_session_settings(s)->system, "Don't say \"hi") && lt_conv_chat_fresh(cs));
    CHECK(strstr(c.text, "conversation with 'stories' cleared") && strstr(c.text, "system Don't say"));
    CHECK(exec_ok(s, "set", &sink) && strstr(c.text, "repeat-penalty 1.3") && strstr(c.text, "stop off"));
    CHECK(exec_ok(s, "set max-tokens 3", &sink) && exec_ok(s, "chat Tom", &sink)); /* no template: plain text */
    CHECK(exec_ok(s, "set system off", &sink) && !lt_session_settings(s)->system[0]);
    CHECK(lt_session_exec(s, "set system", &sink, &err) == LT_EINVAL);
    CHECK(strstr(lt_settings_keys(), "system") && strstr(lt_settings_keys(), "stop") &&
          strstr(lt_settings_keys(), "repeat-penalty") && strstr(lt_settings_keys(), "ctx"));
    lt_session_free(s);
}

/* ---- cancellation from another thread ------------------------------------------- */

typedef struct job {
    lt_session *s;
    lt_sink *sink;
    lt_status st;
    double seconds;
} job;

static void *run_chat(void *ud) {
    job *j = ud;
    lt_err err;
    double t0 = lt_now();
    j->st = lt_session_exec(j->s, "chat Once upon a time there was a very long story", j->sink, &err);
    j->seconds = lt_now() - t0;
    return NULL;
}

static void test_cancel(void) {
    lt_session *s = new_session();
    collect c = {0};
    lt_sink sink = {.ud = &c, .text = on_text};
    char line[1200];
    snprintf(line, sizeof line, "load synthetic:small as big --tokenizer %s", lt_test_path("assets/models/tok512.bin"));
    CHECK(exec_ok(s, line, &sink));
    CHECK(exec_ok(s, "set max-tokens 4000", &sink));
    job j = {s, &sink, LT_EINVAL, 0};
    pthread_t th;
    pthread_create(&th, NULL, run_chat, &j);
    double t0 = lt_now();
    while (atomic_load(&c.model_chunks) < 20 && lt_now() - t0 < 30) usleep(2000);
    usleep(200000);
    lt_metric_sample m;
    lt_session_sample(s, &m);
    CHECKF(m.decode_tps > 0, "live decode rate while generating: %g", m.decode_tps);
    lt_session_cancel(s);
    pthread_join(th, NULL);
    const lt_result *r = lt_session_last(s);
    CHECK(j.st == LT_OK && r->cancelled && r->n_tokens >= 20 && r->n_tokens < 4000);
    CHECK(strstr(c.text, "[cancelled after") != NULL);
    /* the session still answers, and the conversation keeps the partial reply */
    CHECK(exec_ok(s, "set max-tokens 5", &sink) && exec_ok(s, "chat and then", &sink));
    CHECK(!lt_session_last(s)->cancelled && lt_session_last(s)->n_tokens == 5);
    lt_session_sample(s, &m); /* the short job's rate shows in the next sample, then idle is 0 */
    CHECK(m.decode_tps > 0);
    lt_session_sample(s, &m);
    CHECK(m.decode_tps == 0);
    lt_session_free(s);
}

/* ---- load progress: per tensor, monotone; Esc during a load keeps the previous state ------------ */

typedef struct load_watch {
    lt_session *s;
    int calls, mid; /* calls, calls strictly inside (0.2, 0.8) */
    double last;
    bool monotone, cancel_at_half;
} load_watch;

static void watch_progress(void *ud, const char *what, double f) {
    load_watch *w = ud;
    if (strcmp(what, "load")) return;
    if (f < w->last) w->monotone = false;
    w->last = f;
    w->calls++;
    if (f > 0.2 && f < 0.8) w->mid++;
    if (w->cancel_at_half && f > 0.5) lt_session_cancel(w->s);
}

static void test_load_progress(void) {
    lt_session *s = new_session();
    load_watch w = {.s = s, .monotone = true};
    lt_sink sink = {.ud = &w, .progress = watch_progress};
    CHECK(exec_ok(s, "load synthetic:small as a", &sink));
    CHECKF(w.mid >= 20 && w.monotone && w.last == 1.0, "%d progress calls inside the upload, monotone %d", w.mid,
           w.monotone);
    w = (load_watch){.s = s, .monotone = true, .cancel_at_half = true};
    CHECK(exec_ok(s, "load synthetic:small as b", &sink));
    CHECK(lt_session_last(s)->cancelled && w.last < 0.8);
    lt_model_info mi[4];
    CHECK(lt_session_models(s, mi, 4) == 1 && !strcmp(mi[0].name, "a") && mi[0].current);
    lt_session_free(s);
}

/* ---- memory returns to the baseline ---------------------------------------------- */

static void test_memory(void) {
    lt_session *s = new_session();
    lt_sink sink = {0};
    size_t base = lt_mem_used();
    for (int round = 0; round < 2; round++) {
        CHECK(exec_ok(s, g_load, &sink));
        CHECK(lt_mem_used() > base);
        CHECK(exec_ok(s, "set max-tokens 20", &sink) && exec_ok(s, "chat Once upon a time", &sink));
        CHECK(exec_ok(s, "bench -p 16 -n 8", &sink));
        lt_lm *lm;
        lt_err err;
        CHECK(lt_session_get_lm(s, "stories", &lm, NULL, NULL, &err) == LT_OK);
        CHECK(lt_backend_mem_used(lt_lm_backend(lm), LT_MEM_WEIGHTS) > 0);
        CHECK(exec_ok(s, "unload stories", &sink));
        CHECKF(lt_mem_used() == base, "round %d: %zu bytes still allocated after unload (baseline %zu)", round,
               lt_mem_used(), base);
    }
    lt_session_free(s);
}

/* The metrics ring keeps the newest samples and selects by age. */
static void test_metrics_ring(void) {
    lt_metrics *m;
    lt_err err;
    CHECK(lt_metrics_create(&m, 4, &err) == LT_OK);
    lt_metric_sample s, out[8];
    CHECK(!lt_metrics_latest(m, &s) && lt_metrics_since(m, 100, out, 8) == 0);
    double now = lt_now();
    for (int i = 0; i < 6; i++) { /* ages 50, 40, ..., 0 seconds; only the last 4 stay */
        lt_metric_sample x = {.t = now - 50 + 10 * i, .decode_tps = i};
        lt_metrics_push(m, &x);
    }
    CHECK(lt_metrics_latest(m, &s) && s.decode_tps == 5);
    int n = lt_metrics_since(m, 100, out, 8);
    CHECK(n == 4 && out[0].decode_tps == 2 && out[3].decode_tps == 5);
    n = lt_metrics_since(m, 15, out, 8); /* ages 10 and 0 */
    CHECK(n == 2 && out[0].decode_tps == 4 && out[1].decode_tps == 5);
    CHECK(lt_metrics_since(m, 100, out, 1) == 1 && out[0].decode_tps == 5); /* cap keeps the newest */
    lt_metrics_free(m);
    lt_metrics_free(NULL);
}

int main(void) {
    test_metrics_ring();
    snprintf(g_load, sizeof g_load, "load \"%s\" as stories --tokenizer \"%s\"",
             lt_test_path("assets/models/stories260K.bin"), lt_test_path("assets/models/tok512.bin"));
    snprintf(g_stories, sizeof g_stories, "%s", lt_test_path("assets/models/stories260K.bin"));
    snprintf(g_tok, sizeof g_tok, "%s", lt_test_path("assets/models/tok512.bin"));
    test_basics();
    test_chat_features();
    test_cancel();
    test_load_progress();
    test_memory();
    return lt_test_done();
}
