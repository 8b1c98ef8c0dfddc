/* str.h - string helpers that several layers share.
 * Leaves out: anything locale- or Unicode-aware (core/text).
 */
#ifndef LT_STR_H
#define LT_STR_H

#include <stdbool.h>

/* True when s ends with suffix (a file extension, a tensor-name suffix). */
bool lt_str_ends(const char *s, const char *suffix);

#endif
