/* metrics.h - a ring of samples the workbench panes draw from: tokens/s (prefill, decode),
 * memory by category, KV blocks, device utilisation. One writer (the session, on the
 * worker thread) and any number of readers (the UI thread); a mutex guards the ring.
 *
 * Also host-memory probes (/proc) so panes without a GPU can show process memory.
 * Leaves out: NVML (the TUI loads it with dlopen and pushes utilisation in) and drawing.
 */
#ifndef LT_METRICS_H
#define LT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backend/backend.h"

typedef struct lt_metric_sample {
    double t;                        /* lt_now() seconds */
    double decode_tps;               /* live decode rate; 0 while nothing generates */
    double prefill_tps;              /* last prefill rate measured; 0 = none yet */
    double last_decode_tps;          /* last decode rate measured; 0 = none yet */
    size_t mem[LT_MEM_CAT_COUNT];    /* bytes per category; OTHER also holds what the process (host)
                                      * or the device (GPU) uses beyond lathe's own categories */
    size_t mem_free, mem_total;      /* device (or host) free/total; 0 = unknown */
    int kv_used, kv_total;           /* KV blocks */
    int ctx_used, ctx_max;           /* tokens in the current model's conversation / its context
                                      * (the context meter); 0/0 when no language model is current */
    double util;                     /* device utilisation %, < 0 = unknown */
    /* speculative decoding of the current model (`spec`) */
    char spec_kind[16];              /* "" = plain decoding, else "ngram", "draft", "triforce" */
    int spec_levels;                 /* levels with statistics below: 0 = no speculative run yet,
                                      * 1, or 2 (TriForce: [1] = the bottom drafter) */
    double spec_accept[2];           /* acceptance rate of the last speculative run per level */
    double spec_mean_len[2];         /* tokens per verification step (accepted + 1) */
    double spec_tps;                 /* its decode tok/s */
    double spec_speedup;             /* spec_tps / the model's last plain decode tok/s; 0 = unknown */
} lt_metric_sample;

typedef struct lt_metrics lt_metrics;

/* A ring of cap samples (0 = 1200). */
lt_status lt_metrics_create(lt_metrics **out, int cap, lt_err *err);
void lt_metrics_free(lt_metrics *m); /* NULL is a no-op */

/* Appends a sample (its t is set to now when 0). */
void lt_metrics_push(lt_metrics *m, const lt_metric_sample *s);
/* The latest sample; false when there is none. */
bool lt_metrics_latest(lt_metrics *m, lt_metric_sample *out);
/* Copies the samples of the last `seconds` (oldest first) into out[cap]; returns the count. */
int lt_metrics_since(lt_metrics *m, double seconds, lt_metric_sample *out, int cap);

/* Resident set size of this process and host total/available memory in bytes (0 when
 * /proc is not readable). */
void lt_host_mem(size_t *rss, size_t *total, size_t *avail);

#endif
