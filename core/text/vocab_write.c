/* vocab_write.c - writing an lt_vocab back out: a Hugging Face tokenizer.json +
 * tokenizer_config.json pair, and a llama2.c tokenizer .bin (see vocab.h).
 *
 * tokenizer.json, SentencePiece-style vocab (SPM): a BPE model with byte_fallback, a
 * Prepend("▁") + Replace(" " -> "▁") normalizer and merges made from the scores as
 * transformers' SentencePieceExtractor does: every split of a token into two vocab pieces,
 * ordered by the token's score (best first), so merge rank order is score order - what
 * lathe's reader (vocab.c) turns back into scores. Byte-level BPE: the vocab's merges and
 * its pre-tokenizer spelled out as Split regexes (the pre name's list, pretok.c) before a
 * regex-free ByteLevel step. llama2.c: SPM vocabs with <unk>, <s>, </s> at 0, 1, 2, a BOS
 * and a space prefix, as llama2.c's run.c assumes.
 * Leaves out: GGUF (modelsrc_gguf.c writes tokenizer.ggml.*), WordPiece / Unigram.
 */
#include "vocab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "tok_internal.h"

#define SPACE_MARK "\xE2\x96\x81" /* U+2581 '▁' */

static int32_t ttype(const lt_vocab *v, int32_t i) {
    return v->token_types ? v->token_types[i] : LT_TOKTYPE_NORMAL;
}

static lt_status write_text(const char *path, const char *text, lt_err *err) {
    lt_afile af;
    LT_TRY(lt_afile_open(&af, path, err));
    size_t n = strlen(text);
    return lt_afile_close(&af, fwrite(text, 1, n, af.f) == n, err);
}

/* ---- a string -> id index (first id of each text) ------------------------------------- */

typedef struct tindex {
    int32_t *slot; /* id + 1, 0 = empty */
    size_t cap;
    const lt_vocab *v;
} tindex;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int32_t tindex_get(const tindex *x, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        int32_t id = x->slot[i] - 1;
        if (id < 0) return -1;
        if (x->v->token_len[id] == n && !memcmp(x->v->tokens[id], s, n)) return id;
    }
}

static bool tindex_init(tindex *x, const lt_vocab *v) {
    x->v = v;
    x->cap = 16;
    while (x->cap < 2 * (size_t)v->n_tokens + 16) x->cap *= 2;
    x->slot = lt_calloc(x->cap, sizeof *x->slot);
    if (!x->slot) return false;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        size_t n = v->token_len[id];
        size_t i = hash_bytes(v->tokens[id], n) & (x->cap - 1);
        while (x->slot[i] && !(v->token_len[x->slot[i] - 1] == n && !memcmp(v->tokens[x->slot[i] - 1], v->tokens[id], n)))
            i = (i + 1) & (x->cap - 1);
        if (!x->slot[i]) x->slot[i] = id + 1;
    }
    return true;
}

/* ---- SentencePiece merges from scores --------------------------------------------------- */

typedef struct spm_merge {
    float score;
    int32_t tok, l, r;
} spm_merge;

static int cmp_merge(const void *pa, const void *pb) {
    const spm_merge *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->tok != b->tok) return a->tok < b->tok ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

/* Every (left, right) split of every normal token into two vocab pieces, best score first. */
static lt_status spm_merges(const lt_vocab *v, const tindex *ix, spm_merge **out, int64_t *n_out, lt_err *err) {
    int64_t cap = 0;
    for (int32_t t = 0; t < v->n_tokens; t++)
        if (ttype(v, t) == LT_TOKTYPE_NORMAL) cap += v->token_len[t];
    spm_merge *m = lt_malloc((size_t)(cap ? cap : 1) * sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "out of memory writing the merges");
    int64_t n = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        if (ttype(v, t) != LT_TOKTYPE_NORMAL) continue;
        const char *s = v->tokens[t];
        size_t len = v->token_len[t];
        for (size_t k = lt_utf8_len((unsigned char)s[0]); k < len; k += lt_utf8_len((unsigned char)s[k])) {
            int32_t l = tindex_get(ix, s, k), r = tindex_get(ix, s + k, len - k);
            if (l >= 0 && r >= 0) m[n++] = (spm_merge){v->scores ? v->scores[t] : -(float)t, t, l, r};
        }
    }
    qsort(m, (size_t)n, sizeof *m, cmp_merge);
    *out = m;
    *n_out = n;
    return LT_OK;
}

/* ---- tokenizer.json ----------------------------------------------------------------------- */

static cJSON *obj_type(cJSON *parent, const char *key, const char *type) {
    cJSON *o = key ? cJSON_AddObjectToObject(parent, key) : cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "type", type);
    return o;
}

static cJSON *string_pattern(cJSON *o, const char *pattern, const char *content) {
    cJSON *p = cJSON_AddObjectToObject(o, "pattern");
    cJSON_AddStringToObject(p, "String", pattern);
    cJSON_AddStringToObject(o, "content", content);
    return o;
}

static void add_merge(cJSON *arr, const char *l, const char *r) {
    if (strchr(l, ' ') || strchr(r, ' ')) { /* the pair form: a space cannot separate these */
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(l));
        cJSON_AddItemToArray(p, cJSON_CreateString(r));
        cJSON_AddItemToArray(arr, p);
        return;
    }
    size_t a = strlen(l), b = strlen(r);
    char *s = lt_malloc(a + b + 2);
    if (!s) return; /* cJSON's own allocation failures are caught at print time */
    memcpy(s, l, a);
    s[a] = ' ';
    memcpy(s + a + 1, r, b + 1);
    cJSON_AddItemToArray(arr, cJSON_CreateString(s));
    lt_free(s);
}

/* TemplateProcessing adding BOS and/or EOS as the vocab says (NULL when neither). */
static cJSON *post_processor(const lt_vocab *v) {
    bool bos = v->add_bos && v->bos_id >= 0, eos = v->add_eos && v->eos_id >= 0;
    if (!bos && !eos) return NULL;
    cJSON *pp = obj_type(NULL, NULL, "TemplateProcessing");
    cJSON *special = cJSON_CreateObject();
    const char *seqs[2] = {"A", "B"};
    const char *keys[2] = {"single", "pair"};
    for (int k = 0; k < 2; k++) {
        cJSON *arr = cJSON_AddArrayToObject(pp, keys[k]);
        for (int s = 0; s <= k; s++) {
            for (int part = 0; part < 3; part++) {
                int32_t id = part == 0 ? (bos ? v->bos_id : -1) : part == 2 ? (eos ? v->eos_id : -1) : -2;
                if (id == -1) continue;
                cJSON *item = cJSON_CreateObject(), *in;
                if (id == -2) {
                    in = cJSON_AddObjectToObject(item, "Sequence");
                    cJSON_AddStringToObject(in, "id", seqs[s]);
                } else {
                    in = cJSON_AddObjectToObject(item, "SpecialToken");
                    cJSON_AddStringToObject(in, "id", v->tokens[id]);
                    if (!cJSON_GetObjectItemCaseSensitive(special, v->tokens[id])) {
                        cJSON *st = cJSON_AddObjectToObject(special, v->tokens[id]);
                        cJSON_AddStringToObject(st, "id", v->tokens[id]);
                        cJSON *ids = cJSON_AddArrayToObject(st, "ids");
                        cJSON_AddItemToArray(ids, cJSON_CreateNumber(id));
                        cJSON *toks = cJSON_AddArrayToObject(st, "tokens");
                        cJSON_AddItemToArray(toks, cJSON_CreateString(v->tokens[id]));
                    }
                }
                cJSON_AddNumberToObject(in, "type_id", s);
                cJSON_AddItemToArray(arr, item);
            }
        }
    }
    cJSON_AddItemToObject(pp, "special_tokens", special);
    return pp;
}

static lt_status build_tokenizer_json(const lt_vocab *v, cJSON *root, lt_err *err) {
    const bool spm = v->type == LT_VOCAB_SPM;
    const char *rx[7];
    bool ignore_merges = false;
    int n_rx = spm ? 0 : lt_pretok_regexes(v->pre, rx, &ignore_merges);
    if (!spm && !n_rx)
        return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer '%s' has no tokenizer.json form here", v->pre);
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int32_t t = ttype(v, i);
        if (t != LT_TOKTYPE_CONTROL && t != LT_TOKTYPE_UNKNOWN && t != LT_TOKTYPE_USER_DEFINED) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", v->tokens[i]);
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddBoolToObject(a, "normalized", t == LT_TOKTYPE_USER_DEFINED);
        cJSON_AddBoolToObject(a, "special", t != LT_TOKTYPE_USER_DEFINED);
        cJSON_AddItemToArray(added, a);
    }
    if (spm) {
        cJSON *norm = v->add_space_prefix ? obj_type(root, "normalizer", "Sequence") : NULL;
        if (norm) {
            cJSON *list = cJSON_AddArrayToObject(norm, "normalizers");
            cJSON *pre = obj_type(NULL, NULL, "Prepend");
            cJSON_AddStringToObject(pre, "prepend", SPACE_MARK);
            cJSON_AddItemToArray(list, pre);
            cJSON_AddItemToArray(list, string_pattern(obj_type(NULL, NULL, "Replace"), " ", SPACE_MARK));
        } else {
            string_pattern(obj_type(root, "normalizer", "Replace"), " ", SPACE_MARK);
        }
        cJSON_AddNullToObject(root, "pre_tokenizer");
    } else {
        cJSON_AddNullToObject(root, "normalizer");
        cJSON *pre = obj_type(root, "pre_tokenizer", "Sequence");
        cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
        for (int i = 0; i < n_rx; i++) {
            cJSON *s = obj_type(NULL, NULL, "Split");
            cJSON *p = cJSON_AddObjectToObject(s, "pattern");
            cJSON_AddStringToObject(p, "Regex", rx[i]);
            cJSON_AddStringToObject(s, "behavior", "Isolated");
            cJSON_AddFalseToObject(s, "invert");
            cJSON_AddItemToArray(list, s);
        }
        cJSON *bl = obj_type(NULL, NULL, "ByteLevel");
        cJSON_AddFalseToObject(bl, "add_prefix_space");
        cJSON_AddTrueToObject(bl, "trim_offsets");
        cJSON_AddFalseToObject(bl, "use_regex");
        cJSON_AddItemToArray(list, bl);
    }
    cJSON *pp = post_processor(v);
    if (pp) cJSON_AddItemToObject(root, "post_processor", pp);
    else if (!spm) {
        pp = obj_type(root, "post_processor", "ByteLevel");
        cJSON_AddTrueToObject(pp, "add_prefix_space");
        cJSON_AddFalseToObject(pp, "trim_offsets");
        cJSON_AddTrueToObject(pp, "use_regex");
    } else cJSON_AddNullToObject(root, "post_processor");
    if (spm) {
        cJSON *dec = obj_type(root, "decoder", "Sequence");
        cJSON *list = cJSON_AddArrayToObject(dec, "decoders");
        cJSON_AddItemToArray(list, string_pattern(obj_type(NULL, NULL, "Replace"), SPACE_MARK, " "));
        cJSON_AddItemToArray(list, obj_type(NULL, NULL, "ByteFallback"));
        cJSON_AddItemToArray(list, obj_type(NULL, NULL, "Fuse"));
        if (v->add_space_prefix) {
            cJSON *strip = obj_type(NULL, NULL, "Strip");
            cJSON_AddStringToObject(strip, "content", " ");
            cJSON_AddNumberToObject(strip, "start", 1);
            cJSON_AddNumberToObject(strip, "stop", 0);
            cJSON_AddItemToArray(list, strip);
        }
    } else {
        cJSON *dec = obj_type(root, "decoder", "ByteLevel");
        cJSON_AddTrueToObject(dec, "add_prefix_space");
        cJSON_AddTrueToObject(dec, "trim_offsets");
        cJSON_AddTrueToObject(dec, "use_regex");
    }
    cJSON *model = obj_type(root, "model", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    if (spm && v->unk_id >= 0) cJSON_AddStringToObject(model, "unk_token", v->tokens[v->unk_id]);
    else cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", spm);
    cJSON_AddBoolToObject(model, "byte_fallback", spm);
    cJSON_AddBoolToObject(model, "ignore_merges", ignore_merges);
    tindex ix = {0};
    if (!tindex_init(&ix, v)) return lt_err_set(err, LT_ENOMEM, "out of memory writing tokenizer.json");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int32_t i = 0; i < v->n_tokens; i++) /* a repeated text keeps its first id (JSON keys are unique) */
        if (tindex_get(&ix, v->tokens[i], v->token_len[i]) == i) cJSON_AddNumberToObject(vocab, v->tokens[i], i);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    lt_status st = LT_OK;
    if (spm) {
        spm_merge *m = NULL;
        int64_t n = 0;
        st = spm_merges(v, &ix, &m, &n, err);
        for (int64_t i = 0; !st && i < n; i++) add_merge(merges, v->tokens[m[i].l], v->tokens[m[i].r]);
        lt_free(m);
    } else {
        for (int32_t i = 0; i < v->n_merges; i++) cJSON_AddItemToArray(merges, cJSON_CreateString(v->merges[i]));
    }
    lt_free(ix.slot);
    return st;
}

static lt_status write_json(const char *dir, const char *name, cJSON *j, bool pretty, lt_err *err) {
    char *text = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    if (!text) return lt_err_set(err, LT_ENOMEM, "out of memory writing %s", name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = lt_malloc(n);
    lt_status st = path ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st) {
        snprintf(path, n, "%s/%s", dir, name);
        st = write_text(path, text, err);
    }
    lt_free(path);
    free(text);
    return st;
}

lt_status lt_vocab_hf_check(const lt_vocab *v, lt_err *err) {
    const char *rx[7];
    if (v->type != LT_VOCAB_SPM && v->type != LT_VOCAB_BPE)
        return lt_err_set(err, LT_EUNSUPPORTED, "only SentencePiece-style and byte-level BPE vocabs can be written as "
                          "tokenizer.json");
    if (v->type == LT_VOCAB_BPE && !lt_pretok_regexes(v->pre, rx, NULL))
        return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer '%s' has no tokenizer.json form here", v->pre);
    if (v->hf_pipeline || v->n_tpl_extra[0] || v->n_tpl_extra[1])
        return lt_err_set(err, LT_EUNSUPPORTED, "the vocab's %s cannot be written back to tokenizer.json here",
                          v->hf_pipeline ? "normalizer / pre-tokenizer pipeline" : "TemplateProcessing tokens");
    if (v->normalize || v->n_pre_rx > 0)
        return lt_err_set(err, LT_EUNSUPPORTED, "the vocab's %s cannot be written back to tokenizer.json here",
                          v->normalize ? "normalizer" : "Split regexes");
    return LT_OK;
}

lt_status lt_vocab_write_hf(const lt_vocab *v, const char *dir, lt_err *err) {
    LT_TRY(lt_vocab_validate(v, "vocab", err));
    lt_status st = lt_vocab_hf_check(v, err);
    if (st) {
        lt_err_prefix(err, "%s", dir);
        return st;
    }
    cJSON *root = cJSON_CreateObject();
    if (!root) return lt_err_set(err, LT_ENOMEM, "out of memory");
    st = build_tokenizer_json(v, root, err);
    if (!st) st = write_json(dir, "tokenizer.json", root, false, err);
    cJSON_Delete(root);
    if (st) return st;
    cJSON *c = cJSON_CreateObject();
    if (!c) return lt_err_set(err, LT_ENOMEM, "out of memory");
    cJSON_AddBoolToObject(c, "add_bos_token", v->add_bos);
    cJSON_AddBoolToObject(c, "add_eos_token", v->add_eos);
    const char *keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    const int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0) cJSON_AddStringToObject(c, keys[k], v->tokens[ids[k]]);
    if (v->chat_template) cJSON_AddStringToObject(c, "chat_template", v->chat_template);
    cJSON_AddFalseToObject(c, "clean_up_tokenization_spaces");
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    st = write_json(dir, "tokenizer_config.json", c, true, err);
    cJSON_Delete(c);
    return st;
}

/* ---- llama2.c tokenizer .bin ---------------------------------------------------------------- */

lt_status lt_vocab_llama2c_check(const lt_vocab *v, int32_t n_vocab, lt_err *err) {
    static const char *const kinds[] = {"no", "SentencePiece", "byte-level BPE", "WordPiece", "Unigram"};
    const char *why = NULL;
    char buf[160];
    if (v->type != LT_VOCAB_SPM) {
        snprintf(buf, sizeof buf, "its %s vocab%s%s%s (llama2.c holds SentencePiece-style scored tokens only)",
                 kinds[v->type <= LT_VOCAB_UGM ? v->type : 0], v->pre[0] ? " (pre-tokenizer '" : "", v->pre,
                 v->pre[0] ? "')" : "");
        why = buf;
    } else if (v->unk_id > 0 || v->bos_id != 1 || v->eos_id != 2 ||
               (v->unk_id < 0 && strcmp(v->tokens[0], "<unk>"))) {
        /* no unk: token 0 would be written (and read back) as <unk>, losing its own text */
        if (v->unk_id < 0 && v->bos_id == 1 && v->eos_id == 2)
            snprintf(buf, sizeof buf, "a vocab without <unk> whose token 0 is '%.40s' (llama2.c's token 0 is <unk>)",
                     v->tokens[0]);
        else
            snprintf(buf, sizeof buf, "special ids unk %d, bos %d, eos %d (llama2.c fixes them at 0, 1, 2)",
                     v->unk_id, v->bos_id, v->eos_id);
        why = buf;
    } else if (v->hf_pipeline || v->n_tpl_extra[0] || v->n_tpl_extra[1] || v->normalize) {
        why = "a tokenizer.json normalizer, pre-tokenizer or post-processor";
    } else if (!v->add_space_prefix || !v->add_bos) {
        why = !v->add_bos ? "a vocab without a BOS token at the start (llama2.c always adds one)"
                          : "a vocab without the space prefix (llama2.c always adds one)";
    } else if (v->n_tokens < n_vocab) {
        snprintf(buf, sizeof buf, "a vocab of %d tokens for %d embedding rows (llama2.c needs one token per row)",
                 v->n_tokens, n_vocab);
        why = buf;
    }
    if (why) return lt_err_set(err, LT_EUNSUPPORTED, "the llama2.c tokenizer format cannot express %s; write GGUF "
                               "or a Hugging Face folder instead", why);
    return LT_OK;
}

lt_status lt_vocab_llama2c_bytes(const lt_vocab *v, char **out, size_t *len, lt_err *err) {
    *out = NULL;
    *len = 0;
    LT_TRY(lt_vocab_validate(v, "the tokenizer", err));
    LT_TRY(lt_vocab_llama2c_check(v, 0, err));
    /* texts as llama2.c stores them: '▁' back to ' ', the specials as its exporter wrote them */
    static const char *const special[3] = {"<unk>", "\n<s>\n", "\n</s>\n"};
    size_t total = 4;
    for (int32_t i = 0; i < v->n_tokens; i++) total += 8 + (i < 3 ? strlen(special[i]) : v->token_len[i]);
    char *buf = lt_malloc(total);
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of memory");
    size_t p = 4, maxlen = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        char *text = buf + p + 8;
        size_t n = 0;
        if (i < 3) {
            n = strlen(special[i]);
            memcpy(text, special[i], n);
        } else {
            const char *s = v->tokens[i];
            for (size_t k = 0; k < v->token_len[i];) {
                if (v->token_len[i] - k >= 3 && !memcmp(s + k, SPACE_MARK, 3)) text[n++] = ' ', k += 3;
                else text[n++] = s[k++];
            }
        }
        if (n > maxlen) maxlen = n;
        float score = v->scores ? v->scores[i] : -(float)i;
        int32_t l = (int32_t)n;
        memcpy(buf + p, &score, 4);
        memcpy(buf + p + 4, &l, 4);
        p += 8 + n;
    }
    int32_t hdr = (int32_t)(maxlen ? maxlen : 1); /* max_token_length */
    memcpy(buf, &hdr, 4);
    *out = buf;
    *len = p;
    return LT_OK;
}

lt_status lt_vocab_write_llama2c(const lt_vocab *v, const char *path, lt_err *err) {
    LT_TRY(lt_vocab_validate(v, path, err));
    char *buf;
    size_t n;
    LT_TRY(lt_vocab_llama2c_bytes(v, &buf, &n, err));
    lt_afile af;
    lt_status st = lt_afile_open(&af, path, err);
    if (st == LT_OK) st = lt_afile_close(&af, fwrite(buf, 1, n, af.f) == n, err);
    lt_free(buf);
    return st;
}
