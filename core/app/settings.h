/* settings.h - the workbench settings (`set KEY VALUE`): sampling (temp, top-k, top-p,
 * min-p, seed), max-tokens, device, threads, tint; their defaults, a declarative table of
 * keys with ranges, and the one parser `set` and anything else that changes them uses.
 * Leaves out: where the settings live (the session) and who may change them (commands).
 */
#ifndef LT_SETTINGS_H
#define LT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "core/base/status.h"

typedef struct lt_settings {
    float temp, top_p, min_p;
    int top_k;
    uint64_t seed;
    int max_tokens;
    char device[16];
    int threads;
    bool tint; /* accepted draft tokens as LT_TEXT_MODEL_DRAFT (to sinks that ask); default on */
} lt_settings;

/* The defaults: the sampler's defaults, seed 0, 256 tokens, device (NULL = "auto"), threads. */
lt_settings lt_settings_defaults(const char *device, int threads);

/* The keys, comma separated ("temp, top-k, ..."), for usage lines. */
const char *lt_settings_keys(void);

/* Sets key to the text value in *t (nothing changes on error: "set temp: 'x' is not a number
 * in [0, 100]"). */
lt_status lt_settings_apply(lt_settings *t, const char *key, const char *value, lt_err *err);

/* The numeric key's kind and range as an option row ({name, alias, kind, dst, help, lo, hi}),
 * so a `lathe SUBCOMMAND` option or a command's option that sets the same value accepts
 * exactly what `set KEY` accepts: one range per value. False (o untouched) for a key that is
 * not numeric or not known. */
bool lt_settings_opt(const char *key, const char *name, const char *alias, void *dst, const char *help, lt_opt *o);

/* "temp 0.8  top-k 40 ..." into buf. */
void lt_settings_format(const lt_settings *t, char *buf, size_t cap);

#endif
