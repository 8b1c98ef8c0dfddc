/* cli_convert.c - `lathe convert`: any loadable model (or a synthetic one) to GGUF, a
 * Hugging Face folder, or a llama2.c checkpoint. */
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/str.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_slicegpt.h"
#include "models/llama.h"
#include "cli.h"

/* A SentencePiece-style vocab of n tokens (unk, bos, eos, 256 byte tokens, then "▁tN"), so a
 * synthetic GGUF is complete for other engines too. */
static lt_vocab *synthetic_vocab(int32_t n) {
    lt_vocab *v = lt_vocab_create();
    if (!v || n < 260) return v;
    v->type = LT_VOCAB_SPM;
    snprintf(v->pre, sizeof v->pre, "default");
    v->n_tokens = n;
    v->tokens = lt_calloc((size_t)n, sizeof(char *));
    v->token_len = lt_calloc((size_t)n, sizeof(uint32_t));
    v->scores = lt_calloc((size_t)n, sizeof(float));
    v->token_types = lt_calloc((size_t)n, sizeof(int32_t));
    if (!v->tokens || !v->token_len || !v->scores || !v->token_types) {
        lt_vocab_free(v);
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        char buf[32];
        int32_t type = LT_TOKTYPE_NORMAL;
        if (i == 0) snprintf(buf, sizeof buf, "<unk>"), type = LT_TOKTYPE_UNKNOWN;
        else if (i == 1) snprintf(buf, sizeof buf, "<s>"), type = LT_TOKTYPE_CONTROL;
        else if (i == 2) snprintf(buf, sizeof buf, "</s>"), type = LT_TOKTYPE_CONTROL;
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", i - 3), type = LT_TOKTYPE_BYTE;
        else snprintf(buf, sizeof buf, "\xe2\x96\x81t%d", i);
        v->tokens[i] = lt_strdup(buf);
        if (!v->tokens[i]) {
            lt_vocab_free(v);
            return NULL;
        }
        v->token_len[i] = (uint32_t)strlen(buf);
        v->scores[i] = -(float)i;
        v->token_types[i] = type;
    }
    v->unk_id = 0;
    v->bos_id = 1;
    v->eos_id = 2;
    v->add_bos = true;
    v->add_space_prefix = true;
    return v;
}

int lt_cli_convert(int argc, char **argv) {
    const char *type = NULL, *tokp = NULL, *synth = NULL, *format = NULL, *out_type = NULL, *embd_type = NULL;
    bool pure = false;
    const char *usage = "IN OUT [--type T [--pure] [--output-tensor-type T] [--token-embedding-type T]] "
                        "[--format gguf|hf|llama2c|slicegpt] | --synthetic PRESET OUT.gguf";
    lt_opt opts[] = {
        {"--type", NULL, LT_OPT_STR, &type,
         "GGUF: a tensor type or a llama-quantize mix (Q4_K_M...), as `lathe quantize` takes it; hf: f32, f16, "
         "bf16 (default: keep)"},
        {"--pure", NULL, LT_OPT_FLAG, &pure, "with --type: that one type for every quantizable tensor, no mix rules"},
        {"--output-tensor-type", NULL, LT_OPT_STR, &out_type, "with a GGUF --type: the type of output.weight (and of "
         "a tied token_embd)"},
        {"--token-embedding-type", NULL, LT_OPT_STR, &embd_type, "with a GGUF --type: the type of token_embd.weight"},
        {"--format", NULL, LT_OPT_STR, &format,
         "output format (default: by OUT: .gguf, .bin = llama2c, else hf; slicegpt: a TransformerCompression folder, "
         "f16)"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--synthetic", NULL, LT_OPT_STR, &synth, "write random weights shaped like a preset instead of IN"},
        {0},
    };
    const char *pos[2];
    int n_pos;
    if (!lt_cli_parse("convert", usage, opts, argc, argv, pos, 2, &n_pos)) return 2;
    if (n_pos != (synth ? 1 : 2)) {
        fprintf(stderr, "lathe convert: expected %s\n", synth ? "one output path" : "an input and an output path");
        lt_cli_usage("convert", usage, opts);
        return 2;
    }
    const char *out = pos[n_pos - 1];
    if (!format) format = lt_str_ends(out, ".gguf") ? "gguf" : lt_str_ends(out, ".bin") ? "llama2c" : "hf";
    bool gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "hf") && strcmp(format, "llama2c") && strcmp(format, "slicegpt")) {
        fprintf(stderr, "lathe convert: unknown --format '%s' (gguf, hf, llama2c, slicegpt)\n", format);
        return 2;
    }
    if (type && !strcmp(format, "slicegpt")) {
        fprintf(stderr, "lathe convert: --type is not for --format slicegpt (their .pt files hold f16)\n");
        return 2;
    }
    lt_dtype dt = LT_DTYPE_COUNT;
    lt_quantmix mix;
    if (type && gguf) { /* one implementation with `lathe quantize` */
        if (!lt_cli_quantmix("convert", "--type", type, pure, &mix) ||
            !lt_cli_quantmix_overrides("convert", &mix, out_type, embd_type, NULL))
            return 2;
    } else if (out_type || embd_type) {
        fprintf(stderr, "lathe convert: --%s needs --type and GGUF output (a llama.cpp mix)\n",
                out_type ? "output-tensor-type" : "token-embedding-type");
        return 2;
    }
    if (type && !gguf) {
        dt = lt_dtype_from_name(type);
        const bool llama2c = !strcmp(format, "llama2c");
        if (llama2c ? dt != LT_F32 : dt != LT_F32 && dt != LT_F16 && dt != LT_BF16) {
            fprintf(stderr, "lathe convert: --type '%s' cannot be written as %s (%s; GGUF takes every type and mix)\n",
                    type, format, llama2c ? "llama2.c checkpoints are f32" : "f32, f16 or bf16");
            return 2;
        }
        if (pure) {
            fprintf(stderr, "lathe convert: --pure is for GGUF output (a llama.cpp mix)\n");
            return 2;
        }
    } else if (pure && !type) {
        fprintf(stderr, "lathe convert: --pure needs --type\n");
        return 2;
    }
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    if (synth) {
        lt_llm_config cfg;
        if (lt_llama_preset(synth, &cfg, &err) != LT_OK) {
            fprintf(stderr, "lathe: %s\n", err.msg);
            return 1;
        }
        /* with a vocab, so other engines can load the file */
        lt_vocab *v = synthetic_vocab(cfg.n_vocab);
        if (!v) {
            fprintf(stderr, "lathe: out of memory\n");
            return 1;
        }
        if (lt_llama_synthetic(&src, &cfg, v, 1234, &err) != LT_OK) {
            fprintf(stderr, "lathe: %s\n", err.msg);
            return 1;
        }
    } else {
        if (!lt_cli_open_model(pos[0], tokp, &src, NULL)) return 1;
        if (!lt_modelsrc_vocab(src))
            fprintf(stderr, "lathe convert: warning: %s has no tokenizer, so %s will have none (pass --tokenizer "
                    "FILE)\n", pos[0], out);
    }
    if (type && gguf) {
        int rc = lt_cli_quantize_write("convert", src, out, &mix, false);
        lt_modelsrc_close(src);
        return rc;
    }
    lt_status s;
    if (gguf) s = lt_modelsrc_write_gguf(src, out, LT_DTYPE_COUNT, &err);
    else if (!strcmp(format, "hf")) s = lt_modelsrc_write_hf(src, out, dt == LT_DTYPE_COUNT ? LT_F32 : dt, &err);
    else if (!strcmp(format, "llama2c")) s = lt_modelsrc_write_llama2c(src, out, &err);
    else if (!strcmp(format, "slicegpt")) s = lt_modelsrc_write_slicegpt(src, out, NULL, &err);
    else s = lt_err_set(&err, LT_EINVAL, "unknown --format '%s' (gguf, hf, llama2c, slicegpt)", format);
    const bool tok = lt_modelsrc_vocab(src) != NULL;
    lt_modelsrc_close(src);
    if (s != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        return 1;
    }
    if (tok && !strcmp(format, "llama2c")) {
        const char *sl = strrchr(out, '/');
        fprintf(stderr, "wrote %s (%s) and its tokenizer %.*stokenizer.bin\n", out, format,
                sl ? (int)(sl - out + 1) : 0, out);
    } else {
        fprintf(stderr, "wrote %s (%s%s)\n", out, format,
                !tok ? ", no tokenizer" : gguf ? ", with its tokenizer" : " with tokenizer.json");
    }
    return 0;
}
