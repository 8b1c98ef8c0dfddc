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
#include "vocab.h"

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

/* tok_regex.c: the regex engine (ECMAScript-like, over code points). */
typedef struct lt_rx lt_rx;
lt_rx *lt_rx_compile(const char *pattern); /* NULL when the pattern is not understood (or out of memory) */
void lt_rx_free(lt_rx *re);
/* Whether the pattern uses \p{..}: it then runs on the collapsed text (see lt_rx_text). */
bool lt_rx_collapsed(const lt_rx *re);
/* The text a regex runs on for cps[0..n): collapsed (one code per category, whitespace 0x0B) or
 * code points with non-ASCII whitespace as 0x0B; lt_malloc'd, NULL when out of memory. */
uint32_t *lt_rx_text(bool collapsed, const uint32_t *cps, int64_t n);
/* Leftmost non-empty match in t[from..end) of the chunk t[beg..end): [*ms, *me); false when none. */
bool lt_rx_search(const lt_rx *re, const uint32_t *t, int64_t beg, int64_t end, int64_t from, int64_t *ms,
                  int64_t *me);

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

/* tok_hf.c: Hugging Face's general normalizer and pre-tokenizer pipeline (see there). */
typedef struct lt_hfpipe lt_hfpipe;
/* From {"normalizer": .., "pre_tokenizer": ..} JSON (lt_vocab.hf_pipeline); LT_EUNSUPPORTED
 * naming a piece it cannot run. */
lt_status lt_hfpipe_create(lt_hfpipe **out, const char *json, lt_err *err);
void lt_hfpipe_free(lt_hfpipe *h);
bool lt_hfpipe_bytelevel(const lt_hfpipe *h); /* a ByteLevel pre-tokenizer: pieces are byte-encoded */
bool lt_hfpipe_has_pre(const lt_hfpipe *h);
/* The normalizers on in[0..n) into *out (lt_malloc'd code points, *out_n); *start_kept: the
 * result still starts at the input's first character (no Strip or empty Replace removed it:
 * Metaspace's "first" scheme looks at original offsets). False when out of memory. */
bool lt_hfpipe_normalize(const lt_hfpipe *h, const uint32_t *in, int64_t n, uint32_t **out, int64_t *out_n,
                         bool *start_kept);
/* The pre-tokenizers on in[0..n) (first: it starts the text): the pieces' code points, one after
 * the other, in *cps and their lengths in *lens (both lt_malloc'd), *n_pieces of them. */
bool lt_hfpipe_split(const lt_hfpipe *h, const uint32_t *in, int64_t n, bool first, uint32_t **cps, int64_t **lens,
                     int64_t *n_pieces);
/* \w as tokenizers' regexes (and added tokens' single_word) mean it. */
bool lt_hf_is_word(uint32_t c);

enum { ATTR_NORMAL = 1, ATTR_UNKNOWN = 2, ATTR_CONTROL = 4, ATTR_USER = 8, ATTR_UNUSED = 16, ATTR_BYTE = 32 };

struct lt_tokenizer {
    lt_vocab *v;
    uint8_t *attr;        /* [n] ATTR_* */
    bool *eog;            /* [n] */
    int32_t *tmap;        /* open addressing: token text -> id */
    size_t tcap;
    int32_t *mmap;        /* merge string -> rank */
    size_t mcap;
    int32_t *special;     /* ids with CONTROL|USER|UNKNOWN, longest text first */
    int32_t n_special;
    int32_t *sp_head2;    /* [65536] first special (rank) whose text starts with these 2 bytes, -1 none */
    int32_t sp_head1[256]; /* one-byte special texts */
    int32_t *sp_next;     /* [n_special] next rank in the same bucket (ascending rank) */
    char *piece_pool;     /* token_to_piece(special=true) of every token, one after the other */
    uint32_t *piece_off;  /* [n] where token i's piece starts in piece_pool (NUL-terminated) */
    uint32_t *piece_len;
    int32_t spm_byte[256]; /* SPM byte fallback ids (-1 when absent) */
    char bpe_enc[256][4];  /* GPT-2 bytes_to_unicode as UTF-8 */
    uint8_t bpe_enc_len[256];
    lt_pretok *pre;
    bool ignore_merges, clean_spaces;
    lt_hfpipe *pipe;      /* Hugging Face's normalizer / pre-tokenizer pipeline (tok_hf.c) or NULL */
    int32_t *ntok;        /* added tokens matched in normalized text (normalized: true), longest first */
    char **ntext;         /* [n_ntok] their normalized texts */
    uint32_t *nlen;
    int32_t n_ntok;
    bool spm_seg;         /* no token has '▁' right after a non-'▁' character: SPM can work per word */
};


/* tok_special.c: added and special tokens in the text. */
typedef struct frag {
    int32_t id; /* >= 0: a token; -1: raw text [off, off+len) */
    size_t off, len;
} frag;

typedef struct fvec {
    frag *v;
    int64_t n, cap;
    bool oom;
} fvec;

void lt_fv_push(fvec *f, frag x);
/* Splits the special-token texts out of text[0..len) (llama.cpp's tokenizer_st_partition; added
 * tokens matched in normalized text are left for lt_tok_norm_split) into *out (fragments in
 * order); out->oom on failure. */
void lt_tok_partition(const struct lt_tokenizer *t, const char *text, size_t len, bool parse_special, fvec *out);
/* Added tokens with lstrip / rstrip: whitespace of the raw fragments next to them dropped. */
void lt_tok_strip_around(const struct lt_tokenizer *t, const char *text, fvec *f);
/* The added tokens matched in normalized text (t->ntok) split out of s[0..n) (leftmost longest,
 * single_word and lstrip / rstrip honoured), as fragments of s into *out (reset first). */
void lt_tok_norm_split(const struct lt_tokenizer *t, const char *s, size_t n, fvec *out);
/* tok_wpm.c: WordPiece on one pre-tokenized word s[0..n). */
bool lt_wpm_word(const struct lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids, int64_t *cap);

#endif
