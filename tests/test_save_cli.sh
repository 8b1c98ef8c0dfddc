#!/usr/bin/env bash
# test_save_cli.sh - the workbench's `save NAME PATH`: a model made by `compress ... as NEW`
# saved as GGUF and reloaded gives the same greedy tokens and the same perplexity (the same
# logits); a GPTQ-quantized model saved as an AutoGPTQ folder reloads as gq4 with the same greedy
# tokens and perplexity within float noise, and back to GGUF as Q4_0; the errors name the model,
# the tensors and the file (stories260K's 172-wide rows do not pack into AutoGPTQ's words).
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" text="$root/assets/text/tinyshakespeare-head.txt"
run() { "$bin" run --no-journal "$1" 2>&1; }
ppl() { grep -oE "PPL = [0-9.]+" <<<"$1"; }
gen() { grep -A1 "^> Once" <<<"$1" | tail -1; }

cat > "$tmp/a.txt" <<EOS
load $model as base
compress base rtn --sym --out $tmp/c.gguf as small
save small $tmp/s.gguf
load $tmp/s.gguf as again
set temp 0
use small
generate -n 24 Once upon a time
eval ppl -f $text --ctx 128 --chunks 4
use again
generate -n 24 Once upon a time
eval ppl -f $text --ctx 128 --chunks 4
EOS
out=$(run "$tmp/a.txt")
grep -q "saved 'small' ($tmp/c.gguf) to $tmp/s.gguf as GGUF: " <<<"$out" && ok || bad "save gguf: $out"
p=$(ppl "$out")
[ "$(wc -l <<<"$p")" = 2 ] && [ "$(sed -n 1p <<<"$p")" = "$(sed -n 2p <<<"$p")" ] && ok || bad "ppl differs: $p"
g=$(grep -A1 "^> Once" <<<"$out" | grep -v "^> \|^--")
[ "$(wc -l <<<"$g")" = 2 ] && [ "$(sed -n 1p <<<"$g")" = "$(sed -n 2p <<<"$g")" ] && ok || bad "tokens differ: $g"

# errors: unknown model, a folder AutoGPTQ cannot pack, the model's own file, a bad format
printf 'load %s as base\nsave nope %s/x.gguf\n' "$model" "$tmp" > "$tmp/e1.txt"
expect "unknown" 1 "save: no language model named 'nope' is loaded" -- "$bin" run --no-journal "$tmp/e1.txt"
printf 'load %s as base\ncompress base rtn --sym --out %s/c.gguf as small\nsave small %s/fold\n' "$model" "$tmp" "$tmp" > "$tmp/e2.txt"
expect "packing" 1 "save: $tmp/fold: AutoGPTQ packs .* blk.0.ffn_gate.weight \(q4_0\)" -- "$bin" run --no-journal "$tmp/e2.txt"
[ ! -e "$tmp/fold/model.safetensors" ] && ok || bad "a refused save wrote a folder"
printf 'load %s as base\nsave base %s\n' "$model" "$model" > "$tmp/e3.txt"
expect "own file" 1 "is the file 'base' was loaded from" -- "$bin" run --no-journal "$tmp/e3.txt"
printf 'load %s as base\nsave base %s/x --format onnx\n' "$model" "$tmp" > "$tmp/e4.txt"
expect "format" 1 "save: unknown format 'onnx' \(gguf, hf, slicegpt\)" -- "$bin" run --no-journal "$tmp/e4.txt"
printf 'load %s as base\nsave base %s/nodir/x.gguf\n' "$model" "$tmp" > "$tmp/e6.txt"
expect "missing folder" 1 "save: $tmp/nodir/x.gguf: the folder $tmp/nodir does not exist" -- "$bin" run --no-journal "$tmp/e6.txt"
printf 'load %s as base\nsave base %s/f32 --format hf\n' "$model" "$tmp" > "$tmp/e5.txt"
expect "plain folder" 0 "saved 'base' .* as a Hugging Face folder: " -- "$bin" run --no-journal "$tmp/e5.txt"

# AutoGPTQ folder: a synthetic model whose rows pack
"$bin" convert --synthetic tiny "$tmp/tiny.gguf" >/dev/null 2>&1 || bad "convert --synthetic"
cat > "$tmp/b.txt" <<EOS
load $tmp/tiny.gguf as t
compress t rtn --sym --out $tmp/t4.gguf as t4
save t4 $tmp/t4_hf
load $tmp/t4_hf as th
save th $tmp/back.gguf
load $tmp/back.gguf as tb
set temp 0
use t4
generate -n 16 Once upon
eval ppl -f $text --ctx 64 --chunks 4
use th
generate -n 16 Once upon
eval ppl -f $text --ctx 64 --chunks 4
use tb
generate -n 16 Once upon
eval ppl -f $text --ctx 64 --chunks 4
EOS
out=$(run "$tmp/b.txt")
grep -q "21 matrices as AutoGPTQ gptq_v2 4-bit groups of 32 sym" <<<"$out" && ok || bad "save hf: $out"
grep -q "loaded 'th' (hf, gq4_32" <<<"$out" && ok || bad "reloads as gq4: $out"
grep -q "21 GPTQ matrices as q4_0" <<<"$out" && ok || bad "gq4 back to q4_0: $out"
grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$tmp/t4_hf/quantize_config.json" && ok || bad "quantize_config.json"
# a folder is written whole under a temporary name and renamed: never into a folder holding
# another model's files (a plain save over the AutoGPTQ one would leave its quantize_config.json)
printf 'load %s/tiny.gguf as t\nsave t %s/t4_hf\n' "$tmp" "$tmp" > "$tmp/b2.txt"
expect "non-empty folder" 1 "save: $tmp/t4_hf: the folder exists and is not empty" -- "$bin" run --no-journal "$tmp/b2.txt"
ls -d "$tmp"/*.tmp-* >/dev/null 2>&1 && bad "a temporary folder was left: $(ls -d "$tmp"/*.tmp-*)" || ok
# the same weights through other kernels (gq4 vs q4_0 dot products; the Q6_K output matrix
# as f32 after the folder): perplexity within 0.5%
g=$(grep -A1 "^> Once" <<<"$out" | grep -v "^> \|^--" | sort -u)
[ -n "$g" ] && [ "$(wc -l <<<"$g")" = 1 ] && ok || bad "greedy tokens differ: $g"
p=$(ppl "$out" | cut -d' ' -f3)
[ "$(wc -l <<<"$p")" = 3 ] && awk -v a="$(sed -n 1p <<<"$p")" -v b="$(sed -n 2p <<<"$p")" -v c="$(sed -n 3p <<<"$p")" \
  'BEGIN { d1 = (a - b) / a; d2 = (a - c) / a; exit !(d1 < 5e-3 && d1 > -5e-3 && d2 < 5e-3 && d2 > -5e-3) }' \
  && ok || bad "ppl beyond float noise: $p"

# compare: the original and the compressed copy side by side
cat > "$tmp/c.txt" <<EOS
load $model as base
compress base rtn --sym --out $tmp/c2.gguf as small
compare -f $text --ctx 128 --chunks 3 -p 16 -n 8
EOS
out=$(run "$tmp/c.txt")
grep -qE "^base +0.99 +32.00 .* 0.000000 100.0%" <<<"$out" && ok || bad "compare base row: $out"
grep -qE "^small +0.23 +7.51 .* 0.[0-9]*[1-9][0-9]* " <<<"$out" && ok || bad "compare small row: $out"
printf 'load %s as base\ncompare base nope\n' "$model" > "$tmp/c3.txt"
expect "compare unknown" 1 "compare: no language model named 'nope' is loaded" -- "$bin" run --no-journal "$tmp/c3.txt"
printf 'load %s as base\ncompare -f %s/missing.txt\n' "$model" "$tmp" > "$tmp/c4.txt"
expect "compare missing file" 1 "compare: .*missing.txt" -- "$bin" run --no-journal "$tmp/c4.txt"
# KLD needs one vocabulary: a model of another one is refused up front, naming both
printf 'load %s as base\nload %s/tiny.gguf as t\ncompare base t -f %s --ctx 64 --chunks 1\n' "$model" "$tmp" "$text" > "$tmp/c6.txt"
expect "compare vocab" 1 "compare: 't' has a vocabulary of [0-9]+ tokens, the base 'base' 512: KLD" -- \
  "$bin" run --no-journal "$tmp/c6.txt"
printf 'compare\n' > "$tmp/c5.txt"
expect "compare nothing" 1 "compare: no model loaded" -- "$bin" run --no-journal "$tmp/c5.txt"
finish
