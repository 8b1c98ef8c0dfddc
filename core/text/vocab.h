/* vocab.h - the tokenizer's data as a file gives it: tokens, scores, types, merges, special
 * ids. Loaders fill an lt_vocab from GGUF metadata (tokenizer.ggml.*), a Hugging Face
 * tokenizer.json (+ tokenizer_config.json), or a llama2.c tokenizer .bin, and are written back
 * to the latter two (vocab_write.c); core/tokenizer builds an encoder/decoder from it. Plain data, owned by the struct (lt_vocab_free).
 */
#ifndef LT_VOCAB_H
#define LT_VOCAB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"

typedef enum lt_vocab_type {
    LT_VOCAB_NONE = 0,
    LT_VOCAB_SPM,     /* SentencePiece BPE by scores: byte fallback <0xXX>, '▁' for space (llama 1/2, llama2.c) */
    LT_VOCAB_BPE,     /* byte-level BPE with merges and a pre-tokenizer (gpt2, llama3, qwen2, ...) */
    LT_VOCAB_WPM,     /* WordPiece (BERT): greedy longest match, "##" continuations (tokenizer.json) */
    LT_VOCAB_UGM,     /* Unigram by scores (Viterbi), '▁' for space, as Hugging Face's (tokenizer.json) */
} lt_vocab_type;

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
enum {
    LT_TOKTYPE_NORMAL = 1,
    LT_TOKTYPE_UNKNOWN = 2,
    LT_TOKTYPE_CONTROL = 3,
    LT_TOKTYPE_USER_DEFINED = 4,
    LT_TOKTYPE_UNUSED = 5,
    LT_TOKTYPE_BYTE = 6,
};

typedef struct lt_vocab {
    lt_vocab_type type;
    char pre[32];          /* pre-tokenizer name as GGUF's tokenizer.ggml.pre ("llama3", "qwen2", "gpt-2",
                              "default", ...); "" when not given */
    int32_t n_tokens;
    char **tokens;         /* [n_tokens] NUL-terminated UTF-8 (text as stored: '▁' / 'Ġ' forms) */
    uint32_t *token_len;   /* [n_tokens] byte length (tokens may contain NUL only via <0x00> forms) */
    float *scores;         /* [n_tokens] or NULL */
    int32_t *token_types;  /* [n_tokens] or NULL (then all NORMAL) */
    int32_t n_merges;
    char **merges;         /* [n_merges] "left right" */
    int32_t bos_id, eos_id, unk_id, pad_id, eot_id; /* -1 when absent */
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: prepend a space (dummy prefix) to the text */
    int32_t max_token_len; /* llama2.c header field; 0 when unknown */
    char *chat_template;   /* Jinja text or NULL */
    /* What a Hugging Face tokenizer.json adds (0 / NULL from the other loaders): */
    uint8_t *token_flags;  /* [n_tokens] LT_TOKFLAG_* or NULL */
    uint32_t normalize;    /* LT_NORM_* applied to text outside special tokens, in this order */
    bool hf_model;         /* Unigram / WordPiece read from tokenizer.json (Hugging Face's rules; GGUF's
                              t5 / bert vocabs follow llama.cpp's and are not supported) */
    bool split_words;      /* Unigram: segment each '▁'-led word alone (Metaspace split) */
    uint8_t prepend;       /* SPM space prefix (LT_PREPEND_*): llama.cpp's rule or a Metaspace scheme */
    char **pre_rx;         /* [n_pre_rx] pre-tokenizer regexes when no llama.cpp pre name fits */
    int32_t n_pre_rx;
    bool ignore_merges;    /* with pre_rx: BPE model's ignore_merges (whole-word vocab hits skip merges) */
    char *hf_pipeline;     /* {"normalizer": .., "pre_tokenizer": ..} as tokenizer.json spells them, when they
                              need Hugging Face's general pipeline (Strip, Replace, Whitespace, Punctuation,
                              Split behaviours, ByteLevel add_prefix_space, ...; core/text/tok_hf.c); NULL
                              otherwise. It then does all normalizing and pre-tokenizing (normalize is 0). */
    int32_t tpl_extra[2][8]; /* TemplateProcessing: more special tokens after BOS [0] / before EOS [1] */
    int32_t n_tpl_extra[2];
    /* One block holding the texts of tokens and merges that point into it (lt_vocab_pool): a
     * loader that knows their total size stores them there instead of one allocation each
     * (for a 49k-token byte-level vocab with 49k merges: ~1 MB instead of ~9 MB, the per-block
     * overheads being larger than the texts). A string outside the block is still its own
     * allocation; lt_vocab_free frees those one by one and the block once. NULL: none. */
    char *str_pool;
    size_t str_pool_bytes;
} lt_vocab;

/* Added-token flags (tokenizer.json added_tokens): whitespace next to the token is dropped. */
/* NORMALIZED: matched in the normalized text (its text normalized too); SINGLE_WORD: only where no
 * word character touches it. */
enum { LT_TOKFLAG_LSTRIP = 1, LT_TOKFLAG_RSTRIP = 2, LT_TOKFLAG_NORMALIZED = 4, LT_TOKFLAG_SINGLE_WORD = 8 };
/* LT_PREPEND_LLAMA: before the text and after every special token (llama.cpp; a Prepend
 * normalizer); ALWAYS / FIRST: Hugging Face's Metaspace prepend_scheme - not before text that
 * starts with a space, and with FIRST only at the start of the whole text. */
enum { LT_PREPEND_LLAMA = 0, LT_PREPEND_ALWAYS = 1, LT_PREPEND_FIRST = 2 };
/* Normalizers (tokenizer.json "normalizer"): Unicode forms, then lowercase. */
enum {
    LT_NORM_NFC = 1, LT_NORM_NFKC = 2, LT_NORM_NFD = 4, LT_NORM_NFKD = 8, LT_NORM_LOWER = 16,
    /* BertNormalizer: drop control characters and map whitespace to ' ' (first); put spaces
     * around CJK ideographs; after NFD drop combining marks (StripAccents) */
    LT_NORM_BERT_CLEAN = 32, LT_NORM_BERT_CJK = 64, LT_NORM_STRIP_ACCENTS = 128,
};

/* Allocates an empty vocab (ids -1, type NONE). */
lt_vocab *lt_vocab_create(void);
void lt_vocab_free(lt_vocab *v); /* NULL is a no-op; frees every owned array */

/* Gives v a string block of `bytes` (uninitialised; lt_vocab_free frees it); NULL when v
 * has one already or memory ran out. See lt_vocab.str_pool. */
char *lt_vocab_pool(lt_vocab *v, size_t bytes);

/* Checks a filled vocab: ids in range, every token valid UTF-8 (or a byte token),
 * merges well formed. `what` names the file in the message. */
lt_status lt_vocab_validate(const lt_vocab *v, const char *what, lt_err *err);

/* Loaders. (GGUF: see lt_vocab_from_gguf in gguf.h.) */
lt_status lt_vocab_from_llama2c(lt_vocab **out, const char *path, int32_t n_vocab, lt_err *err);
lt_status lt_vocab_from_hf(lt_vocab **out, const char *tokenizer_json_path, lt_err *err);

/* Writers (vocab_write.c). */
/* dir/tokenizer.json + dir/tokenizer_config.json (bos/eos/unk/pad tokens, add_bos_token,
 * add_eos_token, chat_template) for an SPM or byte-level BPE vocab, in the form Hugging Face
 * `tokenizers` reads and lt_vocab_from_hf reads back to the same encoding. */
lt_status lt_vocab_write_hf(const lt_vocab *v, const char *dir, lt_err *err);
/* Whether lt_vocab_write_hf can write v (SPM or byte-level BPE with a pre name lathe knows). */
lt_status lt_vocab_hf_check(const lt_vocab *v, lt_err *err);
/* Whether v can be a llama2.c tokenizer .bin for a model of n_vocab embedding rows (0: any):
 * SentencePiece-style, unk/bos/eos at 0/1/2 (no unk only where token 0 is the text "<unk>", which
 * the format writes there), BOS and space prefix added. The error says why
 * not (byte-level BPE has merges and a pre-tokenizer the format cannot hold). */
lt_status lt_vocab_llama2c_check(const lt_vocab *v, int32_t n_vocab, lt_err *err);
/* Writes path as a llama2.c tokenizer: int32 max_token_length, then per token float score,
 * int32 length, bytes ('▁' written as ' '). Checks with lt_vocab_llama2c_check first. */
lt_status lt_vocab_write_llama2c(const lt_vocab *v, const char *path, lt_err *err);
/* The bytes lt_vocab_write_llama2c writes, in *out (lt_malloc'd, *len bytes; lt_free it). */
lt_status lt_vocab_llama2c_bytes(const lt_vocab *v, char **out, size_t *len, lt_err *err);

#endif
