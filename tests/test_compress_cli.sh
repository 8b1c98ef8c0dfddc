#!/usr/bin/env bash
# test_compress_cli.sh - `lathe compress` and the workbench's `compress` as a user meets them,
# on the bundled stories260K (its 172-wide FFN rows are not a multiple of 32: ffn_down stays as
# llama.cpp's Q4_0 mix writes it, the other block matrices are GPTQ's Q4_0 blocks): the JSON
# report (act-order by default, --no-act-order), a GGUF lathe runs again, `compress NAME rtn as NEW` loading the result beside the
# original, and errors naming the option (--bits 3 for GGUF, --bits 5 for a folder, a bad method); an AutoGPTQ folder
# (--format hf, from a Hugging Face fixture) that loads as gq4 and runs.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" text="$root/assets/text/tinyshakespeare-head.txt"
comp() { "$bin" compress -m "$model" --calib "$text" --calib-tokens 1024 "$@"; }
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.eE+]+|true|false)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }

out=$(comp -o "$tmp/g.gguf" --method gptq --sym --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && ok || bad "gptq: rc $rc: $(cat "$tmp/err")"
[ "$(field type "$out")" = "q4_0" ] && ok || bad "type: $out"
[ "$(field matrices "$out")" = "30" ] && ok || bad "matrices (5 layers x 6): $out"
[ "$(field matrices_by_mix "$out")" = "5" ] && ok || bad "by mix (ffn_down): $out"
[ "$(field calib_windows "$out")" = "2" ] && ok || bad "windows: $out"
[ "$(field act_order "$out")" = "true" ] && ok || bad "act-order is gptq's default: $out"
out=$(comp -o "$tmp/n.gguf" --method gptq --sym --no-act-order --json 2>&1)
[ "$(field act_order "$out")" = "false" ] && ok || bad "--no-act-order: $out"
expect "act-order both" 2 "--act-order and --no-act-order contradict" -- comp -o "$tmp/x.gguf" --act-order --no-act-order
expect "act-order rtn" 2 "--act-order is for --method gptq" -- comp -o "$tmp/x.gguf" --method rtn --act-order
[ -s "$tmp/g.gguf" ] && [ ! -e "$tmp/g.gguf.tmp" ] && ok || bad "no output file"
expect "runs" 0 "." -- "$bin" generate -m "$tmp/g.gguf" -p "Once" -n 8 --temp 0
expect "rtn text" 0 "rtn: 30 block matrices as q4_1" -- "$bin" compress -m "$model" -o "$tmp/r.gguf" --method rtn
expect "bits 3 gguf" 1 "compress: .*--bits 3 --group 32 --sym has no ggml block" -- \
  "$bin" compress -m "$model" -o "$tmp/x.gguf" --method rtn --bits 3 --sym
expect "group" 2 "compress: --group 48 is not one of -1, 32, 64, 128" -- \
  "$bin" compress -m "$model" -o "$tmp/x.gguf" --group 48
# an AutoGPTQ folder (a Hugging Face fixture: stories260K's 172-wide rows do not pack into 32-bit words)
hfm="$root/tests/fixtures/hf/llama_bias"
expect "hf folder" 0 "gptq 4-bit g32" -- "$bin" compress -m "$hfm" -o "$tmp/folder" --method rtn --group 32
grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$tmp/folder/quantize_config.json" && ok || bad "quantize_config.json"
grep -q '"damp_percent":[[:space:]]*0.01,' "$tmp/folder/quantize_config.json" && ok || bad "damp_percent as written"
expect "hf folder runs as gq4" 0 "decode" -- "$bin" bench -m "$tmp/folder" -p 8 -n 4
expect "hf bits 5" 1 "--format hf takes --bits 2, 3, 4 or 8" -- "$bin" compress -m "$hfm" -o "$tmp/f5" --method rtn --bits 5
expect "hf row packing" 1 "does not pack into 32-bit words" -- "$bin" compress -m "$model" -o "$tmp/folder2" --method rtn --group -1
# smoothquant+: the alpha search's curve in the JSON report, a fixed --alpha (ffn_down, 172 wide, by the mix)
out=$(comp -o "$tmp/s.gguf" --method smoothquant+ --search-tokens 256 --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && ok || bad "smoothquant+: rc $rc: $(cat "$tmp/err")"
grep -q '"curve":\[{"alpha":0.00,"loss":[0-9.]*},{"alpha":0.05' <<<"$out" && ok || bad "the curve: $out"
[ "$(grep -o '"alpha":' <<<"$out" | wc -l)" = "22" ] && ok || bad "21 points and the chosen alpha: $out"
[ "$(field method "$out")" = "smoothquant+" ] && [ "$(field search_windows "$out")" = "1" ] && [ "$(field search_window "$out")" = "256" ] && ok || bad "fields: $out"
out=$(comp -o "$tmp/s3.gguf" --method smoothquant+ --alpha-per-layer --search-tokens 256 --json 2>&1)
grep -qE '"alpha":null.*"layer_alpha":\[[0-9.]+(,[0-9.]+){4}\]' <<<"$out" && ok || bad "per layer (5 layers): $out"
expect "sq both" 2 "--alpha and --alpha-per-layer contradict" -- comp -o "$tmp/x.gguf" --method smoothquant+ \
  --alpha 0.5 --alpha-per-layer
expect "sq alpha" 0 "alpha: 0.50 \\(--alpha\\)" -- comp -o "$tmp/s2.gguf" --method smoothquant+ --alpha 0.5
expect "sq runs" 0 "." -- "$bin" generate -m "$tmp/s2.gguf" -p "Once" -n 8 --temp 0
expect "alpha rtn" 2 "--alpha is for --method smoothquant+" -- comp -o "$tmp/x.gguf" --method rtn --alpha 0.5
expect "method" 2 "unknown --method 'awq'" -- "$bin" compress -m "$model" -o "$tmp/x.gguf" --method awq
expect "missing -o" 2 "-o OUT is required" -- "$bin" compress -m "$model"
[ ! -e "$tmp/x.gguf" ] && ok || bad "a refused run wrote a file"

# the command language: the result is loaded beside the original
cat > "$tmp/s.txt" <<EOS
load $model as base
compress base rtn --sym --out $tmp/c.gguf as small
models
EOS
expect "compress command" 0 "loaded 'small'.*" -- "$bin" run --no-journal "$tmp/s.txt"
out=$("$bin" run --no-journal "$tmp/s.txt" 2>&1)
grep -q "rtn: 30 block matrices as q4_0" <<<"$out" && grep -qE "^\s+base " <<<"$out" && grep -qE "^\* small " <<<"$out" \
  && ok || bad "compress command output: $out"
printf 'load %s as base\ncompress base gptq --bits 3 as small\n' "$model" > "$tmp/b.txt"
expect "compress command bits" 1 "compress: .*--bits 3" -- "$bin" run --no-journal "$tmp/b.txt"
finish
