/* digest.h - FNV-1a 64, the digest lathe records for every command result (token ids,
 * boxes, settings) so that a replay can tell whether it reproduced the recording.
 * Leaves out: cryptographic strength (FNV is for telling results apart, not for security).
 */
#ifndef LT_DIGEST_H
#define LT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define LT_FNV_INIT 0xcbf29ce484222325ull

/* FNV-1a 64 of data[n] continuing from h (start with LT_FNV_INIT). */
uint64_t lt_fnv1a64(uint64_t h, const void *data, size_t n);

/* FNV-1a 64 of n token ids, each as 4 little-endian bytes (the same on every host). */
uint64_t lt_digest_ids(const int32_t *ids, int n);

#endif
