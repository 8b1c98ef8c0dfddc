#!/usr/bin/env bash
# test_tokenize_cli.sh - `lathe tokenize` (ids and pieces, --json, --ids, --bos/--no-bos,
# --no-parse-special and its errors) on the bundled stories260K vocab, and `lathe generate -p`
# on a vocab that needs more tokens than the prompt has bytes (it once failed with "cannot
# tokenize the prompt").
source "$(dirname "$0")/cli_lib.sh"
m=$root/assets/models/stories260K.bin
expect "pieces" 0 "^ +1 -> '<s>'" -- "$bin" tokenize -m "$m" -p "Once upon"
expect "ids" 0 '^\[1, 403, 407\]$' -- "$bin" tokenize -m "$m" -p "Once upon" --ids
expect "json" 0 '^\{"ids": \[1, 403, 407\], "pieces": \["<s>", " Once", " upon"\]\}$' -- \
  "$bin" tokenize -m "$m" -p "Once upon" --json
expect "no-bos" 0 '^\[403, 407\]$' -- "$bin" tokenize -m "$m" -p "Once upon" --ids --no-bos
# special-token text is one token by default (llama.cpp's llama-tokenize), plain text without
expect "parse-special" 0 '^\[1, 2, 403\]$' -- "$bin" tokenize -m "$m" -p "</s>Once" --ids
out=$("$bin" tokenize -m "$m" -p "</s>Once" --ids --no-parse-special)
if [ "$out" != "[1, 2, 403]" ] && [ "$(tr -cd , <<<"$out" | wc -c)" -gt 3 ]; then ok
else bad "--no-parse-special still made </s> one token: $out"; fi
expect "bos and no-bos" 2 "lathe tokenize: --bos and --no-bos contradict" -- "$bin" tokenize -m "$m" -p x --bos --no-bos
expect "no prompt" 2 "lathe tokenize: -p TEXT is required" -- "$bin" tokenize -m "$m"
expect "bad model" 1 "lathe tokenize: .*nope" -- "$bin" tokenize -m "$tmp/nope" -p x

# a vocab without '▁': every space of the prompt becomes three byte tokens
python3 - "$tmp/tokenizer.json" <<'PY'
import json, sys
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256): vocab["<0x%02X>" % b] = len(vocab)
for c in "abcdefghij": vocab[c] = len(vocab)
tok = {"version": "1.0", "added_tokens": [
         {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
          "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
       "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                         {"type": "Replace", "pattern": {"String": " "},
                                                          "content": "\u2581"}]},
       "pre_tokenizer": None, "post_processor": None, "decoder": None,
       "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                 "vocab": vocab, "merges": []}}
json.dump(tok, open(sys.argv[1], "w"))
json.dump({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True}, open(sys.argv[1].replace("tokenizer.json", "tokenizer_config.json"), "w"))
PY
p="a b c d e f g h i j a b c d e f g h i j"
expect "long encoding" 0 '^\[1, 229, 153, 132, 259, 229, 153, 132, 260, ' -- "$bin" tokenize -m "$tmp/tokenizer.json" -p "$p" --ids
expect "generate, long encoding" 0 "prompt tokens: (1[0-9][0-9]|[6-9][0-9])" -- \
  "$bin" generate -m "$m" --tokenizer "$tmp/tokenizer.json" -p "$p" -n 1 --temp 0 --device cpu
finish
