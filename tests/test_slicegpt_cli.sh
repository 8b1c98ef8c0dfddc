#!/usr/bin/env bash
# test_slicegpt_cli.sh - SliceGPT (TransformerCompression) folders at the command line:
# `lathe convert DIR OUT --format slicegpt` writes their layout (the SlicingConfig JSON byte for
# byte as their code wrote it for tests/fixtures/slicegpt-tiny); a folder with two models, a .pt
# without config.json and a model whose norms are not folded are errors naming what is wrong.
set -u
source "$(dirname "$0")/cli_lib.sh"
fix="$root/tests/fixtures/slicegpt-tiny" stem=Llama-2-tiny_0.25

expect "convert to slicegpt" 0 "wrote $tmp/out \(slicegpt" -- "$bin" convert "$fix" "$tmp/out" --format slicegpt
for f in $stem.pt $stem.json config.json tokenizer.json tokenizer_config.json; do
  [ -s "$tmp/out/$f" ] && ok || bad "no $f in the written folder"
done
cmp -s "$tmp/out/$stem.json" "$fix/$stem.json" && ok || bad "the JSON differs from theirs"
expect "the .pt named" 0 "wrote $tmp/out2" -- "$bin" convert "$fix/$stem.pt" "$tmp/out2" --format slicegpt
cmp -s "$tmp/out/$stem.pt" "$tmp/out2/$stem.pt" && ok || bad "the .pt differs between the folder and its .pt"

mkdir -p "$tmp/two"
cp "$fix/config.json" "$fix/$stem.pt" "$fix/$stem.json" "$tmp/two/"
cp "$fix/$stem.pt" "$tmp/two/Other_0.3.pt"; cp "$fix/$stem.json" "$tmp/two/Other_0.3.json"
expect "two models" 1 "2 SliceGPT models .*(Llama-2-tiny_0.25.pt, Other_0.3.pt|Other_0.3.pt, Llama-2-tiny_0.25.pt).*name one" \
  -- "$bin" convert "$tmp/two" "$tmp/x" --format slicegpt
expect "one of two named" 0 "wrote" -- "$bin" convert "$tmp/two/Other_0.3.pt" "$tmp/y" --format slicegpt
[ -s "$tmp/y/Other_0.3.pt" ] && ok || bad "the named model's stem is not kept"
mkdir -p "$tmp/lone"; cp "$fix/$stem.pt" "$tmp/lone/"
expect "no config.json" 1 "no config.json next to it" -- "$bin" convert "$tmp/lone/$stem.pt" "$tmp/z"
expect "norms not folded" 1 "norm weights" -- "$bin" convert "$root/assets/models/stories260K.bin" "$tmp/w" --format slicegpt
expect "--type" 2 "--type is not for --format slicegpt" -- "$bin" convert "$fix" "$tmp/v" --format slicegpt --type f32

# lathe compress --method slicegpt straight into their layout (f16, as their runs save), loaded again
model="$root/assets/models/stories260K.bin" text="$root/assets/text/tinyshakespeare-head.txt"
expect "compress to their folder" 0 "slicegpt: residual width 48" -- "$bin" compress -m "$model" --calib "$text" \
  --calib-tokens 1024 --method slicegpt --slice 0.25 -o "$tmp/sg" --format slicegpt
[ -s "$tmp/sg/stories260K_0.25.pt" ] && [ -s "$tmp/sg/stories260K_0.25.json" ] && ok || bad "no stories260K_0.25.pt/.json"
grep -q '"embedding_dimensions": {"0": 48}' "$tmp/sg/stories260K_0.25.json" && ok || bad "widths: $(cat "$tmp/sg/stories260K_0.25.json")"
a=$("$bin" generate -m "$tmp/sg" -p "Once upon" -n 12 --temp 0 2>/dev/null)
"$bin" convert "$tmp/sg" "$tmp/sg.gguf" >/dev/null 2>&1
b=$("$bin" generate -m "$tmp/sg.gguf" -p "Once upon" -n 12 --temp 0 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "the folder and its GGUF generate differently: '$a' / '$b'"
# lathe's low-rank shortcuts (the default) and the authors' full matrices: the same function
expect "low-rank shortcuts" 0 "shortcuts low-rank, rank <= 1[0-6]$" -- "$bin" compress -m "$model" --calib "$text" \
  --calib-tokens 1024 --method slicegpt --slice 0.25 -o "$tmp/lr.gguf"
expect "full shortcuts" 0 "shortcuts full$" -- "$bin" compress -m "$model" --calib "$text" \
  --calib-tokens 1024 --method slicegpt --slice 0.25 --full-shortcuts -o "$tmp/full.gguf"
a=$("$bin" generate -m "$tmp/lr.gguf" -p "Once upon" -n 24 --temp 0 2>/dev/null)
b=$("$bin" generate -m "$tmp/full.gguf" -p "Once upon" -n 24 --temp 0 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "low-rank and full shortcuts generate differently: '$a' / '$b'"
# the same model in their folder (f16, shortcuts written out, q/k rows in Hugging Face's rope order
# where stories260K's are llama2.c's): the perplexity of the GGUF made f16, to rounding
"$bin" convert "$tmp/lr.gguf" "$tmp/lr-fold" --format slicegpt >/dev/null 2>&1
"$bin" convert "$tmp/lr.gguf" "$tmp/lr16.gguf" --type f16 >/dev/null 2>&1
ppl() { "$bin" eval ppl -m "$1" -f "$text" -c 128 --chunks 8 --json 2>/dev/null | grep -o '"ppl":[0-9.]*' | cut -d: -f2; }
p1=$(ppl "$tmp/lr16.gguf") p2=$(ppl "$tmp/lr-fold")
awk -v a="$p1" -v b="$p2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 1 && d < 1e-3 * a) }' && ok ||
  bad "the folder's perplexity $p2 is not the f16 GGUF's $p1"
expect "a sliced GGUF to a Hugging Face folder" 1 "no Hugging Face equivalent .*--format slicegpt" -- "$bin" convert \
  "$tmp/lr.gguf" "$tmp/lr-hf"
expect "--full-shortcuts for another method" 2 "--full-shortcuts is for --method slicegpt" -- "$bin" compress \
  -m "$model" -o "$tmp/x.gguf" --method rtn --full-shortcuts
expect "format for another method" 1 "--format slicegpt is for --method slicegpt" -- "$bin" compress -m "$model" \
  -o "$tmp/x" --method rtn --format slicegpt
finish
