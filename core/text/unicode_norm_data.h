/* unicode_norm_data.h - the generated tables behind unicode_norm.c (tools/gen_unicode_norm.py):
 * sorted code points with a value each; decomposition and lowercase values are
 * lt_un_pool offset << 5 | length. Not a public header: use unicode_norm.h. */
#ifndef LT_UNICODE_NORM_DATA_H
#define LT_UNICODE_NORM_DATA_H

#include <stdint.h>

extern const int32_t lt_un_n_dec, lt_un_n_kdec, lt_un_n_lower, lt_un_n_ccc, lt_un_n_comp;
extern const uint32_t lt_un_dec_cp[], lt_un_dec_val[];   /* canonical (NFD), full */
extern const uint32_t lt_un_kdec_cp[], lt_un_kdec_val[]; /* compatibility (NFKD), full */
extern const uint32_t lt_un_lower_cp[], lt_un_lower_val[];
extern const uint32_t lt_un_ccc_cp[];
extern const uint8_t lt_un_ccc_val[];
extern const uint64_t lt_un_comp_key[]; /* first << 21 | second, sorted */
extern const uint32_t lt_un_comp_val[];
extern const uint32_t lt_un_pool[];

#endif
