#!/usr/bin/env bash
# test_compress_cli.sh - `lathe compress` and the workbench's `compress` as a user meets them,
# on the bundled stories260K (its 172-wide FFN rows are not a multiple of 32: ffn_down stays as
# llama.cpp's Q4_0 mix writes it, the other block matrices are GPTQ's Q4_0 blocks): the JSON
# report (act-order by default, --no-act-order), a GGUF lathe runs again, `compress NAME rtn as NEW` loading the result beside the
# original, --mix Q4_K_M (llama-quantize's types, GPTQ's codes), and errors naming the option (--bits 3 for GGUF, --bits 5
# for a folder, a bad method, --mix with --bits); an AutoGPTQ folder
# (--format hf, from a Hugging Face fixture) that loads as gq4 and runs, with --quant-head its lm_head too.
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
# --mix: llama-quantize's Q4_K_M types (stories260K's 64-wide rows: q5_0 by the fallback, ffn_down f16), GPTQ's codes
out=$(comp -o "$tmp/k.gguf" --method gptq --mix q4_k_m --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && [ "$(field type "$out")" = "Q4_K_M mix" ] && [ "$(field matrices "$out")" = "30" ] &&
  [ "$(field matrices_by_mix "$out")" = "5" ] && [ "$(field mix "$out")" = "q4_k_m" ] && ok || bad "mix: rc $rc: $out $(cat "$tmp/err")"
expect "mix runs" 0 "." -- "$bin" generate -m "$tmp/k.gguf" -p "Once" -n 8 --temp 0
expect "mix bits" 2 "--mix sets every tensor's type; leave out --bits" -- comp -o "$tmp/x.gguf" --mix Q4_K_M --bits 4
expect "mix method" 2 "--mix is for --method gptq or rtn" -- comp -o "$tmp/x.gguf" --mix Q4_K_M --method sparse24
expect "mix name" 2 "--mix: .*Q4_K_Z" -- comp -o "$tmp/x.gguf" --mix Q4_K_Z
# an AutoGPTQ folder (a Hugging Face fixture: stories260K's 172-wide rows do not pack into 32-bit words)
hfm="$root/tests/fixtures/hf/llama_bias"
expect "hf folder" 0 "gptq 4-bit g32" -- "$bin" compress -m "$hfm" -o "$tmp/folder" --method rtn --group 32
grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$tmp/folder/quantize_config.json" && ok || bad "quantize_config.json"
grep -q '"damp_percent":[[:space:]]*0.01,' "$tmp/folder/quantize_config.json" && ok || bad "damp_percent as written"
expect "hf folder runs as gq4" 0 "decode" -- "$bin" bench -m "$tmp/folder" -p 8 -n 4
# --quant-head: the head too, as GPTQModel's lm_head (the quantize config says so), and the folder runs
expect "quant head" 0 "output head: quantized too" -- "$bin" compress -m "$hfm" -o "$tmp/folderh" --method rtn --group 32 --quant-head
grep -q '"lm_head":[[:space:]]*true' "$tmp/folderh/quantize_config.json" && ok || bad "lm_head in quantize_config.json"
expect "quant head runs" 0 "decode" -- "$bin" bench -m "$tmp/folderh" -p 8 -n 4
expect "quant head gguf" 1 "--quant-head is for a Hugging Face folder" -- "$bin" compress -m "$model" -o "$tmp/x.gguf" --method rtn --quant-head
expect "quant head method" 2 "--quant-head is for --method gptq or rtn" -- comp -o "$tmp/x.gguf" --method sparse24 --quant-head
expect "hf bits 5" 1 "--format hf takes --bits 2, 3, 4 or 8" -- "$bin" compress -m "$hfm" -o "$tmp/f5" --method rtn --bits 5
expect "hf row packing" 1 "does not pack into 32-bit words" -- "$bin" compress -m "$model" -o "$tmp/folder2" --method rtn --group -1
# 2:4 sparsity (ffn_down's 172-wide rows are pruned but stored as f16)
out=$(comp -o "$tmp/s.gguf" --method sparse24 --mask wanda --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && [ "$(field type "$out")" = "s24_f16" ] && [ "$(field matrices "$out")" = "35" ] &&
  [ "$(field matrices_by_mix "$out")" = "5" ] && ok || bad "sparse24: rc $rc: $out $(cat "$tmp/err")"
expect "sparse24 runs" 0 "." -- "$bin" generate -m "$tmp/s.gguf" -p "Once" -n 8 --temp 0
expect "sparse24 skip" 0 "left dense: 11 block matrices" -- comp -o "$tmp/s2.gguf" --method sparse24 --mask magnitude \
  --skip 'blk.0.*,*ffn_up*' --bits 16
expect "mask" 2 "unknown --mask 'lottery'" -- comp -o "$tmp/x.gguf" --method sparse24 --mask lottery
expect "nm" 2 "--nm '2/4' is not N:M" -- comp -o "$tmp/x.gguf" --method sparse24 --nm 2/4
expect "skip none" 1 "--skip pattern 'blk.99.*' matches no block matrix" -- comp -o "$tmp/x.gguf" --method sparse24 \
  --mask magnitude --skip 'blk.99.*'
# rows the pruning cannot take are refused before any calibration, naming the matrix
out=$(comp -o "$tmp/x.gguf" --method sparse24 --bits 4 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "bits 4 stores rows in blocks of 64 inputs; blk.0.ffn_down.weight has 172" <<<"$out" &&
  ! grep -q "layer 1/" <<<"$out" && ok || bad "sparse24 --bits 4 on 172-wide rows: rc $rc: $out"
expect "nm rows" 1 "--nm 4:8: blk.0.ffn_down.weight has rows of 172 inputs" -- comp -o "$tmp/x.gguf" \
  --method sparse24 --mask magnitude --nm 4:8
expect "mask gptq" 2 "--mask is for --method sparse24" -- comp -o "$tmp/x.gguf" --method gptq --mask wanda
# smoothquant+: the alpha search's curve in the JSON report, a fixed --alpha (ffn_down, 172 wide, by the mix)
out=$(comp -o "$tmp/q.gguf" --method smoothquant+ --search-tokens 256 --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && ok || bad "smoothquant+: rc $rc: $(cat "$tmp/err")"
grep -q '"curve":\[{"alpha":0.00,"loss":[0-9.]*},{"alpha":0.05' <<<"$out" && ok || bad "the curve: $out"
[ "$(grep -o '"alpha":' <<<"$out" | wc -l)" = "22" ] && ok || bad "21 points and the chosen alpha: $out"
[ "$(field method "$out")" = "smoothquant+" ] && [ "$(field search_windows "$out")" = "1" ] && [ "$(field search_window "$out")" = "256" ] && ok || bad "fields: $out"
out=$(comp -o "$tmp/q3.gguf" --method smoothquant+ --alpha-per-layer --search-tokens 256 --json 2>&1)
grep -qE '"alpha":null.*"layer_alpha":\[[0-9.]+(,[0-9.]+){4}\]' <<<"$out" && ok || bad "per layer (5 layers): $out"
expect "sq both" 2 "--alpha and --alpha-per-layer contradict" -- comp -o "$tmp/x.gguf" --method smoothquant+ \
  --alpha 0.5 --alpha-per-layer
expect "sq alpha" 0 "alpha: 0.50 \\(--alpha\\)" -- comp -o "$tmp/q2.gguf" --method smoothquant+ --alpha 0.5
expect "sq runs" 0 "." -- "$bin" generate -m "$tmp/q2.gguf" -p "Once" -n 8 --temp 0
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
