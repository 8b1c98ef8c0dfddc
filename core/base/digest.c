/* digest.c - see digest.h. */
#include "digest.h"

uint64_t lt_fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t lt_digest_ids(const int32_t *ids, int n) {
    uint64_t h = LT_FNV_INIT;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        unsigned char b[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
        h = lt_fnv1a64(h, b, 4);
    }
    return h;
}
