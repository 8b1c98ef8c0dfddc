/* unicode_norm.h - Unicode normalization forms (NFC, NFKC, NFD, NFKD) and full lowercase
 * mapping over code points, for the normalizers of Hugging Face tokenizer.json files. Tables
 * from Python's unicodedata (tools/gen_unicode_norm.py); Hangul syllables by algorithm.
 */
#ifndef LT_UNICODE_NORM_H
#define LT_UNICODE_NORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Applies flags (LT_NORM_* of vocab.h: one form and/or lowercase; lowercase after the form)
 * to cps[0..n): the result goes to *out (lt_realloc'd; *cap its capacity in code points) and
 * its length to *out_n. False when out of memory. */
bool lt_unorm(uint32_t flags, const uint32_t *cps, size_t n, uint32_t **out, size_t *cap, size_t *out_n);

#endif
