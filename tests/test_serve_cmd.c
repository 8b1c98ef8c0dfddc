/* test_serve_cmd.c - `bench serve` in the command language (core/cmd/serve.c) on a synthetic
 * model: the report of lathe bench serve in the transcript, a digest that a second run of the
 * seeded workload repeats, the serve pane's state (lt_session_serve: the run's last engine
 * snapshot, its rows as tui/serve_pane.c writes them), draft-model speculation with the
 * target's twin (every draft accepted), option errors naming the option, Esc (cancel from
 * another thread) mid-run with the pane updating while it runs, and which side report the pane
 * shows after `compare`. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/app/session.h"
#include "core/base/clock.h"
#include "core/cmd/cmds.h"
#include "models/llama.h"
#include "testutil.h"
#include "tui/serve_pane.h"

typedef struct collect {
    char text[16384];
    size_t n;
    atomic_int progress;
} collect;

static void on_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)k;
    collect *c = ud;
    if (c->n + n < sizeof c->text) {
        memcpy(c->text + c->n, s, n);
        c->n += n;
        c->text[c->n] = 0;
    }
}

static void on_progress(void *ud, const char *what, double f) {
    (void)f;
    collect *c = ud;
    if (!strcmp(what, "serve")) atomic_fetch_add(&c->progress, 1);
}

static lt_session *new_session(void) {
    lt_session_opts o = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset,
                         .threads = 2};
    lt_session *s = NULL;
    lt_err err;
    if (lt_session_create(&s, &o, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return s;
}

static bool exec_ok(lt_session *s, const char *line, lt_sink *sink) {
    lt_err err;
    lt_status st = lt_session_exec(s, line, sink, &err);
    if (st != LT_OK) fprintf(stderr, "'%s' failed: %s\n", line, err.msg);
    return st == LT_OK;
}

typedef struct job {
    lt_session *s;
    lt_sink *sink;
    lt_status st;
} job;

static void *run_long(void *ud) {
    job *j = ud;
    lt_err err;
    j->st = lt_session_exec(j->s, "bench serve --requests 64 --prompt-len 64:128 --output-len 150:200 --max-seqs 4",
                            j->sink, &err);
    return NULL;
}

int main(void) {
    lt_session *s = new_session();
    collect c = {0};
    lt_sink sink = {.ud = &c, .text = on_text, .progress = on_progress};
    lt_err err;
    lt_serve_view v;
    CHECK(!lt_session_serve(s, &v)); /* no pane before a run */
    CHECK(lt_session_exec(s, "bench serve --requests 4", &sink, &err) == LT_ENOTFOUND && strstr(err.msg, "no model"));
    CHECK(exec_ok(s, "load synthetic:tiny as t", &sink));

    /* a run: the report, the result, the pane */
    c.n = 0;
    const char *run = "bench serve --requests 6 --prompt-len 8:40 --output-len 4:16 --token-budget 32 --seed 3";
    CHECK(exec_ok(s, run, &sink));
    CHECKF(strstr(c.text, "completed 6 requests (0 failed)") && strstr(c.text, "itl (tbt)") &&
               strstr(c.text, "policy sarathi, token budget 32"),
           "transcript: %s", c.text);
    const lt_result *r = lt_session_last(s);
    CHECK(!strcmp(r->cmd, "bench") && r->has_digest && r->n_tokens >= 6 * 4 && r->n_tokens <= 6 * 16 && !r->cancelled);
    uint64_t d1 = r->digest;
    int n1 = r->n_tokens;
    CHECK(lt_session_serve(s, &v));
    CHECKF(!v.running && v.done == 6 && v.total == 6 && v.eng.n_finished == 6 && v.eng.n_running == 0 &&
               v.eng.n_waiting == 0 && v.eng.n_steps > 0 && v.eng.n_hist > 0 && v.eng.n_tbt > 0 &&
               v.eng.kv_total > 0 && v.eng.kv_host_total == 0 && strstr(v.title, "sarathi 32"),
           "pane state: running %d done %d/%d steps %lld hist %d tbt %d title '%s'", v.running, v.done, v.total,
           (long long)v.eng.n_steps, v.eng.n_hist, v.eng.n_tbt, v.title);
    for (int i = 0; i < v.eng.n_hist; i++) /* sarathi's budget holds in every step the pane saw */
        CHECKF(v.eng.hist_decode[i] + v.eng.hist_prefill[i] <= 32, "step %d: %d + %d tokens", i,
               v.eng.hist_decode[i], v.eng.hist_prefill[i]);
    /* the pane's rows of that state */
    char title[LT_SERVE_PANE_LINE], lines[LT_SERVE_PANE_ROWS][LT_SERVE_PANE_LINE];
    int n = lt_serve_pane_text(&v, 40, LT_SERVE_PANE_ROWS, false, title, lines);
    CHECKF(n == 7 && strstr(title, "serve sarathi 32") && strstr(title, "(done)") &&
               !strcmp(lines[0], "run 0 wait 0 done 6/6") && !strncmp(lines[2], "dec ", 4) &&
               !strncmp(lines[3], "pre ", 4) && strstr(lines[4], "dev 0/0 host") && !strncmp(lines[6], "tbt p50 ", 8),
           "pane rows: %d, '%s' / '%s' / '%s'", n, title, lines[0], lines[4]);
    /* the seeded workload again: the same counts, so the same digest */
    CHECK(exec_ok(s, run, &sink));
    CHECK(lt_session_last(s)->digest == d1 && lt_session_last(s)->n_tokens == n1);
    CHECK(exec_ok(s, "bench serve --requests 6 --prompt-len 8:40 --output-len 4:16 --seed 4", &sink));
    CHECK(lt_session_last(s)->digest != d1);

    /* prefill-first, and a draft model (the target's twin: every draft accepted) */
    c.n = 0;
    CHECK(exec_ok(s, "bench serve --requests 4 --prompt-len 8:24 --output-len 12 --policy prefill-first "
                     "--spec draft:synthetic:tiny --gamma 3",
                  &sink));
    CHECKF(strstr(c.text, "policy prefill-first") && strstr(c.text, "draft-model drafts") &&
               strstr(c.text, "accepted (100.0%)"),
           "transcript: %s", c.text);
    CHECK(lt_session_serve(s, &v) && v.eng.drafted > 0 && v.eng.accepted == v.eng.drafted &&
          strstr(v.title, "+draft"));
    n = lt_serve_pane_text(&v, 40, LT_SERVE_PANE_ROWS, true, title, lines);
    CHECKF(n == 8 && strstr(lines[7], "accepted (100%)"), "spec row: %d '%s'", n, n > 7 ? lines[7] : "");

    /* errors name the option and leave the pane as it was */
    CHECK(lt_session_exec(s, "bench serve --policy fcfs", &sink, &err) == LT_EINVAL && strstr(err.msg, "--policy") &&
          strstr(err.msg, "fcfs"));
    CHECK(lt_session_exec(s, "bench serve --rate", &sink, &err) == LT_EINVAL && strstr(err.msg, "--rate"));
    CHECK(lt_session_exec(s, "bench serve --spec triforce", &sink, &err) == LT_EINVAL && strstr(err.msg, "triforce"));
    CHECK(lt_session_exec(s, "bench serve --spec draft:/nonexistent.gguf", &sink, &err) != LT_OK &&
          strstr(err.msg, "nonexistent.gguf"));
    CHECK(lt_session_exec(s, "bench serve --capacity", &sink, &err) == LT_EINVAL && strstr(err.msg, "--slo"));
    CHECK(lt_session_serve(s, &v) && v.eng.drafted > 0 && !v.running);
    /* plain bench still works beside it */
    CHECK(exec_ok(s, "bench -p 8 -n 4", &sink) && lt_session_last(s)->n_tokens == 4);

    /* Esc mid-run: the pane runs, then the job stops with a partial result */
    job j = {s, &sink, LT_EINVAL};
    pthread_t th;
    atomic_store(&c.progress, 0);
    pthread_create(&th, NULL, run_long, &j);
    double t0 = lt_now();
    bool seen_running = false;
    while (lt_now() - t0 < 60) {
        if (lt_session_serve(s, &v) && v.running && v.eng.n_steps > 20 && v.eng.n_running > 0) {
            seen_running = true;
            break;
        }
        usleep(2000);
    }
    CHECKF(seen_running, "the pane never showed the run going (running %d steps %lld)", v.running,
           (long long)v.eng.n_steps);
    CHECK(v.eng.n_running <= 4 && v.total == 64);
    lt_session_cancel(s);
    pthread_join(th, NULL);
    CHECK(j.st == LT_OK && lt_session_last(s)->cancelled);
    CHECK(lt_session_serve(s, &v) && !v.running && v.done < 64);

    /* a later `compare` report takes the side column back; the next run takes it again */
    lt_creport rep = {0};
    lt_session_set_creport(s, &rep);
    CHECK(lt_session_serve(s, &v) && !v.over_report);
    CHECK(exec_ok(s, "bench serve --requests 2 --prompt-len 8 --output-len 2", &sink));
    CHECK(lt_session_serve(s, &v) && v.over_report);
    lt_session_free(s);
    return lt_test_done();
}
