/* fuzz_vocab.h - what the tokenizer-carrying targets (gguf, tokenizer_json, llama2c_tok) do
 * with a vocab a reader accepted: build a tokenizer from it (lt_tok_create validates it
 * again), encode a few texts with and without special tokens, decode the ids back whole and
 * streamed, print pieces, and render a chat with the template the vocab carries. A vocab
 * the reader accepted must never make any of these crash or hang.
 */
#ifndef LT_FUZZ_VOCAB_H
#define LT_FUZZ_VOCAB_H

#include "fuzz_common.h"

#include "core/text/chat.h"
#include "core/text/tokenizer.h"

/* Takes ownership of v. */
static void fz_exercise_vocab(lt_vocab *v) {
    lt_err err = {0};
    lt_tokenizer *t = NULL;
    lt_status st = lt_tok_create(&t, v, &err); /* frees v on error */
    FZ_EXPECT_MSG(st, err, "lt_tok_create");
    if (st != LT_OK) return;
    static const char *texts[] = {
        "Hello world! Once upon a time, 1234567 cats",
        " <s></s><unk><|im_start|>user\n<|endoftext|> [INST] \t\r\n  ",
        "\xc3\xa9t\xc3\xa9 \xe2\x96\x81\xc4\xa0 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xff\xfe bad utf-8 \xc3",
        "",
    };
    int32_t ids[256];
    char buf[1024];
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        for (int mode = 0; mode < 2; mode++) {
            int64_t n = lt_tok_encode(t, texts[k], strlen(texts[k]), mode, mode, ids, 256);
            if (n < 0) continue;
            if (n > 256) n = 256;
            lt_tok_decode(t, ids, n, buf, sizeof buf);
            lt_tok_stream s;
            lt_tok_stream_init(&s);
            for (int64_t i = 0; i < n; i++) lt_tok_stream_feed(t, &s, ids[i], buf, sizeof buf);
            lt_tok_stream_flush(t, &s, buf, sizeof buf);
        }
    int32_t nv = lt_tok_n_vocab(t);
    for (int32_t i = 0; i < nv && i < 512; i++) {
        size_t n = lt_tok_piece(t, i, i & 1, buf, sizeof buf);
        if (n && n <= sizeof buf) fz_touch(buf, n);
        fz_sink ^= (uint8_t)lt_tok_is_eog(t, i);
    }
    /* ids past the vocab and negative ones: pieces and decode must refuse them quietly */
    int32_t odd[] = {-1, nv, nv + 1, 0x7fffffff, lt_tok_bos(t), lt_tok_eos(t)};
    lt_tok_decode(t, odd, 6, buf, sizeof buf);
    lt_tok_piece(t, -1, true, buf, sizeof buf);
    lt_tok_piece(t, nv, true, buf, sizeof buf);
    lt_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {NULL, "Bye"}};
    size_t need = lt_chat_render(t, msgs, 4, true, NULL, 0);
    char *out = malloc(need + 1);
    if (out) {
        lt_chat_render(t, msgs, 4, true, out, need + 1);
        int64_t n = lt_tok_encode(t, out, need, true, true, ids, 256);
        (void)n;
        free(out);
    }
    lt_tok_free(t);
}

#endif
