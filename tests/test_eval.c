/* test_eval.c - the workbench's `eval ppl` (core/cmd/eval.c) in a headless session on the
 * bundled stories260K: it reports what lt_ppl_eval computes on the model's own cache (the
 * same report, digest and scored-token count), progress reaches the sink as "ppl" and ends at
 * 1, Esc (lt_session_cancel from the progress sink) stops it as a cancelled command whose
 * replay (the recorded token count) reproduces its digest, --kld against a loaded model by
 * name (itself: 0 and 100%) or a file, and bad input is a clear error that runs nothing. */
#include <string.h>

#include "core/app/session.h"
#include "core/base/alloc.h"
#include "core/cmd/cmds.h"
#include "core/llm/ppl.h"
#include "models/llama.h"
#include "testutil.h"

typedef struct watch {
    lt_session *s;
    char text[16384];
    size_t n;
    int calls;
    double last;
    bool monotone, cancel;
} watch;

static void on_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    watch *w = ud;
    if (w->n + n < sizeof w->text) {
        memcpy(w->text + w->n, s, n);
        w->n += n;
        w->text[w->n] = 0;
    }
}

static void on_progress(void *ud, const char *what, double f) {
    watch *w = ud;
    if (strcmp(what, "ppl")) return;
    if (f < w->last) w->monotone = false;
    w->last = f;
    w->calls++;
    if (w->cancel && f > 0.3) lt_session_cancel(w->s);
}

static lt_status run(lt_session *s, watch *w, const char *fmt, const char *arg, lt_err *err) {
    char line[4096];
    snprintf(line, sizeof line, fmt, arg);
    w->n = 0, w->text[0] = 0, w->calls = 0, w->last = 0, w->monotone = true;
    lt_sink sink = {.ud = w, .text = on_text, .progress = on_progress};
    return lt_session_exec(s, line, &sink, err);
}

int main(void) {
    lt_session_opts so = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset,
                          .threads = 2, .device = "cpu"};
    lt_session *s;
    lt_err err;
    LT_ASSERT(lt_session_create(&s, &so, &err) == LT_OK);
    char text[1024], line[4096];
    snprintf(text, sizeof text, "%s", lt_test_path("assets/text/tinyshakespeare-head.txt"));
    watch w = {.s = s};

    /* no model yet */
    CHECK(run(s, &w, "eval ppl -f %s", text, &err) != LT_OK && strstr(err.msg, "no model loaded"));
    snprintf(line, sizeof line, "load \"%s\" as stories --tokenizer \"%s\"", lt_test_path("assets/models/stories260K.bin"),
             lt_test_path("assets/models/tok512.bin"));
    LT_ASSERT(lt_session_exec(s, line, NULL, &err) == LT_OK);

    /* the report is lt_ppl_eval's on the model's own cache */
    CHECKF(run(s, &w, "eval ppl -f %s --ctx 64 --chunks 6 --batch 128", text, &err) == LT_OK, "%s", err.msg);
    const lt_result *r = lt_session_last(s);
    lt_lm *lm;
    lt_tokenizer *tok;
    lt_kv_cache *kv;
    LT_ASSERT(lt_session_get_lm(s, NULL, &lm, &tok, &kv, &err) == LT_OK);
    int32_t *ids;
    int64_t n;
    LT_ASSERT(lt_ppl_tokenize_file(tok, text, &ids, &n, &err) == LT_OK);
    lt_ppl_opts po = {.ctx = 64, .n_chunks = 6, .batch = 128, .bos = lt_ppl_bos(tok)};
    lt_ppl_result pr;
    CHECK(lt_ppl_eval(lm, kv, ids, n, &po, &pr, &err) == LT_OK);
    char report[1024];
    lt_ppl_format(&pr, report, sizeof report);
    char *cut = strstr(report, "\n"); /* the first line (the times differ) */
    if (cut) cut[1] = 0;
    CHECKF(strstr(w.text, report) && strstr(w.text, "perplexity of 'stories'") && strstr(w.text, "6 chunks of 64 tokens"),
           "report:\n%s\nwant:\n%s", w.text, report);
    CHECK(!strcmp(r->cmd, "eval") && r->has_digest && r->digest == lt_ppl_digest(&pr) && r->n_tokens == 6 * 31 &&
          !r->cancelled);
    CHECKF(w.calls >= 3 && w.monotone && w.last == 1.0, "%d progress calls, last %g", w.calls, w.last);
    CHECK(lt_kv_blocks_used(kv) == 0);
    uint64_t six = r->digest;

    /* --all-tokens scores every position after the first */
    CHECK(run(s, &w, "eval ppl -f %s --ctx 64 --chunks 2 --all-tokens", text, &err) == LT_OK &&
          lt_session_last(s)->n_tokens == 2 * 63 && strstr(w.text, "every token scored"));

    /* Esc: a cancelled command with the chunks done; its replay reproduces the digest */
    w.cancel = true;
    CHECKF(run(s, &w, "eval ppl -f %s --ctx 64 --batch 32", text, &err) == LT_OK, "%s", err.msg);
    w.cancel = false;
    r = lt_session_last(s);
    int done = r->n_tokens / 31;
    CHECKF(r->cancelled && done > 0 && done < (int)(n / 64) && r->n_tokens % 31 == 0 &&
               strstr(w.text, "[eval ppl cancelled after") && strstr(w.text, "Final estimate"),
           "cancelled %d, %d tokens: %s", r->cancelled, r->n_tokens, w.text);
    uint64_t dg = r->digest;
    int nt = r->n_tokens;
    CHECK(lt_kv_blocks_used(kv) == 0);
    lt_session_set_token_limit(s, nt);
    CHECK(run(s, &w, "eval ppl -f %s --ctx 64 --batch 32", text, &err) == LT_OK);
    r = lt_session_last(s);
    CHECKF(r->cancelled && r->digest == dg && r->n_tokens == nt, "replay: %d tokens, digest %s", r->n_tokens,
           r->digest == dg ? "same" : "differs");
    CHECK(run(s, &w, "eval ppl -f %s --ctx 64 --chunks 6 --batch 128", text, &err) == LT_OK &&
          lt_session_last(s)->digest == six); /* the same line, the same digest */

    /* --kld: the current model by name (itself), another loaded model, a file */
    CHECK(run(s, &w, "eval ppl -f %s --ctx 64 --chunks 4 --kld stories", text, &err) == LT_OK &&
          strstr(w.text, "Mean KLD: 0.000000 +/- 0.000000, same top-1: 100.000"));
    snprintf(line, sizeof line, "eval ppl -f %s --ctx 64 --chunks 4 --kld %%s", text);
    CHECKF(run(s, &w, line, lt_test_path("assets/models/llama2xs_model.bin"), &err) == LT_OK && strstr(w.text, "Mean KLD: "),
           "%s", err.msg);
    CHECK(!strstr(w.text, "Mean KLD: 0.000000"));
    CHECK(lt_kv_blocks_used(kv) == 0);

    /* bad input: clear errors */
    CHECK(run(s, &w, "eval ppl -f %s", "/nonexistent/text.txt", &err) == LT_EIO &&
          strstr(err.msg, "eval ppl: /nonexistent/text.txt: cannot open"));
    CHECK(run(s, &w, "eval ppl%s", "", &err) == LT_EINVAL && strstr(err.msg, "-f TEXT is required"));
    CHECK(run(s, &w, "eval bleu -f %s", text, &err) == LT_EINVAL && strstr(err.msg, "unknown evaluation 'bleu'"));
    CHECK(run(s, &w, "eval ppl -f %s --ctx 63", text, &err) == LT_EINVAL && strstr(err.msg, "even and at least 4"));
    CHECK(run(s, &w, "eval ppl -f %s --ctx 1024", text, &err) == LT_ERANGE && strstr(err.msg, "model's context (512"));
    CHECK(run(s, &w, "eval ppl -f %s --ctx 512 --chunks 3 --kld synthetic:tiny", text, &err) == LT_EINVAL &&
          strstr(err.msg, "vocabulary of 320 tokens, the model 512"));
    CHECK(lt_kv_blocks_used(kv) == 0);

    lt_free(ids);
    lt_session_free(s);
    return lt_test_done();
}
