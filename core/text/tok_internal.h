/* tok_internal.h - pieces shared by the tokenizer sources (tokenizer.c, pretok.c) and their
 * tests; not a public header. Chat templates are not here: chat.h sits above the tokenizer.
 *
 * pretok: the byte-level BPE pre-tokenizers llama.cpp names (tokenizer.ggml.pre), as
 * llama.cpp's unicode_regex_split: a list of regexes applied in turn, each splitting the
 * pieces the previous one produced. GPT-2's and Llama 3's regexes have hand-written
 * splitters; the others run on a small backtracking (ECMAScript-like) regex engine over code
 * points, with \p{..} classes on the "collapsed" text exactly as llama.cpp does.
 */
#ifndef LT_TOK_INTERNAL_H
#define LT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

struct lt_tokenizer;

typedef struct lt_pretok lt_pretok;

/* Builds the pre-tokenizer for a tokenizer.ggml.pre name ("" = "default"). Also reports the
 * name's llama.cpp flags: ignore_merges (whole-word vocab hits skip BPE) and clean_spaces
 * (detokenize removes spaces before punctuation). LT_EUNSUPPORTED for unknown names. */
lt_status lt_pretok_create(lt_pretok **out, const char *pre, bool *ignore_merges, bool *clean_spaces, lt_err *err);
void lt_pretok_free(lt_pretok *p);
/* The regexes (up to 7, in order) and ignore_merges flag of a pre name ("" = "default");
 * returns how many, 0 for an unknown name. The tokenizer.json writer spells them out. */
int lt_pretok_regexes(const char *pre, const char **rx, bool *ignore_merges);
/* The pre name (the first of its aliases) whose regex list is exactly rx[0..n), or NULL. The
 * tokenizer.json reader maps a written pre-tokenizer back to its name. A trailing "|\\s+" on
 * GPT-2's regex (how Hugging Face's ByteLevel spells it) counts as GPT-2's. */
const char *lt_pretok_name_of(const char *const *rx, int n, char *buf, size_t cap);
/* A pre-tokenizer from explicit regexes (for tests): generic_only runs even GPT-2's and
 * Llama 3's regexes on the regex engine instead of the hand-written splitters. */
lt_status lt_pretok_create_rx(lt_pretok **out, const char *const *regexes, int n, bool generic_only, lt_err *err);

/* Growable list of piece lengths (in code points). */
typedef struct lt_lens {
    int64_t *v;
    int64_t n, cap;
} lt_lens;

/* Splits cps[0..n) into pieces; lengths (in code points, summing to n) go to out (reset
 * first). Returns false on out of memory. */
bool lt_pretok_split(const lt_pretok *p, const uint32_t *cps, int64_t n, lt_lens *out);

/* UTF-8 helpers (llama.cpp semantics). */
/* Decodes one code point at s[*i], advancing *i; invalid or truncated sequences yield
 * U+FFFD and advance one byte (as unicode_cpts_from_utf8). */
uint32_t lt_utf8_decode(const unsigned char *s, size_t n, size_t *i);
/* Encodes cp (<= 0x10FFFF) into buf (4 bytes); returns the length. */
int lt_utf8_encode(uint32_t cp, char *buf);
/* Length of the UTF-8 sequence its first byte announces (1 for continuation/invalid bytes). */
static inline size_t lt_utf8_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* tokenizer.c: the id of the token with text s[0..n), or -1. */
int32_t lt_tok_find(const struct lt_tokenizer *t, const char *s, size_t n);
/* tok_ugm.c: Unigram on one fragment s[0..n) ('▁' already in place of spaces): the segmentation
 * with the highest sum of scores (Viterbi, as Hugging Face's Unigram; per '▁'-led word when the
 * vocab splits words); characters no token covers become unk (runs fused into one) or byte
 * tokens with byte fallback. Appends ids to *ids (lt_realloc'd; *n used, *cap capacity).
 * False when out of memory. */
bool lt_ugm_encode(const struct lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids,
                   int64_t *cap);

/* tok_wpm.c: WordPiece on one normalized fragment s[0..n) (BertPreTokenizer, then greedy
 * longest match with "##" continuations); appends ids as lt_ugm_encode. */
bool lt_wpm_encode(const struct lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids,
                   int64_t *cap);

/* tokenizer.c (for tests): turns the SPM per-word shortcut off, or back on where the vocab
 * allows it. */
void lt_tok_set_spm_seg(struct lt_tokenizer *t, bool on);

#endif
