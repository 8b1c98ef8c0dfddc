/* cli_compress.c - `lathe compress -m IN -o OUT.gguf --method gptq|rtn|smoothquant+ --bits 4 --group 32 ...`:
 * a compression pass (core/compress/pass.h) with per-layer progress on stderr, Ctrl-C stopping
 * it (nothing written), and a report (text or --json). The options are the pass's shared table. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/base/dtype.h"
#include "core/compress/pass.h"
#include "models/llama.h"

typedef struct prog {
    bool tty, printed;
    int last_layer;
    const char *last_stage;
} prog;

static bool on_progress(void *ud, const lt_pass_event *ev) {
    prog *p = ud;
    if (p->tty) {
        fprintf(stderr, "\r[%3.0f%%] layer %d/%d %-10s", 100 * ev->frac, ev->layer < ev->n_layers ? ev->layer + 1 : ev->n_layers,
                ev->n_layers, ev->stage);
        p->printed = true;
    } else if (ev->layer != p->last_layer && strcmp(ev->stage, "write")) {
        fprintf(stderr, "compress: layer %d/%d\n", ev->layer + 1, ev->n_layers);
        p->last_layer = ev->layer;
    }
    fflush(stderr);
    return !lt_cli_interrupted();
}

int lt_cli_compress(int argc, char **argv) {
    const char *usage = "-m IN -o OUT.gguf [--method gptq|rtn|sparse24|smoothquant+|slicegpt] [--bits 4] [--group 32] [--sym] "
                        "[--no-act-order] [--quant-head] [--mask magnitude|wanda|sparsegpt] [--nm 2:4] [--skip PATTERNS] "
                        "[--alpha A | --alpha-per-layer] [--search-tokens N] [--slice 0.25] [--round 8] [--slice-head] [--full-shortcuts] "
                        "[--output-tensor-type T] [--token-embedding-type T] [--shortcut-type T] [--calib FILE] "
                        "[--calib-tokens N] [--json]";
    const char *in = NULL, *out = NULL, *tokp = NULL, *device = "cpu";
    bool json = false;
    int threads = 0;
    lt_pass_args a;
    lt_pass_args_default(&a);
    lt_opt opts[LT_PASS_N_OPTS + 8] = {
        {"--model", "-m", LT_OPT_STR, &in, "the model to compress (any format lathe reads)"},
        {"--out", "-o", LT_OPT_STR, &out, "the file to write (GGUF when it ends in .gguf)"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--device", NULL, LT_OPT_STR, &device, "where calibration runs: cpu (default), cuda, auto"},
        lt_cli_threads_opt(&threads),
        {"--json", NULL, LT_OPT_FLAG, &json, "the report as one JSON object on stdout"},
        {0},
    };
    lt_pass_opts_add(&a, opts, LT_PASS_N_OPTS + 8);
    int n_pos;
    if (!lt_cli_parse("compress", usage, opts, argc, argv, NULL, 0, &n_pos)) return LT_CLI_USAGE;
    if (!in || !out) {
        fprintf(stderr, "lathe compress: %s is required\n", !in ? "-m IN" : "-o OUT");
        lt_cli_usage("compress", usage, opts);
        return LT_CLI_USAGE;
    }
    lt_err err = {0};
    lt_pass_opts po = {0};
    if (lt_pass_args_apply(&a, &po, &err) != LT_OK) {
        fprintf(stderr, "lathe %s\n", err.msg);
        return LT_CLI_USAGE;
    }
    lt_modelsrc *src = NULL, *tsrc = NULL;
    lt_tokenizer *tok = NULL;
    lt_backend *be = NULL;
    int rc = LT_CLI_FAIL;
    /* the source keeps its vocab (it is written into OUT); the tokenizer comes from a second
     * opening (a mapping: nothing is read twice) */
    if (!lt_cli_open_model(in, tokp, &src, NULL)) return LT_CLI_FAIL;
    if (lt_pass_find(a.method)->calibrated) {
        if (!lt_cli_open_model(in, tokp, &tsrc, &tok) || !lt_cli_backend(device, threads, &be)) goto done;
        if (!tok) {
            fprintf(stderr, "lathe compress: %s has no tokenizer (the calibration text needs one); pass --tokenizer\n", in);
            goto done;
        }
    }
    prog pg = {.tty = isatty(STDERR_FILENO) != 0, .last_layer = -1};
    po.open_lm = lt_llama_open, po.be = be, po.tok = tok;
    po.progress = on_progress, po.ud = &pg;
    lt_pass_report r;
    lt_cli_sigint_catch(NULL, NULL);
    lt_status st = lt_pass_run(a.method, src, out, &po, &r, &err);
    lt_cli_sigint_release();
    if (pg.printed) fputc('\n', stderr);
    if (st == LT_ECANCELLED) {
        fprintf(stderr, "lathe compress: stopped (Ctrl-C); %s was not written\n", out);
        rc = LT_CLI_INTERRUPTED;
        goto done;
    }
    if (st != LT_OK) {
        fprintf(stderr, "lathe %s\n", strncmp(err.msg, "compress: ", 10) ? err.msg : err.msg);
        goto done;
    }
    double ne = r.n_elements ? (double)r.n_elements : 1;
    const bool sparse = !strcmp(r.method, "sparse24");
    if (json) {
        printf("{\"model\":\"%s\",\"out\":\"%s\",\"method\":\"%s\",\"bits\":%d,\"group\":%d,\"sym\":%s,"
               "\"act_order\":%s,\"clip\":%s,\"type\":\"%s\",\"matrices\":%d,\"matrices_by_mix\":%d,"
               "\"skipped\":%d,\"calib_windows\":%d,\"calib_window\":%d,\"loss\":%.6g,\"bytes_in\":%llu,\"bytes_out\":%llu,"
               "\"bpw\":%.4f,\"seconds\":%.3f,\"calib_seconds\":%.3f,\"quant_seconds\":%.3f,\"write_seconds\":%.3f,"
               "\"quant_head\":%s",
               in, out, r.method, sparse ? po.sp.bits : po.q.bits, a.group, a.sym ? "true" : "false", po.q.act_order ? "true" : "false",
               a.clip ? "true" : "false", r.type_name, r.n_matrices, r.n_by_mix, r.n_skipped, r.n_windows, r.window,
               r.loss, (unsigned long long)r.bytes_in, (unsigned long long)r.bytes_out, r.bytes_out * 8.0 / ne,
               r.seconds, r.calib_seconds, r.quant_seconds, r.write_seconds, r.head ? "true" : "false");
        if (po.mix) printf(",\"mix\":\"%s\"", r.type_name[0] ? po.mix : ""); /* bits/group/sym: unused by a mix */
        if (!strcmp(r.method, "slicegpt"))
            printf(",\"slice\":%.4f,\"width\":%d,\"head_width\":%d,\"params_in\":%llu,\"params_out\":%llu,"
                   "\"shortcuts\":\"%s\",\"shortcut_rank_max\":%d",
                   po.sg.slice, r.sg.width, r.sg.head_width, (unsigned long long)r.sg.params_in,
                   (unsigned long long)r.sg.params_out, r.sg.shortcut_rank_max < 0 ? "full" : "low-rank",
                   r.sg.shortcut_rank_max);
        if (!strcmp(r.method, "smoothquant+")) { /* the alpha and its search curve, appended to the object */
            if (r.sq.per_layer) printf(",\"alpha\":null"); /* per layer: layer_alpha */
            else printf(",\"alpha\":%.2f", r.sq.alpha);
            printf(",\"unsmoothed\":%s", r.sq.unsmoothed ? "true" : "false");
            printf(",\"search_windows\":%d,\"search_window\":%d,\"loss_float\":%.6f,"
                   "\"loss_rtn\":%.6f,\"curve\":[", r.sq.search_windows, r.sq.window, r.sq.loss_float,
                   r.sq.loss_rtn);
            for (int i = 0; i < r.sq.n; i++)
                printf("%s{\"alpha\":%.2f,\"loss\":%.6f}", i ? "," : "", r.sq.alphas[i], r.sq.loss[i]);
            printf("]");
            if (r.sq.per_layer) {
                printf(",\"loss_per_layer\":%.6f,\"layer_alpha\":[", r.sq.loss_layers);
                for (int l = 0; l < r.n_layers; l++) { /* null: that layer unsmoothed */
                    if (r.sq.layer_alpha[l] < 0) printf("%snull", l ? "," : "");
                    else printf("%s%.2f", l ? "," : "", r.sq.layer_alpha[l]);
                }
                printf("]");
            }
        }
        printf("}\n");
    } else {
        char desc[320];
        printf("%s: %d block matrices as %s (%s)%s\n", r.method, r.n_matrices, r.type_name,
               lt_pass_args_describe(&a, &po, desc, sizeof desc), !r.n_by_mix ? "" : sparse ? " - some as f16 (row length)" : " - some by llama.cpp's mix");
        if (r.n_skipped) printf("left dense: %d block matrices (--skip)\n", r.n_skipped);
        if (r.head) printf("output head: quantized too (lm_head, %s)\n", r.method);
        if (r.n_windows) printf("calibration: %d windows of %d tokens\n", r.n_windows, r.window);
        if (!strcmp(r.method, "slicegpt"))
            printf("slicegpt: residual width %d (head %d); parameters %llu -> %llu (%.1f%%); shortcuts %s\n",
                   r.sg.width, r.sg.head_width, (unsigned long long)r.sg.params_in, (unsigned long long)r.sg.params_out,
                   100.0 * (double)r.sg.params_out / (double)(r.sg.params_in ? r.sg.params_in : 1),
                   lt_slicegpt_shortcuts_str(&r.sg, desc, sizeof desc));
        if (!strcmp(r.method, "smoothquant+")) {
            if (r.sq.per_layer) {
                printf("alpha per layer:");
                for (int l = 0; l < r.n_layers; l++) {
                    if (r.sq.layer_alpha[l] < 0) printf(" none");
                    else printf(" %.2f", r.sq.layer_alpha[l]);
                }
                printf("\nsearch: loss on %d windows of %d tokens: unquantized %.4f, rtn %.4f, per-layer alphas %.4f\n",
                       r.sq.search_windows, r.sq.window, r.sq.loss_float, r.sq.loss_rtn, r.sq.loss_layers);
            } else
                printf("alpha: %.2f%s\n", r.sq.alpha, r.sq.n ? " (searched)" : " (--alpha)");
            if (r.sq.unsmoothed)
                printf("no alpha beat plain RTN on the search windows: quantized unsmoothed (= --method rtn; "
                       "--alpha A forces one)\n");
            if (r.sq.n) {
                printf("search: loss on %d windows of %d tokens: unquantized %.4f, rtn %.4f\n", r.sq.search_windows,
                       r.sq.window, r.sq.loss_float, r.sq.loss_rtn);
                for (int i = 0; i < r.sq.n; i++)
                    printf("  alpha %.2f  loss %.4f%s\n", r.sq.alphas[i], r.sq.loss[i],
                           r.sq.alphas[i] == r.sq.alpha ? "  <- best" : "");
            }
        }
        printf("model size = %.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW)\n", r.bytes_in / 1048576.0,
               r.bytes_in * 8.0 / ne, r.bytes_out / 1048576.0, r.bytes_out * 8.0 / ne);
        printf("time: %.1f s (calibration %.1f s, quantization %.1f s, write %.1f s)\n", r.seconds, r.calib_seconds,
               r.quant_seconds, r.write_seconds);
        fprintf(stderr, "wrote %s\n", out);
    }
    rc = 0;
done:
    lt_backend_free(be);
    lt_tok_free(tok);
    lt_modelsrc_close(tsrc);
    lt_modelsrc_close(src);
    return rc;
}
