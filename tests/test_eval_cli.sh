#!/usr/bin/env bash
# test_eval_cli.sh - `lathe eval ppl` as a user meets it, on the bundled stories260K and a
# Shakespeare excerpt: the JSON fields (ppl, its standard error, tokens scored, chunks, ctx,
# seconds; kld mean/stderr and top-1 agreement with --kld), the counts of both conventions,
# --chunks, progress on stderr, the text report equal to the workbench's `eval ppl`, and
# clear errors for a missing file, a short text, a bad or too large --ctx and a base model of
# another vocabulary.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
xs="$root/assets/models/llama2xs_model.bin" text="$root/assets/text/tinyshakespeare-head.txt"
ppl() { "$bin" eval ppl -m "$model" --tokenizer "$tok" -f "$text" "$@"; }

# field NAME JSON: the value of a top-level number / string field
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.eE+]+|true|false)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }
# check NAME CONDITION(awk, on $1) VALUE
check() {
  if [ -n "$3" ] && awk -v v="$3" "BEGIN { \$1 = v; exit !($2) }"; then ok; else bad "$1: '$3' fails $2"; fi
}

out=$(ppl --ctx 128 --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && ok || bad "json run: rc $rc: $(cat "$tmp/err")"
check "ppl" '$1 > 1 && $1 < 512' "$(field ppl "$out")"
check "ppl_stderr" '$1 > 0' "$(field ppl_stderr "$out")"
chunks=$(field chunks "$out")
check "chunks" '$1 == 57' "$chunks"
check "ctx" '$1 == 128' "$(field ctx "$out")"
check "tokens_scored" '$1 == 57 * 63' "$(field tokens_scored "$out")"
check "text_tokens" '$1 >= 57 * 128 && $1 < 58 * 128' "$(field text_tokens "$out")"
check "seconds" '$1 > 0' "$(field seconds "$out")"
[ "$(field scored "$out")" = second-half ] && ok || bad "scored: $out"
grep -q '"kld_mean"' <<<"$out" && bad "kld fields without --kld" || ok
grep -qE "chunk 57/57, PPL [0-9.]+" "$tmp/err" && ok || bad "progress on stderr: $(cat "$tmp/err")"

# the GPTQ convention and --chunks
out=$(ppl --ctx 64 --chunks 3 --all-tokens --batch 16 --json 2>/dev/null)
check "all-tokens chunks" '$1 == 3' "$(field chunks "$out")"
check "all-tokens scored" '$1 == 3 * 63' "$(field tokens_scored "$out")"
[ "$(field scored "$out")" = all-tokens ] && ok || bad "scored all-tokens: $out"

# --kld: against itself, and against another model of the same vocabulary
out=$(ppl --ctx 64 --chunks 4 --kld "$model" --json 2>/dev/null)
check "self kld" '$1 == 0' "$(field kld_mean "$out")"
check "self kld stderr" '$1 == 0' "$(field kld_stderr "$out")"
check "self top1" '$1 == 1' "$(field top1_agreement "$out")"
out=$(ppl --ctx 128 --kld "$xs" --json 2>/dev/null)
check "xs kld" '$1 > 0.1' "$(field kld_mean "$out")"
check "xs kld stderr" '$1 > 0' "$(field kld_stderr "$out")"
check "xs top1" '$1 > 0 && $1 < 1' "$(field top1_agreement "$out")"
check "xs base ppl" '$1 > 1' "$(field base_ppl "$out")"

# the text report is the workbench's
cli=$(ppl --ctx 128 --chunks 5 2>/dev/null | grep "Final estimate")
printf 'load "%s" --tokenizer "%s"\neval ppl -f "%s" --ctx 128 --chunks 5\n' "$model" "$tok" "$text" >"$tmp/s.lathe"
wb=$(LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/s.lathe" --no-journal 2>&1 | grep "Final estimate")
if [ -n "$cli" ] && [ "$cli" = "$wb" ]; then ok; else bad "cli '$cli' vs workbench '$wb'"; fi
expect "text report" 0 "Final estimate: PPL = [0-9.]+ \+/- [0-9.]+" -- ppl --ctx 64 --chunks 2

# errors
expect "missing file" 1 "nothere.txt: cannot open" -- "$bin" eval ppl -m "$model" --tokenizer "$tok" -f "$tmp/nothere.txt"
expect "no -f" 2 "-f TEXT is required" -- "$bin" eval ppl -m "$model" --tokenizer "$tok"
expect "no subcommand" 2 "usage: lathe eval ppl" -- "$bin" eval
head -c 300 "$text" >"$tmp/short.txt"
expect "short text" 1 "you need at least 256 tokens to evaluate perplexity with a context of 128" -- \
  "$bin" eval ppl -m "$model" --tokenizer "$tok" -f "$tmp/short.txt" --ctx 128
expect "ctx beyond the model" 1 "--ctx 1024 exceeds the model's context \(512 tokens\)" -- ppl --ctx 1024
expect "odd ctx" 1 "--ctx must be even and at least 4 \(got 63\)" -- ppl --ctx 63
expect "tiny ctx" 2 "--ctx" -- ppl --ctx 2
expect "base ctx" 1 "exceeds the base model's context \(256 tokens\)" -- ppl --ctx 512 --kld "$xs"
"$bin" convert --synthetic tiny "$tmp/tiny.gguf" >/dev/null 2>&1
expect "other vocabulary" 1 "vocabulary of 320 tokens, the model 512" -- ppl --ctx 64 --kld "$tmp/tiny.gguf"
mkdir -p "$tmp/lone" && cp "$model" "$tmp/lone/m.bin" # no tokenizer.bin or tok*.bin beside it
expect "no tokenizer" 1 "has no tokenizer; pass --tokenizer FILE" -- "$bin" eval ppl -m "$tmp/lone/m.bin" -f "$text"

finish
