/* pretok.c - byte-level BPE pre-tokenizers (word splitting before merges), matching
 * llama.cpp's src/unicode.cpp (unicode_regex_split) and the per-"pre" regex lists of
 * src/llama-vocab.cpp.
 *
 * Each pre-tokenizer is a list of regexes applied in turn; each regex splits every piece
 * the previous one produced into matches and the gaps between them. GPT-2's and Llama 3's
 * regexes use hand-written splitters (as llama.cpp's unicode_regex_split_custom_*). The
 * others run on the small backtracking regex engine of tok_regex.c.
 * Leaves out: the Kimi-K2 / AFMoE custom splitters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "unicode_data.h"

int lt_utf8_encode(uint32_t cp, char *b) {
    if (cp <= 0x7F) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp <= 0xFFFF) return lt_utf8_encode(cp, b);
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- code point flags as llama.cpp's unicode_cpt_flags ---------------------------------- */

typedef struct cflags {
    uint8_t cat; /* LT_UCD_* ; 0 = out of range (position outside the piece) */
    bool ws;
} cflags;

static inline cflags flags_of(uint32_t cp) {
    cflags f;
    f.cat = lt_ucd_cat(cp);
    f.ws = lt_ucd_is_space(cp);
    return f;
}

static inline bool lens_push(lt_lens *o, int64_t len) {
    if (o->n == o->cap) {
        int64_t nc = o->cap ? o->cap * 2 : 64;
        int64_t *p = lt_realloc(o->v, (size_t)nc * sizeof *p);
        if (!p) return false;
        o->v = p;
        o->cap = nc;
    }
    o->v[o->n++] = len;
    return true;
}

#define OUT_OF_RANGE 0xFFFFFFFFu

typedef struct split_ctx {
    const uint32_t *cps;
    int64_t ini, end, prev_end;
    lt_lens *out;
    bool oom;
} split_ctx;

static inline uint32_t get_cpt(const split_ctx *c, int64_t pos) {
    return (pos >= c->ini && pos < c->end) ? c->cps[pos] : OUT_OF_RANGE;
}

static inline cflags get_flags(const split_ctx *c, int64_t pos) {
    if (pos >= c->ini && pos < c->end) return flags_of(c->cps[pos]);
    cflags z = {0, false};
    return z;
}

static inline int64_t add_token(split_ctx *c, int64_t end) {
    int64_t len = end - c->prev_end;
    if (len > 0 && !lens_push(c->out, len)) c->oom = true;
    c->prev_end = end;
    return len;
}

#define IS_L(f) ((f).cat == LT_UCD_LETTER)
#define IS_N(f) ((f).cat == LT_UCD_NUMBER)

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(split_ctx *c) {
    for (int64_t pos = c->ini; pos < c->end;) {
        const uint32_t cpt = get_cpt(c, pos);
        const cflags flags = get_flags(c, pos);
        if (cpt == '\'' && pos + 1 < c->end) {
            uint32_t nx = get_cpt(c, pos + 1);
            if (nx == 's' || nx == 't' || nx == 'm' || nx == 'd') {
                pos += add_token(c, pos + 2);
                continue;
            }
            if (pos + 2 < c->end) {
                uint32_t nn = get_cpt(c, pos + 2);
                if ((nx == 'r' && nn == 'e') || (nx == 'v' && nn == 'e') || (nx == 'l' && nn == 'l')) {
                    pos += add_token(c, pos + 3);
                    continue;
                }
            }
        }
        cflags f2 = cpt == ' ' ? get_flags(c, pos + 1) : flags;
        if (IS_L(f2)) {
            pos += cpt == ' ';
            while (IS_L(f2)) f2 = get_flags(c, ++pos);
            add_token(c, pos);
            continue;
        }
        if (IS_N(f2)) {
            pos += cpt == ' ';
            while (IS_N(f2)) f2 = get_flags(c, ++pos);
            add_token(c, pos);
            continue;
        }
        if (!(f2.ws || IS_L(f2) || IS_N(f2)) && f2.cat) {
            pos += cpt == ' ';
            while (!(f2.ws || IS_L(f2) || IS_N(f2)) && f2.cat) f2 = get_flags(c, ++pos);
            add_token(c, pos);
            continue;
        }
        int64_t nws = 0;
        while (get_flags(c, pos + nws).ws) nws++;
        if (nws > 1 && get_cpt(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;
            add_token(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_token(c, pos);
            continue;
        }
        add_token(c, ++pos);
    }
}

static inline uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(split_ctx *c) {
    for (int64_t pos = c->ini; pos < c->end;) {
        const uint32_t cpt = get_cpt(c, pos);
        const cflags flags = get_flags(c, pos);
        if (cpt == '\'' && pos + 1 < c->end) {
            uint32_t nx = ascii_lower(get_cpt(c, pos + 1));
            if (nx == 's' || nx == 't' || nx == 'm' || nx == 'd') {
                pos += add_token(c, pos + 2);
                continue;
            }
            if (pos + 2 < c->end) {
                uint32_t nn = ascii_lower(get_cpt(c, pos + 2));
                if ((nx == 'r' && nn == 'e') || (nx == 'v' && nn == 'e') || (nx == 'l' && nn == 'l')) {
                    pos += add_token(c, pos + 3);
                    continue;
                }
            }
        }
        if (!(cpt == '\r' || cpt == '\n' || IS_N(flags))) {
            if (IS_L(flags) || IS_L(get_flags(c, pos + 1))) {
                pos++;
                while (IS_L(get_flags(c, pos))) pos++;
                add_token(c, pos);
                continue;
            }
        }
        if (IS_N(flags)) {
            int64_t ini = pos;
            while (IS_N(get_flags(c, pos))) {
                if (++pos - ini >= 3) {
                    add_token(c, pos);
                    ini = pos;
                }
            }
            add_token(c, pos);
            continue;
        }
        cflags f2 = cpt == ' ' ? get_flags(c, pos + 1) : flags;
        if (!(f2.ws || IS_L(f2) || IS_N(f2)) && flags.cat) {
            pos += cpt == ' ';
            while (!(f2.ws || IS_L(f2) || IS_N(f2)) && f2.cat) f2 = get_flags(c, ++pos);
            uint32_t c2 = get_cpt(c, pos);
            while (c2 == '\r' || c2 == '\n') c2 = get_cpt(c, ++pos);
            add_token(c, pos);
            continue;
        }
        int64_t nws = 0, last_rn = 0;
        while (get_flags(c, pos + nws).ws) {
            uint32_t c2 = get_cpt(c, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) {
            pos = last_rn;
            add_token(c, pos);
            continue;
        }
        if (nws > 1 && get_cpt(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;
            add_token(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_token(c, pos);
            continue;
        }
        add_token(c, ++pos);
    }
}

/* ---- pre-tokenizer definitions --------------------------------------------------------------- */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                                                          \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| " \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                        \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| " \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    bool ignore_merges, clean_spaces;
    const char *rx[7];
} pre_def;

static const pre_def PRE_DEFS[] = {
    {"default", false, true,
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL}},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", true, true, {RX_LLAMA3, NULL}},
    {"dbrx|smaug-bpe", false, true, {RX_LLAMA3, NULL}},
    {"chatglm-bpe|glm4", false, true, {RX_LLAMA3, NULL}},
    {"deepseek-llm", false, false,
     {"[\r\n]",
      "\\s?[A-Za-z\xC2\xB5\xC3\x80-\xC3\x96\xC3\x98-\xC3\xB6\xC3\xB8-\xC6\xBA\xC6\xBC-\xC6\xBF\xC7\x84-\xCA\x93"
      "\xCA\x95-\xCA\xAF\xCD\xB0-\xCD\xB3\xCD\xB6\xCD\xB7\xCD\xBB-\xCD\xBD\xCD\xBF\xCE\x86\xCE\x88-\xCE\x8A\xCE\x8C"
      "\xCE\x8E-\xCE\xA1\xCE\xA3-\xCF\xB5\xCF\xB7-\xD2\x81\xD2\x8A-\xD4\xAF\xD4\xB1-\xD5\x96\xE1\x82\xA0-\xE1\x83\x85"
      "\xE1\x8E\xA0-\xE1\x8F\xB5\xE1\x8F\xB8-\xE1\x8F\xBD\xE1\xB2\x90-\xE1\xB2\xBA\xE1\xB2\xBD-\xE1\xB2\xBF"
      "\xE1\xB4\x80-\xE1\xB4\xAB\xE1\xB5\xAB-\xE1\xB5\xB7\xE1\xB5\xB9-\xE1\xB6\x9A\xE1\xB8\x80-\xE1\xBC\x95"
      "\xE1\xBC\x98-\xE1\xBC\x9D\xE1\xBC\xA0-\xE1\xBD\x85\xE1\xBD\x88-\xE1\xBD\x8D\xE1\xBD\x90-\xE1\xBD\x97"
      "\xE1\xBD\x99\xE1\xBD\x9B\xE1\xBD\x9D\xE1\xBD\x9F-\xE1\xBD\xBD\xE1\xBE\x80-\xE1\xBE\xB4\xE1\xBE\xB6-\xE1\xBE\xBC"
      "\xE1\xBE\xBE\xE1\xBF\x82-\xE1\xBF\x84\xE1\xBF\x86-\xE1\xBF\x8C\xE1\xBF\x90-\xE1\xBF\x93\xE1\xBF\x96-\xE1\xBF\x9B"
      "\xE1\xBF\xA0-\xE1\xBF\xAC\xE1\xBF\xB2-\xE1\xBF\xB4\xE1\xBF\xB6-\xE1\xBF\xBC\xE2\x84\x82\xE2\x84\x87"
      "\xE2\x84\x8A-\xE2\x84\x93\xE2\x84\x95\xE2\x84\x99-\xE2\x84\x9D\xE2\x84\xA4\xE2\x84\xA6\xE2\x84\xA8"
      "\xE2\x84\xAA-\xE2\x84\xAD\xE2\x84\xAF-\xE2\x84\xB4\xE2\x84\xB9\xE2\x84\xBC-\xE2\x84\xBF\xE2\x85\x85-\xE2\x85\x89"
      "\xE2\x85\x8E\xE2\x86\x83\xE2\x86\x84\xE2\xB0\x80-\xE2\xB1\xBB\xE2\xB1\xBE-\xE2\xB3\xA4\xE2\xB3\xAB-\xE2\xB3\xAE"
      "\xE2\xB3\xB2\xE2\xB3\xB3\xEA\x99\x80-\xEA\x99\xAD\xEA\x9A\x80-\xEA\x9A\x9B\xEA\x9C\xA2-\xEA\x9D\xAF"
      "\xEA\x9D\xB1-\xEA\x9E\x87\xEA\x9E\x8B-\xEA\x9E\x8E\xEA\xAD\xB0-\xEA\xAE\xBF\xEF\xAC\x80-\xEF\xAC\x86"
      "\xEF\xAC\x93-\xEF\xAC\x97\xEF\xBC\xA1-\xEF\xBC\xBA\xEF\xBD\x81-\xEF\xBD\x9A\xF0\x90\x90\x80-\xF0\x90\x91\x8F"
      "\xF0\x90\x92\xB0-\xF0\x90\x93\x93\xF0\x90\x93\x98-\xF0\x90\x93\xBB\xF0\x90\xB2\x80-\xF0\x90\xB2\xB2"
      "\xF0\x90\xB3\x80-\xF0\x90\xB3\xB2\xF0\x91\xA2\xA0-\xF0\x91\xA3\x9F\xF0\x9E\xA4\x80-\xF0\x9E\xA5\x83]+",
      "\\s?[!-/:-~\xEF\xBC\x81-\xEF\xBC\x8F\xEF\xBC\x9A-\xEF\xBD\x9E\xE2\x80\x98-\xE2\x80\x9F\xE3\x80\x80-\xE3\x80\x82]+",
      "\\s+$", "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+", "\\p{N}+", NULL}},
    {"deepseek-coder", false, false,
     {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+",
      "\\p{N}", NULL}},
    {"deepseek-v3", false, false,
     {"\\p{N}{1,3}", "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
      NULL}},
    {"falcon", false, true, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", false, true, {"\\p{N}", RX_GPT2, NULL}},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|modern-bert|jina-v1-en|"
     "jina-v2-code|roberta-bpe|mpt|olmo|jais|trillion|exaone4|granite-docling",
     false, true, {RX_GPT2, NULL}},
    {"stablelm2|qwen2|deepseek-r1-qwen|hunyuan|megrez|solar-open", false, false, {RX_QWEN2, NULL}},
    {"poro-chat|bloom|gpt3-finnish", false, false,
     {" ?[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C)]+", NULL}},
    {"viking", false, false,
     {" ?[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C)]+", "\\p{N}", NULL}},
    {"tekken", true, false,
     {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+("
      "(?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL}},
    {"chameleon", false, false,
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2, NULL}},
    {"gpt-4o|llama4", false, false,
     {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'"
      "[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|"
      "'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL}},
    {"bailingmoe|bailingmoe2|llada-moe", false, false,
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
      NULL}},
    {"seed-coder", false, false,
     {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
      "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL}},
    {"grok-2", false, false, {RX_QWEN2, NULL}},
};

enum { KIND_GPT2 = 1, KIND_LLAMA3 = 2, KIND_RX = 3 };

struct lt_pretok {
    int n;
    int kind[7];
    lt_rx *re[7];
};

static bool name_in(const char *names, const char *pre) {
    size_t pl = strlen(pre);
    for (const char *s = names; *s;) {
        const char *e = strchr(s, '|');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == pl && !memcmp(s, pre, l)) return true;
        if (!e) break;
        s = e + 1;
    }
    return false;
}

void lt_pretok_free(lt_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) lt_rx_free(p->re[i]);
    lt_free(p);
}

lt_status lt_pretok_create(lt_pretok **out, const char *pre, bool *ignore_merges, bool *clean_spaces, lt_err *err) {
    *out = NULL;
    if (!pre || !pre[0]) pre = "default";
    const pre_def *d = NULL;
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++)
        if (name_in(PRE_DEFS[i].names, pre)) {
            d = &PRE_DEFS[i];
            break;
        }
    if (!d) return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer '%s' is not supported", pre);
    lt_pretok *p = lt_calloc(1, sizeof *p);
    if (!p) return lt_err_set(err, LT_ENOMEM, "out of memory");
    for (int i = 0; i < 7 && d->rx[i]; i++) {
        if (!strcmp(d->rx[i], RX_GPT2)) p->kind[i] = KIND_GPT2;
        else if (!strcmp(d->rx[i], RX_LLAMA3)) p->kind[i] = KIND_LLAMA3;
        else {
            p->kind[i] = KIND_RX;
            p->re[i] = lt_rx_compile(d->rx[i]);
            if (!p->re[i]) {
                p->n = i;
                lt_pretok_free(p);
                return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer '%s': cannot compile regex %d", pre, i);
            }
        }
        p->n = i + 1;
    }
    if (ignore_merges) *ignore_merges = d->ignore_merges;
    if (clean_spaces) *clean_spaces = d->clean_spaces;
    *out = p;
    return LT_OK;
}

static const pre_def *find_def(const char *pre) {
    if (!pre || !pre[0]) pre = "default";
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++)
        if (name_in(PRE_DEFS[i].names, pre)) return &PRE_DEFS[i];
    return NULL;
}

int lt_pretok_regexes(const char *pre, const char **rx, bool *ignore_merges) {
    const pre_def *d = find_def(pre);
    if (!d) return 0;
    int n = 0;
    while (n < 7 && d->rx[n]) rx[n] = d->rx[n], n++;
    if (ignore_merges) *ignore_merges = d->ignore_merges;
    return n;
}

const char *lt_pretok_name_of(const char *const *rx, int n, char *buf, size_t cap) {
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++) {
        const pre_def *d = &PRE_DEFS[i];
        int k = 0;
        while (k < 7 && d->rx[k]) k++;
        if (k != n) continue;
        bool same = true;
        for (int j = 0; same && j < n; j++)
            same = !strcmp(d->rx[j], rx[j]) || (!strcmp(d->rx[j], RX_GPT2) && !strcmp(rx[j], RX_GPT2 "|\\s+"));
        if (!same) continue;
        const char *bar = strchr(d->names, '|');
        snprintf(buf, cap, "%.*s", bar ? (int)(bar - d->names) : (int)strlen(d->names), d->names);
        return buf;
    }
    return NULL;
}

lt_status lt_pretok_create_rx(lt_pretok **out, const char *const *regexes, int n, bool generic_only, lt_err *err) {
    *out = NULL;
    if (n < 1 || n > 7) return lt_err_set(err, LT_EINVAL, "pre-tokenizer: 1..7 regexes, got %d", n);
    lt_pretok *p = lt_calloc(1, sizeof *p);
    if (!p) return lt_err_set(err, LT_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!generic_only && !strcmp(regexes[i], RX_GPT2)) p->kind[i] = KIND_GPT2;
        else if (!generic_only && !strcmp(regexes[i], RX_LLAMA3)) p->kind[i] = KIND_LLAMA3;
        else {
            p->kind[i] = KIND_RX;
            p->re[i] = lt_rx_compile(regexes[i]);
            if (!p->re[i]) {
                p->n = i;
                lt_pretok_free(p);
                return lt_err_set(err, LT_EINVAL, "pre-tokenizer: cannot compile regex '%.60s'", regexes[i]);
            }
        }
        p->n = i + 1;
    }
    *out = p;
    return LT_OK;
}

bool lt_pretok_split(const lt_pretok *p, const uint32_t *cps, int64_t n, lt_lens *out) {
    lt_lens a = {0}, b = {0};
    bool ok = true;
    uint32_t *coll = NULL, *wide = NULL;
    out->n = 0;
    if (n == 0) return true;
    if (!lens_push(&a, n)) return false;
    for (int r = 0; r < p->n && ok; r++) {
        b.n = 0;
        if (p->kind[r] == KIND_GPT2 || p->kind[r] == KIND_LLAMA3) {
            split_ctx c = {cps, 0, 0, 0, &b, false};
            int64_t start = 0;
            for (int64_t i = 0; i < a.n; i++) {
                c.ini = c.prev_end = start;
                c.end = start + a.v[i];
                start = c.end;
                if (p->kind[r] == KIND_GPT2) split_gpt2(&c);
                else split_llama3(&c);
            }
            ok = !c.oom;
        } else {
            const lt_rx *re = p->re[r];
            bool col = lt_rx_collapsed(re);
            uint32_t **slot = col ? &coll : &wide;
            if (!*slot && !(*slot = lt_rx_text(col, cps, n))) {
                ok = false;
                break;
            }
            const uint32_t *t = *slot;
            int64_t start = 0;
            for (int64_t i = 0; i < a.n && ok; i++) {
                int64_t beg = start, end = start + a.v[i], last = beg, ms, me;
                start = end;
                while (last < end && lt_rx_search(re, t, beg, end, last, &ms, &me)) {
                    if (ms > last) ok = ok && lens_push(&b, ms - last);
                    ok = ok && lens_push(&b, me - ms);
                    last = me;
                }
                if (last < end) ok = ok && lens_push(&b, end - last);
            }
        }
        lt_lens tmp = a;
        a = b;
        b = tmp;
    }
    lt_free(coll);
    lt_free(wide);
    lt_free(b.v);
    if (!ok) {
        lt_free(a.v);
        return false;
    }
    lt_free(out->v);
    *out = a;
    return true;
}
