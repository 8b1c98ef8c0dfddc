/* spec_impl.h - the internals shared by spec.c and spec_triforce.c; not a public header. */
#ifndef LT_SPEC_IMPL_H
#define LT_SPEC_IMPL_H

#include "spec.h"

#define SPEC_MAX_LEVELS 3

enum { LV_TARGET, LV_MODEL, LV_RETRIEVAL, LV_NGRAM };

typedef lt_spec_level_stats spec_level_counters;

typedef struct spec_level {
    int kind;
    lt_lm *lm;
    lt_kv_cache *kv;
    int seq;      /* -1: none */
    bool own_seq; /* created and freed here (not the caller's) */
    /* cache rows [0, head) are frozen; rows from head hold true positions [tstart, fed) */
    int head, tstart, fed;
    bool trimmed;  /* rows and true positions differ (tokens were dropped) */
    int sinks, window; /* StreamingLLM (window 0 = keep everything) */
    int32_t *ctok; /* [hist_cap] tokens fed, by true position */
    float *logits; /* [(gmax + 2) * V] */
    lt_sampler *smp;
    int gamma;     /* when this level drafts: tokens per step */
    spec_level_counters st; /* when this level verifies */
} spec_level;

struct lt_spec {
    lt_spec_params p;
    lt_lm *target;
    lt_kv_cache *kv;
    int V, gmax, ngram_max;
    int n_levels;
    spec_level lv[SPEC_MAX_LEVELS];
    lt_kv_cache *draft_kv;
    int32_t *hist; /* [hist_cap] context + drafts */
    int hist_cap;
    int pen0;      /* the repetition penalty looks at hist[pen0..] */
    const int32_t *rec; /* the previous call's tokens (= hist), rec_n of them, on rec_seq */
    int rec_n, rec_seq;
    float *q1, *q2, *pbuf; /* [(gmax + 2) * V] */
    float *rbuf;           /* [V] */
    int32_t *bidx, *bpos, *brope, *bseq; /* batch staging */
    bool *bwant;
    /* TriForce (spec_triforce.c) */
    bool tf;
    float *tf_q;     /* [n_layers * n_heads * head_dim] last query of the target */
    float *tf_mean;  /* [n_layers][max_chunks][kv width] mean key per chunk */
    float *tf_score; /* [max_chunks] */
    float *tf_rows;  /* [block_size * kv width] keys read back */
    float *tf_tmp;   /* [max_chunks] */
    void *tf_pairs;  /* [max_chunks] (score, chunk) */
    int32_t *tf_sel; /* [max_chunks] */
    int tf_max_chunks, tf_n_mean;
};

lt_status spec_tf_init(lt_spec *s, lt_err *err);
void spec_tf_free(lt_spec *s);
/* Builds the retrieval view (level 1) of the target's first n - 1 tokens. */
lt_status spec_tf_build(lt_spec *s, int n, lt_err *err);
/* Frees the view (before the target appends to its sequence). */
void spec_tf_release(lt_spec *s);

#endif
