/* sniff.c - format sniffing (see sniff.h): the one place that looks at a path and its first
 * bytes and says which of lathe's formats it is.
 *
 * Order: directories (config.json inside or not), names of Hugging Face folder files
 * (config.json, *.safetensors, *.index.json, which stand for their folder), then the file's
 * head: "GGUF", llama2.c's "ak42", a plausible llama2.c legacy header (before anything
 * else, so every file the llama2.c reader took before still goes there), image magic
 * bytes, a darknet [net] section, a llama2.c tokenizer's records, a darknet .weights header.
 * Leaves out: validating beyond the head (the readers do), TGA (no magic bytes), telling
 * model GGUF files from vocab-only ones.
 */
#include "sniff.h"
#include "core/base/fileio.h"
#include "core/base/str.h"
#include "core/formats/diffusers.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define HEAD_BYTES 4096

bool lt_sniff_llama2c_dims(int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kv_heads,
                           int32_t vocab, int32_t seq_len) {
    return !(dim < 1 || dim > (1 << 20) || hidden < 1 || hidden > (1 << 20) || layers < 1 || layers > 1024 ||
             heads < 1 || heads > 4096 || kv_heads < 1 || kv_heads > heads || vocab < 1 || vocab > (1 << 22) ||
             seq_len < 1 || seq_len > (1 << 24) || dim % heads || heads % kv_heads || (dim / heads) % 2);
}

static int32_t i32_at(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* llama2.c legacy header: dim, hidden, layers, heads, kv_heads, vocab (negative: unshared
 * classifier), seq_len. */
static bool llama2c_legacy(const unsigned char *h, size_t n) {
    if (n < 28) return false;
    int32_t vocab = i32_at(h + 20);
    if (vocab == INT32_MIN) return false;
    return lt_sniff_llama2c_dims(i32_at(h), i32_at(h + 4), i32_at(h + 8), i32_at(h + 12), i32_at(h + 16),
                                 vocab < 0 ? -vocab : vocab, i32_at(h + 24));
}

const char *lt_sniff_image(const void *head, size_t n) {
    const unsigned char *h = head;
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return "a JPEG image";
    if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8)) return "a PNG image";
    if (n >= 6 && (!memcmp(h, "GIF87a", 6) || !memcmp(h, "GIF89a", 6))) return "a GIF image";
    if (n >= 18 && h[0] == 'B' && h[1] == 'M') {
        int32_t dib = i32_at(h + 14); /* BITMAPCOREHEADER .. BITMAPV5HEADER */
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124)
            return "a BMP image";
    }
    if (n >= 3 && h[0] == 'P' && (h[1] == '5' || h[1] == '6') && isspace(h[2])) return "a PNM image";
    return NULL;
}

/* The first line that is not blank or a comment, with its whitespace removed (as darknet
 * reads it), is [net] or [network]. */
static bool darknet_cfg(const unsigned char *h, size_t n) {
    size_t i = 0;
    while (i < n) {
        char line[16];
        size_t k = 0;
        bool more = false;
        for (; i < n && h[i] != '\n'; i++) {
            if (h[i] == 0) return false;
            if (isspace(h[i])) continue;
            if (k < sizeof line - 1) line[k++] = (char)h[i];
            else more = true;
        }
        i++;
        line[k] = 0;
        if (k == 0 || line[0] == '#' || line[0] == ';') continue;
        return !more && (!strcmp(line, "[net]") || !strcmp(line, "[network]"));
    }
    return false;
}

/* int32 max_token_length (1..4096), then records (float score, int32 len, len bytes): every
 * record inside the head must be finite, 0 <= len <= max_token_length, inside the file. */
static bool llama2c_tokenizer(const unsigned char *h, size_t n, uint64_t size) {
    if (n < 12) return false;
    int32_t max_len = i32_at(h);
    if (max_len < 1 || max_len > 4096) return false;
    int records = 0;
    for (size_t p = 4; p + 8 <= n; records++) {
        float score;
        memcpy(&score, h + p, 4);
        int32_t len = i32_at(h + p + 4);
        if (!isfinite(score) || len < 0 || len > max_len || p + 8 + (uint64_t)len > size) return false;
        p += 8 + (size_t)len;
    }
    return records > 0;
}

/* major, minor, revision as darknet's reader accepts them; at least 16 bytes. */
static bool darknet_weights(const char *path, const unsigned char *h, size_t n, uint64_t size) {
    if (!lt_str_ends(path, ".weights") || n < 16 || size < 16) return false;
    int32_t major = i32_at(h), minor = i32_at(h + 4), rev = i32_at(h + 8);
    return major >= 0 && minor >= 0 && rev >= 0 && major <= 1000 && minor <= 1000;
}

/* a regular file starting with a zip local header (torch.save writes zip archives) */
static bool torch_zip(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    FILE *f = fopen(path, "rb");
    unsigned char h[4] = {0};
    bool zip = f && fread(h, 1, 4, f) == 4 && !memcmp(h, "PK\x03\x04", 4);
    if (f) fclose(f);
    return zip;
}

/* a folder with config.json that TransformerCompression saved: no safetensors weights, a .pt
 * that is a zip archive */
static bool sliced_folder(const char *dir) {
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (stat(p, &sb) == 0) return false;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    if (stat(p, &sb) == 0) return false;
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));)
        if (lt_str_ends(e->d_name, ".pt") && strlen(e->d_name) < 1000) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            found = torch_zip(p);
        }
    if (d) closedir(d);
    return found;
}

lt_status lt_sniff(const char *path, lt_sniffed *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    out->kind = LT_FILE_UNKNOWN;
    out->what = "a file of unknown format";
    struct stat sb;
    if (stat(path, &sb) != 0) return lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        if (lt_diffusers_is_folder(path)) { /* before config.json: a pipeline folder has none */
            out->kind = LT_FILE_DIFFUSERS;
            out->what = "a diffusers model folder";
            snprintf(out->dir, sizeof out->dir, "%s", path);
            return LT_OK;
        }
        char cj[4096];
        snprintf(cj, sizeof cj, "%s/config.json", path);
        if (stat(cj, &sb) != 0) {
            out->kind = LT_FILE_DIR;
            out->what = "a directory without config.json";
            return lt_err_set(err, LT_ENOTFOUND, "%s: a directory without config.json is not a model folder", path);
        }
        out->kind = sliced_folder(path) ? LT_FILE_SLICEGPT : LT_FILE_HF;
        out->what = out->kind == LT_FILE_SLICEGPT ? "a SliceGPT folder" : "a Hugging Face model folder";
        snprintf(out->dir, sizeof out->dir, "%s", path);
        return LT_OK;
    }
    out->size = (uint64_t)sb.st_size;
    /* a file inside a Hugging Face folder (config.json, *.safetensors): it stands for the folder */
    bool st_file = lt_str_ends(path, ".safetensors");
    if (st_file || lt_str_ends(path, "config.json") || lt_str_ends(path, ".index.json") ||
        lt_str_ends(path, "model_index.json")) {
        char dir[4096], cj[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        if (lt_diffusers_is_folder(dir)) {
            out->kind = LT_FILE_DIFFUSERS;
            out->what = "a diffusers model folder";
            snprintf(out->dir, sizeof out->dir, "%s", dir);
            return LT_OK;
        }
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        struct stat cb;
        if (stat(cj, &cb) == 0) {
            out->kind = LT_FILE_HF;
            out->what = "a Hugging Face model folder";
            snprintf(out->dir, sizeof out->dir, "%s", dir);
            return LT_OK;
        }
        if (st_file) {
            out->kind = LT_FILE_SAFETENSORS;
            out->what = "a safetensors file";
            return LT_OK;
        }
        return lt_err_set(err, LT_ENOTFOUND, "%s: no config.json next to it; open the model folder instead", path);
    }
    if (lt_str_ends(path, ".pt")) { /* a torch.save file: with config.json beside it, a SliceGPT model */
        char dir[4096], cj[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        struct stat cb;
        if (torch_zip(path) && stat(cj, &cb) == 0) {
            out->kind = LT_FILE_SLICEGPT;
            out->what = "a SliceGPT folder";
            snprintf(out->dir, sizeof out->dir, "%s", dir);
            return LT_OK;
        }
        if (torch_zip(path))
            return lt_err_set(err, LT_ENOTFOUND, "%s: a torch.save file with no config.json next to it (lathe reads "
                              "SliceGPT folders: NAME_SPARSITY.pt, its .json and the model's config.json)", path);
    }
    FILE *f = lt_file_fopen_regular(path, err);
    if (!f) return err->code;
    unsigned char h[HEAD_BYTES];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    const char *img;
    if (n >= 4 && !memcmp(h, "GGUF", 4)) {
        out->kind = LT_FILE_GGUF;
        out->what = "a GGUF file";
    } else if ((n >= 4 && (uint32_t)i32_at(h) == LT_LLAMA2C_MAGIC) || llama2c_legacy(h, n)) {
        out->kind = LT_FILE_LLAMA2C;
        out->what = "a llama2.c checkpoint";
    } else if ((img = lt_sniff_image(h, n))) {
        out->kind = LT_FILE_IMAGE;
        out->what = img;
    } else if (darknet_cfg(h, n)) {
        out->kind = LT_FILE_DARKNET_CFG;
        out->what = "a darknet .cfg";
    } else if (llama2c_tokenizer(h, n, out->size)) {
        out->kind = LT_FILE_LLAMA2C_TOKENIZER;
        out->what = "a llama2.c tokenizer";
    } else if (darknet_weights(path, h, n, out->size)) {
        out->kind = LT_FILE_DARKNET_WEIGHTS;
        out->what = "a darknet .weights file";
    } else {
        return lt_err_set(err, LT_EFORMAT,
                          "%s: unknown file format (%llu bytes): expected a GGUF file, a Hugging Face model folder "
                          "(config.json + *.safetensors), a llama2.c checkpoint or tokenizer, a darknet .cfg or "
                          ".weights file, or an image (JPEG, PNG, GIF, BMP, PNM)",
                          path, (unsigned long long)out->size);
    }
    return LT_OK;
}
