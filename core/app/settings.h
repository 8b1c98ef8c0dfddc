/* settings.h - the workbench settings (`set KEY VALUE`): sampling (temp, top-k, top-p,
 * min-p, repeat-penalty, repeat-last-n, seed), max-tokens, stop sequences, the system prompt,
 * the context of models loaded afterwards, device, threads, tint; their defaults, a
 * declarative table of keys with ranges, and the one parser `set` and anything else that
 * changes them uses (`lathe chat` passes its options through it too).
 * Leaves out: where the settings live (the session) and who may change them (commands).
 */
#ifndef LT_SETTINGS_H
#define LT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "core/base/status.h"

#define LT_SETTINGS_MAX_STOPS 4     /* stop sequences */
#define LT_SETTINGS_STOP_LEN 64     /* bytes of one stop sequence, NUL included */
#define LT_SETTINGS_SYSTEM_LEN 2048 /* bytes of the system prompt, NUL included */

typedef struct lt_settings {
    float temp, top_p, min_p;
    int top_k;
    float repeat_penalty; /* 1 = off */
    int repeat_last_n;    /* recent tokens the penalty looks at */
    uint64_t seed;
    int max_tokens;
    int ctx;              /* context (tokens) of language models loaded afterwards; 0 = the model's */
    int n_stops;
    char stops[LT_SETTINGS_MAX_STOPS][LT_SETTINGS_STOP_LEN]; /* generation ends before one of these */
    char system[LT_SETTINGS_SYSTEM_LEN]; /* system prompt of new conversations; "" = none */
    char device[16];
    int threads;
    bool tint; /* accepted draft tokens as LT_TEXT_MODEL_DRAFT (to sinks that ask); default on */
    bool parse_special; /* special-token text in prompts becomes that token (as llama.cpp); default on */
} lt_settings;

/* The defaults: the sampler's defaults, seed 0, 256 tokens, device (NULL = "auto"), threads. */
lt_settings lt_settings_defaults(const char *device, int threads);

/* The keys, comma separated ("temp, top-k, ..."), for usage lines. */
const char *lt_settings_keys(void);

/* Sets key to the text value in *t (nothing changes on error: "set temp: 'x' is not a number
 * in [0, 100]"). `stop` takes one sequence here; "off" clears stop and system. */
lt_status lt_settings_apply(lt_settings *t, const char *key, const char *value, lt_err *err);
/* The same with n values (n >= 1): `stop` takes up to LT_SETTINGS_MAX_STOPS sequences, every
 * other key exactly one value. */
lt_status lt_settings_apply_list(lt_settings *t, const char *key, const char *const *values, int n, lt_err *err);
/* True for keys whose value is the rest of the command line as typed (`system`). */
bool lt_settings_key_is_text(const char *key);

/* The numeric key's kind and range as an option row ({name, alias, kind, dst, help, lo, hi}),
 * so a `lathe SUBCOMMAND` option or a command's option that sets the same value accepts
 * exactly what `set KEY` accepts: one range per value. False (o untouched) for a key that is
 * not numeric or not known. */
bool lt_settings_opt(const char *key, const char *name, const char *alias, void *dst, const char *help, lt_opt *o);

/* "temp 0.8  top-k 40 ..." into buf (stop sequences quoted, the system prompt last). */
void lt_settings_format(const lt_settings *t, char *buf, size_t cap);

#endif
