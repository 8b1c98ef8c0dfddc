/* cli_quantize.c - `lathe quantize IN OUT.gguf TYPE`: any loadable model written as GGUF with
 * one of llama.cpp's mixes (core/compress/quantize.h), as llama-quantize does it, with a
 * progress bar on stderr and llama-quantize's size summary; also the GGUF path of `lathe
 * convert --type` (lt_cli_quantize_write). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/compress/quantize.h"
#include "cli.h"

bool lt_cli_quantmix(const char *cmd, const char *what, const char *type, bool pure, lt_quantmix *out) {
    if (lt_quantmix_parse(type, pure, out, NULL) == LT_OK) return true;
    char names[256];
    const lt_dtype dt = lt_dtype_from_name(type);
    if (dt != LT_DTYPE_COUNT && lt_dtype_info(dt)->gguf_type >= LT_GGUF_LATHE_TYPES) { /* s24_*: made by pruning */
        fprintf(stderr, "lathe %s: %s '%s' is a 2:4 sparse type, which pruning makes, not a quantization mix: "
                "lathe compress -m IN -o OUT.gguf --method sparse24%s\n", cmd, what, type,
                dt == LT_S24_Q4 ? " --bits 4" : "");
        return false;
    }
    fprintf(stderr,
            "lathe %s: unknown %s '%s'\n"
            "  tensor types: %s\n"
            "  mixes (llama-quantize's): %s\n"
            "  (a tensor type names the mix of that name, as in llama-quantize; --pure writes that one type)\n",
            cmd, what, type, lt_dtype_weight_names(names, sizeof names), lt_quantmix_mix_names());
    return false;
}

bool lt_cli_quantmix_overrides(const char *cmd, lt_quantmix *mix, const char *output_type, const char *embd_type,
                               const char *shortcut_type) {
    lt_err err = {0};
    if ((output_type && lt_quantmix_set_override(mix, "output", output_type, &err) != LT_OK) ||
        (embd_type && lt_quantmix_set_override(mix, "embd", embd_type, &err) != LT_OK) ||
        (shortcut_type && lt_quantmix_set_override(mix, "shortcut", shortcut_type, &err) != LT_OK)) {
        fprintf(stderr, "lathe %s: %s\n", cmd, err.msg);
        return false;
    }
    return true;
}

/* ---- the progress bar ---------------------------------------------------------------------------- */

typedef struct bar {
    bool tty;
    int width; /* of the last line drawn on a terminal */
} bar;

static bool on_progress(void *ud, const lt_gguf_write_event *ev) {
    bar *b = ud;
    double mib = ev->bytes_done / 1048576.0, total = ev->bytes_total / 1048576.0;
    if (!ev->name) { /* done */
        if (b->tty) fprintf(stderr, "\r%*s\r", b->width, "");
        return true;
    }
    if (b->tty) {
        char line[256], fill[21];
        int k = ev->bytes_total ? (int)(20.0 * ev->bytes_done / ev->bytes_total) : 0;
        for (int j = 0; j < 20; j++) fill[j] = j < k ? '#' : '.';
        fill[20] = 0;
        int w = snprintf(line, sizeof line, "[%s] %4d/%d %-28.28s %6s -> %-6s %8.1f/%.1f MiB", fill, ev->i + 1, ev->n,
                         ev->name, lt_dtype_name(ev->from), lt_dtype_name(ev->to), mib, total);
        fprintf(stderr, "\r%s%*s", line, b->width > w ? b->width - w : 0, "");
        b->width = w;
    } else {
        fprintf(stderr, "[%4d/%d] %-32s %6s -> %-6s %8.1f MiB written\n", ev->i + 1, ev->n, ev->name,
                lt_dtype_name(ev->from), lt_dtype_name(ev->to), mib);
    }
    fflush(stderr);
    return !lt_cli_interrupted(); /* Ctrl-C: stop at the next tensor, leave no file */
}

/* ---- the summary ----------------------------------------------------------------------------------- */

static void summary(const lt_quantize_report *r) {
    double ne = r->n_elements ? (double)r->n_elements : 1;
    printf("model size  = %10.2f MiB (%.2f BPW)\n", r->bytes_in / 1048576.0, r->bytes_in * 8.0 / ne);
    printf("quant size  = %10.2f MiB (%.2f BPW)\n", r->bytes_out / 1048576.0, r->bytes_out * 8.0 / ne);
    printf("tensors     = %d:", r->n_tensors);
    for (int t = 0; t < LT_DTYPE_COUNT; t++)
        if (r->count[t]) printf(" %d %s", r->count[t], lt_dtype_name((lt_dtype)t));
    printf("\n");
    if (r->n_fallback)
        printf("%d of %d tensors needed a fallback type (row length not a multiple of the chosen type's block)\n",
               r->n_fallback, r->n_tensors);
}

int lt_cli_quantize_write(const char *cmd, lt_modelsrc *src, const char *out, const lt_quantmix *mix, bool dry_run) {
    lt_err err = {0};
    lt_quantize_report r;
    int n = lt_modelsrc_n_tensors(src);
    fprintf(stderr, "%s %s (%s, %d tensors) %s %s as %s%s (general.file_type %d)\n",
            dry_run ? "planning" : "quantizing", lt_modelsrc_path(src), lt_modelsrc_format(src), n,
            dry_run ? "for" : "to", out, mix->name, mix->pure ? " --pure" : "", (int)mix->ftype);
    if (dry_run) {
        lt_dtype *types = lt_calloc((size_t)n + 1, sizeof *types);
        if (!types || lt_quantize_plan(src, mix, types, &r, &err) != LT_OK) {
            fprintf(stderr, "lathe %s: %s\n", cmd, types ? err.msg : "out of memory");
            lt_free(types);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
            char shape[64] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "x" : "",
                         (long long)t->shape[d]);
            printf("%-32s %-14s %6s -> %s\n", t->name, shape, lt_dtype_name(t->dtype), lt_dtype_name(types[i]));
        }
        summary(&r);
        for (int k = 0; k < r.n_missing; k++)
            printf("note: this build cannot write %s yet (no quantizer)\n", lt_dtype_name(r.missing[k]));
        lt_free(types);
        return 0;
    }
    bar b = {.tty = isatty(STDERR_FILENO) != 0};
    lt_quantize_opts o = {.progress = on_progress, .ud = &b};
    lt_cli_sigint_catch(NULL, NULL);
    lt_status st = lt_quantize(src, out, mix, &o, &r, &err);
    lt_cli_sigint_release();
    if (st != LT_OK) {
        if (b.tty && b.width) fprintf(stderr, "\n");
        if (st == LT_ECANCELLED) {
            fprintf(stderr, "lathe %s: stopped (Ctrl-C); %s was not written\n", cmd, out);
            return LT_CLI_INTERRUPTED;
        }
        fprintf(stderr, "lathe %s: %s\n", cmd, err.msg);
        return 1;
    }
    summary(&r);
    if (r.n_requantized)
        printf("note: %d quantized tensors were quantized again (quality is lost twice; llama-quantize asks for "
               "--allow-requantize)\n", r.n_requantized);
    fprintf(stderr, "wrote %s (gguf, %s, %.1f MiB) in %.2f s\n", out, mix->name, r.bytes_out / 1048576.0, r.seconds);
    return 0;
}

int lt_cli_quantize(int argc, char **argv) {
    const char *tokp = NULL;
    const char *out_type = NULL, *embd_type = NULL, *sc_type = NULL;
    bool pure = false, dry_run = false;
    const char *usage = "IN OUT.gguf TYPE [--pure] [--output-tensor-type T] [--token-embedding-type T] "
                        "[--shortcut-type T] [--dry-run] [--tokenizer TOK]";
    lt_opt opts[] = {
        {"--pure", NULL, LT_OPT_FLAG, &pure, "TYPE for every quantizable tensor, no mix rules (llama-quantize --pure)"},
        {"--output-tensor-type", NULL, LT_OPT_STR, &out_type,
         "the type of output.weight (and of a tied token_embd), as llama-quantize's option"},
        {"--token-embedding-type", NULL, LT_OPT_STR, &embd_type, "the type of token_embd.weight"},
        {"--shortcut-type", NULL, LT_OPT_STR, &sc_type, LT_QUANTMIX_SHORTCUT_HELP},
        {"--dry-run", NULL, LT_OPT_FLAG, &dry_run, "print each tensor's planned type and the sizes; write nothing"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {0},
    };
    const char *pos[3];
    int n_pos;
    if (!lt_cli_parse("quantize", usage, opts, argc, argv, pos, 3, &n_pos)) return 2;
    if (n_pos != 3) {
        fprintf(stderr, "lathe quantize: expected an input, an output and a TYPE\n");
        lt_cli_usage("quantize", usage, opts);
        char names[256];
        fprintf(stderr, "\nTYPE: a tensor type (%s)\n  or a mix (%s)\n", lt_dtype_weight_names(names, sizeof names),
                lt_quantmix_mix_names());
        return 2;
    }
    lt_quantmix mix;
    if (!lt_cli_quantmix("quantize", "TYPE", pos[2], pure, &mix) ||
        !lt_cli_quantmix_overrides("quantize", &mix, out_type, embd_type, sc_type))
        return 2;
    lt_modelsrc *src = NULL;
    if (!lt_cli_open_model(pos[0], tokp, &src, NULL)) return 1;
    int rc = lt_cli_quantize_write("quantize", src, pos[1], &mix, dry_run);
    lt_modelsrc_close(src);
    return rc;
}
