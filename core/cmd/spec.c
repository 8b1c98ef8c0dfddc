/* spec.c - `spec [off|ngram|draft MODEL|triforce] [--gamma N] [--adaptive] [--budget N]
 * [--chunk N] [--gamma-bottom N] [--window N] [--draft MODEL]`: speculative decoding of the
 * current model's chat and generate (core/llm/spec.h); without arguments it reports the state,
 * acceptance and speedup over the last plain decode.
 * Leaves out: the decoding (core/llm/spec_run.c: one request of the engine, core/llm/engine.c),
 * where the decoder lives (core/llm/conv.c).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static void spec_status(const char *name, const lt_conv_stats *cs, lt_sink *sink) {
    if (!cs->spec_on) {
        lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': off\n", name);
        return;
    }
    lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': %s\n", name, cs->spec_desc);
    const lt_spec_stats *t = &cs->spec;
    if (t->n_levels == 0) {
        lt_sink_printf(sink, LT_TEXT_INFO, "  no speculative run yet\n");
        return;
    }
    for (int l = 0; l < t->n_levels && l < 2; l++)
        lt_sink_printf(sink, LT_TEXT_INFO, "  %s: acceptance %.1f%% (%lld of %lld drafts), mean accepted length %.2f\n",
                       l == 0 ? "target" : "bottom", 100 * t->level[l].accept_rate, (long long)t->level[l].accepted,
                       (long long)t->level[l].drafted, t->level[l].mean_len);
    if (cs->plain_tps > 0 && cs->spec_tps > 0)
        lt_sink_printf(sink, LT_TEXT_INFO, "  decode %.1f tok/s, plain %.1f tok/s: speedup %.2fx\n", cs->spec_tps,
                       cs->plain_tps, cs->spec_tps / cs->plain_tps);
    else
        lt_sink_printf(sink, LT_TEXT_INFO, "  decode %.1f tok/s, speedup - (no plain decoding measured: 'bench')\n",
                       cs->spec_tps);
}

#define SPEC_USAGE                                                                                              \
    "spec [off|ngram|draft MODEL|triforce] [--gamma N] [--adaptive] [--budget N] [--chunk N] [--gamma-bottom N] " \
    "[--window N] [--draft MODEL]"

static lt_status cmd_spec(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_conv *c;
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
    lt_conv_stats cs;
    lt_conv_stats_get(c, &cs);
    if (a->argc == 1) {
        spec_status(name, &cs, sink);
        lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, cs.spec_desc, cs.spec_on ? strlen(cs.spec_desc) : 0));
        return LT_OK;
    }
    /* MODE [MODEL] and the options, parsed by the table `lathe generate` uses too */
    lt_spec_params p = lt_spec_defaults(LT_SPEC_OFF);
    const char *model = NULL;
    lt_opt opts[LT_SPEC_N_OPTS + 2] = {{"--draft", NULL, LT_OPT_STR, &model, "draft model (a file or synthetic:PRESET)"}};
    lt_spec_opts_add(&p, opts, LT_SPEC_N_OPTS + 2);
    const char *pos[2];
    int n_pos;
    LT_TRY(lt_args_parse(a, "spec", SPEC_USAGE, opts, pos, 2, &n_pos, err));
    lt_spec_kind kind;
    if (n_pos == 0) return lt_err_set(err, LT_EINVAL, "usage: %s", SPEC_USAGE);
    if (!strcmp(pos[0], "draft")) {
        kind = LT_SPEC_DRAFT;
        if (n_pos > 1) model = pos[1];
    } else {
        const char *m = NULL;
        LT_TRY(lt_spec_parse(pos[0], &kind, &m, err));
        if (m) model = m;
        if (n_pos > 1) return lt_err_set(err, LT_EINVAL, "spec: unexpected '%s'; usage: %s", pos[1], SPEC_USAGE);
    }
    lt_spec_params d = lt_spec_defaults(kind);
    bool has_triforce_opts = p.budget || p.chunk || p.gamma_bottom || p.window;
    d.gamma = p.gamma, d.adaptive = p.adaptive, d.budget = p.budget, d.chunk = p.chunk;
    d.gamma_bottom = p.gamma_bottom, d.window = p.window;
    p = d;
    if (kind != LT_SPEC_TRIFORCE && has_triforce_opts)
        return lt_err_set(err, LT_EINVAL, "spec: --budget, --chunk, --gamma-bottom and --window apply to triforce only");
    if (kind == LT_SPEC_OFF && (p.gamma || p.adaptive || model)) return lt_err_set(err, LT_EINVAL, "spec off takes no options");
    if (kind == LT_SPEC_NGRAM && model) return lt_err_set(err, LT_EINVAL, "spec ngram takes no model");
    if (kind == LT_SPEC_DRAFT && !model)
        return lt_err_set(err, LT_EINVAL, "spec draft needs a model: spec draft PATH [--gamma N]");
    if (kind == LT_SPEC_OFF) {
        lt_conv_spec_off(c);
        lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s' off\n", name);
        lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, "off", 3));
        return LT_OK;
    }
    if (model) {
        lt_sink_progress(sink, "load", 0.1);
        lt_status r = lt_cmd_open_lm(s, model, lt_conv_backend(c), NULL, &p.draft, NULL, err);
        lt_sink_progress(sink, "load", 1.0);
        if (r != LT_OK) return lt_err_prefix(err, "spec: draft model %s", model);
    }
    int chunk = p.chunk ? p.chunk : lt_kv_block_size(lt_conv_kv(c));
    bool new_cache;
    lt_status r = lt_conv_set_spec(c, &p, &new_cache, err); /* owns p.draft from here */
    if (r != LT_OK) return err->msg[0] && strncmp(err->msg, "spec", 4) ? lt_err_prefix(err, "spec") : r;
    const lt_spec_params *q = lt_conv_spec_params(c);
    char desc[160], base[64];
    int n = snprintf(desc, sizeof desc, "%s", lt_spec_kind_name(kind));
    if (model) n += snprintf(desc + n, sizeof desc - (size_t)n, " %s", lt_cmd_base_name(model, base, sizeof base));
    if (kind == LT_SPEC_TRIFORCE)
        snprintf(desc + n, sizeof desc - (size_t)n, " (budget %d, chunk %d, gamma %d%s)", q->budget, chunk,
                 q->gamma ? q->gamma : 6, q->adaptive ? ", adaptive" : "");
    else
        snprintf(desc + n, sizeof desc - (size_t)n, " (gamma %d%s)", q->gamma ? q->gamma : 4,
                 q->adaptive ? ", adaptive" : "");
    lt_conv_spec_describe(c, desc);
    lt_sink_printf(sink, LT_TEXT_INFO, "speculative decoding of '%s': %s%s\n", name, desc,
                   new_cache ? " - new KV cache for TriForce, conversation cleared" : "");
    lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, desc, strlen(desc)));
    return LT_OK;
}

static const lt_cmd_arg k_spec_args[] = {{"MODE", "off, ngram, draft MODEL, triforce"}, {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"spec", NULL, SPEC_USAGE, "speculative decoding of chat/generate (no arguments: state and acceptance)", 0, 20,
     k_spec_args, true, cmd_spec},
    {NULL},
};

const lt_cmd_table lt_cmd_spec_table = {"spec", k_cmds};
