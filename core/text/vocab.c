/* vocab.c - lt_vocab lifetime, validation, and the llama2.c and Hugging Face loaders.
 *
 * llama2.c tokenizer .bin: int32 max_token_length, then per token float score, int32 len,
 * len bytes. Loaded as an SPM vocab (unk 0, bos 1, eos 2, byte tokens <0xXX>); spaces in
 * token texts are stored as '▁' so the SPM tokenizer can treat both exports alike.
 * tokenizer.json: model.type "BPE" and "Unigram" (WordPiece is reported as unsupported).
 * Leaves out: GGUF (core/gguf.c), tokenization itself (core/tokenizer.c).
 */
#include "vocab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "tok_internal.h"

lt_vocab *lt_vocab_create(void) {
    lt_vocab *v = lt_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = v->eot_id = -1;
    return v;
}

/* Whether s lies in v's string block (then it is not an allocation of its own). */
static bool in_pool(const lt_vocab *v, const char *s) {
    uintptr_t p = (uintptr_t)s, b = (uintptr_t)v->str_pool;
    return v->str_pool && p >= b && p - b < v->str_pool_bytes;
}

char *lt_vocab_pool(lt_vocab *v, size_t bytes) {
    if (v->str_pool) return NULL;
    v->str_pool = lt_malloc(bytes ? bytes : 1);
    v->str_pool_bytes = v->str_pool ? bytes : 0;
    return v->str_pool;
}

void lt_vocab_free(lt_vocab *v) {
    if (!v) return;
    if (v->tokens)
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (!in_pool(v, v->tokens[i])) lt_free(v->tokens[i]);
    if (v->merges)
        for (int32_t i = 0; i < v->n_merges; i++)
            if (!in_pool(v, v->merges[i])) lt_free(v->merges[i]);
    lt_free(v->str_pool);
    lt_free(v->tokens);
    lt_free(v->token_len);
    lt_free(v->scores);
    lt_free(v->token_types);
    lt_free(v->merges);
    lt_free(v->chat_template);
    lt_free(v->token_flags);
    for (int32_t i = 0; i < v->n_pre_rx; i++) lt_free(v->pre_rx[i]);
    lt_free(v->pre_rx);
    lt_free(v->hf_pipeline);
    lt_free(v);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid (overlong, surrogate,
 * past U+10FFFF, truncated). */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

lt_status lt_vocab_validate(const lt_vocab *v, const char *what, lt_err *err) {
    if (!what) what = "vocab";
    if (!v) return lt_err_set(err, LT_EINVAL, "%s: no vocab", what);
    if (v->n_tokens <= 0 || !v->tokens || !v->token_len)
        return lt_err_set(err, LT_EFORMAT, "%s: the vocab has no tokens", what);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const unsigned char *s = (const unsigned char *)v->tokens[i];
        if (!s) return lt_err_set(err, LT_EFORMAT, "%s: token %d has no text", what, i);
        size_t n = v->token_len[i];
        if (v->token_types && v->token_types[i] == LT_TOKTYPE_BYTE) continue;
        for (size_t k = 0; k < n;) {
            size_t l = utf8_valid_len(s + k, n - k);
            if (!l)
                return lt_err_set(err, LT_EFORMAT,
                                  "%s: token %d is not valid UTF-8 (byte 0x%02X at offset %zu); the vocab is "
                                  "corrupt or in an unsupported encoding",
                                  what, i, s[k], k);
            k += l;
        }
    }
    const int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->eot_id};
    const char *names[] = {"bos", "eos", "unk", "pad", "eot"};
    for (int i = 0; i < 5; i++)
        if (ids[i] < -1 || ids[i] >= v->n_tokens)
            return lt_err_set(err, LT_EFORMAT, "%s: %s token id %d is outside the vocab (0..%d)", what, names[i],
                              ids[i], v->n_tokens - 1);
    if (v->token_types)
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (v->token_types[i] < 0 || v->token_types[i] > LT_TOKTYPE_BYTE)
                return lt_err_set(err, LT_EFORMAT, "%s: token %d has unknown type %d", what, i, v->token_types[i]);
    if (v->n_merges > 0 && !v->merges) return lt_err_set(err, LT_EFORMAT, "%s: merges missing", what);
    for (int32_t i = 0; i < v->n_merges; i++) {
        const char *m = v->merges[i];
        if (!m) return lt_err_set(err, LT_EFORMAT, "%s: merge %d is missing", what, i);
        const char *sp = m[0] ? strchr(m + 1, ' ') : NULL;
        if (!sp || !sp[1])
            return lt_err_set(err, LT_EFORMAT, "%s: merge %d ('%.40s') is not of the form 'left right'", what, i, m);
    }
    if (v->type == LT_VOCAB_BPE && v->n_merges == 0)
        return lt_err_set(err, LT_EFORMAT, "%s: byte-level BPE vocab without merges", what);
    return LT_OK;
}

/* ---- llama2.c ------------------------------------------------------------------------- */

static bool is_byte_token(const char *s, size_t n) {
    return n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
           strchr("0123456789ABCDEFabcdef", s[3]) && strchr("0123456789ABCDEFabcdef", s[4]) && s[3] && s[4];
}

/* Copies s[0..n) replacing ' ' with U+2581. */
static char *escape_spaces(const char *s, size_t n, uint32_t *out_len) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == ' ' ? 3 : 1;
    char *p = lt_malloc(k + 1);
    if (!p) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') p[j++] = (char)0xE2, p[j++] = (char)0x96, p[j++] = (char)0x81;
        else p[j++] = s[i];
    }
    p[j] = 0;
    *out_len = (uint32_t)j;
    return p;
}

lt_status lt_vocab_from_llama2c(lt_vocab **out, const char *path, int32_t n_vocab, lt_err *err) {
    *out = NULL;
    FILE *f = lt_file_fopen_regular(path, err);
    if (!f) return lt_err_prefix(err, "tokenizer");
    fseek(f, 0, SEEK_END);
    long fsize = ftell(f);
    fseek(f, 0, SEEK_SET);
    lt_status st = LT_OK;
    unsigned char *buf = fsize > 0 ? lt_malloc((size_t)fsize) : NULL;
    if (fsize <= 4 || !buf || fread(buf, 1, (size_t)fsize, f) != (size_t)fsize) {
        fclose(f);
        lt_free(buf);
        return lt_err_set(err, fsize <= 4 ? LT_EFORMAT : LT_EIO, "%s: cannot read tokenizer (%ld bytes)", path,
                          fsize);
    }
    fclose(f);
    size_t n = (size_t)fsize, pos = 4;
    int32_t max_len;
    memcpy(&max_len, buf, 4);
    /* count tokens (n_vocab <= 0: as many as the file holds) */
    int32_t count = 0;
    for (size_t p = 4; p + 8 <= n;) {
        int32_t len;
        memcpy(&len, buf + p + 4, 4);
        if (len < 0 || (size_t)len > n - p - 8) break;
        p += 8 + (size_t)len;
        count++;
        if (n_vocab > 0 && count == n_vocab) break;
    }
    if (max_len <= 0 || max_len > 4096) {
        lt_free(buf);
        return lt_err_set(err, LT_EFORMAT, "%s: not a llama2.c tokenizer (max token length %d)", path, max_len);
    }
    if (count == 0 || (n_vocab > 0 && count < n_vocab)) {
        lt_free(buf);
        return lt_err_set(err, LT_EFORMAT, "%s: tokenizer holds %d tokens, the model needs %d (truncated file?)",
                          path, count, n_vocab);
    }
    lt_vocab *v = lt_vocab_create();
    if (!v) goto oom;
    v->type = LT_VOCAB_SPM;
    v->n_tokens = count;
    v->max_token_len = max_len;
    v->tokens = lt_calloc((size_t)count, sizeof *v->tokens);
    v->token_len = lt_calloc((size_t)count, sizeof *v->token_len);
    v->scores = lt_calloc((size_t)count, sizeof *v->scores);
    v->token_types = lt_calloc((size_t)count, sizeof *v->token_types);
    if (!v->tokens || !v->token_len || !v->scores || !v->token_types) goto oom;
    for (int32_t i = 0; i < count; i++) {
        int32_t len;
        memcpy(&v->scores[i], buf + pos, 4);
        memcpy(&len, buf + pos + 4, 4);
        const char *s = (const char *)buf + pos + 8;
        pos += 8 + (size_t)len;
        /* ids 0-2 are <unk>, <s>, </s> (stored as "<unk>", "\n<s>\n", "\n</s>\n"); name them
         * as llama.cpp's llama2.c converter does, so a written GGUF reads the same there */
        static const char *const special[3] = {"<unk>", "<s>", "</s>"};
        if (i < 3) {
            v->tokens[i] = lt_strdup(special[i]);
            v->token_len[i] = (uint32_t)strlen(special[i]);
        } else {
            v->tokens[i] = escape_spaces(s, (size_t)len, &v->token_len[i]);
        }
        if (!v->tokens[i]) goto oom;
        if (!isfinite(v->scores[i])) v->scores[i] = 0;
        v->token_types[i] = i == 0 ? LT_TOKTYPE_UNKNOWN
                            : (i == 1 || i == 2) ? LT_TOKTYPE_CONTROL
                            : is_byte_token(s, (size_t)len) ? LT_TOKTYPE_BYTE
                                                            : LT_TOKTYPE_NORMAL;
    }
    lt_free(buf);
    buf = NULL;
    v->unk_id = 0;
    v->bos_id = count > 1 ? 1 : -1;
    v->eos_id = count > 2 ? 2 : -1;
    v->add_bos = true;
    v->add_space_prefix = true;
    st = lt_vocab_validate(v, path, err);
    if (st) {
        lt_vocab_free(v);
        return st;
    }
    *out = v;
    return LT_OK;
oom:
    lt_free(buf);
    lt_vocab_free(v);
    return lt_err_set(err, LT_ENOMEM, "%s: out of memory reading the tokenizer", path);
}

/* ---- Hugging Face tokenizer.json --------------------------------------------------------- */

static char *read_text_file(const char *path, size_t *len) {
    char *p;
    lt_err e;
    return lt_file_read_all(path, (size_t)1 << 30, &p, len, &e) == LT_OK ? p : NULL;
}

/* A token given as "text" or {"content": "text"} (tokenizer_config.json). */
static const char *token_text(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* Does any node below j (object/array tree) have key == val (string)? */
static bool json_has(const cJSON *j, const char *key, const char *val) {
    if (!j) return false;
    if (j->string && !strcmp(j->string, key) && cJSON_IsString(j) && (!val || !strcmp(j->valuestring, val)))
        return true;
    for (const cJSON *c = j->child; c; c = c->next)
        if (json_has(c, key, val)) return true;
    return false;
}

/* The regex list of a pre_tokenizer (Sequence of Split / Digits / ByteLevel) in order, as
 * llama.cpp's pre names list them; false when j holds anything else. */
static bool collect_pre_rx(const cJSON *j, const char **rx, int *n) {
    if (!j || cJSON_IsNull(j)) return true;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsObject(j) || !cJSON_IsString(t)) return false;
    const char *type = t->valuestring;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next)
            if (!collect_pre_rx(c, rx, n)) return false;
        return cJSON_IsArray(list);
    }
    const char *add = NULL;
    if (!strcmp(type, "Split")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "pattern"), "Regex");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        if (!cJSON_IsString(r) || (cJSON_IsString(b) && strcmp(b->valuestring, "Isolated"))) return false;
        add = r->valuestring;
    } else if (!strcmp(type, "Digits")) {
        add = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
    } else if (!strcmp(type, "ByteLevel")) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "use_regex");
        if (u && !cJSON_IsTrue(u)) return true;
        const char *gpt2[7];
        if (lt_pretok_regexes("gpt-2", gpt2, NULL) != 1) return false;
        add = gpt2[0];
    } else {
        return false;
    }
    if (*n >= 7) return false;
    rx[(*n)++] = add;
    return true;
}

/* First Split pre-tokenizer regex under j, or NULL. */
static const char *find_split_regex(const cJSON *j) {
    if (!j) return NULL;
    if (cJSON_IsObject(j)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "Split") && p) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
            if (cJSON_IsString(r)) return r->valuestring;
        }
    }
    for (const cJSON *c = j->child; c; c = c->next) {
        const char *r = find_split_regex(c);
        if (r) return r;
    }
    return NULL;
}

/* Open-addressing string -> id map used while loading. */
typedef struct smap {
    const char **key;
    int32_t *val;
    size_t cap;
} smap;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool smap_init(smap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->key = lt_calloc(m->cap, sizeof *m->key);
    m->val = lt_calloc(m->cap, sizeof *m->val);
    return m->key && m->val;
}

static void smap_free(smap *m) {
    lt_free(m->key);
    lt_free(m->val);
}

static void smap_put(smap *m, const char *k, int32_t v) {
    size_t i = hash_str(k) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], k)) i = (i + 1) & (m->cap - 1);
    if (!m->key[i]) m->key[i] = k, m->val[i] = v;
}

static int32_t smap_get(const smap *m, const char *k) {
    size_t i = hash_str(k) & (m->cap - 1);
    while (m->key[i]) {
        if (!strcmp(m->key[i], k)) return m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static int32_t find_token(const lt_vocab *v, const char *s) {
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (!strcmp(v->tokens[i], s)) return i;
    return -1;
}

/* The post-processor: the special tokens it puts before and after the text become BOS / EOS
 * (added unless tokenizer_config.json's add_bos_token / add_eos_token say otherwise).
 * TemplateProcessing's single template, RobertaProcessing / BertProcessing (cls $A sep),
 * ByteLevel (nothing to add), and a Sequence of them. */
static lt_status hf_post(lt_vocab *v, const cJSON *pp, const char *path, lt_err *err) {
    if (!pp || cJSON_IsNull(pp)) return LT_OK;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pp, "type");
    const char *type = cJSON_IsString(ty) ? ty->valuestring : "";
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) LT_TRY(hf_post(v, c, path, err));
        return LT_OK;
    }
    if (!strcmp(type, "ByteLevel")) return LT_OK;
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(pp, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(pp, "sep");
        const cJSON *ci = cJSON_GetArrayItem(cls, 1), *si = cJSON_GetArrayItem(sep, 1);
        if (!cJSON_IsNumber(ci) || !cJSON_IsNumber(si) || ci->valuedouble < 0 || ci->valuedouble >= v->n_tokens ||
            si->valuedouble < 0 || si->valuedouble >= v->n_tokens)
            return lt_err_set(err, LT_EFORMAT, "%s: post_processor %s: cls/sep are not [token, id] of the vocab", path,
                              type);
        v->bos_id = (int32_t)ci->valuedouble;
        v->eos_id = (int32_t)si->valuedouble;
        v->add_bos = v->add_eos = true;
        return LT_OK;
    }
    if (strcmp(type, "TemplateProcessing"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: post_processor type '%s' is not supported", path, type);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    int n_before = 0, n_after = 0, n_seq = 0;
    int32_t before[9], after[9];
    for (const cJSON *p = cJSON_IsArray(single) ? single->child : NULL; p; p = p->next) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(p, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(p, "Sequence")) {
            n_seq++;
            continue;
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "id");
        if (!cJSON_IsString(name))
            return lt_err_set(err, LT_EFORMAT, "%s: post_processor TemplateProcessing: a piece is neither "
                                               "SpecialToken nor Sequence", path);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sp, name->valuestring), "ids");
        if (cJSON_GetArraySize(ids) > 1)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: post_processor TemplateProcessing: special token '%.40s' "
                                                    "with several ids is not supported", path, name->valuestring);
        int32_t id = cJSON_GetArraySize(ids) == 1 && cJSON_IsNumber(ids->child) ? (int32_t)ids->child->valuedouble
                                                                                 : find_token(v, name->valuestring);
        if (id < 0 || id >= v->n_tokens)
            return lt_err_set(err, LT_EFORMAT, "%s: post_processor TemplateProcessing: special token '%.40s' is "
                                               "not in the vocab", path, name->valuestring);
        if (n_before == 9 || n_after == 9)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: post_processor TemplateProcessing: more than 9 special "
                                                    "tokens on a side are not supported", path);
        if (n_seq == 0) before[n_before++] = id;
        else after[n_after++] = id;
    }
    if (n_seq != 1)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: post_processor TemplateProcessing: a single template with %d "
                                                "$A sequences is not supported (only one)", path, n_seq);
    /* the first before the text is BOS, the last after it EOS; the others go with them */
    v->add_bos = n_before > 0;
    v->add_eos = n_after > 0;
    if (n_before) v->bos_id = before[0];
    if (n_after) v->eos_id = after[n_after - 1];
    v->n_tpl_extra[0] = n_before > 1 ? n_before - 1 : 0;
    v->n_tpl_extra[1] = n_after > 1 ? n_after - 1 : 0;
    for (int k = 1; k < n_before; k++) v->tpl_extra[0][k - 1] = before[k];
    for (int k = 0; k + 1 < n_after; k++) v->tpl_extra[1][k] = after[k];
    return LT_OK;
}

/* The normalizer: Unicode forms and Lowercase into v->normalize; Prepend and Replace of ' ' by
 * '▁' are the SentencePiece space handling (read with the model); anything else is refused. */
static lt_status hf_norm(lt_vocab *v, const cJSON *j, const char *path, lt_err *err) {
    if (!j || cJSON_IsNull(j)) return LT_OK;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *type = cJSON_IsString(ty) ? ty->valuestring : "";
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) LT_TRY(hf_norm(v, c, path, err));
        return LT_OK;
    }
    static const char *const forms[] = {"NFC", "NFKC", "NFD", "NFKD", "Lowercase"};
    static const uint32_t bits[] = {LT_NORM_NFC, LT_NORM_NFKC, LT_NORM_NFD, LT_NORM_NFKD, LT_NORM_LOWER};
    for (int i = 0; i < 5; i++)
        if (!strcmp(type, forms[i])) {
            if (i < 4 && (v->normalize & LT_NORM_LOWER))
                return lt_err_set(err, LT_EUNSUPPORTED, "%s: normalizer %s after Lowercase is not supported", path,
                                  type);
            if (i < 4 && (v->normalize & ~LT_NORM_LOWER) && !(v->normalize & bits[i]))
                return lt_err_set(err, LT_EUNSUPPORTED, "%s: normalizer %s after another Unicode form is not "
                                                        "supported", path, type);
            v->normalize |= bits[i];
            return LT_OK;
        }
    if (!strcmp(type, "BertNormalizer")) {
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(j, "lowercase");
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
        bool lower = !cJSON_IsFalse(lc), strip = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : lower;
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "clean_text"))) v->normalize |= LT_NORM_BERT_CLEAN;
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "handle_chinese_chars")))
            v->normalize |= LT_NORM_BERT_CJK;
        if (strip) v->normalize |= LT_NORM_STRIP_ACCENTS;
        if (lower) v->normalize |= LT_NORM_LOWER;
        return LT_OK;
    }
    if (!strcmp(type, "StripAccents")) {
        v->normalize |= LT_NORM_STRIP_ACCENTS;
        return LT_OK;
    }
    if (!strcmp(type, "Prepend")) return LT_OK;
    if (!strcmp(type, "Replace")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "pattern"), "String");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        if (cJSON_IsString(p) && cJSON_IsString(c) && !strcmp(p->valuestring, " ") &&
            !strcmp(c->valuestring, "\xE2\x96\x81"))
            return LT_OK;
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: normalizer Replace other than ' ' -> '\xE2\x96\x81' is not "
                                                "supported", path);
    }
    return lt_err_set(err, LT_EUNSUPPORTED, "%s: normalizer type '%s' is not supported", path, type);
}

/* added_tokens: their texts, types (special: CONTROL, else USER_DEFINED) and lstrip/rstrip. */
/* Ids no entry named become unused "[PADn]" tokens (as llama.cpp's converter pads); then the
 * longest token's length. */
static lt_status hf_fill_holes(lt_vocab *v, const char *path, lt_err *err) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->tokens[i]) continue;
        char tmp[32];
        snprintf(tmp, sizeof tmp, "[PAD%d]", i);
        if (!(v->tokens[i] = lt_strdup(tmp))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        v->token_len[i] = (uint32_t)strlen(tmp);
        v->token_types[i] = LT_TOKTYPE_UNUSED;
    }
    for (int32_t i = 0; i < v->n_tokens; i++)
        if ((int32_t)v->token_len[i] > v->max_token_len) v->max_token_len = (int32_t)v->token_len[i];
    return LT_OK;
}

static lt_status hf_added(lt_vocab *v, const cJSON *added, const char *path, lt_err *err) {
    for (const cJSON *t = added ? added->child : NULL; t; t = t->next) {
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(t, "id")->valuedouble;
        const char *c = cJSON_GetObjectItemCaseSensitive(t, "content")->valuestring;
        if (!v->tokens[id] || strcmp(v->tokens[id], c)) {
            lt_free(v->tokens[id]);
            if (!(v->tokens[id] = lt_strdup(c))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
            v->token_len[id] = (uint32_t)strlen(c);
        }
        v->token_types[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "special")) ? LT_TOKTYPE_CONTROL
                                                                                         : LT_TOKTYPE_USER_DEFINED;
        /* normalized: true by default for added tokens that are not special, as tokenizers */
        const cJSON *nz = cJSON_GetObjectItemCaseSensitive(t, "normalized");
        bool normalized = cJSON_IsBool(nz) ? cJSON_IsTrue(nz) : v->token_types[id] != LT_TOKTYPE_CONTROL;
        uint8_t fl = (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "lstrip")) ? LT_TOKFLAG_LSTRIP : 0) |
                     (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "rstrip")) ? LT_TOKFLAG_RSTRIP : 0) |
                     (normalized ? LT_TOKFLAG_NORMALIZED : 0) |
                     (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "single_word")) ? LT_TOKFLAG_SINGLE_WORD : 0);
        if (fl && !v->token_flags && !(v->token_flags = lt_calloc((size_t)v->n_tokens, 1)))
            return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        if (fl) v->token_flags[id] = fl;
    }
    return LT_OK;
}

/* Does the normalizer (norm) or pre-tokenizer (pret) hold a piece only Hugging Face's general
 * pipeline (tok_hf.c) runs: Strip, a Replace other than ' ' -> '▁', Whitespace, WhitespaceSplit,
 * Punctuation, a Split by a String, not Isolated or inverted, ByteLevel with add_prefix_space? */
static bool needs_pipe(const cJSON *j) {
    if (!j) return false;
    if (cJSON_IsObject(j)) {
        const char *ty = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "type"))
                             ? cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring
                             : "";
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        if (!strcmp(ty, "Strip") || !strcmp(ty, "Whitespace") || !strcmp(ty, "WhitespaceSplit") ||
            !strcmp(ty, "Punctuation"))
            return true;
        if (!strcmp(ty, "Replace") && !(cJSON_IsString(ps) && !strcmp(ps->valuestring, " ") && cJSON_IsString(c) &&
                                        !strcmp(c->valuestring, "\xE2\x96\x81")))
            return true;
        bool invert = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "invert"));
        bool isolated = !cJSON_IsString(b) || !strcmp(b->valuestring, "Isolated");
        if (!strcmp(ty, "Split") && (cJSON_IsString(ps) || invert || !isolated))
            return true;
        if (!strcmp(ty, "ByteLevel") && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space")))
            return true;
    }
    for (const cJSON *c = j->child; c; c = c->next)
        if (needs_pipe(c)) return true;
    return false;
}

/* Keeps the normalizer and pre-tokenizer as JSON for the pipeline and checks that it runs. */
static lt_status set_pipe(lt_vocab *v, const cJSON *norm, const cJSON *pret, const char *path, lt_err *err) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToObject(o, "normalizer", norm ? cJSON_Duplicate(norm, true) : cJSON_CreateNull()) ||
        !cJSON_AddItemToObject(o, "pre_tokenizer", pret ? cJSON_Duplicate(pret, true) : cJSON_CreateNull())) {
        cJSON_Delete(o);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    v->hf_pipeline = lt_strdup(txt);
    cJSON_free(txt);
    if (!v->hf_pipeline) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    lt_hfpipe *h = NULL;
    lt_status st = lt_hfpipe_create(&h, v->hf_pipeline, err);
    if (st) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return lt_err_set(err, st, "%s: %s", path, msg);
    }
    bool bl = lt_hfpipe_bytelevel(h);
    lt_hfpipe_free(h);
    if (v->type == LT_VOCAB_BPE && !bl)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a BPE model without a ByteLevel pre-tokenizer, Metaspace or "
                                                "byte_fallback is not supported", path);
    v->normalize = 0;
    return LT_OK;
}

/* A Unigram model: vocab [[piece, score], ...] (id = index), unk_id, byte_fallback; the
 * Metaspace pre-tokenizer gives the space handling (as SentencePiece). */
static lt_status hf_fill_ugm(lt_vocab *v, const cJSON *root, const char *path, lt_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int n = cJSON_IsArray(vocab) ? cJSON_GetArraySize(vocab) : 0;
    if (n <= 0) return lt_err_set(err, LT_EFORMAT, "%s: Unigram model.vocab is not a list of [piece, score]", path);
    int64_t nt = n;
    for (const cJSON *t = added ? added->child : NULL; t; t = t->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 22) || !cJSON_IsString(c))
            return lt_err_set(err, LT_EFORMAT, "%s: an added_tokens entry lacks a valid id or content", path);
        if ((int64_t)id->valuedouble + 1 > nt) nt = (int64_t)id->valuedouble + 1;
    }
    v->type = LT_VOCAB_UGM;
    v->hf_model = true;
    v->n_tokens = (int32_t)nt;
    v->tokens = lt_calloc((size_t)nt, sizeof *v->tokens);
    v->token_len = lt_calloc((size_t)nt, sizeof *v->token_len);
    v->scores = lt_calloc((size_t)nt, sizeof *v->scores);
    v->token_types = lt_calloc((size_t)nt, sizeof *v->token_types);
    if (!v->tokens || !v->token_len || !v->scores || !v->token_types)
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    bool byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    int i = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, i++) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsString(p) || !cJSON_IsNumber(sc))
            return lt_err_set(err, LT_EFORMAT, "%s: Unigram vocab entry %d is not [piece, score]", path, i);
        if (!(v->tokens[i] = lt_strdup(p->valuestring))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        v->token_len[i] = (uint32_t)strlen(p->valuestring);
        v->scores[i] = (float)sc->valuedouble;
        v->token_types[i] = byte_fallback && is_byte_token(p->valuestring, v->token_len[i]) ? LT_TOKTYPE_BYTE
                                                                                            : LT_TOKTYPE_NORMAL;
    }
    LT_TRY(hf_added(v, added, path, err));
    LT_TRY(hf_fill_holes(v, path, err));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (cJSON_IsNumber(unk) && unk->valuedouble >= 0 && unk->valuedouble < n) {
        v->unk_id = (int32_t)unk->valuedouble;
        if (v->token_types[v->unk_id] != LT_TOKTYPE_USER_DEFINED) v->token_types[v->unk_id] = LT_TOKTYPE_UNKNOWN;
    }
    const cJSON *pret = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (needs_pipe(norm) || needs_pipe(pret)) {
        LT_TRY(hf_post(v, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
        return set_pipe(v, norm, pret, path, err);
    }
    if (pret && !cJSON_IsNull(pret) && !json_has(pret, "type", "Metaspace"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a Unigram model is supported with the Metaspace pre-tokenizer "
                                                "only", path);
    v->add_space_prefix = !json_has(pret, "prepend_scheme", "never") &&
                          !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pret, "add_prefix_space"));
    v->prepend = json_has(pret, "prepend_scheme", "first") ? LT_PREPEND_FIRST : LT_PREPEND_ALWAYS;
    v->split_words = pret && !cJSON_IsNull(pret) && !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pret, "split"));
    LT_TRY(hf_post(v, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
    return hf_norm(v, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err);
}

/* The rest of a WordPiece model (BERT): "##" continuations, 100 characters a word at most,
 * the BertPreTokenizer (or Whitespace-like splitting on spaces and punctuation). */
static lt_status hf_fill_wpm(lt_vocab *v, const cJSON *root, const char *path, lt_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *pfx = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsString(pfx) && strcmp(pfx->valuestring, "##"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: WordPiece continuing_subword_prefix '%.20s' is not supported "
                                                "(only '##')", path, pfx->valuestring);
    if (cJSON_IsNumber(mx) && mx->valuedouble != 100)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: WordPiece max_input_chars_per_word %g is not supported (only "
                                                "100)", path, mx->valuedouble);
    const cJSON *pret = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pty = cJSON_GetObjectItemCaseSensitive(pret, "type");
    bool bert = cJSON_IsString(pty) && !strcmp(pty->valuestring, "BertPreTokenizer");
    if (!bert || needs_pipe(norm)) { /* any other pre-tokenizer: the pipeline */
        v->type = LT_VOCAB_WPM;
        v->hf_model = true;
        lt_free(v->scores);
        v->scores = NULL;
        const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
        if (cJSON_IsString(unk) && (v->unk_id = find_token(v, unk->valuestring)) >= 0 &&
            v->token_types[v->unk_id] != LT_TOKTYPE_USER_DEFINED)
            v->token_types[v->unk_id] = LT_TOKTYPE_UNKNOWN;
        LT_TRY(hf_post(v, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
        return set_pipe(v, norm, pret, path, err);
    }
    if (!json_has(pret, "type", "BertPreTokenizer"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a WordPiece model is supported with the BertPreTokenizer "
                                                "only", path);
    v->type = LT_VOCAB_WPM;
    v->hf_model = true;
    lt_free(v->scores);
    v->scores = NULL;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk) && (v->unk_id = find_token(v, unk->valuestring)) >= 0 &&
        v->token_types[v->unk_id] != LT_TOKTYPE_USER_DEFINED)
        v->token_types[v->unk_id] = LT_TOKTYPE_UNKNOWN;
    LT_TRY(hf_post(v, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
    return hf_norm(v, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err);
}

static lt_status hf_fill(lt_vocab *v, const cJSON *root, const char *path, lt_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(model)) return lt_err_set(err, LT_EFORMAT, "%s: no \"model\" object", path);
    bool ugm = cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "Unigram");
    bool wpm = cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "WordPiece");
    if (cJSON_IsString(mtype) && strcmp(mtype->valuestring, "BPE") && !ugm && !wpm)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: tokenizer model type '%s' is not supported (only BPE, "
                          "Unigram and WordPiece)", path, mtype->valuestring);
    if (ugm) return hf_fill_ugm(v, root, path, err);
    if (!cJSON_IsObject(vocab)) return lt_err_set(err, LT_EFORMAT, "%s: model.vocab is not an object", path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    /* size: max id + 1 */
    int64_t n = 0;
    for (const cJSON *t = vocab->child; t; t = t->next) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= (1 << 22))
            return lt_err_set(err, LT_EFORMAT, "%s: model.vocab entry '%.40s' has a bad id", path,
                              t->string ? t->string : "?");
        if ((int64_t)t->valuedouble + 1 > n) n = (int64_t)t->valuedouble + 1;
    }
    for (const cJSON *t = added ? added->child : NULL; t; t = t->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 22) || !cJSON_IsString(c))
            return lt_err_set(err, LT_EFORMAT, "%s: an added_tokens entry lacks a valid id or content", path);
        if ((int64_t)id->valuedouble + 1 > n) n = (int64_t)id->valuedouble + 1;
    }
    if (n == 0) return lt_err_set(err, LT_EFORMAT, "%s: empty vocab", path);
    v->n_tokens = (int32_t)n;
    v->tokens = lt_calloc((size_t)n, sizeof *v->tokens);
    v->token_len = lt_calloc((size_t)n, sizeof *v->token_len);
    v->scores = lt_calloc((size_t)n, sizeof *v->scores);
    v->token_types = lt_calloc((size_t)n, sizeof *v->token_types);
    if (!v->tokens || !v->token_len || !v->scores || !v->token_types)
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    bool byte_fallback = cJSON_IsTrue(bf);
    for (const cJSON *t = vocab->child; t; t = t->next) {
        int32_t id = (int32_t)t->valuedouble;
        if (v->tokens[id]) continue;
        if (!(v->tokens[id] = lt_strdup(t->string))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        v->token_len[id] = (uint32_t)strlen(t->string);
        v->token_types[id] = byte_fallback && is_byte_token(t->string, v->token_len[id]) ? LT_TOKTYPE_BYTE
                                                                                          : LT_TOKTYPE_NORMAL;
    }
    LT_TRY(hf_added(v, added, path, err));
    LT_TRY(hf_fill_holes(v, path, err));
    if (wpm) return hf_fill_wpm(v, root, path, err);

    /* merges: "a b" strings or ["a", "b"] pairs */
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nm = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (nm > 0) {
        v->merges = lt_calloc((size_t)nm, sizeof *v->merges);
        if (!v->merges) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        int i = 0;
        for (const cJSON *m = merges->child; m; m = m->next, i++) {
            if (cJSON_IsString(m)) {
                v->merges[i] = lt_strdup(m->valuestring);
            } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                       cJSON_IsString(m->child->next)) {
                size_t a = strlen(m->child->valuestring), b = strlen(m->child->next->valuestring);
                v->merges[i] = lt_malloc(a + b + 2);
                if (v->merges[i]) {
                    memcpy(v->merges[i], m->child->valuestring, a);
                    v->merges[i][a] = ' ';
                    memcpy(v->merges[i] + a + 1, m->child->next->valuestring, b + 1);
                }
            } else {
                v->n_merges = i;
                return lt_err_set(err, LT_EFORMAT, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, i);
            }
            v->n_merges = i + 1;
            if (!v->merges[i]) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        }
    }

    /* SentencePiece-style (llama 2 HF export) or byte-level? */
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pret = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    bool metaspace = json_has(pret, "type", "Metaspace") || json_has(norm, "content", "\xE2\x96\x81") ||
                     json_has(norm, "prepend", "\xE2\x96\x81");
    bool bytelevel = json_has(pret, "type", "ByteLevel");
    bool pipe = needs_pipe(norm) || needs_pipe(pret);
    if (metaspace || (byte_fallback && !bytelevel)) {
        v->type = LT_VOCAB_SPM;
        v->add_bos = true;
        /* dummy prefix: a Prepend normalizer, or Metaspace with prepend_scheme / add_prefix_space */
        v->add_space_prefix = json_has(norm, "prepend", "\xE2\x96\x81") || json_has(pret, "prepend_scheme", "always") ||
                              json_has(pret, "prepend_scheme", "first");
        if (!v->add_space_prefix && pret) {
            const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pret, "add_prefix_space");
            v->add_space_prefix = cJSON_IsTrue(aps);
        }
        if (v->add_space_prefix && !json_has(norm, "prepend", "\xE2\x96\x81"))
            v->prepend = json_has(pret, "prepend_scheme", "first") ? LT_PREPEND_FIRST : LT_PREPEND_ALWAYS;
        /* scores: a token made by merge r gets -r, so higher-priority merges win in the SPM
         * bigram search (what llama.cpp's converter does for BPE-backed sentencepiece vocabs) */
        smap m;
        if (!smap_init(&m, (size_t)v->n_tokens)) {
            smap_free(&m);
            return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        }
        for (int32_t i = v->n_tokens - 1; i >= 0; i--) smap_put(&m, v->tokens[i], i);
        for (int32_t i = 0; i < v->n_tokens; i++) v->scores[i] = 0;
        bool *seen = lt_calloc((size_t)v->n_tokens, 1);
        char *tmp = lt_malloc((size_t)v->max_token_len * 2 + 8);
        if (!seen || !tmp) {
            lt_free(seen);
            lt_free(tmp);
            smap_free(&m);
            return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
        }
        for (int32_t r = 0; r < v->n_merges; r++) {
            const char *s = v->merges[r], *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp || strlen(s) > (size_t)v->max_token_len * 2 + 4) continue;
            size_t a = (size_t)(sp - s);
            memcpy(tmp, s, a);
            strcpy(tmp + a, sp + 1);
            int32_t id = smap_get(&m, tmp);
            if (id >= 0 && !seen[id]) {
                seen[id] = true;
                v->scores[id] = -(float)r;
            }
        }
        lt_free(seen);
        lt_free(tmp);
        smap_free(&m);
    } else {
        v->type = LT_VOCAB_BPE;
        lt_free(v->scores);
        v->scores = NULL;
        const char *list[7], *rx = find_split_regex(pret);
        int n_list = 0;
        char name[32];
        bool collected = collect_pre_rx(pret, list, &n_list) && n_list > 0;
        const char *pre = collected ? lt_pretok_name_of(list, n_list, name, sizeof name) /* a list lathe knows */
                                    : NULL;
        bool known = pre != NULL;
        if (pre) rx = NULL;
        else pre = "gpt-2";
        if (rx) {
            if (strstr(rx, "\\p{N}{1,3}") && strstr(rx, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) pre = "llama3";
            else if (strstr(rx, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") && strstr(rx, "|\\p{N}|")) pre = "qwen2";
            else if (!strcmp(rx, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"))
                pre = "gpt-2";
            else pre = "default";
        }
        /* a regex list no llama.cpp name has and the guesses above miss: kept as written (the
         * name stays "default", for GGUF writers) */
        if (collected && !known && !strcmp(pre, "default")) {
            v->pre_rx = lt_calloc((size_t)n_list, sizeof *v->pre_rx);
            if (!v->pre_rx) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
            for (int k = 0; k < n_list; k++) {
                if (!(v->pre_rx[k] = lt_strdup(list[k]))) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
                v->n_pre_rx = k + 1;
            }
            v->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
        }
        snprintf(v->pre, sizeof v->pre, "%s", pre);
    }
    if (pipe) {
        if (v->type == LT_VOCAB_BPE)
            v->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
        LT_TRY(set_pipe(v, norm, pret, path, err));
    }
    LT_TRY(hf_post(v, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
    if (!pipe) LT_TRY(hf_norm(v, norm, path, err));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (!strcmp(v->tokens[i], unk->valuestring)) {
                v->unk_id = i;
                if (v->token_types[i] == LT_TOKTYPE_NORMAL || v->token_types[i] == LT_TOKTYPE_CONTROL)
                    v->token_types[i] = LT_TOKTYPE_UNKNOWN;
                break;
            }
    }
    return LT_OK;
}

/* Reads tokenizer_config.json next to the tokenizer (optional): bos/eos, add_*, template. */
static lt_status hf_config(lt_vocab *v, const char *tok_path, lt_err *err) {
    size_t pl = strlen(tok_path);
    char *cfg = lt_malloc(pl + 32);
    if (!cfg) return lt_err_set(err, LT_ENOMEM, "out of memory");
    memcpy(cfg, tok_path, pl + 1);
    char *slash = strrchr(cfg, '/');
    strcpy(slash ? slash + 1 : cfg, "tokenizer_config.json");
    char *text = read_text_file(cfg, NULL);
    if (!text) {
        lt_free(cfg);
        return LT_OK; /* no config: keep the defaults */
    }
    cJSON *root = cJSON_Parse(text);
    lt_free(text);
    if (!root) {
        lt_status st = lt_err_set(err, LT_EFORMAT, "%s: not valid JSON", cfg);
        lt_free(cfg);
        return st;
    }
    lt_free(cfg);
    const char *names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    int32_t *ids[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    for (int k = 0; k < 4; k++) {
        const char *t = token_text(cJSON_GetObjectItemCaseSensitive(root, names[k]));
        if (!t) continue;
        for (int32_t i = 0; i < v->n_tokens; i++)
            if (!strcmp(v->tokens[i], t)) {
                *ids[k] = i;
                break;
            }
    }
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(root, "add_bos_token");
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(root, "add_eos_token");
    if (cJSON_IsBool(ab)) v->add_bos = cJSON_IsTrue(ab);
    if (cJSON_IsBool(ae)) v->add_eos = cJSON_IsTrue(ae);
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (cJSON_IsString(tpl)) v->chat_template = lt_strdup(tpl->valuestring);
    cJSON_Delete(root);
    if (v->add_bos && v->bos_id < 0) v->add_bos = false;
    if (v->add_eos && v->eos_id < 0) v->add_eos = false;
    return LT_OK;
}

lt_status lt_vocab_from_hf(lt_vocab **out, const char *tokenizer_json_path, lt_err *err) {
    *out = NULL;
    const char *path = tokenizer_json_path;
    size_t len = 0;
    char *text = read_text_file(path, &len);
    if (!text) return lt_err_set(err, LT_EIO, "%s: cannot read: %s", path, strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, len);
    lt_free(text);
    if (!root) return lt_err_set(err, LT_EFORMAT, "%s: not valid JSON", path);
    lt_vocab *v = lt_vocab_create();
    if (!v) {
        cJSON_Delete(root);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    lt_status st = hf_fill(v, root, path, err);
    cJSON_Delete(root);
    if (!st) st = hf_config(v, path, err);
    if (!st) st = lt_vocab_validate(v, path, err);
    if (st) {
        lt_vocab_free(v);
        return st;
    }
    *out = v;
    return LT_OK;
}
