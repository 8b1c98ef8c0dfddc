/* cli_tokenize.c - `lathe tokenize`: a model's token ids and pieces for a text, as llama.cpp's
 * llama-tokenize prints them ("    id -> 'piece'" lines), or one JSON object
 * {"ids": [...], "pieces": [...]}. Only the vocab is read (no weights are loaded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "cli.h"

/* Writes piece p[0..n) as a JSON string: escapes, invalid UTF-8 as U+FFFD. */
static void json_piece(FILE *f, const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c), i++;
        else if (c == '\n') fputs("\\n", f), i++;
        else if (c == '\t') fputs("\\t", f), i++;
        else if (c == '\r') fputs("\\r", f), i++;
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c), i++;
        else if (c < 0x80) fputc((int)c, f), i++;
        else {
            size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
            bool ok = len && i + len <= n;
            for (size_t k = 1; ok && k < len; k++) {
                if ((s[i + k] & 0xC0) != 0x80) ok = false;
                else cp = (cp << 6) | (s[i + k] & 0x3F);
            }
            static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
            if (ok && (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
            if (ok) fwrite(s + i, 1, len, f), i += len;
            else fputs("\\ufffd", f), i++;
        }
    }
    fputc('"', f);
}

int lt_cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *prompt = NULL;
    bool json = false, no_parse_special = false, bos = false, no_bos = false, ids_only = false;
    const char *usage = "-m MODEL -p TEXT [--json] [--ids] [--no-parse-special] [--bos|--no-bos]";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder, tokenizer.json or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--prompt", "-p", LT_OPT_STR, &prompt, "the text"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print {\"ids\": [...], \"pieces\": [...]}"},
        {"--ids", NULL, LT_OPT_FLAG, &ids_only, "print only the ids, as [1, 2, 3]"},
        {"--no-parse-special", NULL, LT_OPT_FLAG, &no_parse_special,
         "special-token text (<|im_start|>) stays plain text"},
        {"--bos", NULL, LT_OPT_FLAG, &bos, "add the special tokens (BOS) even where the model does not"},
        {"--no-bos", NULL, LT_OPT_FLAG, &no_bos, "add no BOS/EOS even where the model does"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("tokenize", usage, opts, argc, argv, pos, 0, &n_pos)) return LT_CLI_USAGE;
    if (!model || !prompt) {
        fprintf(stderr, "lathe tokenize: %s is required\n", !model ? "-m MODEL" : "-p TEXT");
        lt_cli_usage("tokenize", usage, opts);
        return LT_CLI_USAGE;
    }
    if (bos && no_bos) {
        fprintf(stderr, "lathe tokenize: --bos and --no-bos contradict each other\n");
        return LT_CLI_USAGE;
    }
    lt_err err = {0};
    char guess[4200];
    const char *path = tokp ? tokp : lt_modelsrc_guess_tokenizer(model, guess, sizeof guess);
    lt_vocab *v = NULL;
    if (lt_modelsrc_load_tokenizer(&v, path ? path : model, 0, &err) != LT_OK) {
        fprintf(stderr, "lathe tokenize: %s\n", err.msg);
        return LT_CLI_FAIL;
    }
    if (bos) { /* force BOS: the vocab's own, as llama-tokenize does with add_bos */
        if (v->bos_id < 0) {
            fprintf(stderr, "lathe tokenize: --bos: the vocab of %s has no BOS token\n", path ? path : model);
            lt_vocab_free(v);
            return LT_CLI_FAIL;
        }
        v->add_bos = true;
    }
    lt_tokenizer *tok = NULL;
    if (lt_tok_create(&tok, v, &err) != LT_OK) {
        fprintf(stderr, "lathe tokenize: %s\n", err.msg);
        return LT_CLI_FAIL;
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (lt_tok_encode_all(tok, prompt, strlen(prompt), !no_bos, !no_parse_special, 0, &ids, &n, &err) != LT_OK) {
        fprintf(stderr, "lathe tokenize: %s\n", err.msg);
        lt_tok_free(tok);
        return LT_CLI_FAIL;
    }
    char *piece = NULL;
    size_t pcap = 0;
    if (json) fputs("{\"ids\": [", stdout);
    else if (ids_only) fputc('[', stdout);
    for (int64_t i = 0; i < n; i++) {
        if (json || ids_only) printf("%s%d", i ? ", " : "", ids[i]);
        else {
            size_t pl = lt_tok_piece(tok, ids[i], true, NULL, 0);
            if (pl + 1 > pcap) {
                char *np = lt_realloc(piece, pl + 1);
                if (!np) break;
                piece = np, pcap = pl + 1;
            }
            lt_tok_piece(tok, ids[i], true, piece, pcap);
            printf("%6d -> '", ids[i]);
            fwrite(piece, 1, pl, stdout);
            fputs("'\n", stdout);
        }
    }
    if (json) {
        fputs("], \"pieces\": [", stdout);
        for (int64_t i = 0; i < n; i++) {
            size_t pl = lt_tok_piece(tok, ids[i], true, NULL, 0);
            if (pl + 1 > pcap) {
                char *np = lt_realloc(piece, pl + 1);
                if (!np) break;
                piece = np, pcap = pl + 1;
            }
            lt_tok_piece(tok, ids[i], true, piece, pcap);
            if (i) fputs(", ", stdout);
            json_piece(stdout, piece, pl);
        }
        fputs("]}\n", stdout);
    } else if (ids_only) {
        fputs("]\n", stdout);
    }
    lt_free(piece);
    lt_free(ids);
    lt_tok_free(tok);
    return LT_CLI_OK;
}
