/* noise.c - the noise stream of a sampling run (see noise.h). */
#include "noise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"

#define NOISE_FILE_MAX ((size_t)1 << 31) /* 2 GiB of floats */

struct lt_noise {
    /* seeded */
    uint64_t st[4];
    bool has_spare;
    float spare;
    /* file */
    char path[512];
    float *vals;
    size_t n, pos;
    int ndim;
    int64_t shape[8];
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}

lt_status lt_noise_seeded(lt_noise **out, uint64_t seed, lt_err *err) {
    lt_noise *n = lt_calloc(1, sizeof *n);
    if (!n) return lt_err_set(err, LT_ENOMEM, "noise: out of memory");
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) n->st[i] = splitmix64(&x);
    *out = n;
    return LT_OK;
}

/* The .npy header: dtype, order and shape (numpy's format description, versions 1-3). */
static lt_status parse_npy(lt_noise *n, const char *buf, size_t len, size_t *data_off, lt_err *err) {
    const char *p = n->path;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) return lt_err_set(err, LT_EFORMAT, "%s: not a .npy file", p);
    int major = (unsigned char)buf[6];
    size_t hl, off;
    if (major == 1) hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8, off = 10;
    else if (major == 2 || major == 3) {
        if (len < 12) return lt_err_set(err, LT_EFORMAT, "%s: truncated .npy header", p);
        hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8 | (size_t)(unsigned char)buf[10] << 16 |
             (size_t)(unsigned char)buf[11] << 24;
        off = 12;
    } else return lt_err_set(err, LT_EFORMAT, "%s: .npy version %d is not supported", p, major);
    if (hl > len - off) return lt_err_set(err, LT_EFORMAT, "%s: truncated .npy header", p);
    char hdr[1024];
    if (hl >= sizeof hdr) return lt_err_set(err, LT_EFORMAT, "%s: .npy header too long", p);
    memcpy(hdr, buf + off, hl);
    hdr[hl] = 0;
    const char *d = strstr(hdr, "'descr':");
    if (!d) return lt_err_set(err, LT_EFORMAT, "%s: .npy header has no descr", p);
    d += 8;
    while (*d == ' ') d++;
    if (strncmp(d, "'<f4'", 5) && strncmp(d, "'float32'", 9)) {
        char dt[16] = {0};
        sscanf(d, "'%15[^']'", dt);
        return lt_err_set(err, LT_EFORMAT, "%s: dtype %s, the noise must be float32 ('<f4')", p, dt[0] ? dt : "?");
    }
    const char *fo = strstr(hdr, "'fortran_order':");
    if (fo && strstr(fo, "True") == fo + 16 + strspn(fo + 16, " "))
        return lt_err_set(err, LT_EFORMAT, "%s: Fortran-ordered .npy: save it in C order", p);
    const char *sh = strstr(hdr, "'shape':");
    if (!sh || !(sh = strchr(sh, '('))) return lt_err_set(err, LT_EFORMAT, "%s: .npy header has no shape", p);
    sh++;
    size_t count = 1;
    n->ndim = 0;
    while (*sh && *sh != ')') {
        while (*sh == ' ' || *sh == ',') sh++;
        if (*sh == ')') break;
        char *end;
        long long v = strtoll(sh, &end, 10);
        if (end == sh || v < 0 || n->ndim >= 8) return lt_err_set(err, LT_EFORMAT, "%s: bad .npy shape", p);
        n->shape[n->ndim++] = v;
        if (v && count > NOISE_FILE_MAX / (size_t)v) return lt_err_set(err, LT_EFORMAT, "%s: .npy too large", p);
        count *= (size_t)v;
        sh = end;
    }
    off += hl;
    if ((len - off) / 4 < count)
        return lt_err_set(err, LT_EFORMAT, "%s: the .npy declares %zu values but holds %zu", p, count, (len - off) / 4);
    n->n = count;
    *data_off = off;
    return LT_OK;
}

lt_status lt_noise_file(lt_noise **out, const char *path, lt_err *err) {
    char *buf;
    size_t len;
    LT_TRY(lt_file_read_all(path, NOISE_FILE_MAX, &buf, &len, err));
    lt_noise *n = lt_calloc(1, sizeof *n);
    if (!n) {
        lt_free(buf);
        return lt_err_set(err, LT_ENOMEM, "noise: out of memory");
    }
    snprintf(n->path, sizeof n->path, "%s", path);
    size_t off = 0, plen = strlen(path);
    lt_status r = LT_OK;
    if (plen >= 4 && !strcmp(path + plen - 4, ".npy")) r = parse_npy(n, buf, len, &off, err);
    else if (len % 4) r = lt_err_set(err, LT_EFORMAT, "%s: %zu bytes is not a whole number of float32 values", path, len);
    else n->n = len / 4;
    if (r == LT_OK && n->n && !(n->vals = lt_malloc(n->n * 4))) r = lt_err_set(err, LT_ENOMEM, "noise: out of memory");
    if (r == LT_OK && n->n) memcpy(n->vals, buf + off, n->n * 4); /* little-endian hosts (every one lathe runs on) */
    for (size_t i = 0; r == LT_OK && i < n->n; i++)
        if (!isfinite(n->vals[i])) r = lt_err_set(err, LT_EFORMAT, "%s: value %zu is not finite", path, i);
    lt_free(buf);
    if (r != LT_OK) {
        lt_noise_free(n);
        return r;
    }
    *out = n;
    return LT_OK;
}

void lt_noise_free(lt_noise *n) {
    if (!n) return;
    lt_free(n->vals);
    lt_free(n);
}

lt_status lt_noise_check(const lt_noise *n, size_t need, int c, int h, int w, const char *detail, lt_err *err) {
    if (!n->path[0]) return LT_OK;
    if (n->ndim >= 3 && (n->shape[n->ndim - 3] != c || n->shape[n->ndim - 2] != h || n->shape[n->ndim - 1] != w))
        return lt_err_set(err, LT_EFORMAT, "%s: shape ends in [%lld, %lld, %lld], the model's images are [%d, %d, %d]",
                          n->path, (long long)n->shape[n->ndim - 3], (long long)n->shape[n->ndim - 2],
                          (long long)n->shape[n->ndim - 1], c, h, w);
    if (n->n - n->pos < need)
        return lt_err_set(err, LT_ERANGE, "%s: holds %zu noise values, this run draws %zu (%s)", n->path, n->n - n->pos,
                          need, detail ? detail : "");
    return LT_OK;
}

lt_status lt_noise_draw(lt_noise *n, float *dst, size_t count, lt_err *err) {
    if (n->path[0]) {
        if (n->n - n->pos < count)
            return lt_err_set(err, LT_ERANGE, "%s: the noise stream ended after %zu values", n->path, n->n);
        memcpy(dst, n->vals + n->pos, count * 4);
        n->pos += count;
        return LT_OK;
    }
    for (size_t i = 0; i < count; i++) {
        if (n->has_spare) {
            dst[i] = n->spare;
            n->has_spare = false;
            continue;
        }
        double u1 = 1.0 - (double)(xoshiro(n->st) >> 11) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(xoshiro(n->st) >> 11) * 0x1.0p-53;       /* [0, 1) */
        double r = sqrt(-2.0 * log(u1));
        dst[i] = (float)(r * cos(2 * M_PI * u2));
        n->spare = (float)(r * sin(2 * M_PI * u2));
        n->has_spare = true;
    }
    return LT_OK;
}
