/* image_jpeg.c - JPEG decoding: libjpeg-turbo parses and entropy-decodes, stb_image's
 * arithmetic turns the coefficients into pixels.
 *
 * Why two halves. The part of a JPEG decoder that meets hostile bytes - markers, Huffman and
 * arithmetic tables, progressive scans, restart intervals - is Debian's libjpeg-turbo
 * (libjpeg62-turbo, security-maintained and fuzzed upstream), through jpeg_read_coefficients.
 * The part that decides the pixel values is stb_image 2.27's, transcribed here: its dequantize
 * to short, its integer IDCT (stbi__idct_block, derived from jidctint), its "fancy" chroma
 * upsampling (stbi__resample_row_*), its fixed-point YCbCr->RGB, its CMYK/YCCK and RGB rules.
 * darknet decodes with stb_image, and detections match darknet's only when the network sees
 * the same input floats: libjpeg-turbo's own IDCT, upsampling and colour conversion differ
 * from stb's by up to 3 levels in 0.7-13% of the bytes of the bundled images, while this
 * reconstruction is byte-identical to stb_image 2.27 (tests/test_image.c checks it on the
 * bundled images and on generated baseline, progressive, restart-marker, 4:4:4 / 4:2:2 /
 * 4:4:0 / 4:2:0 / 4:1:1, grey, RGB and CMYK files of odd sizes).
 *
 * Safety: the header is read first and the dimensions checked against the pixel budget before
 * anything the size of the image is allocated; every libjpeg warning about corrupt data
 * (premature end of file, bad Huffman code, bogus progression, ...) is an error, except
 * extraneous bytes between markers and unknown JFIF/Adobe revisions; a file with more than
 * LT_JPEG_MAX_SCANS scans is refused (a progressive "scan bomb" would take minutes);
 * coefficients a file never sends are zero (libjpeg pre-zeroes them), never uninitialised.
 * Nothing is printed: libjpeg's messages become the error.
 * Leaves out: 12-bit and lossless JPEG (libjpeg62-turbo's 8-bit build refuses them), EXIF
 * orientation, ICC profiles (stb and darknet ignore both).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/base/alloc.h"
#include "image_impl.h"

/* More scans than any encoder writes (libjpeg's progressive scripts use about 10; turbojpeg
 * refuses more than 500 for the same reason). */
#define LT_JPEG_MAX_SCANS 500

/* ---- libjpeg plumbing: errors and warnings become a message and a longjmp --------------------- */

typedef struct jctx {
    struct jpeg_error_mgr pub; /* first: libjpeg reaches it through cinfo->err */
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    int code; /* libjpeg's message code (JERR_* / JWRN_*), -1 for our own */
    char msg[JMSG_LENGTH_MAX + 64];
} jctx;

static void j_error_exit(j_common_ptr c) {
    jctx *j = (jctx *)c->err;
    j->code = c->err->msg_code;
    c->err->format_message(c, j->msg);
    longjmp(j->jb, 1);
}

static void j_emit_message(j_common_ptr c, int level) {
    if (level >= 0) return; /* trace messages */
    c->err->num_warnings++;
    int code = c->err->msg_code;
    if (code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM) return;
    j_error_exit(c); /* corrupt data is an error, not a grey smear */
}

static void j_output_message(j_common_ptr c) { (void)c; } /* library code never prints */

static void j_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    jctx *j = (jctx *)c->err;
    if (d->input_scan_number > LT_JPEG_MAX_SCANS) {
        j->code = -1;
        snprintf(j->msg, sizeof j->msg, "more than %d scans: no encoder writes that many (a scan bomb?)",
                 LT_JPEG_MAX_SCANS);
        longjmp(j->jb, 1);
    }
}

/* ---- stb_image 2.27's reconstruction, transcribed (public domain / MIT, Sean Barrett) ---------- */

static inline uint8_t stb_clamp64(int64_t x) { return x < 0 ? 0 : x > 255 ? 255 : (uint8_t)x; }

#define STB_F2F(x) ((int)(((x) * 4096 + 0.5)))
#define STB_FSH(x) ((x) * 4096)

/* stb's STBI__IDCT_1D (derived from jidctint, DCT_ISLOW), in 64-bit arithmetic: the same
 * numbers wherever stb's ints do not overflow (every real file), and defined where a hostile
 * file's coefficients (e.g. 16-bit quantizers) would overflow stb's ints. */
#define STB_IDCT_1D(s0, s1, s2, s3, s4, s5, s6, s7)                                                              \
    int64_t t0, t1, t2, t3, p1, p2, p3, p4, p5, x0, x1, x2, x3;                                                   \
    p2 = s2;                                                                                                     \
    p3 = s6;                                                                                                     \
    p1 = (p2 + p3) * STB_F2F(0.5411961f);                                                                        \
    t2 = p1 + p3 * STB_F2F(-1.847759065f);                                                                       \
    t3 = p1 + p2 * STB_F2F(0.765366865f);                                                                        \
    p2 = s0;                                                                                                     \
    p3 = s4;                                                                                                     \
    t0 = STB_FSH(p2 + p3);                                                                                       \
    t1 = STB_FSH(p2 - p3);                                                                                       \
    x0 = t0 + t3;                                                                                                \
    x3 = t0 - t3;                                                                                                \
    x1 = t1 + t2;                                                                                                \
    x2 = t1 - t2;                                                                                                \
    t0 = s7;                                                                                                     \
    t1 = s5;                                                                                                     \
    t2 = s3;                                                                                                     \
    t3 = s1;                                                                                                     \
    p3 = t0 + t2;                                                                                                \
    p4 = t1 + t3;                                                                                                \
    p1 = t0 + t3;                                                                                                \
    p2 = t1 + t2;                                                                                                \
    p5 = (p3 + p4) * STB_F2F(1.175875602f);                                                                      \
    t0 = t0 * STB_F2F(0.298631336f);                                                                             \
    t1 = t1 * STB_F2F(2.053119869f);                                                                             \
    t2 = t2 * STB_F2F(3.072711026f);                                                                             \
    t3 = t3 * STB_F2F(1.501321110f);                                                                             \
    p1 = p5 + p1 * STB_F2F(-0.899976223f);                                                                       \
    p2 = p5 + p2 * STB_F2F(-2.562915447f);                                                                       \
    p3 = p3 * STB_F2F(-1.961570560f);                                                                            \
    p4 = p4 * STB_F2F(-0.390180644f);                                                                            \
    t3 += p1 + p4;                                                                                               \
    t2 += p2 + p3;                                                                                               \
    t1 += p2 + p4;                                                                                               \
    t0 += p1 + p3;

/* stbi__idct_block: dequantized coefficients (natural order, shorts as stb keeps them) -> an
 * 8x8 block of samples. */
static void stb_idct_block(uint8_t *out, int out_stride, const short data[64]) {
    int i, val[64], *v = val;
    uint8_t *o;
    const short *d = data;
    for (i = 0; i < 8; ++i, ++d, ++v) { /* columns */
        if (d[8] == 0 && d[16] == 0 && d[24] == 0 && d[32] == 0 && d[40] == 0 && d[48] == 0 && d[56] == 0) {
            int dcterm = d[0] * 4;
            v[0] = v[8] = v[16] = v[24] = v[32] = v[40] = v[48] = v[56] = dcterm;
        } else {
            STB_IDCT_1D(d[0], d[8], d[16], d[24], d[32], d[40], d[48], d[56])
            x0 += 512;
            x1 += 512;
            x2 += 512;
            x3 += 512;
            v[0] = (int)((x0 + t3) >> 10);
            v[56] = (int)((x0 - t3) >> 10);
            v[8] = (int)((x1 + t2) >> 10);
            v[48] = (int)((x1 - t2) >> 10);
            v[16] = (int)((x2 + t1) >> 10);
            v[40] = (int)((x2 - t1) >> 10);
            v[24] = (int)((x3 + t0) >> 10);
            v[32] = (int)((x3 - t0) >> 10);
        }
    }
    for (i = 0, v = val, o = out; i < 8; ++i, v += 8, o += out_stride) { /* rows */
        STB_IDCT_1D(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
        x0 += 65536 + (128 << 17);
        x1 += 65536 + (128 << 17);
        x2 += 65536 + (128 << 17);
        x3 += 65536 + (128 << 17);
        o[0] = stb_clamp64((x0 + t3) >> 17);
        o[7] = stb_clamp64((x0 - t3) >> 17);
        o[1] = stb_clamp64((x1 + t2) >> 17);
        o[6] = stb_clamp64((x1 - t2) >> 17);
        o[2] = stb_clamp64((x2 + t1) >> 17);
        o[5] = stb_clamp64((x2 - t1) >> 17);
        o[3] = stb_clamp64((x3 + t0) >> 17);
        o[4] = stb_clamp64((x3 - t0) >> 17);
    }
}

typedef uint8_t *(*resample_fn)(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs);

#define STB_DIV4(x) ((uint8_t)((x) >> 2))
#define STB_DIV16(x) ((uint8_t)((x) >> 4))

static uint8_t *resample_row_1(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs) {
    (void)out, (void)in_far, (void)w, (void)hs;
    return in_near;
}

static uint8_t *resample_row_v_2(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs) {
    (void)hs;
    for (int i = 0; i < w; ++i) out[i] = STB_DIV4(3 * in_near[i] + in_far[i] + 2);
    return out;
}

static uint8_t *resample_row_h_2(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs) {
    (void)in_far, (void)hs;
    uint8_t *input = in_near;
    if (w == 1) {
        out[0] = out[1] = input[0];
        return out;
    }
    out[0] = input[0];
    out[1] = STB_DIV4(input[0] * 3 + input[1] + 2);
    int i;
    for (i = 1; i < w - 1; ++i) {
        int n = 3 * input[i] + 2;
        out[i * 2 + 0] = STB_DIV4(n + input[i - 1]);
        out[i * 2 + 1] = STB_DIV4(n + input[i + 1]);
    }
    out[i * 2 + 0] = STB_DIV4(input[w - 2] * 3 + input[w - 1] + 2);
    out[i * 2 + 1] = input[w - 1];
    return out;
}

/* stbi__resample_row_hv_2 (stb's SSE2 version is bit-identical to it by design). */
static uint8_t *resample_row_hv_2(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs) {
    (void)hs;
    if (w == 1) {
        out[0] = out[1] = STB_DIV4(3 * in_near[0] + in_far[0] + 2);
        return out;
    }
    int t0, t1 = 3 * in_near[0] + in_far[0];
    out[0] = STB_DIV4(t1 + 2);
    for (int i = 1; i < w; ++i) {
        t0 = t1;
        t1 = 3 * in_near[i] + in_far[i];
        out[i * 2 - 1] = STB_DIV16(3 * t0 + t1 + 8);
        out[i * 2] = STB_DIV16(3 * t1 + t0 + 8);
    }
    out[w * 2 - 1] = STB_DIV4(t1 + 2);
    return out;
}

static uint8_t *resample_row_generic(uint8_t *out, uint8_t *in_near, uint8_t *in_far, int w, int hs) {
    (void)in_far;
    for (int i = 0; i < w; ++i)
        for (int j = 0; j < hs; ++j) out[i * hs + j] = in_near[i];
    return out;
}

/* stbi__YCbCr_to_RGB_row for 3-byte pixels (stb's SIMD version only handles 4-byte steps). */
#define STB_FLOAT2FIXED(x) (((int)((x) * 4096.0f + 0.5f)) << 8)
static void ycbcr_to_rgb_row(uint8_t *out, const uint8_t *y, const uint8_t *pcb, const uint8_t *pcr, int count) {
    for (int i = 0; i < count; ++i, out += 3) {
        int y_fixed = (y[i] << 20) + (1 << 19);
        int cr = pcr[i] - 128, cb = pcb[i] - 128;
        int r = y_fixed + cr * STB_FLOAT2FIXED(1.40200f);
        int g = y_fixed + (cr * -STB_FLOAT2FIXED(0.71414f)) + ((cb * -STB_FLOAT2FIXED(0.34414f)) & 0xffff0000);
        int b = y_fixed + cb * STB_FLOAT2FIXED(1.77200f);
        r >>= 20;
        g >>= 20;
        b >>= 20;
        if ((unsigned)r > 255) r = r < 0 ? 0 : 255;
        if ((unsigned)g > 255) g = g < 0 ? 0 : 255;
        if ((unsigned)b > 255) b = b < 0 ? 0 : 255;
        out[0] = (uint8_t)r, out[1] = (uint8_t)g, out[2] = (uint8_t)b;
    }
}

/* stbi__blinn_8x8: 0..255 * 0..255 -> 0..255, rounded. */
static uint8_t blinn_8x8(uint8_t x, uint8_t y) {
    unsigned int t = (unsigned)x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

typedef struct resampler {
    resample_fn resample;
    uint8_t *line0, *line1;
    int hs, vs, w_lores, ystep, ypos;
} resampler;

/* ---- the decoder ------------------------------------------------------------------------------- */

typedef struct jstate {
    uint8_t *plane[4];   /* each component's samples, stride[c] wide */
    int stride[4], rows[4];
    uint8_t *linebuf[4]; /* img_x + 3 bytes each (upsampling by up to 4) */
    uint8_t *row;        /* one output row, img_x * 3 */
} jstate;

static void jstate_free(jstate *s) {
    for (int c = 0; c < 4; c++) lt_free(s->plane[c]), lt_free(s->linebuf[c]);
    lt_free(s->row);
    memset(s, 0, sizeof *s);
}

/* The coefficients of every component -> samples, as stb's decode + stbi__jpeg_finish. */
static bool idct_planes(struct jpeg_decompress_struct *ci, jvirt_barray_ptr *coefs, jstate *s) {
    for (int c = 0; c < ci->num_components; c++) {
        jpeg_component_info *cp = &ci->comp_info[c];
        int wb = (int)cp->width_in_blocks, hb = (int)cp->height_in_blocks;
        s->stride[c] = wb * 8, s->rows[c] = hb * 8;
        s->plane[c] = lt_malloc((size_t)s->stride[c] * s->rows[c]);
        if (!s->plane[c]) return false;
        const JQUANT_TBL *qt = cp->quant_table; /* NULL when no scan ever carried this component */
        for (int by = 0; by < hb; by++) {
            JBLOCKARRAY rowp = (*ci->mem->access_virt_barray)((j_common_ptr)ci, coefs[c], (JDIMENSION)by, 1, FALSE);
            for (int bx = 0; bx < wb; bx++) {
                short data[64];
                for (int k = 0; k < 64; k++) /* stb keeps dequantized coefficients as shorts */
                    data[k] = qt ? (short)((int)rowp[0][bx][k] * (int)qt->quantval[k]) : 0;
                stb_idct_block(s->plane[c] + (size_t)by * 8 * s->stride[c] + (size_t)bx * 8, s->stride[c], data);
            }
        }
    }
    return true;
}

/* stb's load_jpeg_image after decoding, for 3 output channels, writing rows of out. */
static bool reconstruct(struct jpeg_decompress_struct *ci, jstate *s, lt_image *out) {
    int n_comp = ci->num_components, img_x = (int)ci->image_width, img_y = (int)ci->image_height;
    int hmax = ci->max_h_samp_factor, vmax = ci->max_v_samp_factor;
    bool rgb_ids = n_comp == 3 && ci->comp_info[0].component_id == 'R' && ci->comp_info[1].component_id == 'G' &&
                   ci->comp_info[2].component_id == 'B';
    int app14 = ci->saw_Adobe_marker ? ci->Adobe_transform : -1;
    bool is_rgb = n_comp == 3 && (rgb_ids || (app14 == 0 && !ci->saw_JFIF_marker));
    resampler res[4];
    for (int k = 0; k < n_comp; k++) {
        resampler *r = &res[k];
        s->linebuf[k] = lt_malloc((size_t)img_x + 3);
        if (!s->linebuf[k]) return false;
        r->hs = hmax / ci->comp_info[k].h_samp_factor;
        r->vs = vmax / ci->comp_info[k].v_samp_factor;
        r->ystep = r->vs >> 1;
        r->w_lores = (img_x + r->hs - 1) / r->hs;
        r->ypos = 0;
        r->line0 = r->line1 = s->plane[k];
        if (r->hs == 1 && r->vs == 1) r->resample = resample_row_1;
        else if (r->hs == 1 && r->vs == 2) r->resample = resample_row_v_2;
        else if (r->hs == 2 && r->vs == 1) r->resample = resample_row_h_2;
        else if (r->hs == 2 && r->vs == 2) r->resample = resample_row_hv_2;
        else r->resample = resample_row_generic;
    }
    s->row = lt_malloc((size_t)img_x * 3);
    if (!s->row) return false;
    for (int j = 0; j < img_y; ++j) {
        uint8_t *co[4] = {NULL, NULL, NULL, NULL};
        for (int k = 0; k < n_comp; ++k) {
            resampler *r = &res[k];
            int y_bot = r->ystep >= (r->vs >> 1);
            co[k] = r->resample(s->linebuf[k], y_bot ? r->line1 : r->line0, y_bot ? r->line0 : r->line1, r->w_lores,
                                r->hs);
            if (++r->ystep >= r->vs) {
                r->ystep = 0;
                r->line0 = r->line1;
                /* stb's component height: rows of samples this component has */
                int comp_y = (int)(((int64_t)img_y * ci->comp_info[k].v_samp_factor + vmax - 1) / vmax);
                if (++r->ypos < comp_y) r->line1 += s->stride[k];
            }
        }
        uint8_t *o = s->row;
        if (n_comp == 3) {
            if (is_rgb)
                for (int i = 0; i < img_x; ++i, o += 3) o[0] = co[0][i], o[1] = co[1][i], o[2] = co[2][i];
            else ycbcr_to_rgb_row(o, co[0], co[1], co[2], img_x);
        } else if (n_comp == 4) {
            if (app14 == 0) { /* CMYK */
                for (int i = 0; i < img_x; ++i, o += 3) {
                    uint8_t m = co[3][i];
                    o[0] = blinn_8x8(co[0][i], m), o[1] = blinn_8x8(co[1][i], m), o[2] = blinn_8x8(co[2][i], m);
                }
            } else if (app14 == 2) { /* YCCK */
                ycbcr_to_rgb_row(o, co[0], co[1], co[2], img_x);
                for (int i = 0; i < img_x; ++i, o += 3) {
                    uint8_t m = co[3][i];
                    o[0] = blinn_8x8(255 - o[0], m), o[1] = blinn_8x8(255 - o[1], m), o[2] = blinn_8x8(255 - o[2], m);
                }
            } else { /* YCbCr + a fourth channel stb ignores */
                ycbcr_to_rgb_row(o, co[0], co[1], co[2], img_x);
            }
        } else {
            for (int i = 0; i < img_x; ++i, o += 3) o[0] = o[1] = o[2] = co[0][i];
        }
        lt_image_put_rgb8_row(out, j, s->row);
    }
    return true;
}

lt_status lt_image_decode_jpeg(lt_image *out, const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                               lt_err *err) {
    memset(out, 0, sizeof *out);
    if (len > ULONG_MAX) return lt_err_set(err, LT_EUNSUPPORTED, "%s: JPEG file too large", name);
    struct jpeg_decompress_struct ci;
    jctx j;
    memset(&j, 0, sizeof j);
    /* set after setjmp and read after a longjmp: volatile */
    jstate st;
    memset(&st, 0, sizeof st);
    jstate *volatile sp = &st;
    volatile lt_status s = LT_OK;
    ci.err = jpeg_std_error(&j.pub);
    j.pub.error_exit = j_error_exit;
    j.pub.emit_message = j_emit_message;
    j.pub.output_message = j_output_message;
    if (setjmp(j.jb)) {
        if (s == LT_OK) {
            if (j.code == JWRN_JPEG_EOF)
                s = lt_err_set(err, LT_EFORMAT, "%s: truncated JPEG: the file ends before its image data does", name);
            else if (j.code == -1) s = lt_err_set(err, LT_EFORMAT, "%s: JPEG with %s", name, j.msg);
            else if (j.code == JERR_NO_BACKING_STORE)
                s = lt_err_set(err, LT_ENOMEM, "%s: the JPEG needs more memory than its pixel budget allows", name);
            else s = lt_err_set(err, LT_EFORMAT, "%s: corrupt or unsupported JPEG (%s)", name, j.msg);
        }
        jpeg_destroy_decompress(&ci);
        jstate_free(sp);
        lt_image_free(out);
        return s;
    }
    jpeg_create_decompress(&ci);
    j.progress.progress_monitor = j_progress;
    ci.progress = &j.progress;
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    /* the header alone: dimensions, components, sampling - before any image-sized memory */
    s = lt_image_check_budget(ci.image_width, ci.image_height, max_pixels, name, err);
    int nc = ci.num_components, hmax = ci.max_h_samp_factor, vmax = ci.max_v_samp_factor;
    if (s == LT_OK && nc != 1 && nc != 3 && nc != 4)
        s = lt_err_set(err, LT_EUNSUPPORTED, "%s: JPEG with %d colour components (1, 3 or 4 are read)", name, nc);
    for (int c = 0; s == LT_OK && c < nc; c++)
        if (hmax % ci.comp_info[c].h_samp_factor || vmax % ci.comp_info[c].v_samp_factor)
            s = lt_err_set(err, LT_EUNSUPPORTED, "%s: JPEG with non-integer chroma subsampling (%dx%d in %dx%d)", name,
                           ci.comp_info[c].h_samp_factor, ci.comp_info[c].v_samp_factor, hmax, vmax);
    if (s != LT_OK) longjmp(j.jb, 1);
    /* libjpeg's own memory (coefficients: at most 2 bytes per sample, 4 components) stays in line */
    ci.mem->max_memory_to_use = (long)(max_pixels * 8 + (64l << 20));
    s = lt_image_alloc_named(out, (int)ci.image_width, (int)ci.image_height, name, err);
    if (s != LT_OK) longjmp(j.jb, 1);
    jvirt_barray_ptr *coefs = jpeg_read_coefficients(&ci);
    if (!idct_planes(&ci, coefs, sp) || !reconstruct(&ci, sp, out)) {
        s = lt_err_set(err, LT_ENOMEM, "%s: out of memory decoding a %ux%u JPEG", name, ci.image_width,
                       ci.image_height);
        longjmp(j.jb, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    jstate_free(sp);
    return LT_OK;
}
