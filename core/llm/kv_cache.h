/* kv_cache.h - the paged key/value cache.
 *
 * K and V for every layer live in one block pool on the backend: per layer a tensor of
 * [n_blocks * block_size, width] rows (width = kv_heads * head_dim), so a token's keys sit
 * at row block * block_size + offset. Each sequence owns a block table (logical block ->
 * physical block). Blocks are reference counted: fork shares a prefix, and writing into a
 * shared block copies it first (copy on write). Truncation (speculative decoding rollback)
 * drops whole blocks past the new length. Running out of blocks is LT_ENOMEM with the
 * numbers; nothing is changed by a failed call (but blocks it moved to host memory, below).
 *
 * Host pool (Infinite-LLM's DistAttention on one machine): with host_blocks > 0, a second
 * pool in host memory sits behind the device pool. When a reservation finds no free device
 * block, the least recently used full, committed blocks (of the sequences used longest ago,
 * oldest positions first) are copied to host blocks and their device blocks reused. A block
 * table entry e >= 0 is device block e; e < 0 is host block -1 - e. Attention then runs over
 * the device entries on the device and over the host entries on the CPU backend, each as a
 * partial (lt_attn_meta.lse) merged exactly (lt_op_attn_merge): models/llama.c. A host block
 * that must be written again (a truncation back into it, or a sequence whose last partial
 * block was moved) is copied back to a fresh device block first. On a CPU-only machine both
 * pools live in RAM and the device pool is simply capped (n_blocks), so the same code runs
 * and is tested everywhere.
 */
#ifndef LT_KV_CACHE_H
#define LT_KV_CACHE_H

#include <stdint.h>

#include "core/backend/backend.h"

typedef struct lt_kv_cache lt_kv_cache;

typedef struct lt_kv_opts {
    int n_layers;
    int width;       /* kv_heads * head_dim */
    int block_size;  /* tokens per block; 0 = 16 */
    int n_blocks;    /* pool size; 0 = derived from max_ctx * max_seqs, capped by free memory */
    int max_seqs;    /* sequences alive at once; 0 = 8 */
    int max_ctx;     /* longest sequence in tokens */
    lt_dtype dtype;  /* LT_F32 or LT_F16 */
    int host_blocks; /* blocks of the host-memory pool behind the device pool; 0 = none */
} lt_kv_opts;

lt_status lt_kv_create(lt_kv_cache **out, lt_backend *be, const lt_kv_opts *o, lt_err *err);
void lt_kv_free(lt_kv_cache *kv); /* NULL is a no-op */

/* The pools of layer l: [n_blocks * block_size, width]. */
lt_tensor *lt_kv_k(lt_kv_cache *kv, int layer);
lt_tensor *lt_kv_v(lt_kv_cache *kv, int layer);

int lt_kv_block_size(const lt_kv_cache *kv);
int lt_kv_max_ctx(const lt_kv_cache *kv);
int lt_kv_max_seqs(const lt_kv_cache *kv);
int lt_kv_max_blocks_per_seq(const lt_kv_cache *kv);
int lt_kv_blocks_total(const lt_kv_cache *kv);
int lt_kv_blocks_used(const lt_kv_cache *kv);
size_t lt_kv_bytes(const lt_kv_cache *kv);

/* The host pool (all 0 / NULL without one). Its pools live on lt_kv_host_backend: a CPU
 * backend (the device backend itself when that is the CPU). */
#define LT_KV_HOST_HELP                                                                             \
    "KV blocks in host memory behind the device pool: the least recently used full blocks move "   \
    "there when the device pool is full, and attention over them runs on the CPU, merged exactly " \
    "(default 0 = none)"
int lt_kv_host_blocks_total(const lt_kv_cache *kv);
int lt_kv_host_blocks_used(const lt_kv_cache *kv);
lt_backend *lt_kv_host_backend(lt_kv_cache *kv);
lt_tensor *lt_kv_host_k(lt_kv_cache *kv, int layer);
lt_tensor *lt_kv_host_v(lt_kv_cache *kv, int layer);
/* Blocks moved device -> host and host -> device since creation. */
int64_t lt_kv_spilled(const lt_kv_cache *kv);
int64_t lt_kv_fetched(const lt_kv_cache *kv);
/* Blocks of seq held in the host pool. */
int lt_kv_seq_host_blocks(const lt_kv_cache *kv, int seq);

/* Sequences. */
lt_status lt_kv_seq_new(lt_kv_cache *kv, int *seq, lt_err *err);
void lt_kv_seq_free(lt_kv_cache *kv, int seq);      /* releases its blocks */
int lt_kv_seq_len(const lt_kv_cache *kv, int seq);
bool lt_kv_seq_valid(const lt_kv_cache *kv, int seq);
/* Makes positions [len, new_len) writable: allocates blocks, copies a shared partially
 * filled last block. Does not change the length. */
lt_status lt_kv_seq_reserve(lt_kv_cache *kv, int seq, int new_len, lt_err *err);
/* Sets the length after a forward pass wrote positions up to n (n <= reserved). */
void lt_kv_seq_commit(lt_kv_cache *kv, int seq, int n);
/* Forgets positions >= n (n <= len); frees blocks no longer needed. */
void lt_kv_seq_truncate(lt_kv_cache *kv, int seq, int n);
/* A new sequence sharing all of src's blocks (same length). */
lt_status lt_kv_seq_fork(lt_kv_cache *kv, int src, int *dst, lt_err *err);
/* A new sequence made of some of src's logical blocks, shared (refcounted, as fork):
 * blocks[0..n) in the order given. Every chosen block must be full except the last one
 * listed, which may be src's partially filled last block; the new length is the sum of
 * their filled lengths, and appending copies a shared partial block first. Used for sparse
 * views of a long context (TriForce's retrieval cache, StreamingLLM's sink + window). */
lt_status lt_kv_seq_compose(lt_kv_cache *kv, int src, const int32_t *blocks, int n, int *dst, lt_err *err);
/* Cache row of position pos (pos < reserved length). */
int32_t lt_kv_slot(const lt_kv_cache *kv, int seq, int pos);
/* The block table of seq: physical block ids of its logical blocks, *n of them (e < 0: host
 * block -1 - e). */
const int32_t *lt_kv_block_table(const lt_kv_cache *kv, int seq, int *n);

#endif
