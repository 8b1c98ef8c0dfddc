/* test_llama_mem.c - weights live once in host memory: loading a model from a mapped file
 * onto the CPU backend grows the process's resident set by about the weights (the arena
 * copy), not twice that (the copy beside the mapped file's pages), for each mapped format
 * (GGUF, Hugging Face safetensors, llama2.c with its unaligned offsets); the peak during the
 * load stays there too. The source still reads the same bytes after its pages were dropped,
 * and an in-memory source (owned, anonymous memory) is never dropped. The models (30-70 MB)
 * are written by a child process, so the allocator's freed memory does not blur the
 * measurement. Skips (77) without /proc/self/status. Generation itself is covered by
 * test_llama_forward and test_stories (same logits from every format).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/digest.h"
#include "core/base/sysmem.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_open.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"
#include "testutil.h"

#define MIB (1024.0 * 1024.0)

#if defined(__SANITIZE_ADDRESS__)
#define LT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_TEST_ASAN 1
#endif
#endif

/* 17.8M parameters: 36 MB as f16, 71 MB as f32. */
static lt_llm_config model_cfg(void) {
    lt_llm_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "llama");
    strcpy(c.name, "mem-test");
    c.dim = 512;
    c.hidden_dim = 1024;
    c.n_layers = 6;
    c.n_heads = 8;
    c.n_kv_heads = 8;
    c.head_dim = 64;
    c.n_vocab = 4096;
    c.max_seq = 256;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tied_embeddings = true;
    return c;
}

/* Writes the three files in a child process; true when all were written. */
static bool write_models(const char *gguf, const char *hf, const char *l2c) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        lt_err err;
        lt_llm_config c = model_cfg();
        lt_modelsrc *src;
        int rc = 1;
        if (lt_llama_synthetic(&src, &c, NULL, 11, &err) == LT_OK) {
            if (lt_modelsrc_write_gguf(src, gguf, LT_F16, &err) == LT_OK &&
                lt_modelsrc_write_hf(src, hf, LT_F16, &err) == LT_OK && lt_modelsrc_write_llama2c(src, l2c, &err) == LT_OK)
                rc = 0;
            else fprintf(stderr, "write: %s\n", err.msg);
            lt_modelsrc_close(src);
        }
        _exit(rc);
    }
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- the vocab and tokenizer of a large byte-level BPE GGUF ------------------------------ */

/* SmolLM2's sizes: 49152 tokens (texts of 1-10 bytes, half 'Ġ'-led), 48896 merges. */
#define BIG_TOKENS 49152
#define BIG_MERGES (BIG_TOKENS - 256)

static lt_vocab *big_vocab(size_t *text_bytes) {
    lt_vocab *v = lt_vocab_create();
    if (!v) return NULL;
    v->type = LT_VOCAB_BPE;
    strcpy(v->pre, "smollm");
    v->n_tokens = BIG_TOKENS;
    v->tokens = lt_calloc(BIG_TOKENS, sizeof *v->tokens);
    v->token_len = lt_calloc(BIG_TOKENS, sizeof *v->token_len);
    v->merges = lt_calloc(BIG_MERGES, sizeof *v->merges);
    if (!v->tokens || !v->token_len || !v->merges) {
        lt_vocab_free(v);
        return NULL;
    }
    *text_bytes = 0;
    char buf[32];
    for (int i = 0; i < BIG_TOKENS; i++) {
        int n = 0;
        if (i < 256) { /* one letter or digit per token first, then longer texts */
            buf[n++] = (char)(i < 26 ? 'a' + i : i < 52 ? 'A' + i - 26 : i < 62 ? '0' + i - 52 : 0);
            if (i >= 62) n = snprintf(buf, sizeof buf, "<%d>", i);
        } else {
            if (i & 1) buf[n++] = (char)0xC4, buf[n++] = (char)0xA0; /* 'Ġ' */
            for (int x = i, len = 0; len < 2 + i % 7; x /= 26, len++) buf[n++] = (char)('a' + x % 26);
        }
        buf[n] = 0;
        v->tokens[i] = lt_strdup(buf);
        v->token_len[i] = (uint32_t)n;
        *text_bytes += (size_t)n;
        if (i >= 256) {
            char m[40];
            snprintf(m, sizeof m, "%.*s %s", n - 1, buf, buf + n - 1);
            v->merges[v->n_merges++] = lt_strdup(m);
            *text_bytes += strlen(m);
        }
    }
    return v;
}

/* Writes a GGUF with that vocab and a small model (6 MB) in a child process. */
static bool write_big_vocab(const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        lt_err err;
        lt_llm_config c = model_cfg();
        c.dim = 64, c.hidden_dim = 128, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 2, c.head_dim = 32;
        c.n_vocab = BIG_TOKENS;
        size_t tb;
        lt_vocab *v = big_vocab(&tb);
        lt_modelsrc *src;
        int rc = 1;
        if (v && lt_llama_synthetic(&src, &c, v, 5, &err) == LT_OK) {
            if (lt_modelsrc_write_gguf(src, path, LT_F16, &err) == LT_OK) rc = 0;
            else fprintf(stderr, "write: %s\n", err.msg);
            lt_modelsrc_close(src);
        }
        _exit(rc);
    }
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool reset_peak(void);

/* Opening the file and building its tokenizer keeps the vocab's texts in one block each
 * (lt_vocab.str_pool, the tokenizer's pieces), not one allocation per token and merge: the
 * resident set grows by about the tables and the texts (~5 MiB here), where one allocation
 * per string cost ~15 MiB (an allocation's header and malloc's rounding outweigh a 7-byte
 * text). Runs first, in a process whose heap has no freed memory to reuse. */
static void check_vocab_rss(const char *path) {
    size_t text = 0;
    lt_vocab *ref = big_vocab(&text);
    LT_ASSERT(ref);
    lt_err err;
    size_t rss0 = lt_sysmem_rss();
    bool peak = reset_peak();
    size_t hwm0 = peak ? lt_sysmem_peak_rss() : 0;
    lt_modelsrc *src;
    lt_status s = lt_modelsrc_open(&src, path, NULL, &err);
    CHECKF(s == LT_OK, "open %s: %s", path, err.msg);
    if (s != LT_OK) {
        lt_vocab_free(ref);
        return;
    }
    lt_vocab *v = lt_modelsrc_take_vocab(src);
    lt_modelsrc_close(src);
    lt_tokenizer *tok = NULL;
    s = lt_tok_create(&tok, v, &err);
    CHECKF(s == LT_OK, "tokenizer: %s", err.msg);
    double grew = (double)lt_sysmem_rss() - (double)rss0;
    double peak_grew = peak ? (double)lt_sysmem_peak_rss() - (double)hwm0 : 0;
    /* per token: pointer, length, type, the tokenizer's attributes, hash slots, piece offset and
     * length, special list (~40 bytes); per merge: pointer and hash slots (~16); the texts
     * twice (vocab and pieces); 1 MiB of fixed tables and slack */
    double bound = 1 * MIB + 64.0 * BIG_TOKENS + 32.0 * BIG_MERGES + 2.0 * (double)text;
#ifdef LT_TEST_ASAN
    bound *= 1.6; /* shadow memory, redzones, freed blocks held in quarantine */
#endif
    printf("vocab of %d tokens and %d merges (%.2f MiB of text): RSS grew %.2f MiB (bound %.2f), peak %.2f MiB\n",
           BIG_TOKENS, BIG_MERGES, text / MIB, grew / MIB, bound / MIB, peak_grew / MIB);
    CHECKF(grew <= bound, "the vocab and tokenizer take %.2f MiB (bound %.2f MiB)", grew / MIB, bound / MIB);
    /* the peak adds the file's header pages (the arrays, dropped after parsing) and its index */
    if (peak) CHECKF(peak_grew <= bound + 4 * MIB, "opening peaked %.2f MiB higher", peak_grew / MIB);
    if (tok) {
        const lt_vocab *tv = lt_tok_vocab(tok);
        bool same = tv->n_tokens == ref->n_tokens && tv->n_merges == ref->n_merges;
        for (int i = 0; same && i < ref->n_tokens; i++)
            same = tv->token_len[i] == ref->token_len[i] && !strcmp(tv->tokens[i], ref->tokens[i]);
        for (int i = 0; same && i < ref->n_merges; i++) same = !strcmp(tv->merges[i], ref->merges[i]);
        CHECK(same);
        CHECK(tv->str_pool != NULL);
        /* pieces read back: 'Ġ' decodes to a space, one token per text */
        char piece[32];
        size_t n = lt_tok_piece(tok, 257, false, piece, sizeof piece);
        CHECK(n == ref->token_len[257] - 1 && piece[0] == ' ' && !memcmp(piece + 1, ref->tokens[257] + 2, n - 1));
        int32_t id = -1;
        CHECK(lt_tok_encode(tok, "q", 1, false, false, &id, 1) == 1 && id == 'q' - 'a');
    }
    lt_tok_free(tok);
    lt_vocab_free(ref);
}

/* Resets VmHWM to the current RSS (Linux 4.0+); false where the kernel does not allow it. */
static bool reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static uint64_t tensor_digest(const lt_src_tensor *t) { return lt_fnv1a64(LT_FNV_INIT, t->data, t->nbytes); }

static void check_load(lt_backend *be, const char *path) {
    lt_err err;
    lt_modelsrc *src;
    lt_status s = lt_modelsrc_open(&src, path, NULL, &err);
    CHECKF(s == LT_OK, "open %s: %s", path, err.msg);
    if (s != LT_OK) return;
    /* reading a tensor maps its pages (the old loader left every page mapped like this) */
    const lt_src_tensor *emb = lt_modelsrc_find(src, "token_embd.weight");
    const lt_src_tensor *down = lt_modelsrc_find(src, "blk.3.ffn_down.weight");
    LT_ASSERT(emb && down && emb->mapped && down->mapped);
    uint64_t d_emb = tensor_digest(emb), d_down = tensor_digest(down);
    lt_modelsrc_drop(src, emb);
    lt_modelsrc_drop(src, down);
    size_t rss0 = lt_sysmem_rss();
    bool peak = reset_peak();
    size_t hwm0 = peak ? lt_sysmem_peak_rss() : 0;
    lt_lm *m = NULL;
    lt_lm_opts o = {.max_batch = 4};
    s = lt_llama_open(&m, src, be, &o, &err);
    CHECKF(s == LT_OK, "load %s: %s", path, err.msg);
    if (s == LT_OK) {
        /* measured with the source still open: its mapping no longer holds the weights */
        size_t rss1 = lt_sysmem_rss(), hwm1 = peak ? lt_sysmem_peak_rss() : 0;
        double w = (double)m->weight_bytes, grew = (double)rss1 - (double)rss0;
        double limit = 1.1 * w + 6 * MIB; /* scratch, tables, the tensor in flight */
        printf("%s: %.1f MiB of weights (file %.1f MiB), RSS grew %.1f MiB", path, w / MIB,
               (double)m->file_bytes / MIB, grew / MIB);
        if (peak) printf(", peak grew %.1f MiB", ((double)hwm1 - (double)hwm0) / MIB);
        printf("\n");
        CHECK(m->file_bytes == lt_modelsrc_file_bytes(src) && m->file_bytes > m->weight_bytes / 2);
        CHECKF(grew <= limit, "%s: loading grew RSS by %.1f MiB for %.1f MiB of weights (the mapped file stayed "
               "resident?)", path, grew / MIB, w / MIB);
        CHECKF(grew >= 0.9 * w, "%s: RSS grew only %.1f MiB for %.1f MiB of weights (measurement blurred)", path,
               grew / MIB, w / MIB);
        if (peak)
            CHECKF((double)hwm1 - (double)hwm0 <= limit, "%s: peak RSS grew by %.1f MiB while loading", path,
                   ((double)hwm1 - (double)hwm0) / MIB);
    }
    /* dropped pages come back from the file with the same bytes */
    CHECK(tensor_digest(emb) == d_emb);
    CHECK(tensor_digest(down) == d_down);
    lt_lm_close(m);
    lt_modelsrc_close(src);
}

/* An in-memory source owns anonymous memory: loading must leave its data alone. */
static void check_memory_source(lt_backend *be) {
    lt_err err;
    lt_llm_config c;
    LT_ASSERT(lt_llama_preset("tiny", &c, &err) == LT_OK);
    lt_modelsrc *src;
    LT_ASSERT(lt_llama_synthetic(&src, &c, NULL, 3, &err) == LT_OK);
    const lt_src_tensor *t = lt_modelsrc_find(src, "blk.0.ffn_up.weight");
    LT_ASSERT(t && !t->mapped);
    uint64_t d = tensor_digest(t);
    lt_lm *m = NULL;
    CHECK(lt_llama_open(&m, src, be, NULL, &err) == LT_OK);
    lt_modelsrc_drop(src, t); /* a no-op */
    CHECK(tensor_digest(t) == d);
    CHECK(m && m->file_bytes == 0);
    lt_lm_close(m);
    lt_modelsrc_close(src);
}

/* Removes a folder of plain files (the HF model). */
static void rm_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(path);
}

int main(void) {
    if (lt_sysmem_rss() == 0) {
        printf("skipped: /proc/self/status is not readable, so RSS cannot be measured\n");
        return 77;
    }
    lt_err err;
    const char *dir = lt_test_tmpdir("llama_mem");
    char big[512];
    snprintf(big, sizeof big, "%s/vocab.gguf", dir);
    bool wrote = write_big_vocab(big);
    CHECK(wrote);
    if (wrote) check_vocab_rss(big);
    unlink(big);
    lt_backend *be;
    LT_ASSERT(lt_backend_create(&be, "cpu", NULL, &err) == LT_OK);
    check_memory_source(be);
    char gguf[512], hf[512], l2c[512];
    snprintf(gguf, sizeof gguf, "%s/m.gguf", dir);
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(l2c, sizeof l2c, "%s/m.bin", dir);
    bool ok = write_models(gguf, hf, l2c);
    CHECK(ok);
    if (ok) {
        check_load(be, gguf);
        check_load(be, hf);
        check_load(be, l2c);
    }
    unlink(gguf);
    unlink(l2c);
    rm_dir(hf);
    lt_backend_free(be);
    return lt_test_done();
}
