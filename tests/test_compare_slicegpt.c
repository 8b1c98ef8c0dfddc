/* test_compare_slicegpt.c - issue #18's "appear in the report pane": in a headless workbench
 * session (the command language, core/cmd/compress.c and eval.c) the bundled stories260K is
 * sliced (`compress NAME slicegpt --round 32 ... as sl`), the sliced model quantized to q8_0,
 * shortcut matrices included (`compress sl rtn --bits 8 --sym ... as sl8`; norms stay f32, hence
 * ~10 bits per weight on this tiny model), and `compare` puts all three side by side: the sliced rows have their own size and
 * bits per weight (the sliced parameter count, not the original's), perplexity, a KLD against the
 * original above 0 with top-1 below 100%, prefill and decode speed; the report is what the
 * workbench's report pane draws (lt_session_creport) and the transcript's table names them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/session.h"
#include "core/cmd/cmds.h"
#include "core/compress/report.h"
#include "models/llama.h"
#include "testutil.h"

typedef struct text_buf {
    char text[16384];
    size_t n;
} text_buf;

static void on_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)k;
    text_buf *t = ud;
    if (t->n + n < sizeof t->text) {
        memcpy(t->text + t->n, s, n);
        t->n += n;
        t->text[t->n] = 0;
    }
}

static lt_status run(lt_session *s, text_buf *t, const char *line, lt_err *err) {
    t->n = 0, t->text[0] = 0;
    lt_sink sink = {.ud = t, .text = on_text};
    return lt_session_exec(s, line, &sink, err);
}

int main(void) {
    lt_session_opts so = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset,
                          .threads = 2, .device = "cpu"};
    lt_session *s;
    lt_err err = {0};
    LT_ASSERT(lt_session_create(&s, &so, &err) == LT_OK);
    const char *dir = lt_test_tmpdir("compare_slicegpt");
    char text[1024], line[8192];
    snprintf(text, sizeof text, "%s", lt_test_path("assets/text/tinyshakespeare-head.txt"));
    text_buf t = {0};
    snprintf(line, sizeof line, "load \"%s\" as stories --tokenizer \"%s\"", lt_test_path("assets/models/stories260K.bin"),
             lt_test_path("assets/models/tok512.bin"));
    LT_ASSERT(lt_session_exec(s, line, NULL, &err) == LT_OK);
    snprintf(line, sizeof line, "compress stories slicegpt --slice 0.25 --round 32 --calib \"%s\" --calib-tokens 2048 --out %s/sl.gguf as sl",
             text, dir);
    CHECKF(run(s, &t, line, &err) == LT_OK, "%s", err.msg);
    CHECKF(strstr(t.text, "slicegpt: residual width 32") && strstr(t.text, "loaded 'sl'"), "%s", t.text);
    snprintf(line, sizeof line, "compress sl rtn --bits 8 --sym --out %s/sl8.gguf as sl8", dir);
    CHECKF(run(s, &t, line, &err) == LT_OK, "%s", err.msg);
    snprintf(line, sizeof line, "compare stories sl sl8 -f \"%s\" --ctx 64 --chunks 4 -p 16 -n 8", text);
    CHECKF(run(s, &t, line, &err) == LT_OK, "%s", err.msg);
    lt_creport r;
    CHECK(lt_session_creport(s, &r));
    CHECK(r.n == 3 && r.n_chunks == 4 && r.ctx == 64);
    if (r.n == 3) {
        lt_lm *lm[3];
        lt_tokenizer *tok;
        lt_kv_cache *kv;
        const char *names[3] = {"stories", "sl", "sl8"};
        for (int i = 0; i < 3; i++) LT_ASSERT(lt_session_get_lm(s, names[i], &lm[i], &tok, &kv, &err) == LT_OK);
        CHECK(!lm[0]->slice_widths && lm[1]->slice_widths && lm[2]->slice_widths);
        CHECKF(r.rows[1].n_weights == lm[1]->n_params && r.rows[1].n_weights != r.rows[0].n_weights,
               "sliced: %llu weights counted, %llu loaded, original %llu", (unsigned long long)r.rows[1].n_weights,
               (unsigned long long)lm[1]->n_params, (unsigned long long)r.rows[0].n_weights);
        CHECK(r.rows[2].n_weights == r.rows[1].n_weights);
        CHECKF(r.rows[1].bpw > 31.9 && r.rows[1].bpw < 32.1 && r.rows[2].bpw < 10.5 && r.rows[2].bytes < r.rows[1].bytes,
               "bpw %.2f %.2f, bytes %llu %llu", r.rows[1].bpw, r.rows[2].bpw, (unsigned long long)r.rows[1].bytes,
               (unsigned long long)r.rows[2].bytes);
        CHECK(r.rows[0].kld == 0 && r.rows[0].top1 == 1);
        for (int i = 0; i < 3; i++) {
            const lt_creport_row *m = &r.rows[i];
            CHECKF(!strcmp(m->name, names[i]) && m->bytes > 0, "row %d: %s, %llu bytes", i, m->name,
                   (unsigned long long)m->bytes);
            CHECKF(isfinite(m->ppl) && m->ppl > 1 && isfinite(m->ppl_all) && m->ppl_all > 1, "%s: ppl %g %g", m->name,
                   m->ppl, m->ppl_all);
            CHECKF(m->prefill_tps > 0 && m->decode_tps > 0, "%s: %g / %g tok/s", m->name, m->prefill_tps, m->decode_tps);
            if (i) CHECKF(m->kld > 0 && isfinite(m->kld) && m->top1 < 1, "%s: KLD %g, top-1 %g", m->name, m->kld, m->top1);
        }
        if (getenv("LT_TEST_VERBOSE")) fputs(t.text, stderr);
        CHECKF(strstr(t.text, "\nsl ") && strstr(t.text, "\nsl8 ") && strstr(t.text, "KLD"), "%s", t.text);
    }
    lt_session_free(s);
    return lt_test_done();
}
