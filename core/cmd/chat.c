/* chat.c - the text commands: `chat TEXT` (a turn of the current model's conversation; plain
 * input lines do this; the `system` setting opens a conversation), `generate [-n N] TEXT` (a
 * one-off continuation on its own sequence), `reset` (clear the conversation). Text streams to
 * the sink as it is decoded, cut before a stop sequence (`set stop`); the panes get live rates;
 * a line says why a reply stopped unless the model ended its turn; the result digest is the
 * generated token ids.
 * Leaves out: decoding itself (core/llm/conv.c and below).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/app/commands.h"
#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/llm/ratemeter.h"
#include "core/llm/stopstr.h"

/* Streams text to the sink through the stop-sequence matcher and reports rates as tokens
 * arrive (over whole decode steps: core/llm/ratemeter.h). */
typedef struct gen_ctx {
    lt_session *s;
    lt_sink *sink;
    double t_start, t_last_rate;
    int n_prompt, n;
    bool tint; /* send accepted drafts as LT_TEXT_MODEL_DRAFT */
    lt_ratemeter rate;
    lt_stopstr stop;
} gen_ctx;

static void emit(gen_ctx *g, lt_text_kind kind, const char *text, size_t len) {
    if (len && g->sink && g->sink->text) g->sink->text(g->sink->ud, kind, text, len);
}

static bool on_text(void *ud, int32_t id, const char *text, size_t len, bool drafted) {
    gen_ctx *g = ud;
    double now = lt_now();
    if (id >= 0) {
        if (g->n == 0)
            lt_session_report_rates(g->s, g->n_prompt / (now - g->t_start > 1e-9 ? now - g->t_start : 1e-9), -1, -1);
        g->n++;
        lt_ratemeter_token(&g->rate, now, !drafted); /* a draft is followed by its step's own token */
        double r = lt_ratemeter_rate(&g->rate, 0.1);
        if (r > 0 && now - g->t_last_rate > 0.1) {
            lt_session_report_rates(g->s, -1, r, -1);
            g->t_last_rate = now;
        }
    }
    lt_text_kind kind = drafted && g->tint ? LT_TEXT_MODEL_DRAFT : LT_TEXT_MODEL;
    char out[256 + LT_STOPSTR_LEN];
    while (len > 0 && g->stop.hit < 0) {
        size_t k = len < 256 ? len : 256;
        emit(g, kind, out, lt_stopstr_feed(&g->stop, text, k, out));
        text += k, len -= k;
    }
    return g->stop.hit < 0 && !lt_session_cancelled(g->s);
}

/* Runs a generation of the settings' length (or a replay's exact length) on seq, with the
 * settings' stop sequences, and records the result and why it ended for the journal. */
static lt_status run(lt_session *s, lt_conv *c, int seq, int32_t *ids, int n, bool use_pending, int max_tokens,
                     lt_sink *sink, lt_err *err) {
    LT_TRY(lt_conv_check_room(c, seq, n, use_pending, err));
    const lt_settings *set = lt_session_settings(s);
    lt_sampler_params sp = lt_session_sampler_params(s);
    int limit = lt_session_token_limit(s); /* replay of a cancelled command: exactly that many tokens */
    lt_gen_params gp = lt_conv_gen_params(c, sp, limit >= 0 ? limit : max_tokens);
    gen_ctx g = {.s = s, .sink = sink, .t_start = lt_now(), .n_prompt = n};
    g.tint = set->tint && sink && sink->tint;
    g.t_last_rate = g.t_start;
    lt_ratemeter_init(&g.rate);
    const char *stops[LT_SETTINGS_MAX_STOPS];
    for (int i = 0; i < set->n_stops; i++) stops[i] = set->stops[i];
    lt_stopstr_init(&g.stop, stops, limit >= 0 ? 0 : set->n_stops); /* a replay makes exactly its tokens */
    lt_conv_run_result r;
    lt_status st = lt_conv_run(c, seq, ids, n, use_pending, &gp, on_text, &g, &r, err);
    double last = lt_ratemeter_rate(&g.rate, 0);
    lt_session_report_rates(s, -1, 0, last > 0 ? last : -1);
    char held[LT_STOPSTR_LEN]; /* the text held back for a stop sequence, also when the run failed */
    emit(&g, LT_TEXT_MODEL, held, lt_stopstr_flush(&g.stop, held));
    if (st != LT_OK) {
        if (g.n > 0) lt_sink_printf(sink, LT_TEXT_MODEL, "\n"); /* the error goes on a line of its own */
        return st;
    }
    lt_result *res = lt_session_result(s);
    res->has_digest = true;
    res->digest = r.digest;
    res->n_tokens = r.st.n_gen;
    res->seed = sp.seed;
    res->has_stop = true;
    res->stop = r.st.stop;
    if (g.stop.hit >= 0) {
        res->stop = LT_GEN_STOP_STRING;
        snprintf(res->stop_text, sizeof res->stop_text, "%s", lt_stopstr_hit(&g.stop));
        if (use_pending) lt_conv_end_turn(c); /* close the chat turn: the next one sees end-of-turn */
    }
    res->cancelled = res->stop == LT_GEN_STOP_CANCEL;
    lt_sink_printf(sink, LT_TEXT_MODEL, "\n");
    switch (res->stop) {
    case LT_GEN_STOP_CANCEL: lt_sink_printf(sink, LT_TEXT_INFO, "[cancelled after %d tokens]\n", r.st.n_gen); break;
    case LT_GEN_STOP_LENGTH:
        if (limit < 0) lt_sink_printf(sink, LT_TEXT_INFO, "[stopped: max-tokens %d]\n", gp.n_predict);
        break;
    case LT_GEN_STOP_STRING: {
        char e[LT_CMD_ESCAPED_CAP(sizeof res->stop_text)]; /* a line break shows as \n */
        lt_cmd_escape(res->stop_text, e, sizeof e);
        lt_sink_printf(sink, LT_TEXT_INFO, "[stopped: stop sequence \"%s\"]\n", e);
        break;
    }
    case LT_GEN_STOP_CONTEXT:
        lt_sink_printf(sink, LT_TEXT_INFO, "[stopped: context full, %d tokens]\n", lt_kv_max_ctx(lt_conv_kv(c)));
        break;
    case LT_GEN_STOP_EOG: break; /* the model ended its turn */
    }
    return LT_OK;
}

static lt_status current(lt_session *s, lt_conv **c, lt_err *err) {
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, c, &name, err));
    if (!lt_conv_tok(*c))
        return lt_err_set(err, LT_EUNSUPPORTED, "'%s' has no tokenizer - load it with --tokenizer FILE", name);
    return LT_OK;
}

static lt_status cmd_chat(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_conv *c;
    LT_TRY(current(s, &c, err));
    const char *text = a->rest;
    int32_t *ids;
    int n;
    LT_TRY(lt_conv_encode(c, lt_session_settings(s)->system, text, lt_conv_chat_fresh(c), true,
                          lt_session_settings(s)->parse_special, &ids, &n, err));
    lt_sink_printf(sink, LT_TEXT_USER, "%s\n", text);
    lt_status r = run(s, c, lt_conv_chat_seq(c), ids, n, true, lt_session_settings(s)->max_tokens, sink, err);
    lt_free(ids);
    return r;
}

static lt_status cmd_generate(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_conv *c;
    LT_TRY(current(s, &c, err));
    const char *text = a->rest; /* verbatim: "[-n N] TEXT" */
    int max_tokens = lt_session_settings(s)->max_tokens;
    if (!strncmp(text, "-n", 2) && (text[2] == ' ' || text[2] == '\t' || !text[2])) {
        const char *v = text + 2 + strspn(text + 2, " \t");
        size_t vl = strcspn(v, " \t");
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)(vl < 31 ? vl : 31), v);
        if (!vl) return lt_err_set(err, LT_EINVAL, "generate: -n needs a value; usage: generate [-n N] TEXT");
        lt_opt o; /* max-tokens' range: `generate -n` takes what `set max-tokens` takes */
        lt_settings_opt("max-tokens", "-n", NULL, &max_tokens, "tokens to generate", &o);
        LT_TRY(lt_opts_value("generate", &o, num, err));
        text = v + vl + strspn(v + vl, " \t");
        if (!*text) return lt_err_set(err, LT_EINVAL, "usage: generate [-n N] TEXT");
    }
    int32_t *ids = NULL;
    int n = 0, seq = -1;
    lt_kv_cache *kv = lt_conv_kv(c);
    lt_status r = lt_conv_encode(c, NULL, text, true, false, lt_session_settings(s)->parse_special, &ids, &n, err);
    if (r == LT_OK) r = lt_kv_seq_new(kv, &seq, err);
    if (r == LT_OK) {
        lt_sink_printf(sink, LT_TEXT_USER, "%s\n", text);
        lt_sink_printf(sink, LT_TEXT_MODEL, "%s", text);
        r = run(s, c, seq, ids, n, false, max_tokens, sink, err);
        lt_kv_seq_free(kv, seq);
    }
    lt_free(ids);
    return r;
}

static lt_status cmd_reset(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_conv *c;
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
    lt_conv_reset(c);
    lt_sink_printf(sink, LT_TEXT_INFO, "conversation with '%s' cleared\n", name);
    return LT_OK;
}

static const lt_cmd_arg k_text_args[] = {{"TEXT", "the prompt"}, {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"chat", "c", "chat TEXT", "send TEXT in the conversation (plain input does this)", 1, -1, k_text_args, true,
     cmd_chat, .text = true},
    {"reset", NULL, "reset", "clear the conversation of the current model", 0, 0, NULL, true, cmd_reset},
    {"generate", "gen", "generate [-n N] TEXT", "one-off continuation of TEXT (conversation untouched)", 1, -1,
     k_text_args, true, cmd_generate, .text = true},
    {NULL},
};

const lt_cmd_table lt_cmd_chat_table = {"chat", k_cmds};
