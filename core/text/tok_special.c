/* tok_special.c - added and special tokens in the text: llama.cpp's partition of the raw text
 * (tokenizer_st_partition), tokenizer.json's lstrip / rstrip / single_word flags, and the added
 * tokens Hugging Face matches in the normalized text (normalized: true). See tok_internal.h. */
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "tokenizer.h"
#include "unicode_data.h"

/* ---- special-token partition --------------------------------------------------------------- */

void lt_fv_push(fvec *f, frag x) {
    if (f->n == f->cap) {
        int64_t nc = f->cap ? f->cap * 2 : 16;
        frag *p = lt_realloc(f->v, (size_t)nc * sizeof *p);
        if (!p) {
            f->oom = true;
            return;
        }
        f->v = p;
        f->cap = nc;
    }
    f->v[f->n++] = x;
}

/* single_word: the match s[a..b) has no word character right before or after it. */
static bool single_word(const char *s, size_t n, size_t a, size_t b) {
    const unsigned char *u = (const unsigned char *)s;
    if (a > 0) {
        size_t k = a - 1;
        while (k > 0 && (u[k] & 0xC0) == 0x80) k--;
        if (lt_hf_is_word(lt_utf8_decode(u, a, &k))) return false;
    }
    size_t k = b;
    return b >= n || !lt_hf_is_word(lt_utf8_decode(u, n, &k));
}

/* Splits special-token texts out of the text with llama.cpp's semantics (tokenizer_st_partition):
 * special tokens are taken in order (longest text first); each splits every remaining raw
 * fragment at its leftmost non-overlapping occurrences. All occurrences are found in one scan
 * (candidates bucketed by their first two bytes), then applied token by token. */
void lt_tok_partition(const lt_tokenizer *t, const char *text, size_t len, bool parse_special, fvec *out) {
    fvec a = {0}, b = {0};
    frag whole = {-1, 0, len};
    lt_fv_push(&a, whole);
    /* 1. occurrences (rank, pos), found in text order */
    int64_t *occ_pos = NULL, n_occ = 0, cap_occ = 0;
    int32_t *occ_rank = NULL;
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len && !a.oom; i++) {
        for (int pass = 0; pass < 2; pass++) {
            int32_t r = pass == 0 ? (i + 1 < len ? t->sp_head2[(u[i] << 8) | u[i + 1]] : -1) : t->sp_head1[u[i]];
            for (; r >= 0; r = t->sp_next[r]) {
                int32_t id = t->special[r];
                size_t tl = t->v->token_len[id];
                if (!parse_special && (t->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
                if (tl > len - i || memcmp(text + i, t->v->tokens[id], tl)) continue;
                if (t->v->token_flags && (t->v->token_flags[id] & LT_TOKFLAG_SINGLE_WORD) &&
                    !single_word(text, len, i, i + tl))
                    continue;
                if (n_occ == cap_occ) {
                    int64_t nc = cap_occ ? cap_occ * 2 : 64;
                    int64_t *np = lt_realloc(occ_pos, (size_t)nc * sizeof *np);
                    int32_t *nr = np ? lt_realloc(occ_rank, (size_t)nc * sizeof *nr) : NULL;
                    if (np) occ_pos = np;
                    if (!np || !nr) {
                        a.oom = true;
                        break;
                    }
                    occ_rank = nr;
                    cap_occ = nc;
                }
                occ_pos[n_occ] = (int64_t)i;
                occ_rank[n_occ++] = r;
            }
        }
    }
    if (n_occ == 0 || a.oom) goto done;
    /* 2. group by rank, keeping text order (counting sort) */
    int64_t *start = lt_calloc((size_t)t->n_special + 1, sizeof *start);
    int64_t *pos = lt_malloc((size_t)n_occ * sizeof *pos);
    if (!start || !pos) {
        lt_free(start);
        lt_free(pos);
        a.oom = true;
        goto done;
    }
    for (int64_t k = 0; k < n_occ; k++) start[occ_rank[k] + 1]++;
    for (int32_t r = 0; r < t->n_special; r++) start[r + 1] += start[r];
    for (int64_t k = 0; k < n_occ; k++) pos[start[occ_rank[k]]++] = occ_pos[k];
    for (int32_t r = t->n_special; r > 0; r--) start[r] = start[r - 1];
    start[0] = 0;
    /* 3. apply each token in rank order */
    for (int32_t r = 0; r < t->n_special && !a.oom; r++) {
        int64_t j = start[r], m = start[r + 1];
        if (j == m) continue;
        int32_t id = t->special[r];
        size_t tl = t->v->token_len[id];
        b.n = 0;
        for (int64_t i = 0; i < a.n; i++) {
            frag f = a.v[i];
            if (f.id >= 0) {
                lt_fv_push(&b, f);
                continue;
            }
            size_t off = f.off, end = f.off + f.len;
            while (j < m && (size_t)pos[j] < off) j++;
            while (j < m && (size_t)pos[j] + tl <= end) {
                size_t p0 = (size_t)pos[j];
                if (p0 > off) {
                    frag l = {-1, off, p0 - off};
                    lt_fv_push(&b, l);
                }
                frag tk = {id, 0, 0};
                lt_fv_push(&b, tk);
                off = p0 + tl;
                while (j < m && (size_t)pos[j] < off) j++;
            }
            if (off < end) {
                frag rr = {-1, off, end - off};
                lt_fv_push(&b, rr);
            }
        }
        if (b.oom) a.oom = true;
        fvec tmp = a;
        a = b;
        b = tmp;
    }
    lt_free(start);
    lt_free(pos);
done:
    lt_free(occ_pos);
    lt_free(occ_rank);
    lt_free(b.v);
    *out = a;
}

/* Added tokens with lstrip / rstrip (tokenizer.json): the whitespace of the raw text before /
 * after them is dropped (llama.cpp's LSTRIP / RSTRIP attributes). */
void lt_tok_strip_around(const lt_tokenizer *t, const char *text, fvec *f) {
    const unsigned char *u = (const unsigned char *)text;
    for (int64_t i = 0; i < f->n; i++) {
        int32_t id = f->v[i].id;
        if (id < 0) continue;
        uint8_t fl = t->v->token_flags[id];
        if ((fl & LT_TOKFLAG_LSTRIP) && i > 0 && f->v[i - 1].id < 0) {
            frag *p = &f->v[i - 1];
            while (p->len > 0) {
                size_t s = p->off + p->len - 1;
                while (s > p->off && (u[s] & 0xC0) == 0x80) s--;
                size_t k = s;
                if (!lt_ucd_is_space(lt_utf8_decode(u, p->off + p->len, &k))) break;
                p->len = s - p->off;
            }
        }
        if ((fl & LT_TOKFLAG_RSTRIP) && i + 1 < f->n && f->v[i + 1].id < 0) {
            frag *p = &f->v[i + 1];
            while (p->len > 0) {
                size_t k = p->off;
                if (!lt_ucd_is_space(lt_utf8_decode(u, p->off + p->len, &k))) break;
                p->len -= k - p->off;
                p->off = k;
            }
        }
    }
    int64_t k = 0; /* drop emptied fragments */
    for (int64_t i = 0; i < f->n; i++)
        if (f->v[i].id >= 0 || f->v[i].len > 0) f->v[k++] = f->v[i];
    f->n = k;
}


void lt_tok_norm_split(const lt_tokenizer *t, const char *s, size_t n, fvec *out) {
    const unsigned char *u = (const unsigned char *)s;
    out->n = 0;
    size_t a = 0; /* start of the pending text */
    for (size_t i = 0; i < n;) {
        int32_t hit = -1;
        for (int32_t k = 0; k < t->n_ntok && hit < 0; k++) { /* longest first */
            size_t tl = t->nlen[k];
            int32_t id = t->ntok[k];
            if (!tl || tl > n - i || memcmp(s + i, t->ntext[k], tl)) continue;
            if ((t->v->token_flags[id] & LT_TOKFLAG_SINGLE_WORD) && !single_word(s, n, i, i + tl)) continue;
            hit = k;
        }
        if (hit < 0) {
            i += lt_utf8_len(u[i]);
            continue;
        }
        int32_t id = t->ntok[hit];
        uint8_t fl = t->v->token_flags[id];
        size_t e = i; /* end of the text before the token */
        while ((fl & LT_TOKFLAG_LSTRIP) && e > a) {
            size_t k = e - 1;
            while (k > a && (u[k] & 0xC0) == 0x80) k--;
            size_t q = k;
            if (!lt_ucd_is_space(lt_utf8_decode(u, e, &q))) break;
            e = k;
        }
        if (e > a) lt_fv_push(out, (frag){-1, a, e - a});
        lt_fv_push(out, (frag){id, 0, 0});
        i += t->nlen[hit];
        while ((fl & LT_TOKFLAG_RSTRIP) && i < n) {
            size_t q = i;
            if (!lt_ucd_is_space(lt_utf8_decode(u, n, &q))) break;
            i = q;
        }
        a = i;
    }
    if (n > a) lt_fv_push(out, (frag){-1, a, n - a});
}
