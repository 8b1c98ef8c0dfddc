/* tokenizer.h - text <-> token ids for SentencePiece-style BPE (llama 1/2, llama2.c) and
 * byte-level BPE (GPT-2, Llama 3, Qwen2 and the other pre-tokenizers llama.cpp names),
 * with special tokens and streaming decode that never emits half a UTF-8 character.
 *
 * Built from an lt_vocab (vocab.h). Encoding matches llama.cpp's llama_tokenize
 * (its published vocab tests are the reference).
 * Leaves out: chat templates (chat.h, above this module: it reads the template text the
 * vocab carries, lt_tok_vocab(t)->chat_template).
 */
#ifndef LT_TOKENIZER_H
#define LT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"
#include "vocab.h"

typedef struct lt_tokenizer lt_tokenizer;

/* Builds a tokenizer; takes ownership of v (freed even on error). Unsupported vocab types
 * or pre-tokenizers are LT_EUNSUPPORTED naming them. */
lt_status lt_tok_create(lt_tokenizer **out, lt_vocab *v, lt_err *err);
void lt_tok_free(lt_tokenizer *t); /* NULL is a no-op */

const lt_vocab *lt_tok_vocab(const lt_tokenizer *t);
int32_t lt_tok_n_vocab(const lt_tokenizer *t);
int32_t lt_tok_bos(const lt_tokenizer *t);
int32_t lt_tok_eos(const lt_tokenizer *t);
/* True for tokens that end generation (eos, eot, and other end-of-generation control tokens). */
bool lt_tok_is_eog(const lt_tokenizer *t, int32_t id);

/* Encodes text[0..len). add_special: add BOS/EOS as the vocab asks (add_bos/add_eos);
 * parse_special: recognise control/user-defined token texts inside the text.
 * Writes up to cap ids into out and returns the number of ids the full encoding has
 * (call again with a larger buffer when it exceeds cap); negative on error. */
int64_t lt_tok_encode(const lt_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                      int32_t *out, int64_t cap);

/* The same into a buffer of the right size: *ids (lt_free it) holds `front` free slots, then
 * the *n ids. Errors only for bad arguments or out of memory. */
lt_status lt_tok_encode_all(const lt_tokenizer *t, const char *text, size_t len, bool add_special,
                            bool parse_special, int64_t front, int32_t **ids, int64_t *n, lt_err *err);

/* The bytes a token stands for (byte tokens -> that byte, '▁'/'Ġ' forms -> spaces, control
 * tokens -> "" unless special is true). Writes up to cap bytes; returns the full length. */
size_t lt_tok_piece(const lt_tokenizer *t, int32_t id, bool special, char *buf, size_t cap);

/* Streaming decode: feed ids one at a time, get back only complete UTF-8 characters.
 * prev_id lets SPM drop the leading space after BOS as llama2.c and llama.cpp do. */
typedef struct lt_tok_stream {
    char pending[8];
    int n_pending;
    int32_t prev_id;
} lt_tok_stream;

void lt_tok_stream_init(lt_tok_stream *s);
/* Appends the decodable text for id into buf (NUL-terminated, at most cap-1 bytes) and
 * returns its length. Incomplete trailing UTF-8 bytes are held until the next call. */
size_t lt_tok_stream_feed(const lt_tokenizer *t, lt_tok_stream *s, int32_t id, char *buf, size_t cap);
/* Flushes held bytes (invalid sequences become U+FFFD). */
size_t lt_tok_stream_flush(const lt_tokenizer *t, lt_tok_stream *s, char *buf, size_t cap);

/* Detokenizes a whole sequence (as llama.cpp's detokenize with remove_special=false,
 * unparse_special=false). Returns full length; writes up to cap-1 bytes and a NUL. */
size_t lt_tok_decode(const lt_tokenizer *t, const int32_t *ids, int64_t n, char *buf, size_t cap);

#endif
