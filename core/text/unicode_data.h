/* unicode_data.h - Unicode general-category flags per code point (generated tables in
 * unicode_data.c by tools/gen_unicode.py) and the lookup the pre-tokenizers use.
 * Only categories; no case mapping or normalisation (the tokenizers here do not need them).
 */
#ifndef LT_UNICODE_DATA_H
#define LT_UNICODE_DATA_H

#include <stdbool.h>
#include <stdint.h>

enum {
    LT_UCD_UNDEFINED = 0x01,   /* Cn, and anything past U+10FFFF */
    LT_UCD_NUMBER = 0x02,      /* \p{N} */
    LT_UCD_LETTER = 0x04,      /* \p{L} */
    LT_UCD_SEPARATOR = 0x08,   /* \p{Z} */
    LT_UCD_MARK = 0x10,        /* \p{M} */
    LT_UCD_PUNCTUATION = 0x20, /* \p{P} */
    LT_UCD_SYMBOL = 0x40,      /* \p{S} */
    LT_UCD_CONTROL = 0x80,     /* \p{C} other than Cn */
};

extern const int32_t lt_ucd_n_ranges;
extern const uint32_t lt_ucd_start[];
extern const uint8_t lt_ucd_flags[];

/* Category flag (exactly one LT_UCD_* bit) of code point cp. */
static inline uint8_t lt_ucd_cat(uint32_t cp) {
    if (cp >= 0x110000) return LT_UCD_UNDEFINED;
    int32_t lo = 0, hi = lt_ucd_n_ranges - 1;
    while (lo < hi) { /* last range whose start <= cp */
        int32_t mid = (lo + hi + 1) / 2;
        if (lt_ucd_start[mid] <= cp) lo = mid;
        else hi = mid - 1;
    }
    return lt_ucd_flags[lo];
}

/* White_Space from Unicode's PropList.txt (what llama.cpp's \s means). */
static inline bool lt_ucd_is_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

#endif
