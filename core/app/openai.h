/* openai.h - the OpenAI API's JSON, as `lathe serve` speaks it (core/app/server.h): a
 * /v1/chat/completions or /v1/completions body parsed and checked into a request (the chat
 * rendered through the model's template, core/text/chat.h), and the response objects built:
 * chat.completion, text_completion, their stream chunks (chat.completion.chunk), usage, the
 * model list and the error object {"error": {"message", "type", "param", "code"}}.
 *
 * Fields read: model (any string: one model is served), messages (system / developer / user /
 * assistant; string content or text parts), prompt (a string, or a list of one string),
 * max_tokens / max_completion_tokens, temperature, top_p, top_k, min_p, repeat_penalty,
 * seed, stop (string or list), stream, stream_options.include_usage, n (1 only), and llama.cpp's
 * server's extensions top_k, min_p, repeat_penalty and ignore_eos. Others are
 * ignored as llama.cpp's server does, except those that would change the answer's shape
 * and are not implemented (n > 1, best_of > 1, echo, logprobs, tools): a 400 naming them.
 * Pure: no I/O, no threads. Returned strings are cJSON prints (free with lt_oai_free).
 */
#ifndef LT_OPENAI_H
#define LT_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"
#include "core/llm/generate.h"
#include "core/llm/stopstr.h"
#include "core/text/tokenizer.h"

typedef enum lt_oai_kind { LT_OAI_CHAT = 0, LT_OAI_COMPLETION } lt_oai_kind;

typedef struct lt_oai_request {
    lt_oai_kind kind;
    char *prompt;        /* the text to tokenize (chat: rendered through the template) */
    bool parse_special;  /* special-token text in prompt becomes those tokens (a template's) */
    bool stream, include_usage;
    int max_tokens;      /* -1 = not given */
    lt_sampler_params sp;
    bool has_seed;       /* sp.seed came from the request */
    bool ignore_eos;     /* generate past end-of-text (llama.cpp's extension) */
    char stops[LT_STOPSTR_MAX][LT_STOPSTR_LEN];
    int n_stops;
    char model[128];     /* as the request named it ("" = none) */
} lt_oai_request;

/* A 400's details: the offending field (param, "" = none) and OpenAI's error code
 * ("" = none). */
typedef struct lt_oai_fault {
    char param[64];
    char code[48];
} lt_oai_fault;

/* Parses body[len] for kind; sp_default is the server's sampling (fields present override
 * it). tok renders chat messages (NULL: plain "role: content" lines). LT_EINVAL with a
 * message and *f filled for JSON that is malformed or breaks a field's type or range;
 * LT_ENOMEM. On success free with lt_oai_request_clear. */
lt_status lt_oai_parse(lt_oai_kind kind, const char *body, size_t len, const lt_tokenizer *tok,
                       const lt_sampler_params *sp_default, lt_oai_request *out, lt_oai_fault *f, lt_err *err);
void lt_oai_request_clear(lt_oai_request *r);

/* "stop" (end of text, a stop sequence, a cancel) or "length" (max_tokens, context end). */
const char *lt_oai_finish_reason(lt_gen_stop stop);

typedef struct lt_oai_usage {
    int prompt_tokens, completion_tokens;
} lt_oai_usage;

/* The identity every object of one answer carries. */
typedef struct lt_oai_ident {
    lt_oai_kind kind;
    const char *id;    /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;   /* unix seconds */
    const char *model;
} lt_oai_ident;

/* The whole answer (chat.completion or text_completion). NULL when out of memory. */
char *lt_oai_response(const lt_oai_ident *id, const char *text, size_t len, const char *finish,
                      const lt_oai_usage *u);
/* One stream chunk: text (len bytes; chat: the delta's content, with role "assistant" when
 * role is set), finish (NULL = null), usage (NULL = none: choices [] is then written only
 * when text is NULL and finish NULL, the usage chunk). */
char *lt_oai_chunk(const lt_oai_ident *id, bool role, const char *text, size_t len, const char *finish,
                   const lt_oai_usage *u);
/* {"error": {...}}; param and code NULL or "" give null. */
char *lt_oai_error(const char *message, const char *type, const char *param, const char *code);
/* The model list of /v1/models: one model. */
char *lt_oai_models(const char *model, int64_t created);
/* One model object (/v1/models/ID). */
char *lt_oai_model(const char *model, int64_t created);
void lt_oai_free(char *s);

#endif
