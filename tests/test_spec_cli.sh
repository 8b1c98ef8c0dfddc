#!/usr/bin/env bash
# test_spec_cli.sh - speculative decoding from the command line: `lathe generate --spec`
# prints exactly the plain greedy text for every draft source, `lathe bench spec --json`
# reports every source with exact output, and bad --spec values / a draft model with
# another vocabulary are clear errors.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
draft="$root/assets/models/llama2xs_model.bin"


gen() { "$bin" generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 150 --temp 0 "$@" 2>/dev/null; }
ref=$(gen)
for spec in ngram "draft:$draft" triforce "triforce:$draft"; do
  got=$(gen --spec "$spec" --budget 48 --adaptive)
  if [ -n "$ref" ] && [ "$ref" = "$got" ]; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL: --spec $spec output differs:"; echo "$ref"; echo "$got"; fi
done
expect "spec stats line" 0 "speculation: draft.*drafts accepted" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 40 --temp 0 --spec "draft:$draft"
expect "tinted drafts" 0 $'\033\\[32m' -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 60 --temp 0 --spec "draft:$draft" --tint-drafts
expect "bad spec" 2 "unknown speculation 'medusa'" -- "$bin" generate -m "$model" -p hi --spec medusa
expect "draft without model" 2 "draft:MODEL" -- "$bin" generate -m "$model" -p hi --spec draft
expect "missing draft" 1 "nothere.bin" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p hi --spec "draft:$tmp/nothere.bin"
"$bin" convert --synthetic tiny "$tmp/tiny.gguf" >/dev/null 2>&1
expect "other vocabulary" 1 "vocabulary of 320 tokens, the target 512" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p hi --spec "draft:$tmp/tiny.gguf"
expect "triforce budget" 1 "budget of 20 tokens" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p hi --spec triforce --chunk 16 --budget 20

# bench spec: every source, exact greedy output, JSON
out=$("$bin" bench spec -m "$model" --tokenizer "$tok" --draft "$draft" -n 64 --budget 48 --runs 1 --json 2>&1)
n=$(grep -o '"exact":true' <<<"$out" | wc -l)
if [ "$n" -eq 4 ] && grep -q '"acceptance_rate"' <<<"$out" && grep -q '"mean_accepted_length"' <<<"$out"; then
  pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: bench spec --json:"; head -c 1500 <<<"$out"; echo; fi
expect "bench spec text" 0 "ngram .*yes" -- "$bin" bench spec -m "$model" --tokenizer "$tok" --spec ngram -n 32 --runs 1
expect "bench spec off" 2 "nothing to compare" -- "$bin" bench spec -m "$model" --spec off

finish
