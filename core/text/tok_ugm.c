/* tok_ugm.c - Unigram segmentation (Hugging Face tokenizers' Unigram::encode_optimized): the
 * best path by summed log-probability scores over the '▁'-escaped text; a character no
 * token starts with gets unk at min score - 10; consecutive unks fuse into one; with byte
 * fallback an unknown piece becomes its <0xXX> byte tokens. See tok_internal.h. */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "tokenizer.h"

static bool push(int32_t **ids, int64_t *n, int64_t *cap, int32_t id) {
    if (*n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 256;
        int32_t *p = lt_realloc(*ids, (size_t)nc * sizeof *p);
        if (!p) return false;
        *ids = p, *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return true;
}

typedef struct node {
    double score;
    int64_t start; /* -1: not reached */
    int32_t id;    /* -1: unk */
} node;

static bool is_candidate(const lt_vocab *v, int32_t id) {
    int ty = v->token_types ? v->token_types[id] : LT_TOKTYPE_NORMAL;
    return ty == LT_TOKTYPE_NORMAL || ty == LT_TOKTYPE_BYTE;
}

/* Emits an unknown piece s[0..n): its byte tokens with byte fallback, else unk. */
static bool emit_unk(const lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *nid, int64_t *cap) {
    const lt_vocab *v = lt_tok_vocab(t);
    int32_t bytes[64];
    bool all = n <= 64;
    for (size_t i = 0; all && i < n; i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", (unsigned char)s[i]);
        bytes[i] = lt_tok_find(t, b, 6);
        all = bytes[i] >= 0 && v->token_types && v->token_types[bytes[i]] == LT_TOKTYPE_BYTE;
    }
    if (all) {
        for (size_t i = 0; i < n; i++)
            if (!push(ids, nid, cap, bytes[i])) return false;
        return true;
    }
    return v->unk_id < 0 || push(ids, nid, cap, v->unk_id);
}

static bool viterbi(const lt_tokenizer *t, const char *s, size_t n, double unk_score, int32_t **ids, int64_t *nid,
                    int64_t *cap) {
    const lt_vocab *v = lt_tok_vocab(t);
    node *b = lt_malloc((n + 1) * sizeof *b);
    if (!b) return false;
    for (size_t i = 0; i <= n; i++) b[i].score = 0, b[i].start = -1, b[i].id = -1;
    b[0].start = 0;
    size_t maxlen = v->max_token_len > 0 ? (size_t)v->max_token_len : n;
    for (size_t i = 0; i < n;) {
        size_t clen = lt_utf8_len((unsigned char)s[i]);
        if (clen > n - i) clen = n - i;
        double here = b[i].score;
        bool single = false;
        for (size_t e = i + clen; e <= n && e - i <= maxlen;) {
            int32_t id = lt_tok_find(t, s + i, e - i);
            if (id >= 0 && is_candidate(v, id)) {
                double c = here + v->scores[id];
                if (b[e].start < 0 || c > b[e].score) b[e].score = c, b[e].start = (int64_t)i, b[e].id = id;
                if (e - i == clen) single = true;
            }
            if (e == n) break;
            size_t l = lt_utf8_len((unsigned char)s[e]);
            e += l > n - e ? n - e : l;
        }
        if (!single) {
            double c = here + unk_score;
            size_t e = i + clen;
            if (b[e].start < 0 || c > b[e].score) b[e].score = c, b[e].start = (int64_t)i, b[e].id = -1;
        }
        i += clen;
    }
    /* backtrack into (start, id) pairs, then emit in order, fusing unknown runs */
    int64_t k = 0;
    for (size_t e = n; e > 0; e = (size_t)b[e].start) k++;
    int64_t *st = lt_malloc((size_t)(k + 1) * sizeof *st);
    int32_t *pid = lt_malloc((size_t)(k + 1) * sizeof *pid);
    bool ok = st && pid;
    int64_t j = k;
    for (size_t e = n; ok && e > 0; e = (size_t)b[e].start) j--, st[j] = b[e].start, pid[j] = b[e].id;
    for (int64_t q = 0; ok && q < k;) {
        if (pid[q] >= 0) {
            ok = push(ids, nid, cap, pid[q]);
            q++;
            continue;
        }
        int64_t r = q;
        while (r < k && pid[r] < 0) r++;
        size_t end = r < k ? (size_t)st[r] : n;
        ok = emit_unk(t, s + st[q], end - (size_t)st[q], ids, nid, cap);
        q = r;
    }
    lt_free(st);
    lt_free(pid);
    lt_free(b);
    return ok;
}

bool lt_ugm_encode(const lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids, int64_t *cap) {
    const lt_vocab *v = lt_tok_vocab(t);
    double min = DBL_MAX;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (is_candidate(v, i) && v->scores[i] < min) min = v->scores[i];
    double unk_score = (min == DBL_MAX ? 0 : min) - 10.0;
    if (!v->split_words) return viterbi(t, s, n, unk_score, ids, n_ids, cap);
    size_t a = 0; /* words: each '▁' starts one */
    for (size_t k = 1; k + 3 <= n; k++)
        if ((unsigned char)s[k] == 0xE2 && (unsigned char)s[k + 1] == 0x96 && (unsigned char)s[k + 2] == 0x81) {
            if (!viterbi(t, s + a, k - a, unk_score, ids, n_ids, cap)) return false;
            a = k;
            k += 2;
        }
    return viterbi(t, s + a, n - a, unk_score, ids, n_ids, cap);
}
