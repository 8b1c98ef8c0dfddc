/* chat.h - chat prompt templates: the template family a model's Jinja chat template belongs
 * to, and rendering a conversation in that family's format.
 *
 * Sits above the tokenizer: the family is recognised from the raw template text the vocab
 * carries (lt_vocab.chat_template, kept as loaded), each time it is asked for; the tokenizer
 * knows nothing about chat. Families: chatml (<|im_start|>, Qwen2), llama3, llama2 ([INST]
 * with <<SYS>>), mistral ([INST] without <<SYS>>), zephyr (<|user|>), gemma
 * (<start_of_turn>), phi3 (<|end|>); anything else (or no template) is plain "role: content"
 * lines. Leaves out: evaluating Jinja, tool calls, per-model whitespace stripping.
 */
#ifndef LT_CHAT_H
#define LT_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenizer.h"

typedef struct lt_chat_msg {
    const char *role;    /* "system", "user", "assistant" (NULL = "user") */
    const char *content;
} lt_chat_msg;

typedef enum lt_chat_family {
    LT_CHAT_PLAIN = 0, /* "role: content" lines */
    LT_CHAT_CHATML,
    LT_CHAT_LLAMA3,
    LT_CHAT_LLAMA2,
    LT_CHAT_MISTRAL,
    LT_CHAT_ZEPHYR,
    LT_CHAT_GEMMA,
    LT_CHAT_PHI3,
} lt_chat_family;

/* The family of a Jinja chat template, recognised by substrings as llama.cpp's
 * llm_chat_detect_template does (NULL or "" -> LT_CHAT_PLAIN). */
lt_chat_family lt_chat_detect(const char *tmpl);
/* "plain", "chatml", "llama3", "llama2", "mistral", "zephyr", "gemma", "phi3". */
const char *lt_chat_family_name(lt_chat_family f);
/* The family of the template t's vocab carries (NULL tokenizer -> LT_CHAT_PLAIN). */
lt_chat_family lt_chat_family_of(const lt_tokenizer *t);
/* lt_chat_family_name(lt_chat_family_of(t)). */
const char *lt_chat_template_name(const lt_tokenizer *t);

/* Renders msgs[0..n) in family f, with the assistant prefix appended when add_assistant
 * (llama2/mistral: implicit after [/INST]). Returns the full length; writes up to cap-1
 * bytes and a NUL (buf may be NULL when cap is 0, to measure). */
size_t lt_chat_apply(lt_chat_family f, const lt_chat_msg *msgs, int n, bool add_assistant, char *buf, size_t cap);
/* lt_chat_apply with the family of t's template. */
size_t lt_chat_render(const lt_tokenizer *t, const lt_chat_msg *msgs, int n, bool add_assistant, char *buf,
                      size_t cap);

#endif
