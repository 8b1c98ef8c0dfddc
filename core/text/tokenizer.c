/* tokenizer.c - encoder/decoder for SentencePiece-style (SPM) and byte-level BPE vocabs,
 * following llama.cpp's src/llama-vocab.cpp (llm_tokenizer_spm_session,
 * llm_tokenizer_bpe_session, tokenizer_st_partition, token_to_piece, detokenize) so token ids
 * match llama.cpp's published vocab tests exactly.
 *
 * Special-token splitting: user-defined tokens are always split out of the text; control and
 * unknown tokens only with parse_special. Token attributes come from the vocab's token types,
 * plus llama.cpp's by-text detection of end-of-generation / FIM tokens.
 * Leaves out: WordPiece and Unigram vocabs, per-model LSTRIP/RSTRIP attributes (llama.cpp sets
 * them from general.name for phi-3 and jina), the Kimi-K2 / AFMoE / Gemma 4 special paths,
 * and chat templates (chat.c, which sits above and reads the template text from the vocab).
 */
#define _GNU_SOURCE /* memmem */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "unicode_data.h"
#include "unicode_norm.h"

/* ---- hashing ----------------------------------------------------------------------------- */

static inline uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}



int32_t lt_tok_find(const lt_tokenizer *t, const char *s, size_t n) {
    size_t m = t->tcap - 1, i = hash_bytes(s, n) & m;
    for (;;) {
        int32_t id = t->tmap[i];
        if (id < 0) return -1;
        if (t->v->token_len[id] == n && !memcmp(t->v->tokens[id], s, n)) return id;
        i = (i + 1) & m;
    }
}

static int32_t merge_rank(const lt_tokenizer *t, const char *s, size_t n) {
    size_t m = t->mcap - 1, i = hash_bytes(s, n) & m;
    for (;;) {
        int32_t r = t->mmap[i];
        if (r < 0) return -1;
        const char *ms = t->v->merges[r];
        if (strlen(ms) == n && !memcmp(ms, s, n)) return r;
        i = (i + 1) & m;
    }
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* ---- growable buffers ---------------------------------------------------------------------- */

typedef struct ivec {
    int32_t *v;
    int64_t n, cap;
    bool oom;
} ivec;

static inline void ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        int64_t nc = a->cap ? a->cap * 2 : 256;
        int32_t *p = lt_realloc(a->v, (size_t)nc * sizeof *p);
        if (!p) {
            a->oom = true;
            return;
        }
        a->v = p;
        a->cap = nc;
    }
    a->v[a->n++] = x;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static inline void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = lt_realloc(b->p, nc);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---- symbols and priority queue (shared by SPM and BPE) -------------------------------------- */

typedef struct sym {
    const char *text;
    int32_t n, prev, next;
} sym;

typedef struct bigram {
    uint64_t key; /* ordering: higher score first, then smaller left (smallest key pops first) */
    int32_t right, size;
} bigram;

static inline uint64_t bg_key(float score, int32_t left) {
    uint32_t u;
    memcpy(&u, &score, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* monotonic: larger score -> larger u */
    return ((uint64_t)~u << 32) | (uint32_t)left;
}

static inline int32_t bg_left(const bigram *b) { return (int32_t)(uint32_t)b->key; }

typedef struct session {
    sym *s;
    int64_t ns, caps;
    bigram *q; /* 4-ary min-heap on key */
    int64_t nq, capq;
    sbuf key;
    bool oom;
} session;

static void q_push(session *ss, bigram b) {
    if (ss->nq == ss->capq) {
        int64_t nc = ss->capq ? ss->capq * 2 : 256;
        bigram *p = lt_realloc(ss->q, (size_t)nc * sizeof *p);
        if (!p) {
            ss->oom = true;
            return;
        }
        ss->q = p;
        ss->capq = nc;
    }
    int64_t i = ss->nq++;
    while (i > 0) {
        int64_t par = (i - 1) / 4;
        if (b.key >= ss->q[par].key) break;
        ss->q[i] = ss->q[par];
        i = par;
    }
    ss->q[i] = b;
}

static bigram q_pop(session *ss) {
    bigram top = ss->q[0], last = ss->q[--ss->nq];
    int64_t i = 0, n = ss->nq;
    if (n == 0) return top;
    for (;;) {
        int64_t c = 4 * i + 1, best = -1;
        uint64_t bk = last.key;
        for (int64_t j = c; j < c + 4 && j < n; j++)
            if (ss->q[j].key < bk) bk = ss->q[j].key, best = j;
        if (best < 0) break;
        ss->q[i] = ss->q[best];
        i = best;
    }
    ss->q[i] = last;
    return top;
}

/* Splits text into UTF-8 characters as llama.cpp does (lead byte decides the length). */
static void make_syms(session *ss, const char *text, size_t n) {
    ss->ns = 0;
    ss->nq = 0;
    if ((int64_t)n > ss->caps) {
        sym *p = lt_realloc(ss->s, n * sizeof *p);
        if (!p) {
            ss->oom = true;
            return;
        }
        ss->s = p;
        ss->caps = (int64_t)n;
    }
    size_t off = 0;
    int32_t idx = 0;
    while (off < n) {
        size_t l = lt_utf8_len((unsigned char)text[off]);
        if (l > n - off) l = n - off;
        sym *y = &ss->s[ss->ns++];
        y->text = text + off;
        y->n = (int32_t)l;
        off += l;
        y->prev = idx - 1;
        y->next = off == n ? -1 : idx + 1;
        idx++;
    }
}

/* ---- SPM --------------------------------------------------------------------------------- */

static void spm_try_bigram(const lt_tokenizer *t, session *ss, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const char *s = ss->s[left].text;
    size_t n = (size_t)(ss->s[left].n + ss->s[right].n);
    int32_t id = lt_tok_find(t, s, n);
    if (id < 0) return;
    bigram b = {bg_key(t->v->scores ? t->v->scores[id] : 0.0f, left), right, (int32_t)n};
    q_push(ss, b);
}

static void spm_byte_out(const lt_tokenizer *t, unsigned char c, ivec *out) {
    int32_t id = t->spm_byte[c];
    if (id < 0) id = t->v->unk_id;
    if (id >= 0) ivec_push(out, id);
}

static inline bool is_ws_mark(const char *s) {
    return (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x96 && (unsigned char)s[2] == 0x81;
}

/* The merge loop both BPE flavours share: queue every adjacent pair try() scores, then
 * repeatedly merge the best pair still valid and queue the pairs it forms with its
 * neighbours. try() is spm_try_bigram (by score) or bpe_try_bigram (by merge rank). */
typedef void (*try_fn)(const lt_tokenizer *t, session *ss, int32_t left, int32_t right);
static void merge_syms(const lt_tokenizer *t, session *ss, try_fn try) {
    if (ss->oom) return;
    for (int32_t i = 1; i < (int32_t)ss->ns; i++) try(t, ss, i - 1, i);
    while (ss->nq > 0 && !ss->oom) {
        bigram b = q_pop(ss);
        int32_t bl = bg_left(&b);
        sym *l = &ss->s[bl], *r = &ss->s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) ss->s[r->next].prev = bl;
        try(t, ss, l->prev, bl);
        try(t, ss, bl, l->next);
    }
}

static void spm_tokenize_run(const lt_tokenizer *t, session *ss, const char *text, size_t n, ivec *out);

/* SPM over the escaped text. When the vocab allows it (spm_seg), the text is cut before every
 * '▁' that follows another character: no token can span such a cut, and merges in different
 * pieces never interact, so the result equals one pass over the whole text (and is faster). */
static void spm_tokenize(const lt_tokenizer *t, session *ss, const char *text, size_t n, ivec *out) {
    if (!t->spm_seg) {
        spm_tokenize_run(t, ss, text, n, out);
        return;
    }
    size_t a = 0;
    for (size_t k = 3; k + 3 <= n; k++) {
        if (is_ws_mark(text + k) && !is_ws_mark(text + k - 3)) {
            spm_tokenize_run(t, ss, text + a, k - a, out);
            a = k;
            k += 2;
        }
    }
    spm_tokenize_run(t, ss, text + a, n - a, out);
}

static void spm_tokenize_run(const lt_tokenizer *t, session *ss, const char *text, size_t n, ivec *out) {
    make_syms(ss, text, n);
    merge_syms(t, ss, spm_try_bigram);
    for (int32_t i = ss->ns ? 0 : -1; i != -1; i = ss->s[i].next) {
        const sym *y = &ss->s[i];
        int32_t id = lt_tok_find(t, y->text, (size_t)y->n);
        if (id >= 0) ivec_push(out, id);
        else
            for (int32_t j = 0; j < y->n; j++) spm_byte_out(t, (unsigned char)y->text[j], out);
    }
}

/* ---- byte-level BPE ---------------------------------------------------------------------- */

static void bpe_try_bigram(const lt_tokenizer *t, session *ss, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const sym *l = &ss->s[left], *r = &ss->s[right];
    ss->key.n = 0;
    sb_add(&ss->key, l->text, (size_t)l->n);
    sb_add(&ss->key, " ", 1);
    sb_add(&ss->key, r->text, (size_t)r->n);
    if (ss->key.oom) {
        ss->oom = true;
        return;
    }
    int32_t rank = merge_rank(t, ss->key.p, ss->key.n);
    if (rank < 0) return;
    bigram b = {bg_key(-(float)rank, left), right, l->n + r->n};
    q_push(ss, b);
}

/* BPE on one byte-encoded word. */
static void bpe_word(const lt_tokenizer *t, session *ss, const char *w, size_t n, ivec *out) {
    if (t->ignore_merges && lt_tok_find(t, w, n) >= 0) {
        ivec_push(out, lt_tok_find(t, w, n));
        return;
    }
    make_syms(ss, w, n);
    merge_syms(t, ss, bpe_try_bigram);
    for (int32_t i = ss->ns ? 0 : -1; i != -1; i = ss->s[i].next) {
        const sym *y = &ss->s[i];
        if (y->n == 0) continue;
        int32_t id = lt_tok_find(t, y->text, (size_t)y->n);
        if (id >= 0) {
            ivec_push(out, id);
            continue;
        }
        for (int32_t j = 0; j < y->n; j++) {
            int32_t bid = lt_tok_find(t, y->text + j, 1);
            if (bid >= 0) ivec_push(out, bid);
        }
    }
}

static void bpe_tokenize(const lt_tokenizer *t, session *ss, const char *text, size_t n, ivec *out) {
    uint32_t *cps = lt_malloc((n + 1) * sizeof *cps);
    if (!cps) {
        ss->oom = true;
        return;
    }
    int64_t nc = 0;
    for (size_t i = 0; i < n;) cps[nc++] = lt_utf8_decode((const unsigned char *)text, n, &i);
    lt_lens words = {0};
    if (!lt_pretok_split(t->pre, cps, nc, &words)) {
        lt_free(cps);
        ss->oom = true;
        return;
    }
    sbuf w = {0};
    int64_t start = 0;
    for (int64_t k = 0; k < words.n && !ss->oom; k++) {
        w.n = 0;
        for (int64_t i = start; i < start + words.v[k]; i++) {
            char u[4];
            int ul = lt_utf8_encode(cps[i], u);
            for (int j = 0; j < ul; j++) {
                unsigned char c = (unsigned char)u[j];
                sb_add(&w, t->bpe_enc[c], t->bpe_enc_len[c]);
            }
        }
        start += words.v[k];
        if (w.oom) {
            ss->oom = true;
            break;
        }
        if (w.n) bpe_word(t, ss, w.p, w.n, out);
    }
    lt_free(w.p);
    lt_free(words.v);
    lt_free(cps);
}

/* s[0..n) after the vocab's normalizers (tokenizer.json), into nb. False when out of memory. */
static bool normalize_text(uint32_t flags, const char *s, size_t n, sbuf *nb) {
    uint32_t *cps = lt_malloc((n + 1) * sizeof *cps), *o = NULL;
    size_t nc = 0, ocap = 0, on = 0;
    if (!cps) return false;
    for (size_t i = 0; i < n;) cps[nc++] = lt_utf8_decode((const unsigned char *)s, n, &i);
    bool ok = lt_unorm(flags, cps, nc, &o, &ocap, &on);
    nb->n = 0;
    sb_add(nb, "", 0);
    for (size_t i = 0; ok && i < on; i++) {
        char u[4];
        sb_add(nb, u, (size_t)lt_utf8_encode(o[i], u));
    }
    lt_free(cps);
    lt_free(o);
    return ok && !nb->oom;
}

/* ---- encode ------------------------------------------------------------------------------ */

/* Hugging Face's pipeline (tok_hf.c) on normalized text s[0..n): pre-tokenize, then the model on
 * each piece. */
static bool encode_pipe(const lt_tokenizer *t, session *ss, const char *s, size_t n, bool first, ivec *res) {
    uint32_t *in = lt_malloc((n + 1) * sizeof *in), *cps = NULL;
    int64_t nin = 0, *lens = NULL, np = 0;
    if (!in) return false;
    for (size_t i = 0; i < n;) in[nin++] = lt_utf8_decode((const unsigned char *)s, n, &i);
    bool ok = lt_hfpipe_split(t->pipe, in, nin, first, &cps, &lens, &np);
    bool bl = lt_hfpipe_bytelevel(t->pipe);
    sbuf w = {0};
    for (int64_t k = 0, at = 0; ok && k < np; at += lens[k], k++) {
        w.n = 0;
        for (int64_t i = at; i < at + lens[k]; i++) {
            char u[4];
            int ul = lt_utf8_encode(cps[i], u);
            if (!bl) sb_add(&w, u, (size_t)ul);
            else
                for (int j = 0; j < ul; j++) {
                    unsigned char c = (unsigned char)u[j];
                    sb_add(&w, t->bpe_enc[c], t->bpe_enc_len[c]);
                }
        }
        if (w.oom || !w.n) {
            ok = !w.oom;
            continue;
        }
        if (t->v->type == LT_VOCAB_BPE) bpe_word(t, ss, w.p, w.n, res);
        else if (t->v->type == LT_VOCAB_SPM) spm_tokenize(t, ss, w.p, w.n, res);
        else if (t->v->type == LT_VOCAB_UGM) ok = lt_ugm_encode(t, w.p, w.n, &res->v, &res->n, &res->cap);
        else ok = lt_wpm_word(t, w.p, w.n, &res->v, &res->n, &res->cap);
    }
    lt_free(w.p);
    lt_free(in);
    lt_free(cps);
    lt_free(lens);
    return ok && !ss->oom;
}

/* The pipeline's normalizers on s[0..n) into nb (UTF-8). */
static bool normalize_pipe(const lt_hfpipe *h, const char *s, size_t n, sbuf *nb, bool *start_kept) {
    uint32_t *in = lt_malloc((n + 1) * sizeof *in), *o = NULL;
    int64_t nin = 0, on = 0;
    if (!in) return false;
    for (size_t i = 0; i < n;) in[nin++] = lt_utf8_decode((const unsigned char *)s, n, &i);
    bool ok = lt_hfpipe_normalize(h, in, nin, &o, &on, start_kept);
    nb->n = 0;
    sb_add(nb, "", 0);
    for (int64_t i = 0; ok && i < on; i++) {
        char u[4];
        sb_add(nb, u, (size_t)lt_utf8_encode(o[i], u));
    }
    lt_free(in);
    lt_free(o);
    return ok && !nb->oom;
}

/* One stretch of normalized text s[0..n) between special tokens (first: at the start of the
 * text; *prev_special: a special token came right before it). */
static bool encode_text(const lt_tokenizer *t, session *ss, const char *s, size_t fl, bool first, bool *prev_special,
                        sbuf *tb, ivec *res) {
    const lt_vocab *v = t->v;
    bool ps = *prev_special;
    *prev_special = false;
    if (t->pipe) return encode_pipe(t, ss, s, fl, first, res);
    if (v->type == LT_VOCAB_BPE) {
        bpe_tokenize(t, ss, s, fl, res);
        return true;
    }
    if (v->type == LT_VOCAB_WPM) return lt_wpm_encode(t, s, fl, &res->v, &res->n, &res->cap);
    if (!fl) {
        *prev_special = ps;
        return true;
    }
    tb->n = 0;
    bool prefix = v->prepend == LT_PREPEND_LLAMA    ? ps
                  : v->prepend == LT_PREPEND_ALWAYS ? s[0] != ' '
                                                    : first && s[0] != ' ';
    if (v->add_space_prefix && prefix) sb_add(tb, "\xE2\x96\x81", 3);
    size_t a = 0;
    for (size_t k = 0; k < fl; k++)
        if (s[k] == ' ') {
            sb_add(tb, s + a, k - a);
            sb_add(tb, "\xE2\x96\x81", 3);
            a = k + 1;
        }
    sb_add(tb, s + a, fl - a);
    if (tb->oom) return false;
    if (v->type == LT_VOCAB_UGM) return lt_ugm_encode(t, tb->p, tb->n, &res->v, &res->n, &res->cap);
    spm_tokenize(t, ss, tb->p, tb->n, res);
    return true;
}

static bool encode_vec(const lt_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                       ivec *resp) {
    const lt_vocab *v = t->v;
    ivec res = *resp;
    fvec frags = {0}, sub = {0};
    session ss = {0};
    sbuf tb = {0}, nb = {0};
    bool ok = true;
    if (len) lt_tok_partition(t, text, len, parse_special, &frags);
    if (frags.oom) ok = false;
    if (ok && v->token_flags) lt_tok_strip_around(t, text, &frags);
    if (add_special && v->add_bos && v->bos_id >= 0) {
        ivec_push(&res, v->bos_id);
        for (int k = 0; k < v->n_tpl_extra[0]; k++) ivec_push(&res, v->tpl_extra[0][k]);
    }
    bool prev_special = true;
    for (int64_t i = 0; ok && i < frags.n; i++) {
        const frag *f = &frags.v[i];
        if (f->id >= 0) {
            ivec_push(&res, f->id);
            prev_special = true;
            continue;
        }
        const char *s = text + f->off;
        size_t fl = f->len;
        bool first = f->off == 0;
        if (t->pipe) {
            if (!(ok = normalize_pipe(t->pipe, s, fl, &nb, &first))) break;
            first = first && f->off == 0;
            s = nb.p, fl = nb.n;
        } else if (v->normalize) {
            if (!(ok = normalize_text(v->normalize, s, fl, &nb))) break;
            s = nb.p, fl = nb.n;
        }
        if (!t->n_ntok) {
            ok = encode_text(t, &ss, s, fl, first, &prev_special, &tb, &res);
            continue;
        }
        lt_tok_norm_split(t, s, fl, &sub); /* added tokens matched in the normalized text */
        for (int64_t k = 0; ok && !sub.oom && k < sub.n; k++) {
            if (sub.v[k].id >= 0) {
                ivec_push(&res, sub.v[k].id);
                prev_special = true;
            } else {
                ok = encode_text(t, &ss, s + sub.v[k].off, sub.v[k].len, first && sub.v[k].off == 0,
                                 &prev_special, &tb, &res);
            }
        }
        ok = ok && !sub.oom;
    }
    if (add_special && v->add_eos && v->eos_id >= 0) {
        for (int k = 0; k < v->n_tpl_extra[1]; k++) ivec_push(&res, v->tpl_extra[1][k]);
        ivec_push(&res, v->eos_id);
    }
    ok = ok && !res.oom && !ss.oom;
    *resp = res;
    lt_free(frags.v);
    lt_free(sub.v);
    lt_free(ss.s);
    lt_free(ss.q);
    lt_free(ss.key.p);
    lt_free(tb.p);
    lt_free(nb.p);
    return ok;
}

int64_t lt_tok_encode(const lt_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                      int32_t *out, int64_t cap) {
    if (!t || (!text && len)) return -1;
    ivec res = {0};
    if (!encode_vec(t, text, len, add_special, parse_special, &res)) {
        lt_free(res.v);
        return -1;
    }
    int64_t n = res.n;
    if (out && cap > 0 && n > 0) memcpy(out, res.v, (size_t)(n < cap ? n : cap) * sizeof *out);
    lt_free(res.v);
    return n;
}

lt_status lt_tok_encode_all(const lt_tokenizer *t, const char *text, size_t len, bool add_special,
                            bool parse_special, int64_t front, int32_t **ids, int64_t *n, lt_err *err) {
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len) || front < 0) return lt_err_set(err, LT_EINVAL, "lt_tok_encode_all: bad arguments");
    ivec res = {0};
    for (int64_t k = 0; k < front; k++) ivec_push(&res, -1);
    if (res.oom || !encode_vec(t, text, len, add_special, parse_special, &res)) {
        lt_free(res.v);
        return lt_err_set(err, LT_ENOMEM, "out of memory tokenizing %zu bytes of text", len);
    }
    if (!res.v) { /* nothing at all: still hand back a buffer */
        res.v = lt_malloc(sizeof *res.v);
        if (!res.v) return lt_err_set(err, LT_ENOMEM, "out of memory tokenizing the text");
    }
    *ids = res.v;
    *n = res.n - front;
    return LT_OK;
}

/* ---- pieces and decoding ------------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xXX>" -> byte, or -1. */
static int byte_of(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int a = hexval(s[3]), b = hexval(s[4]);
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/* token_to_piece(special = true) as llama.cpp computes it for its cache. */
static bool make_piece(const lt_tokenizer *t, int32_t id, sbuf *o, const uint32_t *dec /* 0x110000 map or NULL */) {
    const lt_vocab *v = t->v;
    const char *s = v->tokens[id];
    size_t n = v->token_len[id];
    uint8_t a = t->attr[id];
    o->n = 0;
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER)) {
        sb_add(o, s, n);
    } else if (a & ATTR_NORMAL) {
        if (v->type == LT_VOCAB_WPM) { /* "##ing" -> "ing"; a word start keeps its text */
            size_t sk = n >= 2 && s[0] == '#' && s[1] == '#' ? 2 : 0;
            sb_add(o, s + sk, n - sk);
        } else if (v->type != LT_VOCAB_BPE) {
            size_t st = 0;
            for (size_t k = 0; k + 3 <= n; k++)
                if ((unsigned char)s[k] == 0xE2 && (unsigned char)s[k + 1] == 0x96 && (unsigned char)s[k + 2] == 0x81) {
                    sb_add(o, s + st, k - st);
                    sb_add(o, " ", 1);
                    st = k + 3;
                    k += 2;
                }
            sb_add(o, s + st, n - st);
        } else {
            for (size_t k = 0; k < n;) {
                size_t k0 = k;
                uint32_t cp = lt_utf8_decode((const unsigned char *)s, n, &k);
                uint32_t b = cp < 0x144 ? dec[cp] : 0xFFFFFFFFu;
                if (b < 256) {
                    char c = (char)b;
                    sb_add(o, &c, 1);
                } else { /* llama.cpp: "[UNK_BYTE_0x" + hex of the char + token text + "]" */
                    char hx[16];
                    sb_add(o, "[UNK_BYTE_0x", 12);
                    for (size_t q = k0; q < k; q++) {
                        static const char *H = "0123456789abcdef";
                        hx[0] = H[(unsigned char)s[q] >> 4];
                        hx[1] = H[(unsigned char)s[q] & 15];
                        sb_add(o, hx, 2);
                    }
                    sb_add(o, s, n);
                    sb_add(o, "]", 1);
                }
            }
        }
    } else if (a & ATTR_BYTE) {
        int b = byte_of(s, n);
        if (b >= 0) {
            char c = (char)b;
            sb_add(o, &c, 1);
        }
    }
    return !o->oom;
}

size_t lt_tok_piece(const lt_tokenizer *t, int32_t id, bool special, char *buf, size_t cap) {
    if (!t || id < 0 || id >= t->v->n_tokens) return 0;
    if (!special && (t->attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL))) return 0;
    size_t n = t->piece_len[id];
    if (buf && cap) memcpy(buf, t->piece_pool + t->piece_off[id], n < cap ? n : cap);
    return n;
}

size_t lt_tok_decode(const lt_tokenizer *t, const int32_t *ids, int64_t n, char *buf, size_t cap) {
    if (!t) return 0;
    sbuf o = {0};
    bool remove_space = t->v->add_space_prefix;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->v->n_tokens) {
            remove_space = false;
            continue;
        }
        const char *p = t->piece_pool + t->piece_off[id];
        size_t pl = t->piece_len[id];
        if (t->attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) pl = 0;
        if (remove_space && pl && p[0] == ' ') p++, pl--;
        remove_space = false;
        sb_add(&o, p, pl);
    }
    size_t total = o.n;
    if (t->clean_spaces && o.p && !o.oom) {
        char *x = o.p;
        size_t t1 = total, k = t1 ? 1 : 0;
        for (size_t i = 1; i < t1; i++) {
            char c = x[i];
            if (x[i - 1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',')) k--;
            x[k++] = c;
        }
        size_t t2 = k;
        k = t2 ? 1 : 0;
        for (size_t i = 1; i < t2; i++) {
            char c = x[i];
            if (c == '\'' && i + 1 < t2 && x[i - 1] == ' ' && x[i + 1] == ' ') {
                k--;
                x[++i] = 0;
            }
            x[k++] = c;
        }
        size_t t3 = k;
        k = t3 ? 1 : 0;
        for (size_t i = 1; i < t3; i++) {
            char c = x[i];
            if (x[i - 1] == ' ' && c == '\'' && i + 1 < t3) {
                char c1 = x[i + 1];
                if (c1 == 's' || c1 == 'm') k--;
                else if (i + 2 < t3) {
                    char c2 = x[i + 2];
                    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e')) k--;
                }
            }
            x[k++] = c;
        }
        total = k;
    }
    if (buf && cap) {
        size_t w = total < cap - 1 ? total : cap - 1;
        if (w) memcpy(buf, o.p, w);
        buf[w] = 0;
    }
    lt_free(o.p);
    return total;
}

/* ---- streaming ----------------------------------------------------------------------------- */

void lt_tok_stream_init(lt_tok_stream *s) {
    memset(s, 0, sizeof *s);
    s->prev_id = -1;
}

/* Appends bytes to out (bounded), turning invalid sequences into U+FFFD and holding an
 * incomplete trailing sequence in s->pending. */
static size_t stream_emit(lt_tok_stream *s, const char *p, size_t n, bool flush, char *buf, size_t cap) {
    size_t w = 0;
    unsigned char tmp[16];
    size_t tn = 0;
    /* pending bytes first, then p: process in one pass over a virtual concatenation */
    size_t total = (size_t)s->n_pending + n;
#define BYTE_AT(i) ((i) < (size_t)s->n_pending ? (unsigned char)s->pending[i] : (unsigned char)p[(i) - s->n_pending])
    size_t i = 0;
    while (i < total) {
        unsigned c = BYTE_AT(i);
        size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = need > 0 && !(c == 0xC0 || c == 0xC1 || c > 0xF4);
        size_t have = 1;
        if (ok) {
            while (have < need && i + have < total && (BYTE_AT(i + have) & 0xC0) == 0x80) have++;
            if (have < need && i + have == total && !flush) break; /* incomplete: hold */
            if (have < need) ok = false;
            if (ok && need == 3) {
                unsigned c1 = BYTE_AT(i + 1);
                if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) ok = false;
            }
            if (ok && need == 4) {
                unsigned c1 = BYTE_AT(i + 1);
                if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90)) ok = false;
            }
        }
        size_t adv;
        if (ok) {
            for (size_t k = 0; k < need; k++) tmp[k] = (unsigned char)BYTE_AT(i + k);
            tn = need;
            adv = need;
        } else {
            tmp[0] = 0xEF, tmp[1] = 0xBF, tmp[2] = 0xBD;
            tn = 3;
            adv = have > 1 && need ? have : 1;
        }
        if (buf && w + tn >= cap) break; /* no room: the rest is kept (up to 8 bytes) */
        if (buf) memcpy(buf + w, tmp, tn);
        w += tn;
        i += adv;
    }
    /* keep what was not consumed (an incomplete sequence, at most 3 bytes) */
    char keep[8];
    size_t kn = 0;
    for (size_t k = i; k < total && kn < sizeof keep; k++) keep[kn++] = (char)BYTE_AT(k);
#undef BYTE_AT
    memcpy(s->pending, keep, kn);
    s->n_pending = (int)kn;
    if (buf && cap) buf[w < cap ? w : cap - 1] = 0;
    return w;
}

size_t lt_tok_stream_feed(const lt_tokenizer *t, lt_tok_stream *s, int32_t id, char *buf, size_t cap) {
    if (buf && cap) buf[0] = 0;
    if (!t || id < 0 || id >= t->v->n_tokens) return 0;
    const char *p = t->piece_pool + t->piece_off[id];
    size_t n = t->piece_len[id];
    if (t->attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) n = 0;
    if (t->v->type != LT_VOCAB_BPE && t->v->add_space_prefix && s->prev_id >= 0 && s->prev_id == t->v->bos_id &&
        n && p[0] == ' ')
        p++, n--;
    s->prev_id = id;
    return stream_emit(s, p, n, false, buf, cap);
}

size_t lt_tok_stream_flush(const lt_tokenizer *t, lt_tok_stream *s, char *buf, size_t cap) {
    (void)t;
    if (buf && cap) buf[0] = 0;
    return stream_emit(s, "", 0, true, buf, cap);
}

/* ---- accessors ------------------------------------------------------------------------------- */

const lt_vocab *lt_tok_vocab(const lt_tokenizer *t) { return t ? t->v : NULL; }
int32_t lt_tok_n_vocab(const lt_tokenizer *t) { return t ? t->v->n_tokens : 0; }
int32_t lt_tok_bos(const lt_tokenizer *t) { return t ? t->v->bos_id : -1; }
int32_t lt_tok_eos(const lt_tokenizer *t) { return t ? t->v->eos_id : -1; }
bool lt_tok_is_eog(const lt_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->v->n_tokens && t->eog[id];
}

/* ---- create / free -------------------------------------------------------------------------- */

void lt_tok_free(lt_tokenizer *t) {
    if (!t) return;
    lt_free(t->piece_pool);
    lt_free(t->piece_off);
    lt_free(t->piece_len);
    lt_free(t->attr);
    lt_free(t->eog);
    lt_free(t->tmap);
    lt_free(t->mmap);
    lt_free(t->special);
    lt_free(t->sp_head2);
    lt_free(t->sp_next);
    lt_pretok_free(t->pre);
    lt_hfpipe_free(t->pipe);
    for (int32_t k = 0; t->ntext && k < t->n_ntok; k++) lt_free(t->ntext[k]);
    lt_free(t->ntok);
    lt_free(t->ntext);
    lt_free(t->nlen);
    lt_vocab_free(t->v);
    lt_free(t);
}

static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
    "<reponame>", "<|file_sep|>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", NULL};
static const char *const FIM_TEXTS[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xE2\x96\x81<PRE>", "<|fim_suffix|>", "<fim-suffix>",
    "<fim_suffix>", "<SUF>", "\xE2\x96\x81<SUF>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>",
    "\xE2\x96\x81<MID>", NULL};


/* Added tokens matched in the normalized text (tokenizer.json normalized: true, where a normalizer
 * exists): their normalized texts, longest first. */
static bool norm_tokens(lt_tokenizer *t) {
    const lt_vocab *v = t->v;
    bool has_norm = v->normalize || (t->pipe && v->hf_pipeline && !strstr(v->hf_pipeline, "\"normalizer\":null"));
    if (!v->token_flags || !has_norm) return true;
    int32_t cnt = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) cnt += (v->token_flags[i] & LT_TOKFLAG_NORMALIZED) != 0;
    if (!cnt) return true;
    t->ntok = lt_malloc((size_t)cnt * sizeof *t->ntok);
    t->ntext = lt_calloc((size_t)cnt, sizeof *t->ntext);
    t->nlen = lt_calloc((size_t)cnt, sizeof *t->nlen);
    if (!t->ntok || !t->ntext || !t->nlen) return false;
    sbuf nb = {0};
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (!(v->token_flags[i] & LT_TOKFLAG_NORMALIZED)) continue;
        bool kept;
        bool ok = t->pipe ? normalize_pipe(t->pipe, v->tokens[i], v->token_len[i], &nb, &kept)
                          : normalize_text(v->normalize, v->tokens[i], v->token_len[i], &nb);
        char *c = ok ? lt_malloc(nb.n + 1) : NULL;
        if (!c) {
            lt_free(nb.p);
            return false;
        }
        memcpy(c, nb.p, nb.n);
        c[nb.n] = 0;
        int32_t k = t->n_ntok++; /* insertion by length, longest first (stable) */
        while (k > 0 && t->nlen[k - 1] < nb.n) {
            t->ntok[k] = t->ntok[k - 1], t->ntext[k] = t->ntext[k - 1], t->nlen[k] = t->nlen[k - 1];
            k--;
        }
        t->ntok[k] = i, t->ntext[k] = c, t->nlen[k] = (uint32_t)nb.n;
    }
    lt_free(nb.p);
    return true;
}

static bool is_ntok(const lt_tokenizer *t, int32_t id) {
    for (int32_t k = 0; k < t->n_ntok; k++)
        if (t->ntok[k] == id) return true;
    return false;
}

lt_status lt_tok_create(lt_tokenizer **out, lt_vocab *v, lt_err *err) {
    *out = NULL;
    if (!v) return lt_err_set(err, LT_EINVAL, "lt_tok_create: no vocab");
    lt_status st = lt_vocab_validate(v, "vocab", err);
    if (st) {
        lt_vocab_free(v);
        return st;
    }
    if (v->type == LT_VOCAB_NONE || ((v->type == LT_VOCAB_WPM || v->type == LT_VOCAB_UGM) && !v->hf_model)) {
        const char *name = v->type == LT_VOCAB_WPM ? "WordPiece (BERT)" : v->type == LT_VOCAB_UGM ? "Unigram (T5)"
                                                                                                 : "unknown";
        lt_vocab_free(v);
        return lt_err_set(err, LT_EUNSUPPORTED, "%s tokenizers are supported from a tokenizer.json only (a GGUF "
                                                "vocab of this type is not)", name);
    }
    lt_tokenizer *t = lt_calloc(1, sizeof *t);
    if (!t) {
        lt_vocab_free(v);
        return lt_err_set(err, LT_ENOMEM, "out of memory building the tokenizer");
    }
    t->v = v;
    int32_t n = v->n_tokens;
    if (v->hf_pipeline) {
        st = lt_hfpipe_create(&t->pipe, v->hf_pipeline, err);
        if (st) {
            lt_tok_free(t);
            return st;
        }
    } else if (v->type == LT_VOCAB_BPE) {
        if (v->n_pre_rx > 0) {
            st = lt_pretok_create_rx(&t->pre, (const char *const *)v->pre_rx, v->n_pre_rx, false, err);
            t->ignore_merges = v->ignore_merges;
        } else {
            st = lt_pretok_create(&t->pre, v->pre, &t->ignore_merges, &t->clean_spaces, err);
        }
        if (st) {
            lt_tok_free(t);
            return st;
        }
    }
    t->attr = lt_calloc((size_t)n, 1);
    t->eog = lt_calloc((size_t)n, sizeof *t->eog);
    t->tcap = pow2_at_least((size_t)n * 2);
    t->tmap = lt_malloc(t->tcap * sizeof *t->tmap);
    t->piece_off = lt_calloc((size_t)n, sizeof *t->piece_off);
    t->piece_len = lt_calloc((size_t)n, sizeof *t->piece_len);
    t->special = lt_malloc((size_t)n * sizeof *t->special);
    if (!t->attr || !t->eog || !t->tmap || !t->piece_off || !t->piece_len || !t->special) goto oom;
    memset(t->tmap, 0xFF, t->tcap * sizeof *t->tmap);
    for (int32_t i = 0; i < n; i++) {
        size_t m = t->tcap - 1, h = hash_bytes(v->tokens[i], v->token_len[i]) & m;
        bool dup = false;
        while (t->tmap[h] >= 0) {
            int32_t o = t->tmap[h];
            if (v->token_len[o] == v->token_len[i] && !memcmp(v->tokens[o], v->tokens[i], v->token_len[i])) {
                dup = true;
                break;
            }
            h = (h + 1) & m;
        }
        if (!dup) t->tmap[h] = i;
        int ty = v->token_types ? v->token_types[i] : LT_TOKTYPE_NORMAL;
        t->attr[i] = ty == LT_TOKTYPE_NORMAL ? ATTR_NORMAL
                     : ty == LT_TOKTYPE_UNKNOWN ? ATTR_UNKNOWN
                     : ty == LT_TOKTYPE_CONTROL ? ATTR_CONTROL
                     : ty == LT_TOKTYPE_USER_DEFINED ? ATTR_USER
                     : ty == LT_TOKTYPE_UNUSED ? ATTR_UNUSED
                     : ty == LT_TOKTYPE_BYTE ? ATTR_BYTE
                                              : 0;
    }
    if (v->n_merges > 0) {
        t->mcap = pow2_at_least((size_t)v->n_merges * 2);
        t->mmap = lt_malloc(t->mcap * sizeof *t->mmap);
        if (!t->mmap) goto oom;
        memset(t->mmap, 0xFF, t->mcap * sizeof *t->mmap);
        for (int32_t r = 0; r < v->n_merges; r++) {
            const char *ms = v->merges[r];
            size_t ml = strlen(ms), m = t->mcap - 1, h = hash_bytes(ms, ml) & m;
            bool dup = false;
            while (t->mmap[h] >= 0) {
                if (!strcmp(v->merges[t->mmap[h]], ms)) {
                    dup = true;
                    break;
                }
                h = (h + 1) & m;
            }
            if (!dup) t->mmap[h] = r;
        }
    } else {
        t->mcap = 16;
        t->mmap = lt_malloc(t->mcap * sizeof *t->mmap);
        if (!t->mmap) goto oom;
        memset(t->mmap, 0xFF, t->mcap * sizeof *t->mmap);
    }
    /* end-of-generation and FIM tokens by text (llama.cpp's workaround), forced to CONTROL */
    for (int k = 0; EOG_TEXTS[k]; k++) {
        int32_t id = lt_tok_find(t, EOG_TEXTS[k], strlen(EOG_TEXTS[k]));
        if (id >= 0) {
            t->eog[id] = true;
            t->attr[id] |= ATTR_CONTROL;
        }
    }
    for (int k = 0; FIM_TEXTS[k]; k++) {
        int32_t id = lt_tok_find(t, FIM_TEXTS[k], strlen(FIM_TEXTS[k]));
        if (id >= 0) t->attr[id] |= ATTR_CONTROL;
    }
    {
        static const char *const always_user[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
        for (int k = 0; always_user[k]; k++) {
            int32_t id = lt_tok_find(t, always_user[k], strlen(always_user[k]));
            if (id >= 0) t->attr[id] = ATTR_USER;
        }
    }
    if (v->eos_id >= 0) t->eog[v->eos_id] = true;
    if (v->eot_id >= 0) t->eog[v->eot_id] = true;
    /* special tokens, longest text first (ties: lower id first) */
    if (!norm_tokens(t)) goto oom;
    for (int32_t i = 0; i < n; i++)
        if ((t->attr[i] & (ATTR_CONTROL | ATTR_USER | ATTR_UNKNOWN)) && !is_ntok(t, i)) t->special[t->n_special++] = i;
    { /* sized for every token, used by a few */
        int32_t *fit = lt_realloc(t->special, ((size_t)t->n_special + 1) * sizeof *t->special);
        if (fit) t->special = fit;
    }
    for (int32_t i = 1; i < t->n_special; i++) { /* insertion sort by length, stable */
        int32_t x = t->special[i], j = i - 1;
        while (j >= 0 && v->token_len[t->special[j]] < v->token_len[x]) {
            t->special[j + 1] = t->special[j];
            j--;
        }
        t->special[j + 1] = x;
    }
    /* buckets of special texts by their first bytes; chains in ascending rank */
    t->sp_head2 = lt_malloc(65536 * sizeof *t->sp_head2);
    t->sp_next = lt_malloc(((size_t)t->n_special + 1) * sizeof *t->sp_next);
    if (!t->sp_head2 || !t->sp_next) goto oom;
    memset(t->sp_head2, 0xFF, 65536 * sizeof *t->sp_head2);
    memset(t->sp_head1, 0xFF, sizeof t->sp_head1);
    for (int32_t r = t->n_special - 1; r >= 0; r--) {
        const unsigned char *s = (const unsigned char *)v->tokens[t->special[r]];
        uint32_t tl = v->token_len[t->special[r]];
        t->sp_next[r] = -1;
        if (tl == 0) continue;
        int32_t *head = tl >= 2 ? &t->sp_head2[(s[0] << 8) | s[1]] : &t->sp_head1[s[0]];
        t->sp_next[r] = *head;
        *head = r;
    }
    /* byte fallback (SPM) and GPT-2 byte encoding (BPE) */
    for (int c = 0; c < 256; c++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", c);
        t->spm_byte[c] = lt_tok_find(t, b, 6);
        if (t->spm_byte[c] < 0) {
            char one = (char)c;
            t->spm_byte[c] = lt_tok_find(t, &one, 1);
        }
    }
    uint32_t dec[0x144];
    for (int i = 0; i < 0x144; i++) dec[i] = 0xFFFFFFFFu;
    {
        int nn = 0;
        for (int c = 0; c < 256; c++) {
            bool direct = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            uint32_t cp = direct ? (uint32_t)c : (uint32_t)(256 + nn++);
            t->bpe_enc_len[c] = (uint8_t)lt_utf8_encode(cp, t->bpe_enc[c]);
            dec[cp] = (uint32_t)c;
        }
    }
    {
        /* every piece in one block (one allocation each cost more than the pieces) */
        sbuf o = {0}, all = {0};
        for (int32_t i = 0; i < n && !all.oom; i++) {
            if (!make_piece(t, i, &o, dec) || all.n + o.n + 1 > UINT32_MAX) {
                all.oom = true;
                break;
            }
            t->piece_off[i] = (uint32_t)all.n;
            t->piece_len[i] = (uint32_t)o.n;
            sb_add(&all, o.n ? o.p : "", o.n);
            sb_add(&all, "", 1); /* the NUL after the piece: the next starts past it */
        }
        lt_free(o.p);
        if (all.oom || !all.p) {
            lt_free(all.p);
            goto oom;
        }
        char *fit = lt_realloc(all.p, all.n + 1);
        t->piece_pool = fit ? fit : all.p;
    }
    t->spm_seg = v->type == LT_VOCAB_SPM;
    for (int32_t i = 0; i < n && t->spm_seg; i++) {
        const char *s = v->tokens[i];
        for (size_t k = 1; k + 3 <= v->token_len[i]; k++)
            if (is_ws_mark(s + k) && !(k >= 3 && is_ws_mark(s + k - 3))) {
                t->spm_seg = false;
                break;
            }
    }
    *out = t;
    return LT_OK;
oom:
    lt_tok_free(t);
    return lt_err_set(err, LT_ENOMEM, "out of memory building the tokenizer");
}

void lt_tok_set_spm_seg(lt_tokenizer *t, bool on) {
    if (t && on) {
        /* recompute what create decided */
        t->spm_seg = t->v->type == LT_VOCAB_SPM;
        for (int32_t i = 0; i < t->v->n_tokens && t->spm_seg; i++)
            for (size_t k = 1; k + 3 <= t->v->token_len[i]; k++)
                if (is_ws_mark(t->v->tokens[i] + k) && !(k >= 3 && is_ws_mark(t->v->tokens[i] + k - 3))) {
                    t->spm_seg = false;
                    break;
                }
    } else if (t) {
        t->spm_seg = false;
    }
}
