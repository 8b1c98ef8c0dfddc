/* test_stories.c - the bundled llama2.c models generate greedily exactly what llama2.c's
 * reference run.c generates (tests/data/llama2c_reference.txt: token ids and stdout text),
 * through the library and through the `lathe generate` command line; the tokenizer encodes
 * as run.c's encode(); the version-1 export gives the same tokens. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/generate.h"
#include "models/llama.h"
#include "testutil.h"

typedef struct refcase {
    char model[64];
    int n;
    char *prompt, *text;
    int32_t ids[1024];
    int n_ids;
    bool stop_bos;
} refcase;

static char *json_str(const char *s) {
    cJSON *j = cJSON_Parse(s);
    LT_ASSERT(j && cJSON_IsString(j));
    char *r = strdup(j->valuestring);
    cJSON_Delete(j);
    return r;
}

static int parse_ids(const char *s, int32_t *out, int cap) {
    int n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s || n == cap) break;
        out[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

typedef struct model {
    lt_backend *be;
    lt_lm *m;
    lt_kv_cache *kv;
    lt_tokenizer *tok;
} model;

static void model_open(model *md, lt_backend *be, const char *file) {
    lt_err err;
    lt_modelsrc *src;
    md->be = be;
    char path[256];
    snprintf(path, sizeof path, "assets/models/%s", file);
    if (lt_modelsrc_open(&src, lt_test_path(path), lt_test_path("assets/models/tok512.bin"), &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    if (lt_tok_create(&md->tok, lt_modelsrc_take_vocab(src), &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    if (lt_llama_open(&md->m, src, be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_kv_opts ko = lt_lm_kv_opts(md->m, 0, 1);
    if (lt_kv_create(&md->kv, be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_modelsrc_close(src);
}

static void model_close(model *md) {
    lt_kv_free(md->kv);
    lt_lm_close(md->m);
    lt_tok_free(md->tok);
}

typedef struct textbuf {
    char s[65536];
    size_t n;
} textbuf;

static bool collect(void *ud, int32_t id, const char *text, size_t len) {
    textbuf *t = ud;
    if (t->n + len < sizeof t->s) {
        memcpy(t->s + t->n, text, len);
        t->n += len;
        t->s[t->n] = 0;
    }
    return true;
}

/* Runs a case through the library; checks prompt ids, generated ids, stop reason, text. */
static void check_case(model *md, const refcase *c, const char *label) {
    lt_err err;
    int32_t prompt[512];
    int64_t np = lt_tok_encode(md->tok, c->prompt, strlen(c->prompt), true, false, prompt, 512);
    CHECKF(np > 0 && np <= c->n_ids && !memcmp(prompt, c->ids, (size_t)np * 4), "%s: prompt ids differ", label);
    if (np <= 0 || np > c->n_ids) return;
    int seq_len = lt_lm_config(md->m)->max_seq;
    int steps = c->n > seq_len ? seq_len : c->n;
    lt_gen_params gp = {.n_predict = steps + 1 - (int)np, .stop_at_bos = true};
    gp.sp = lt_sampler_defaults();
    gp.sp.temp = 0;
    int seq;
    CHECK(lt_kv_seq_new(md->kv, &seq, &err) == LT_OK);
    int32_t out[1024];
    textbuf *tb = calloc(1, sizeof *tb);
    lt_gen_stats st;
    lt_status s = lt_generate(md->m, md->tok, md->kv, seq, prompt, (int)np, &gp, collect, tb, out, 1024, &st, &err);
    CHECKF(s == LT_OK, "%s: %s", label, err.msg);
    lt_kv_seq_free(md->kv, seq);
    int ng = c->n_ids - (int)np, first_diff = -1;
    for (int i = 0; i < ng && i < st.n_gen && first_diff < 0; i++)
        if (out[i] != c->ids[np + i]) first_diff = i;
    CHECKF(st.n_gen == ng && first_diff < 0, "%s: generated %d tokens (expected %d), first difference at %d", label,
           st.n_gen, ng, first_diff);
    CHECKF((st.stop == LT_GEN_STOP_EOG) == c->stop_bos, "%s: stop reason %d", label, (int)st.stop);
    /* stdout of run.c = prompt as decoded + continuation + "\n" */
    char *want = malloc(strlen(c->prompt) + tb->n + 2);
    sprintf(want, "%s%s\n", c->prompt, tb->s);
    CHECKF(!strcmp(want, c->text), "%s: text differs:\n  got:  %.120s\n  want: %.120s", label, want, c->text);
    free(want);
    free(tb);
}

/* The same case through `lathe generate` (stdout must equal run.c's stdout). */
static void check_cli(const refcase *c, int n_prompt_ids) {
    const char *bin = getenv("LATHE_BIN");
    if (!bin) return;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' --tokenizer '%s' -p '%s' -n %d --temp 0 --threads 1 2>/dev/null",
             bin, lt_test_path("assets/models/stories260K.bin"), lt_test_path("assets/models/tok512.bin"), c->prompt,
             c->n + 1 - n_prompt_ids);
    FILE *p = popen(cmd, "r");
    LT_ASSERT(p);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int rc = pclose(p);
    CHECKF(rc == 0 && !strcmp(buf, c->text), "lathe generate -p '%s': rc %d, output differs:\n  got:  %.160s\n  want: %.160s",
           c->prompt, rc, buf, c->text);
}

int main(void) {
    FILE *f = fopen(lt_test_path("tests/data/llama2c_reference.txt"), "r");
    if (!f) {
        fprintf(stderr, "reference file missing\n");
        return 1;
    }
    static refcase cases[32];
    int nc = 0;
    static char line[1 << 16];
    lt_backend *be;
    lt_err err;
    LT_ASSERT(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 1}, &err) == LT_OK);
    model st, xs, v1;
    model_open(&st, be, "stories260K.bin");
    model_open(&xs, be, "llama2xs_model.bin");
    model_open(&v1, be, "stories260K_v1.bin");
    int n_tok_cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "case ", 5)) {
            refcase *c = &cases[nc];
            char *p = line + 5;
            char *sp = strchr(p, ' ');
            *sp = 0;
            snprintf(c->model, sizeof c->model, "%.63s", p);
            c->n = (int)strtol(sp + 1, &p, 10);
            c->prompt = json_str(p + 1);
        } else if (!strncmp(line, "text ", 5)) {
            cases[nc].text = json_str(line + 5);
        } else if (!strncmp(line, "ids ", 4)) {
            cases[nc].n_ids = parse_ids(line + 4, cases[nc].ids, 1024);
        } else if (!strncmp(line, "stop ", 5)) {
            cases[nc].stop_bos = !strcmp(line + 5, "bos");
        } else if (!strcmp(line, "end")) {
            nc++;
        } else if (!strncmp(line, "tok ", 4)) {
            /* tok <json string> <ids> */
            char *p = line + 4;
            cJSON *j = cJSON_ParseWithOpts(p, (const char **)&p, false);
            LT_ASSERT(j && cJSON_IsString(j));
            int32_t want[256], got[256];
            int nw = parse_ids(p, want, 256);
            int64_t ng = lt_tok_encode(st.tok, j->valuestring, strlen(j->valuestring), true, false, got, 256);
            CHECKF(ng == nw && !memcmp(got, want, (size_t)nw * 4), "encode %s: %lld ids, expected %d", j->valuestring,
                   (long long)ng, nw);
            cJSON_Delete(j);
            n_tok_cases++;
        }
    }
    fclose(f);
    CHECK(nc >= 13 && n_tok_cases >= 7);
    for (int i = 0; i < nc; i++) {
        refcase *c = &cases[i];
        char label[512];
        snprintf(label, sizeof label, "%.63s -n %d \"%.200s\"", c->model, c->n, c->prompt);
        model *md = !strcmp(c->model, "stories260K.bin") ? &st : &xs;
        check_case(md, c, label);
        if (md == &st && c->n == 200) {
            snprintf(label, sizeof label, "stories260K_v1.bin -n %d \"%.200s\"", c->n, c->prompt);
            check_case(&v1, c, label);
            int32_t ids[512];
            int64_t np = lt_tok_encode(st.tok, c->prompt, strlen(c->prompt), true, false, ids, 512);
            check_cli(c, (int)np);
        }
    }
    for (int i = 0; i < nc; i++) {
        free(cases[i].prompt);
        free(cases[i].text);
    }
    model_close(&st);
    model_close(&xs);
    model_close(&v1);
    lt_backend_free(be);
    return lt_test_done();
}
