#!/usr/bin/env bash
# test_convert_tok_cli.sh - tokenizers travel with models (issue #13) as a user meets it: the
# bundled stories260K loaded by path (no --tokenizer) has its tok512 tokenizer; `lathe convert`
# without --tokenizer writes it into GGUF, a Hugging Face folder (tokenizer.json +
# tokenizer_config.json) and llama2.c (tokenizer.bin beside the checkpoint), each generating
# what the original does; a model without a tokenizer gives a warning, and --tokenizer (a
# llama2.c .bin, a tokenizer.json, a GGUF) provides one for a GGUF input in convert, generate
# and the workbench's load. With SmolLM2 (or $LATHE_SMOLLM2): its HF folder carries
# tokenizer.json and the chat template, and llama2.c output is refused before anything is
# written (test_tokconv.c checks the byte-level BPE reason on a model llama2.c could hold).
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
gen() { "$bin" generate -m "$1" -p "Once upon a time" -n 40 --temp 0 "${@:2}" 2>/dev/null; }
same() { # same NAME GOT: GOT equals the reference text
  if [ -n "$2" ] && [ "$2" = "$ref" ]; then ok; else bad "$1: '$2' differs from '$ref'"; fi
}

ref=$(gen "$model" --tokenizer "$tok")
[ -n "$ref" ] && ok || bad "reference generation is empty"
same "bundled model by path" "$(gen "$model")"

# convert without --tokenizer: the tokenizer goes into every output format
expect "convert gguf" 0 "wrote .*s\.gguf \(gguf, with its tokenizer\)" -- "$bin" convert "$model" "$tmp/s.gguf"
same "gguf" "$(gen "$tmp/s.gguf")"
expect "convert hf" 0 "wrote .*/hf \(hf with tokenizer\.json\)" -- "$bin" convert "$model" "$tmp/hf"
[ -f "$tmp/hf/tokenizer.json" ] && grep -q '"bos_token"' "$tmp/hf/tokenizer_config.json" && ok ||
  bad "hf folder lacks tokenizer.json / tokenizer_config.json"
same "hf" "$(gen "$tmp/hf")"
mkdir -p "$tmp/l2c"
expect "convert llama2c" 0 "and its tokenizer .*l2c/tokenizer\.bin" -- "$bin" convert "$tmp/hf" "$tmp/l2c/m.bin"
same "hf -> llama2c" "$(gen "$tmp/l2c/m.bin")"
expect "llama2c named tokenizer.bin" 1 "written beside it as tokenizer\.bin" -- \
  "$bin" convert "$model" "$tmp/l2c/tokenizer.bin"

# a model without a tokenizer: a warning, the hint, and --tokenizer for a GGUF input
mkdir -p "$tmp/lone"
cp "$model" "$tmp/lone/m.bin"
expect "no tokenizer warning" 0 "warning: .*m\.bin has no tokenizer.*pass --tokenizer FILE" -- \
  "$bin" convert "$tmp/lone/m.bin" "$tmp/bare.gguf"
expect "generate hint" 1 "bare\.gguf has no tokenizer; pass --tokenizer FILE" -- "$bin" generate -m "$tmp/bare.gguf" -p hi
same "generate --tokenizer tok512 on gguf" "$(gen "$tmp/bare.gguf" --tokenizer "$tok")"
same "generate --tokenizer tokenizer.json on gguf" "$(gen "$tmp/bare.gguf" --tokenizer "$tmp/hf/tokenizer.json")"
same "generate --tokenizer gguf on gguf" "$(gen "$tmp/bare.gguf" --tokenizer "$tmp/s.gguf")"
expect "convert --tokenizer on gguf" 0 "with its tokenizer" -- "$bin" convert "$tmp/bare.gguf" "$tmp/fixed.gguf" --tokenizer "$tok"
same "gguf given a tokenizer by convert" "$(gen "$tmp/fixed.gguf")"
expect "bad --tokenizer" 1 "m\.bin: a llama2\.c checkpoint, not a tokenizer" -- \
  "$bin" generate -m "$tmp/bare.gguf" --tokenizer "$tmp/lone/m.bin" -p hi

# the workbench's load
printf 'load %s --tokenizer %s\nload %s\n' "$tmp/bare.gguf" "$tok" "$model" > "$tmp/script"
out=$("$bin" run "$tmp/script" --no-journal 2>&1)
if grep -q "loaded 'bare' (gguf" <<<"$out" && grep -q "loaded 'stories260K' (llama2c" <<<"$out" &&
  ! grep -q "no tokenizer" <<<"$out"; then ok; else bad "workbench load: $out"; fi

smol=$(smollm2_path)
if [ -r "$smol" ]; then
  expect "smollm2 hf" 0 "with tokenizer\.json" -- "$bin" convert "$smol" "$tmp/smol" --type bf16
  grep -q '"chat_template"' "$tmp/smol/tokenizer_config.json" && grep -q '"ByteLevel"' "$tmp/smol/tokenizer.json" &&
    ok || bad "smollm2 hf folder lacks its tokenizer or chat template"
  mkdir -p "$tmp/smol2c"
  expect "smollm2 llama2c" 1 "the llama2\.c (tokenizer )?format cannot express" -- "$bin" convert "$smol" "$tmp/smol2c/m.bin"
  [ -z "$(ls "$tmp/smol2c")" ] && ok || bad "smollm2 -> llama2c left files: $(ls "$tmp/smol2c")"
else
  echo "SmolLM2 not at $smol: its part skipped"
fi
finish
