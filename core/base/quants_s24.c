/* quants_s24.c - the 2:4 sparse weight types (kernels/lt_quants.h: s24_f16, s24_q4): N:M keep
 * masks from scores, packing kept values and their positions into blocks, the 4-bit quantizer of
 * the kept values, and magnitude pruning as the dtype table's from_f32 (synthetic models of these
 * types; the calibrated masks are core/compress/sparse24.c's).
 * Leaves out: choosing masks from calibration (core/compress), other N:M storage (4:8 masks are
 * written as f16).
 */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "quants.h"
#include "status.h"

/* ---- which columns a group prunes: torch.topk(score, m - n_keep, largest=False) on the CPU ----
 * Equal scores are common (weights that came from a 4-bit file) and which of them a group keeps
 * moves a magnitude-pruned model a lot (docs/PERF.md, "2:4 against the authors' code"). The
 * authors' code (locuslab/wanda's magnitude and Wanda, IST-DASLab/sparsegpt's N:M) prunes the
 * columns torch.topk(tmp, prune_n, dim=1, largest=False) returns; for k * 64 > m (always here:
 * m <= 16) PyTorch's CPU kernel (aten TopKImpl.h) runs std::nth_element(q, q + k - 1, q + m) over
 * (score, column) pairs compared by score alone and takes the first k. Its result on ties is
 * libstdc++'s introselect, reproduced step by step below (median-of-three partitions, insertion
 * sort of the last <= 3, heap select when the depth limit runs out), so lathe's masks are the
 * authors' masks: checked against torch.topk for every pattern of 4 and 8 scores over 3-4
 * values and 20,000 random groups each of 4 to 60 (tools/topk_ties.py, tests/test_sparse24.c). */
typedef struct sc_ix {
    float s;
    int i;
} sc_ix;

#define LT_LESS(a, b) ((a).s < (b).s)
#define LT_SWAP(a, b) \
    do {              \
        sc_ix t_ = a; \
        a = b;        \
        b = t_;       \
    } while (0)

static void move_median_to_first(sc_ix *q, int r, int a, int b, int c) {
    if (LT_LESS(q[a], q[b])) {
        if (LT_LESS(q[b], q[c])) LT_SWAP(q[r], q[b]);
        else if (LT_LESS(q[a], q[c])) LT_SWAP(q[r], q[c]);
        else LT_SWAP(q[r], q[a]);
    } else if (LT_LESS(q[a], q[c])) LT_SWAP(q[r], q[a]);
    else if (LT_LESS(q[b], q[c])) LT_SWAP(q[r], q[c]);
    else LT_SWAP(q[r], q[b]);
}

static int unguarded_partition(sc_ix *q, int first, int last, int pivot) {
    for (;;) {
        while (LT_LESS(q[first], q[pivot])) first++;
        last--;
        while (LT_LESS(q[pivot], q[last])) last--;
        if (!(first < last)) return first;
        LT_SWAP(q[first], q[last]);
        first++;
    }
}

static void insertion_sort(sc_ix *q, int first, int last) {
    for (int i = first + 1; i < last; i++) {
        sc_ix v = q[i];
        if (LT_LESS(v, q[first])) {
            memmove(q + first + 1, q + first, (size_t)(i - first) * sizeof *q);
            q[first] = v;
        } else {
            int l = i;
            while (LT_LESS(v, q[l - 1])) q[l] = q[l - 1], l--;
            q[l] = v;
        }
    }
}

static void adjust_heap(sc_ix *q, int hole, int len, sc_ix v) {
    const int top = hole;
    int c = hole;
    while (c < (len - 1) / 2) {
        c = 2 * (c + 1);
        if (LT_LESS(q[c], q[c - 1])) c--;
        q[hole] = q[c];
        hole = c;
    }
    if ((len & 1) == 0 && c == (len - 2) / 2) {
        c = 2 * (c + 1);
        q[hole] = q[c - 1];
        hole = c - 1;
    }
    for (int p = (hole - 1) / 2; hole > top && LT_LESS(q[p], v); p = (hole - 1) / 2) q[hole] = q[p], hole = p;
    q[hole] = v;
}

static void heap_select(sc_ix *q, int first, int middle, int last) {
    const int len = middle - first;
    if (len >= 2)
        for (int p = (len - 2) / 2;; p--) {
            adjust_heap(q + first, p, len, q[first + p]);
            if (p == 0) break;
        }
    for (int i = middle; i < last; i++)
        if (LT_LESS(q[i], q[first])) {
            sc_ix v = q[i];
            q[i] = q[first];
            adjust_heap(q + first, 0, len, v);
        }
}

static void nth_element(sc_ix *q, int nth, int n) {
    int first = 0, last = n, depth = 0;
    for (int k = n; k > 1; k >>= 1) depth += 2; /* 2 * floor(log2(n)) */
    while (last - first > 3) {
        if (depth-- == 0) {
            heap_select(q, first, nth + 1, last);
            LT_SWAP(q[first], q[nth]);
            return;
        }
        move_median_to_first(q, first, first + 1, first + (last - first) / 2, last - 1);
        int cut = unguarded_partition(q, first + 1, last, first);
        if (cut <= nth) first = cut;
        else last = cut;
    }
    insertion_sort(q, first, last);
}

void lt_nm_keep(const float *score, int64_t n, int n_keep, int m, uint8_t *keep) {
    sc_ix q[64];
    LT_ASSERT(m >= 1 && m <= 64);
    const int k = m - n_keep; /* pruned per group */
    for (int64_t g = 0; g + m <= n; g += m) {
        for (int i = 0; i < m; i++) keep[g + i] = 1, q[i] = (sc_ix){score[g + i], i};
        if (k <= 0) continue;
        nth_element(q, k - 1, m);
        for (int i = 0; i < k; i++) keep[g + q[i].i] = 0;
    }
}
#undef LT_LESS
#undef LT_SWAP

/* positions of the 2 kept columns of each group of 4, in column order, as the 2-bit stream */
static void put_meta(const uint8_t *keep, int groups, uint8_t *meta) {
    memset(meta, 0, (size_t)(groups * 2 + 3) / 4);
    int k = 0;
    for (int g = 0; g < groups; g++)
        for (int p = 0; p < 4 && k < 2 * (g + 1); p++)
            if (keep[4 * g + p]) {
                meta[k / 4] |= (uint8_t)(p << (2 * (k % 4)));
                k++;
            }
}

void lt_s24_pack_f16(const float *w, const uint8_t *keep, int64_t n, void *row) {
    lt_block_s24_f16 *b = row;
    for (int64_t i = 0; i < n / 16; i++) {
        const float *x = w + 16 * i;
        const uint8_t *kp = keep + 16 * i;
        uint8_t meta[2];
        put_meta(kp, 4, meta);
        b[i].meta = (uint16_t)(meta[0] | meta[1] << 8);
        int k = 0;
        for (int j = 0; j < 16; j++)
            if (kp[j] && k < 8) b[i].v[k++] = lt_f32_to_f16(x[j]);
        while (k < 8) b[i].v[k++] = 0;
    }
}

void lt_s24_pack_q4(const uint8_t *q, const uint8_t *keep, const float *d, const float *m, int64_t n, void *row) {
    lt_block_s24_q4 *b = row;
    for (int64_t i = 0; i < n / 64; i++) {
        const uint8_t *kp = keep + 64 * i, *qc = q + 64 * i;
        b[i].d = lt_f32_to_f16(d[i]);
        b[i].m = lt_f32_to_f16(m[i]);
        put_meta(kp, 16, b[i].meta);
        uint8_t kq[32] = {0};
        int k = 0;
        for (int j = 0; j < 64; j++)
            if (kp[j] && k < 32) kq[k++] = qc[j] & 15;
        for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(kq[j] | kq[16 + j] << 4);
    }
}

void lt_s24_q4_params(const float *x, uint8_t *q, float *d, float *m, float *xq) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < 32; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    float dd = lt_f16_to_f32(lt_f32_to_f16((mx - mn) / 15.0f)), mm = lt_f16_to_f32(lt_f32_to_f16(mn));
    if (!(dd > 0)) dd = lt_f16_to_f32(1); /* a constant block: the smallest f16 step */
    for (int i = 0; i < 32; i++) {
        float v = rintf((x[i] - mm) / dd);
        q[i] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
        if (xq) xq[i] = lt_mul_rn((float)q[i], dd) + mm;
    }
    *d = dd, *m = mm;
}

static void magnitude_keep(const float *x, int64_t n, uint8_t *keep) {
    float a[64];
    for (int64_t c = 0; c < n; c += 64) {
        const int64_t w = n - c < 64 ? n - c : 64;
        for (int64_t j = 0; j < w; j++) a[j] = fabsf(x[c + j]);
        lt_nm_keep(a, w, 2, 4, keep + c);
    }
}

void lt_quantize_row_s24_f16(const float *x, void *y, int64_t n) {
    uint8_t keep[16];
    for (int64_t i = 0; i < n / 16; i++) {
        magnitude_keep(x + 16 * i, 16, keep);
        lt_s24_pack_f16(x + 16 * i, keep, 16, (lt_block_s24_f16 *)y + i);
    }
}

void lt_quantize_row_s24_q4(const float *x, void *y, int64_t n) {
    uint8_t keep[64], q[64] = {0}, kq[32];
    float kv[32];
    for (int64_t i = 0; i < n / 64; i++) {
        const float *xb = x + 64 * i;
        magnitude_keep(xb, 64, keep);
        int k = 0;
        for (int j = 0; j < 64; j++)
            if (keep[j]) kv[k++] = xb[j];
        float d, m;
        lt_s24_q4_params(kv, kq, &d, &m, NULL);
        k = 0;
        for (int j = 0; j < 64; j++)
            if (keep[j]) q[j] = kq[k++];
        lt_s24_pack_q4(q, keep, &d, &m, 64, (lt_block_s24_q4 *)y + i);
    }
}

/* Kept value pairs (positions p0, p1 of one group of 4) must be two different columns in
 * increasing order, as the writers store them; anything else is a malformed file. */
static bool meta_ok(const uint8_t *meta, int groups) {
    for (int g = 0; g < groups; g++) {
        const int k = 2 * g;
        const int p0 = (meta[k / 4] >> (2 * (k % 4))) & 3, p1 = (meta[(k + 1) / 4] >> (2 * ((k + 1) % 4))) & 3;
        if (p0 >= p1) return false;
    }
    return true;
}

int64_t lt_s24_check(lt_dtype dt, const void *data, int64_t n) {
    if (dt == LT_S24_F16) {
        const lt_block_s24_f16 *b = data;
        for (int64_t i = 0; i < n / 16; i++) {
            uint8_t meta[2] = {(uint8_t)(b[i].meta & 255), (uint8_t)(b[i].meta >> 8)};
            if (!meta_ok(meta, 4)) return i;
        }
    } else if (dt == LT_S24_Q4) {
        const lt_block_s24_q4 *b = data;
        for (int64_t i = 0; i < n / 64; i++)
            if (!meta_ok(b[i].meta, 16)) return i;
    }
    return -1;
}
