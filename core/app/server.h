/* server.h - `lathe serve`: an OpenAI-compatible HTTP server over the serving engine
 * (core/llm/engine.h). Endpoints: POST /v1/chat/completions and /v1/completions (whole answers
 * or server-sent events: `data: {chunk}` lines and `data: [DONE]`), GET /v1/models, /health
 * and /metrics (Prometheus text). The JSON is core/app/openai.h's.
 *
 * HTTP is GNU libmicrohttpd's (Debian's libmicrohttpd-dev): a small C library made to be
 * embedded, maintained for two decades with security releases, that parses HTTP/1.1 (chunked
 * bodies, keep-alive, pipelining, Expect: 100-continue) so lathe has no parser of its own. It
 * runs a thread per connection: a connection thread parses and checks its request, tokenizes
 * the prompt, queues it and then waits for (or streams) the answer. One engine thread owns the
 * engine (which is single-threaded): it takes new requests and cancels from a queue under a
 * mutex, steps while any request is running or waiting, and hands each token's text to its
 * connection.
 *
 * Limits and errors (OpenAI's error object): 400 malformed JSON, a missing field, a bad type or
 * range, a prompt longer than the context (code context_length_exceeded); 401 a missing or
 * wrong `Authorization: Bearer KEY` when an API key is set (/health stays open); 404 an unknown
 * path; 405 a wrong method; 413 a body over max_body; 503 with Retry-After when max_concurrency
 * requests are already in the engine or the server is stopping: the limit is the server's
 * capacity, not one client's rate (429), and OpenAI's clients retry both. A client that goes
 * away (a failed write, or a closed socket seen while waiting) cancels its request, which frees
 * its KV blocks at once.
 * Leaves out: TLS (put a proxy in front), CORS, n > 1, logprobs, tools, one model per server.
 */
#ifndef LT_SERVER_H
#define LT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "core/llm/engine.h"

#define LT_SERVER_SEED_FRESH UINT64_MAX

typedef struct lt_server_opts {
    const char *host;        /* address to listen on (IPv4 or IPv6 literal, or localhost); default 127.0.0.1 */
    int port;                /* 0 = a free port (lt_server_port) */
    const char *api_key;     /* NULL or "" = no key */
    int max_concurrency;     /* generation requests in the engine at once (running or queued) */
    int max_body;            /* bytes of a request body */
    const char *model_name;  /* what /v1/models and the answers call the model */
    lt_sampler_params sp;    /* sampling when a request does not say; seed LT_SERVER_SEED_FRESH = a fresh
                              * seed per request */
    int n_predict;           /* max tokens when a request does not say; <= 0 = until the end or the context */
    bool stop_at_bos;        /* llama2.c models end a story with BOS */
    lt_engine_opts engine;   /* policy and token budget (tok is set by the server); engine.draft: the draft
                              * model of --spec draft:MODEL, opened by the caller */
    const char *spec;        /* --spec ngram|draft:MODEL: speculation of every request (NULL = none) */
    int gamma;               /* --gamma drafts per step (default 4) */
    int spec_ngram, spec_draft; /* parsed by lt_server_opts_check */
    const char *draft_path;  /* MODEL of --spec draft:MODEL (points into spec) */
    /* One line per answered request (method, path, status, tokens, seconds); called from
     * connection threads, may be NULL. */
    void (*log)(void *ud, const char *line);
    void *log_ud;
} lt_server_opts;

/* host 127.0.0.1, port 8080, max_concurrency 8, max_body 1 MiB, lathe's sampler defaults (a fresh seed per request),
 * n_predict -1, the Sarathi policy with a 512-token budget. */
lt_server_opts lt_server_defaults(void);

/* Adds the server's rows (--host, --port, --api-key, --max-concurrency, --max-body, --policy,
 * --token-budget, --spec, --gamma) to opts after its used rows (cap entries in all, NULL-terminated). The
 * policy's name is parsed by lt_server_opts_check. */
void lt_server_opts_add(lt_server_opts *o, const char **policy, lt_opt *opts, int cap);
/* Checks o (and the policy name, may be NULL) after parsing: LT_EINVAL naming the option. */
lt_status lt_server_opts_check(lt_server_opts *o, const char *policy, lt_err *err);

typedef struct lt_server lt_server;

/* Starts serving lm with tok over kv (held, not owned; they must outlive the server; kv needs
 * max_concurrency sequences). LT_EIO when the address cannot be bound (naming it). */
lt_status lt_server_start(lt_server **out, lt_lm *lm, const lt_tokenizer *tok, lt_kv_cache *kv,
                          const lt_server_opts *o, lt_err *err);
int lt_server_port(const lt_server *s); /* the port it listens on */

/* Stops: no new requests (503), running ones are cancelled and their streams end with an
 * error event and [DONE], then the connections close. NULL is a no-op. */
void lt_server_free(lt_server *s);

/* What /metrics reports, as numbers. */
typedef struct lt_server_stats {
    int running, waiting;        /* requests in the engine */
    int kv_used, kv_total;       /* KV blocks */
    int kv_host_used, kv_host_total; /* the KV host pool's blocks (0 without one) */
    int64_t requests;            /* generation requests finished (any way) */
    int64_t cancelled;           /* of them, ended by a client going away or the shutdown */
    int64_t prompt_tokens, generated_tokens;
    int64_t drafted, accepted;   /* speculative tokens checked and accepted (--spec) */
    int64_t http_4xx, http_5xx;  /* error answers */
} lt_server_stats;

void lt_server_stats_get(lt_server *s, lt_server_stats *out);

#endif
