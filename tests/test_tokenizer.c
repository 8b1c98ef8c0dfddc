/* test_tokenizer.c - tokenizers against llama.cpp's published vocab tests (assets/vocab:
 * ggml-vocab-*.gguf with .inp strings and .out expected ids), the llama2.c tokenizer
 * (tok512) against ids from a reference re-implementation of llama2.c's encode, round trips,
 * streaming decode, vocab validation, tokenizer.json loading, chat templates, robustness on
 * invalid UTF-8, and encoding speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/base/alloc.h"
#include "core/formats/gguf.h"
#include "core/text/chat.h"
#include "core/text/tok_internal.h"
#include "core/text/tokenizer.h"
#include "core/text/vocab.h"
#include "testutil.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!l || i + l > n) return false;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
        i += l;
    }
    return true;
}

static lt_tokenizer *open_gguf_tok(const char *rel) {
    lt_err err = {0};
    lt_gguf *g = NULL;
    if (lt_gguf_open(&g, lt_test_path(rel), &err)) {
        fprintf(stderr, "%s: %s\n", rel, err.msg);
        return NULL;
    }
    lt_vocab *v = NULL;
    lt_status st = lt_vocab_from_gguf(&v, g, &err);
    lt_gguf_close(g);
    if (st) {
        fprintf(stderr, "%s: %s\n", rel, err.msg);
        return NULL;
    }
    lt_tokenizer *t = NULL;
    if (lt_tok_create(&t, v, &err)) {
        fprintf(stderr, "%s: %s\n", rel, err.msg);
        return NULL;
    }
    return t;
}

/* ---- llama.cpp vocab tests -------------------------------------------------------------------- */

/* Vocab files with llama.cpp's expected outputs. None is known to fail; a vocab that cannot
 * match would be listed in known_fail with the reason, and reported as skipped. */
static const char *VOCABS[] = {"llama-spm", "phi-3",  "gpt-2",        "mpt",            "starcoder",
                               "refact",    "falcon", "deepseek-llm", "deepseek-coder", NULL};

static int vocab_test(const char *name, int *n_strings) {
    char rel[256];
    snprintf(rel, sizeof rel, "assets/vocab/ggml-vocab-%s.gguf", name);
    lt_tokenizer *t = open_gguf_tok(rel);
    CHECKF(t != NULL, "%s: cannot build tokenizer", name);
    if (!t) return 1;
    char irel[300], orel[300];
    snprintf(irel, sizeof irel, "%s.inp", rel);
    snprintf(orel, sizeof orel, "%s.out", rel);
    size_t il = 0, ol = 0;
    char *inp = lt_test_read_file(lt_test_path(irel), &il), *outp = lt_test_read_file(lt_test_path(orel), &ol);
    CHECKF(inp && outp, "%s: missing .inp/.out", name);
    if (!inp || !outp) {
        free(inp);
        free(outp);
        lt_tok_free(t);
        return 1;
    }
    const char *SEP = "\n__ggml_vocab_test__\n";
    int failed = 0, count = 0;
    char *ip = inp, *op = outp;
    int32_t *ids = malloc(sizeof(int32_t) * 65536), *exp = malloc(sizeof(int32_t) * 65536);
    char *dec = malloc(1 << 16);
    bool is_spm = lt_tok_vocab(t)->type == LT_VOCAB_SPM;
    while (*ip) {
        char *e = strstr(ip, SEP);
        if (!e) break;
        size_t slen = (size_t)(e - ip);
        char *oe = strchr(op, '\n');
        if (!oe) break;
        /* expected ids */
        int ne = 0;
        for (char *q = op; q < oe;) {
            char *end;
            long x = strtol(q, &end, 10);
            if (end == q) break;
            exp[ne++] = (int32_t)x;
            q = end;
        }
        int64_t n = lt_tok_encode(t, ip, slen, false, false, ids, 65536);
        bool ok = n == ne && !memcmp(ids, exp, sizeof(int32_t) * (size_t)ne);
        if (!ok) {
            failed++;
            fprintf(stderr, "%s: string %d '%.*s': got", name, count, (int)(slen < 60 ? slen : 60), ip);
            for (int64_t k = 0; k < n && k < 40; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n   expected");
            for (int k = 0; k < ne && k < 40; k++) fprintf(stderr, " %d", exp[k]);
            fprintf(stderr, "\n");
        }
        CHECK(ok);
        /* round trips (valid UTF-8 input): SPM decode strips the dummy prefix; byte-level BPE
         * pieces concatenate to the input */
        if (n >= 0 && valid_utf8(ip, slen)) {
            if (is_spm) {
                size_t dl = lt_tok_decode(t, ids, n, dec, 1 << 16);
                bool rt = dl == slen && !memcmp(dec, ip, slen);
                CHECKF(rt, "%s: decode round trip of string %d: '%s'", name, count, dec);
            } else {
                size_t dl = 0;
                for (int64_t k = 0; k < n; k++) dl += lt_tok_piece(t, ids[k], false, dec + dl, (1 << 16) - dl);
                bool rt = dl == slen && !memcmp(dec, ip, slen);
                CHECKF(rt, "%s: piece round trip of string %d", name, count);
            }
        }
        count++;
        ip = e + strlen(SEP);
        op = oe + 1;
    }
    CHECKF(count > 20, "%s: only %d test strings read", name, count);
    *n_strings = count;
    free(ids);
    free(exp);
    free(dec);
    free(inp);
    free(outp);
    lt_tok_free(t);
    return failed;
}

/* Encodes random bytes (mostly invalid UTF-8) and special-looking text: must not crash. */
static void robustness(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "assets/vocab/ggml-vocab-%s.gguf", name);
    lt_tokenizer *t = open_gguf_tok(rel);
    if (!t) return;
    lt_test_rng r;
    lt_test_rng_seed(&r, 7);
    char buf[512];
    int32_t ids[4096];
    char out[8192];
    bool ok = true;
    for (int it = 0; it < 200; it++) {
        size_t n = lt_test_u32(&r) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            uint32_t x = lt_test_u32(&r);
            buf[i] = (char)(x % 3 == 0 ? (x >> 8) : x % 5 == 0 ? ' ' : 'a' + (x >> 8) % 26);
        }
        int64_t k = lt_tok_encode(t, buf, n, it & 1, it & 2, ids, 4096);
        if (k < 0 || k > 4096) {
            ok = false;
            continue;
        }
        lt_tok_decode(t, ids, k, out, sizeof out);
        lt_tok_stream s;
        lt_tok_stream_init(&s);
        for (int64_t j = 0; j < k; j++) {
            size_t m = lt_tok_stream_feed(t, &s, ids[j], out, sizeof out);
            if (!valid_utf8(out, m)) ok = false;
        }
        size_t m = lt_tok_stream_flush(t, &s, out, sizeof out);
        if (!valid_utf8(out, m)) ok = false;
    }
    CHECKF(ok, "%s: random input", name);
    /* out-of-range ids are ignored by the decoders */
    int32_t bad[3] = {-5, 1 << 30, 3};
    lt_tok_decode(t, bad, 3, out, sizeof out);
    CHECK(lt_tok_piece(t, -1, true, out, sizeof out) == 0);
    lt_tok_free(t);
}

/* 1 MB of text must encode in linear time: ~0.2 s in a release build here, so a quadratic
 * path (minutes) fails while a machine loaded by other jobs (2 s seen at load 10) does not. */
#if defined(__SANITIZE_ADDRESS__)
#define LIMIT_S 20.0
#else
#define LIMIT_S 5.0
#endif
static void speed(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "assets/vocab/ggml-vocab-%s.gguf", name);
    lt_tokenizer *t = open_gguf_tok(rel);
    if (!t) return;
    const char *para = "The quick brown fox jumps over the lazy dog; it's 1234 times faster!\n"
                       "Привет, мир. 你好世界 ... (x = y + 42) { return z; }\t  done.\n";
    size_t pl = strlen(para), n = 0, cap = 1 << 20;
    char *text = malloc(cap);
    while (n + pl < cap) memcpy(text + n, para, pl), n += pl;
    int32_t *ids = malloc(sizeof(int32_t) * (1 << 20));
    double t0 = now_s();
    int64_t k = lt_tok_encode(t, text, n, true, true, ids, 1 << 20);
    double dt = now_s() - t0;
    printf("  %s: encoded %zu bytes -> %lld tokens in %.3f s\n", name, n, (long long)k, dt);
    CHECK(k > 0 && k <= (1 << 20));
    CHECKF(dt < LIMIT_S, "%s: 1 MB took %.2f s", name, dt);
    if (lt_tok_vocab(t)->type == LT_VOCAB_SPM) {
        /* the per-word shortcut gives exactly the single-pass result */
        int32_t *ids2 = malloc(sizeof(int32_t) * (1 << 20));
        lt_tok_set_spm_seg(t, false);
        int64_t k2 = lt_tok_encode(t, text, n, true, true, ids2, 1 << 20);
        lt_tok_set_spm_seg(t, true);
        CHECK(k2 == k && !memcmp(ids, ids2, sizeof(int32_t) * (size_t)k));
        free(ids2);
    }
    /* adversarial: long whitespace runs that end in a character no regex matches */
    n = 0;
    for (int rep = 0; rep < 4; rep++) {
        for (int i = 0; i < 50000; i++) text[n++] = ' ';
        memcpy(text + n, "\xF0\x9F\x98\x80\n", 5);
        n += 5;
    }
    t0 = now_s();
    k = lt_tok_encode(t, text, n, false, false, ids, 1 << 20);
    dt = now_s() - t0;
    printf("  %s: 200k spaces + emoji -> %lld tokens in %.3f s\n", name, (long long)k, dt);
    CHECKF(k > 0 && dt < LIMIT_S, "%s: whitespace runs took %.2f s", name, dt);
    free(text);
    free(ids);
    lt_tok_free(t);
}

/* ---- llama2.c tok512 ---------------------------------------------------------------------------- */

static void llama2c(void) {
    lt_err err = {0};
    lt_vocab *v = NULL;
    lt_status st = lt_vocab_from_llama2c(&v, lt_test_path("assets/models/tok512.bin"), 512, &err);
    CHECKF(st == LT_OK, "tok512: %s", err.msg);
    if (st) return;
    CHECK(v->n_tokens == 512 && v->bos_id == 1 && v->eos_id == 2 && v->add_bos && v->max_token_len == 7);
    lt_tokenizer *t = NULL;
    st = lt_tok_create(&t, v, &err);
    CHECKF(st == LT_OK, "tok512: %s", err.msg);
    if (st) return;
    /* expected ids: a Python re-implementation of llama2.c's encode(bos=1, eos=0) */
    static const struct {
        const char *s;
        int n;
        int32_t ids[32];
    } cases[] = {
        {"Once upon a time, there was a little girl named Lily.", 16,
         {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}},
        {"Hello world", 7, {1, 346, 306, 414, 263, 304, 341}},
        {"", 1, {1}},
        {" leading space", 10, {1, 410, 278, 411, 380, 299, 262, 427, 412, 331}},
        {"She said: \"Wow!\" 123 \xC3\xA9t\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80", 29,
         {1,   338, 336, 467, 313, 448, 327, 443, 436, 410, 475, 479, 472, 410, 485,
          413, 485, 410, 231, 192, 163, 232, 168, 192, 410, 243, 162, 155, 131}},
        {"a\nb\n\nc", 7, {1, 261, 13, 430, 13, 13, 429}},
    };
    char out[512];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t ids[256];
        int64_t n = lt_tok_encode(t, cases[c].s, strlen(cases[c].s), true, false, ids, 256);
        bool ok = n == cases[c].n && !memcmp(ids, cases[c].ids, sizeof(int32_t) * (size_t)n);
        CHECKF(ok, "tok512 encode '%s' (%lld ids)", cases[c].s, (long long)n);
        /* llama2.c-style decode: after BOS the piece's leading space is dropped */
        lt_tok_stream s;
        lt_tok_stream_init(&s);
        size_t w = 0;
        for (int64_t k = 0; k < n; k++) w += lt_tok_stream_feed(t, &s, ids[k], out + w, sizeof out - w);
        w += lt_tok_stream_flush(t, &s, out + w, sizeof out - w);
        CHECKF(w == strlen(cases[c].s) && !memcmp(out, cases[c].s, w), "tok512 stream decode '%s' -> '%s'",
               cases[c].s, out);
    }
    /* add_special=false: no BOS, still the dummy prefix */
    int32_t ids[16];
    int64_t n = lt_tok_encode(t, "Hello world", 11, false, false, ids, 16);
    CHECK(n == 6 && ids[0] == 346);
    /* byte tokens and control tokens as pieces */
    char p[16];
    CHECK(lt_tok_piece(t, 3 + 'A', false, p, sizeof p) == 1 && p[0] == 'A');
    CHECK(lt_tok_piece(t, 1, false, p, sizeof p) == 0);
    CHECK(lt_tok_is_eog(t, 2) && !lt_tok_is_eog(t, 3));
    CHECK(!strcmp(lt_chat_template_name(t), "plain"));
    lt_tok_free(t);

    /* corrupted copies: an error or a valid vocab, never a crash */
    {
        size_t len = 0;
        char *orig = lt_test_read_file(lt_test_path("assets/models/tok512.bin"), &len);
        CHECK(orig != NULL);
        lt_test_rng r;
        lt_test_rng_seed(&r, 3);
        char path[1100];
        snprintf(path, sizeof path, "%s/tok.bin", lt_test_tmpdir("tok_l2c"));
        int loaded = 0;
        for (int it = 0; orig && it < 50; it++) {
            char *m = malloc(len);
            memcpy(m, orig, len);
            for (int k = 0; k < 4; k++) m[lt_test_u32(&r) % len] = (char)lt_test_u32(&r);
            size_t cut = it % 5 == 0 ? lt_test_u32(&r) % len : len;
            FILE *f = fopen(path, "wb");
            fwrite(m, 1, cut, f);
            fclose(f);
            free(m);
            lt_vocab *cv = NULL;
            if (lt_vocab_from_llama2c(&cv, path, it % 2 ? 512 : 0, &err) == LT_OK) {
                lt_tokenizer *ct = NULL;
                if (lt_tok_create(&ct, cv, &err) == LT_OK) {
                    int32_t ids[64];
                    lt_tok_encode(ct, "Once upon a time", 16, true, true, ids, 64);
                    lt_tok_free(ct);
                    loaded++;
                }
            }
        }
        free(orig);
        printf("  tok512: %d of 50 corrupted copies still loaded\n", loaded);
    }
    /* missing / truncated files are clear errors */
    st = lt_vocab_from_llama2c(&v, lt_test_path("assets/models/tok512.bin"), 100000, &err);
    CHECKF(st == LT_EFORMAT && strstr(err.msg, "truncated"), "%s", err.msg);
    st = lt_vocab_from_llama2c(&v, "/nonexistent/tok.bin", 512, &err);
    CHECK(st == LT_EIO && v == NULL);
}

/* ---- streaming: multibyte characters split across byte tokens ----------------------------------- */

static void streaming(void) {
    lt_tokenizer *t = open_gguf_tok("assets/vocab/ggml-vocab-llama-spm.gguf");
    if (!t) return;
    /* "<0xE4><0xBD><0xA0>" = 你, then 😀 as 4 byte tokens, then a normal token */
    const char *text = "\xE4\xBD\xA0\xF0\x9F\x98\x80";
    int32_t ids[16];
    int n = 0;
    for (size_t i = 0; i < strlen(text); i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", (unsigned char)text[i]);
        int32_t id = -1;
        for (int32_t k = 0; k < lt_tok_n_vocab(t) && id < 0; k++)
            if (!strcmp(lt_tok_vocab(t)->tokens[k], b)) id = k;
        ids[n++] = id;
    }
    CHECK(ids[0] >= 0 && ids[6] >= 0);
    lt_tok_stream s;
    lt_tok_stream_init(&s);
    char out[64], all[64];
    size_t total = 0;
    int emits = 0;
    for (int i = 0; i < n; i++) {
        size_t m = lt_tok_stream_feed(t, &s, ids[i], out, sizeof out);
        CHECKF(valid_utf8(out, m), "stream emitted a partial character at byte %d", i);
        if (m) emits++;
        memcpy(all + total, out, m);
        total += m;
    }
    CHECK(emits == 2); /* once after the 3rd byte, once after the 7th */
    CHECK(total == 7 && !memcmp(all, text, 7));
    /* a dangling lead byte is flushed as U+FFFD */
    lt_tok_stream_feed(t, &s, ids[3], out, sizeof out);
    size_t m = lt_tok_stream_flush(t, &s, out, sizeof out);
    CHECK(m == 3 && !memcmp(out, "\xEF\xBF\xBD", 3));
    /* decode after BOS keeps llama.cpp's detokenize behaviour (BOS is a control token -> "") */
    int32_t enc[32];
    int64_t k = lt_tok_encode(t, "Hello world", 11, true, false, enc, 32);
    CHECK(k == 3 && enc[0] == 1);
    char d[64];
    lt_tok_decode(t, enc + 1, k - 1, d, sizeof d);
    CHECKF(!strcmp(d, "Hello world"), "decode '%s'", d);
    /* parse_special: "<s>" as text is split into pieces unless parse_special */
    int64_t a = lt_tok_encode(t, "<s>x", 4, false, false, enc, 32);
    int64_t b = lt_tok_encode(t, "<s>x", 4, false, true, enc, 32);
    CHECK(a > 2 && b == 2 && enc[0] == 1);
    /* too-small output buffer: returns the full count */
    CHECK(lt_tok_encode(t, "Hello world", 11, true, false, enc, 1) == 3 && enc[0] == 1);
    lt_tok_free(t);
}

/* ---- vocab validation -------------------------------------------------------------------------- */

static lt_vocab *tiny_vocab(const char *const *toks, int n) {
    lt_vocab *v = lt_vocab_create();
    v->type = LT_VOCAB_SPM;
    v->n_tokens = n;
    v->tokens = lt_calloc((size_t)n, sizeof *v->tokens);
    v->token_len = lt_calloc((size_t)n, sizeof *v->token_len);
    v->scores = lt_calloc((size_t)n, sizeof *v->scores);
    for (int i = 0; i < n; i++) {
        v->tokens[i] = lt_strdup(toks[i]);
        v->token_len[i] = (uint32_t)strlen(toks[i]);
        v->scores[i] = (float)-i;
    }
    return v;
}

static void validation(void) {
    const char *good[] = {"<unk>", "a", "b", "ab"};
    lt_vocab *v = tiny_vocab(good, 4);
    lt_err err = {0};
    CHECK(lt_vocab_validate(v, "tiny", &err) == LT_OK);
    v->bos_id = 7;
    CHECK(lt_vocab_validate(v, "tiny", &err) == LT_EFORMAT && strstr(err.msg, "bos"));
    v->bos_id = -1;
    lt_vocab_free(v);
    const char *bad[] = {"<unk>", "a", "\xC3(", "ab"};
    v = tiny_vocab(bad, 4);
    lt_status st = lt_vocab_validate(v, "bad.gguf", &err);
    CHECKF(st == LT_EFORMAT && strstr(err.msg, "bad.gguf") && strstr(err.msg, "token 2") &&
               strstr(err.msg, "not valid UTF-8"),
           "%s", err.msg);
    lt_tokenizer *t = NULL;
    CHECK(lt_tok_create(&t, v, &err) == LT_EFORMAT && t == NULL); /* takes ownership even on error */
    /* unsupported vocab types and pre-tokenizers */
    v = tiny_vocab(good, 4);
    v->type = LT_VOCAB_NONE;
    CHECK(lt_tok_create(&t, v, &err) == LT_EUNSUPPORTED && strstr(err.msg, "unknown"));
    v = tiny_vocab(good, 4); /* a GGUF bert vocab (llama.cpp's phantom-space WordPiece) */
    v->type = LT_VOCAB_WPM;
    CHECK(lt_tok_create(&t, v, &err) == LT_EUNSUPPORTED && strstr(err.msg, "WordPiece") && strstr(err.msg, "GGUF"));
    v = tiny_vocab(good, 4);
    v->type = LT_VOCAB_BPE;
    v->n_merges = 1;
    v->merges = lt_calloc(1, sizeof(char *));
    v->merges[0] = lt_strdup("a b");
    snprintf(v->pre, sizeof v->pre, "no-such-pre");
    CHECK(lt_tok_create(&t, v, &err) == LT_EUNSUPPORTED && strstr(err.msg, "no-such-pre"));
    /* a tiny SPM vocab encodes by scores */
    v = tiny_vocab(good, 4);
    v->add_space_prefix = false;
    v->unk_id = 0;
    CHECK(lt_tok_create(&t, v, &err) == LT_OK);
    int32_t ids[8];
    CHECK(lt_tok_encode(t, "abab", 4, false, false, ids, 8) == 2 && ids[0] == 3 && ids[1] == 3);
    CHECK(lt_tok_encode(t, "c", 1, false, false, ids, 8) == 1 && ids[0] == 0); /* no byte token: unk */
    lt_tok_free(t);
    /* special-token splitting order (llama.cpp: longest text first, each over all fragments):
     * "abcdab b" -> a | bcd | ab | ' ' | b, not the leftmost-first a-b | cd ... */
    const char *sp[] = {"<unk>", "a", "\xE2\x96\x81", "bcd", "ab", "b", "cd"};
    v = tiny_vocab(sp, 7);
    v->add_space_prefix = false;
    v->unk_id = 0;
    v->token_types = lt_calloc(7, sizeof(int32_t));
    for (int i = 0; i < 7; i++) v->token_types[i] = i >= 3 && i <= 5 ? LT_TOKTYPE_USER_DEFINED : LT_TOKTYPE_NORMAL;
    v->token_types[0] = LT_TOKTYPE_UNKNOWN;
    CHECK(lt_tok_create(&t, v, &err) == LT_OK);
    int64_t k = lt_tok_encode(t, "abcdab b", 8, false, false, ids, 8);
    CHECKF(k == 5 && ids[0] == 1 && ids[1] == 3 && ids[2] == 4 && ids[3] == 2 && ids[4] == 5, "partition: %lld ids",
           (long long)k);
    k = lt_tok_encode(t, "bcdbcd", 6, false, false, ids, 8);
    CHECK(k == 2 && ids[0] == 3 && ids[1] == 3);
    char dec[32];
    lt_tok_decode(t, ids, k, dec, sizeof dec);
    CHECK(!strcmp(dec, "bcdbcd"));
    lt_tok_free(t);
}

/* ---- Hugging Face tokenizer.json --------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void hf(void) {
    const char *dir = lt_test_tmpdir("tok_hf");
    char p[512], q[1100];
    /* byte-level BPE with a Llama 3 split regex and special added tokens */
    snprintf(p, sizeof p, "%s/bpe", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/tokenizer.json", p);
    write_file(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4,"
                  " \"he\": 5, \"ll\": 6, \"hell\": 7, \"hello\": 8, \"\\u0120h\": 9, \"w\": 10},"
                  " \"merges\": [\"h e\", [\"l\", \"l\"], \"he ll\", \"hell o\", \"\\u0120 h\"]},"
                  " \"added_tokens\": [{\"id\": 11, \"content\": \"<|begin|>\", \"special\": true},"
                  " {\"id\": 12, \"content\": \"<tool>\", \"special\": false}],"
                  " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\":"
                  " {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
                  "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}},"
                  " {\"type\": \"ByteLevel\"}]}}");
    snprintf(q, sizeof q, "%s/tokenizer_config.json", p);
    write_file(q, "{\"bos_token\": \"<|begin|>\", \"eos_token\": {\"content\": \"<tool>\"}, \"add_bos_token\": true,"
                  " \"chat_template\": \"{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>"
                  "{% endfor %}\"}");
    snprintf(q, sizeof q, "%s/tokenizer.json", p);
    lt_vocab *v = NULL;
    lt_err err = {0};
    lt_status st = lt_vocab_from_hf(&v, q, &err);
    CHECKF(st == LT_OK, "hf bpe: %s", err.msg);
    if (st == LT_OK) {
        CHECK(v->type == LT_VOCAB_BPE && !strcmp(v->pre, "llama3") && v->n_tokens == 13 && v->n_merges == 5);
        CHECK(v->bos_id == 11 && v->eos_id == 12 && v->add_bos);
        CHECK(v->token_types[11] == LT_TOKTYPE_CONTROL && v->token_types[12] == LT_TOKTYPE_USER_DEFINED);
        lt_tokenizer *t = NULL;
        st = lt_tok_create(&t, v, &err);
        CHECKF(st == LT_OK, "hf bpe tok: %s", err.msg);
        if (!st) {
            int32_t ids[16];
            /* llama3 pre: ignore_merges -> whole-word hit "hello"; " h" merges; <tool> is user-defined */
            int64_t n = lt_tok_encode(t, "hello h<tool>", 13, true, false, ids, 16);
            CHECKF(n == 4 && ids[0] == 11 && ids[1] == 8 && ids[2] == 9 && ids[3] == 12, "hf bpe ids n=%lld",
                   (long long)n);
            n = lt_tok_encode(t, "<|begin|>", 9, false, true, ids, 16);
            CHECK(n == 1 && ids[0] == 11);
            CHECK(!strcmp(lt_chat_template_name(t), "llama3"));
            char out[64];
            n = lt_tok_encode(t, "hello h", 7, false, false, ids, 16);
            lt_tok_decode(t, ids, n, out, sizeof out);
            CHECKF(!strcmp(out, "hello h"), "hf decode '%s'", out);
            lt_tok_free(t);
        }
    }
    /* SentencePiece-style (llama 2 exported by transformers): byte_fallback + Metaspace */
    snprintf(p, sizeof p, "%s/spm", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/tokenizer.json", p);
    {
        /* vocab: <unk> <s> </s>, 256 byte tokens, then pieces */
        char *j = malloc(1 << 16);
        size_t w = 0;
        w += (size_t)sprintf(j + w, "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\","
                                    " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");
        for (int b = 0; b < 256; b++) w += (size_t)sprintf(j + w, ", \"<0x%02X>\": %d", b, 3 + b);
        w += (size_t)sprintf(j + w, ", \"\\u2581\": 259, \"a\": 260, \"b\": 261, \"\\u2581a\": 262, \"ab\": 263,"
                                    " \"\\u2581ab\": 264}, \"merges\": [\"a b\", \"\\u2581 a\", \"\\u2581 ab\"]},"
                                    " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
                                    " {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
                                    " {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
                                    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\","
                                    " \"prepend\": \"\\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
                                    " \"content\": \"\\u2581\"}]}, \"pre_tokenizer\": null}");
        write_file(q, j);
        free(j);
    }
    snprintf(q, sizeof q, "%s/tokenizer_config.json", p);
    write_file(q, "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true, \"chat_template\":"
                  " \"{{ bos_token }}[INST] <<SYS>> ... [/INST]\"}");
    snprintf(q, sizeof q, "%s/tokenizer.json", p);
    v = NULL;
    st = lt_vocab_from_hf(&v, q, &err);
    CHECKF(st == LT_OK, "hf spm: %s", err.msg);
    if (st == LT_OK) {
        CHECK(v->type == LT_VOCAB_SPM && v->add_space_prefix && v->bos_id == 1 && v->eos_id == 2);
        CHECK(v->token_types[3] == LT_TOKTYPE_BYTE && v->token_types[1] == LT_TOKTYPE_CONTROL);
        lt_tokenizer *t = NULL;
        st = lt_tok_create(&t, v, &err);
        CHECKF(st == LT_OK, "hf spm tok: %s", err.msg);
        if (!st) {
            int32_t ids[16];
            /* " ab" merges fully; "c" falls back to byte 0x63 */
            int64_t n = lt_tok_encode(t, "ab ac", 5, true, false, ids, 16);
            CHECKF(n == 4 && ids[0] == 1 && ids[1] == 264 && ids[2] == 262 && ids[3] == 3 + 'c', "hf spm n=%lld",
                   (long long)n);
            char out[64];
            lt_tok_decode(t, ids + 1, n - 1, out, sizeof out);
            CHECKF(!strcmp(out, "ab ac"), "hf spm decode '%s'", out);
            CHECK(!strcmp(lt_chat_template_name(t), "llama2"));
            lt_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
            char buf[256];
            size_t len = lt_chat_render(t, msgs, 4, true, buf, sizeof buf);
            const char *want = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello</s>[INST] Bye [/INST]";
            CHECKF(len == strlen(want) && !strcmp(buf, want), "llama2 chat '%s'", buf);
            lt_tok_free(t);
        }
    }
    /* errors */
    snprintf(q, sizeof q, "%s/bad.json", dir);
    write_file(q, "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}");
    CHECK(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "WordLevel"));
    /* pre-tokenizers and normalizers the pipeline does not run are errors naming them */
    write_file(q, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": "
                  "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Whitespace\"}, "
                  "{\"type\": \"UnicodeScripts\"}]}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "UnicodeScripts"), "%s", err.msg);
    write_file(q, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": "
                  "{\"type\": \"Punctuation\", \"behavior\": \"Sideways\"}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "Sideways"), "%s", err.msg);
    write_file(q, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": "
                  "{\"type\": \"Whitespace\"}, \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": "
                  "[{\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true}, "
                  "{\"type\": \"Precompiled\"}]}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "Precompiled"), "%s", err.msg);
    /* a BPE model with neither ByteLevel nor Metaspace nor byte_fallback (characters as symbols) */
    write_file(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": "
                  "[\"a b\"]}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "ByteLevel"), "%s", err.msg);
    /* a normalizer or post-processor lathe does not apply is an error naming it, never ignored */
    write_file(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": "
                  "[\"a b\"]}, \"normalizer\": {\"type\": \"Precompiled\"}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "Precompiled"), "%s", err.msg);
    write_file(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": "
                  "[\"a b\"]}, \"post_processor\": {\"type\": \"Mystery\"}}");
    CHECKF(lt_vocab_from_hf(&v, q, &err) == LT_EUNSUPPORTED && strstr(err.msg, "Mystery"), "%s", err.msg);
    write_file(q, "{not json");
    CHECK(lt_vocab_from_hf(&v, q, &err) == LT_EFORMAT);
    CHECK(lt_vocab_from_hf(&v, "/nonexistent/tokenizer.json", &err) == LT_EIO);
}

/* ---- chat templates ------------------------------------------------------------------------------ */

static void chat(void) {
    lt_tokenizer *t = open_gguf_tok("assets/vocab/ggml-vocab-phi-3.gguf");
    if (!t) return;
    CHECK(!strcmp(lt_chat_template_name(t), "phi3"));
    lt_chat_msg msgs[] = {{"user", "Hi"}, {"assistant", "Hello"}, {"user", "2+2?"}};
    char buf[256];
    size_t n = lt_chat_render(t, msgs, 3, true, buf, sizeof buf);
    const char *want = "<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\n";
    CHECKF(n == strlen(want) && !strcmp(buf, want), "phi3 chat '%s'", buf);
    /* truncation: full length returned, NUL-terminated */
    char small[8];
    CHECK(lt_chat_render(t, msgs, 3, true, small, sizeof small) == n && strlen(small) == 7);
    /* phi-3's end token ends generation; the rendered prompt tokenizes its specials */
    int32_t ids[64];
    int64_t k = lt_tok_encode(t, buf, n, true, true, ids, 64);
    int32_t end_id = -1;
    for (int64_t i = 0; i < k; i++)
        if (lt_tok_is_eog(t, ids[i])) end_id = ids[i];
    CHECK(k > 0 && end_id >= 0);
    lt_tok_free(t);
    t = open_gguf_tok("assets/vocab/ggml-vocab-gpt-2.gguf");
    if (!t) return;
    CHECK(!strcmp(lt_chat_template_name(t), "plain"));
    /* byte-level tokens split characters: the stream holds partial UTF-8 until complete */
    {
        const char *s = "\xF0\x9F\xA6\x99\xE4\xBD\xA0 ok \xC3\xA9";
        int32_t bids[32];
        int64_t nb = lt_tok_encode(t, s, strlen(s), false, false, bids, 32);
        lt_tok_stream st;
        lt_tok_stream_init(&st);
        char all[64], o[64];
        size_t tot = 0;
        bool valid = true;
        for (int64_t i = 0; i < nb; i++) {
            size_t m = lt_tok_stream_feed(t, &st, bids[i], o, sizeof o);
            valid = valid && valid_utf8(o, m);
            memcpy(all + tot, o, m);
            tot += m;
        }
        tot += lt_tok_stream_flush(t, &st, all + tot, sizeof all - tot);
        CHECK(nb > 4 && valid && tot == strlen(s) && !memcmp(all, s, tot));
        char pc[8];
        int32_t sp[4];
        CHECK(lt_tok_encode(t, " a", 2, false, false, sp, 4) == 1 && lt_tok_piece(t, sp[0], false, pc, 8) == 2 &&
              !memcmp(pc, " a", 2));
    }
    n = lt_chat_render(t, msgs, 1, true, buf, sizeof buf);
    CHECK(!strcmp(buf, "user: Hi\nassistant: "));
    lt_tok_free(t);
    /* the family from template text alone, and rendering by family (chat.h) */
    static const struct {
        const char *tmpl;
        lt_chat_family f;
        const char *name;
    } fam[] = {{NULL, LT_CHAT_PLAIN, "plain"},
               {"{{ m.content }}", LT_CHAT_PLAIN, "plain"},
               {"<|im_start|>{{ role }}", LT_CHAT_CHATML, "chatml"},
               {"<|start_header_id|>x<|end_header_id|>", LT_CHAT_LLAMA3, "llama3"},
               {"<|assistant|> <|end|>", LT_CHAT_PHI3, "phi3"},
               {"<|user|>", LT_CHAT_ZEPHYR, "zephyr"},
               {"<start_of_turn>", LT_CHAT_GEMMA, "gemma"},
               {"[INST] <<SYS>>", LT_CHAT_LLAMA2, "llama2"},
               {"[INST]", LT_CHAT_MISTRAL, "mistral"}};
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        CHECKF(lt_chat_detect(fam[i].tmpl) == fam[i].f && !strcmp(lt_chat_family_name(fam[i].f), fam[i].name),
               "chat family of '%s'", fam[i].tmpl ? fam[i].tmpl : "(null)");
    CHECK(lt_chat_family_of(NULL) == LT_CHAT_PLAIN && !strcmp(lt_chat_template_name(NULL), "plain"));
    lt_chat_msg sys_user[] = {{"system", "S"}, {"user", "U"}};
    n = lt_chat_apply(LT_CHAT_GEMMA, sys_user, 2, true, buf, sizeof buf);
    CHECK(n == strlen(buf) && !strcmp(buf, "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n"));
    CHECK(lt_chat_apply(LT_CHAT_CHATML, sys_user, 2, false, NULL, 0) ==
          strlen("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"));
}

/* ---- the regex engine against llama.cpp's hand-written GPT-2 / Llama 3 splitters --------------- */

static void regex_vs_custom(void) {
    static const char *const gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    static const char *const llama3 =
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /* letters, digits, spaces, newlines, apostrophes, punctuation, symbols, non-ASCII letters,
     * digits, spaces, marks, emoji, unassigned */
    static const uint32_t alphabet[] = {'a', 'B', 's', 't', 'S', 'l', 'e', 'r', '0', '7', ' ', ' ', ' ', '\n', '\r',
                                        '\t', '\'', '\'', '.', ',', '!', '$', '~', '(', 0xE9, 0x44F, 0x4E2D, 0x663,
                                        0x3000, 0xA0, 0x301, 0x1F600, 0x2028, 0x378, 0xFFFD, 0x85};
    const char *const *sets[2] = {&gpt2, &llama3};
    const char *names[2] = {"gpt2", "llama3"};
    lt_test_rng r;
    lt_test_rng_seed(&r, 11);
    for (int s = 0; s < 2; s++) {
        lt_pretok *custom = NULL, *generic = NULL;
        lt_err err = {0};
        CHECK(lt_pretok_create_rx(&custom, sets[s], 1, false, &err) == LT_OK);
        CHECKF(lt_pretok_create_rx(&generic, sets[s], 1, true, &err) == LT_OK, "%s", err.msg);
        if (!custom || !generic) {
            lt_pretok_free(custom);
            lt_pretok_free(generic);
            continue;
        }
        int mismatches = 0;
        lt_lens a = {0}, b = {0};
        uint32_t cps[64];
        for (int it = 0; it < 3000; it++) {
            int n = 1 + (int)(lt_test_u32(&r) % 40);
            for (int i = 0; i < n; i++) cps[i] = alphabet[lt_test_u32(&r) % (sizeof alphabet / sizeof alphabet[0])];
            lt_pretok_split(custom, cps, n, &a);
            lt_pretok_split(generic, cps, n, &b);
            bool same = a.n == b.n && !memcmp(a.v, b.v, sizeof(int64_t) * (size_t)a.n);
            if (!same && mismatches++ < 3) {
                fprintf(stderr, "%s: split mismatch for", names[s]);
                for (int i = 0; i < n; i++) fprintf(stderr, " %X", cps[i]);
                fprintf(stderr, "\n  custom ");
                for (int64_t i = 0; i < a.n; i++) fprintf(stderr, " %lld", (long long)a.v[i]);
                fprintf(stderr, "\n  regex  ");
                for (int64_t i = 0; i < b.n; i++) fprintf(stderr, " %lld", (long long)b.v[i]);
                fprintf(stderr, "\n");
            }
        }
        CHECKF(mismatches == 0, "%s: %d of 3000 random strings split differently", names[s], mismatches);
        lt_free(a.v);
        lt_free(b.v);
        lt_pretok_free(custom);
        lt_pretok_free(generic);
    }
    /* a few regex features on their own */
    static const struct {
        const char *rx;
        const char *text;
        int n;
        int64_t lens[8];
    } cases[] = {
        {"\\s+$", "ab  ", 2, {2, 2}},
        {"[0-9][0-9][0-9]", "12345678", 3, {3, 3, 2}},
        {"(IMGIMG)((A|B|C){1,4})Z", "xIMGIMGABZy", 3, {1, 9, 1}},
        {"a(?=b)", "acab", 3, {2, 1, 1}},
        {"x+?", "xxx", 3, {1, 1, 1}},
        {"x{2,3}y", "xxxxy", 2, {1, 4}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lt_pretok *p = NULL;
        lt_err err = {0};
        CHECKF(lt_pretok_create_rx(&p, &cases[c].rx, 1, true, &err) == LT_OK, "%s", err.msg);
        if (!p) continue;
        uint32_t cps[32];
        int n = (int)strlen(cases[c].text);
        for (int i = 0; i < n; i++) cps[i] = (unsigned char)cases[c].text[i];
        lt_lens a = {0};
        lt_pretok_split(p, cps, n, &a);
        bool ok = a.n == cases[c].n && !memcmp(a.v, cases[c].lens, sizeof(int64_t) * (size_t)a.n);
        CHECKF(ok, "regex '%s' on '%s': %lld pieces", cases[c].rx, cases[c].text, (long long)a.n);
        lt_free(a.v);
        lt_pretok_free(p);
    }
    const char *bad = "(unclosed";
    lt_pretok *p = NULL;
    lt_err err = {0};
    CHECK(lt_pretok_create_rx(&p, &bad, 1, true, &err) == LT_EINVAL && p == NULL);
}

int main(void) {
    int total_fail = 0;
    for (int i = 0; VOCABS[i]; i++) {
        int ns = 0;
        int f = vocab_test(VOCABS[i], &ns);
        printf("  vocab %-15s %s (%d strings, %d mismatched)\n", VOCABS[i], f ? "FAIL" : "pass", ns, f);
        total_fail += f != 0;
    }
    printf("  vocab files: %d passed, %d failed\n", (int)(sizeof VOCABS / sizeof VOCABS[0]) - 1 - total_fail,
           total_fail);
    regex_vs_custom();
    llama2c();
    streaming();
    validation();
    hf();
    chat();
    robustness("llama-spm");
    robustness("gpt-2");
    robustness("deepseek-llm");
    robustness("falcon");
    speed("llama-spm");
    speed("gpt-2");
    speed("deepseek-llm");
    return lt_test_done();
}
