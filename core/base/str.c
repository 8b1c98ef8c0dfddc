/* str.c - see str.h. */
#include "str.h"

#include <string.h>

bool lt_str_ends(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}
