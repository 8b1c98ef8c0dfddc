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

void lt_nm_keep(const float *score, int64_t n, int n_keep, int m, uint8_t *keep) {
    for (int64_t g = 0; g + m <= n; g += m) {
        for (int i = 0; i < m; i++) keep[g + i] = 0;
        for (int k = 0; k < n_keep; k++) { /* the largest not yet kept (the lower column on ties) */
            int best = -1;
            for (int i = 0; i < m; i++)
                if (!keep[g + i] && (best < 0 || score[g + i] > score[g + best])) best = i;
            keep[g + best] = 1;
        }
    }
}

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
