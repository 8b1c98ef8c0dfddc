#!/usr/bin/env bash
# test_quantize_cli.sh - `lathe quantize` and `lathe convert --type` as a user meets them: the
# bundled stories260K quantized with a tensor type and with mixes, read back with the expected
# type for every tensor (a --dry-run over the written file lists what it holds) and generating
# text; --dry-run's plan against llama-quantize's choices (tests/fixtures/quantmix); the summary;
# convert --type writing the same file; the workbench command through `lathe run`; a bad TYPE
# (the valid types and mixes listed), a bad input path, an output folder that does not exist.
# With SmolLM2-135M (SmolLM2-135M-Instruct.Q4_1.gguf in the models folder, ~/.cache/lathe/models
# or $LATHE_MODELS, where tools/fetch-model.sh fetches it; or $LATHE_SMOLLM2), its Q4_K_M,
# Q5_K_M and Q6_K plans are checked against llama-quantize's too.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
fx="$root/tests/fixtures/quantmix"

# types NAME FILE: "tensor type" lines of a GGUF file (what it holds), sorted
types() { "$bin" quantize "$1" "$tmp/unused.gguf" F32 --dry-run 2>/dev/null | awk '$4 == "->" {print $1, $3}' | sort; }
# plan MODEL MIX [TOK]: "tensor type" lines of lathe's plan, sorted
plan() {
  "$bin" quantize "$1" "$tmp/unused.gguf" "$2" --dry-run ${3:+--tokenizer "$3"} 2>/dev/null |
    awk '$4 == "->" {print $1, $5}' | sort
}
# ref FIXTURE MIX: "tensor type" lines llama-quantize chose, sorted
ref() {
  awk -v mix="$2" '/^mixes:/ {for (i = 2; i <= NF; i++) if ($i == mix) c = i + 2; next}
                   /^#|^config:/ {next} {print $1, $c}' "$1" | sort
}
same() { # same NAME A B
  if [ "$2" = "$3" ] && [ -n "$2" ]; then ok; else bad "$1"; diff <(echo "$2") <(echo "$3") | head -10; fi
}

# a tensor type: q8_0 (the Q8_0 mix) - matrices q8_0, the 172-long ffn_down rows f16, norms f32
expect "quantize q8_0" 0 "quant size += +0\.31 MiB \(10\.15 BPW\)" -- \
  "$bin" quantize "$model" "$tmp/q8.gguf" q8_0 --tokenizer "$tok"
got=$(types "$tmp/q8.gguf")
want=$(ref "$fx/stories260k.txt" Q8_0)
same "q8_0 file types" "$got" "$want"
grep -q "^blk.0.ffn_down.weight f16$" <<<"$got" && grep -q "^blk.2.attn_q.weight q8_0$" <<<"$got" &&
  grep -q "^output_norm.weight f32$" <<<"$got" && ok || bad "q8_0 types: $(head -5 <<<"$got")"
expect "generate q8_0" 0 "decode: [0-9.]+ tok/s" -- "$bin" generate -m "$tmp/q8.gguf" -p "Once upon a time" -n 16
# progress lines (not a terminal: one per tensor) and the summary
expect "progress" 0 "\[ +47/47\] blk.4.ffn_up.weight +f32 -> q8_0" -- \
  "$bin" quantize "$model" "$tmp/q8b.gguf" Q8_0 --tokenizer "$tok"
expect "summary" 0 "model size += +0\.99 MiB \(32\.00 BPW\)" -- "$bin" quantize "$model" "$tmp/q8b.gguf" q8_0 --tokenizer "$tok"

# a mix: Q4_0 (tied embeddings follow output.weight: q6_K -> q8_0 for 64-long rows)
expect "quantize Q4_0" 0 "wrote .*q40.gguf \(gguf, Q4_0" -- "$bin" quantize "$model" "$tmp/q40.gguf" q4_0 --tokenizer "$tok"
same "Q4_0 file types" "$(types "$tmp/q40.gguf")" "$(ref "$fx/stories260k.txt" Q4_0)"
grep -q "^token_embd.weight q8_0$" <<<"$(types "$tmp/q40.gguf")" && ok || bad "Q4_0 token_embd"
ref_story=$("$bin" generate -m "$tmp/q40.gguf" -p "Once upon a time" -n 16 --temp 0 2>/dev/null)
[ -n "$ref_story" ] && ok || bad "generate Q4_0 printed nothing"
# convert --type is the same implementation: the same bytes
expect "convert --type Q4_0" 0 "quant size" -- "$bin" convert "$model" "$tmp/c40.gguf" --tokenizer "$tok" --type Q4_0
cmp -s "$tmp/q40.gguf" "$tmp/c40.gguf" && ok || bad "convert --type Q4_0 differs from quantize Q4_0"
expect "convert --pure" 0 "quant size" -- "$bin" convert "$model" "$tmp/p40.gguf" --tokenizer "$tok" --type q4_0 --pure
grep -q "^token_embd.weight q4_0$" <<<"$(types "$tmp/p40.gguf")" && ok || bad "--pure token_embd"

# every mix's plan for stories260K is llama-quantize's
for mix in Q4_K_M Q5_K_M Q6_K Q3_K_S Q2_K IQ4_XS F16; do
  same "stories260K $mix plan" "$(plan "$model" $mix "$tok")" "$(ref "$fx/stories260k.txt" $mix)"
done
# a k-quant mix writes when this build has the quantizers, else says which type it lacks
out=$("$bin" quantize "$model" "$tmp/k.gguf" Q4_K_M --tokenizer "$tok" 2>&1); rc=$?
if [ $rc -eq 0 ]; then same "Q4_K_M file types" "$(types "$tmp/k.gguf")" "$(ref "$fx/stories260k.txt" Q4_K_M)"
elif grep -q "cannot write yet" <<<"$out" && [ ! -e "$tmp/k.gguf" ]; then ok
else bad "Q4_K_M: rc=$rc $out"; fi

# SmolLM2-135M (dim 576: every 576-long row falls back), when the file is here
smol=$(smollm2_path)
if [ -f "$smol" ]; then
  for mix in Q4_K_M Q5_K_M Q6_K; do
    same "SmolLM2 $mix plan" "$(plan "$smol" $mix)" "$(ref "$fx/smollm2.txt" $mix)"
  done
  expect "SmolLM2 sizes" 0 "quant size += +98\.87 MiB \(6\.17 BPW\)" -- "$bin" quantize "$smol" "$tmp/s.gguf" Q4_K_M --dry-run
fi

# the workbench command on the loaded model's source
printf 'load %s --tokenizer %s\nquantize %s q8_0\n' "$model" "$tok" "$tmp/wb.gguf" > "$tmp/script"
expect "workbench quantize" 0 "wrote .*wb.gguf \(general.file_type 7\)" -- "$bin" run "$tmp/script" --no-journal
cmp -s "$tmp/wb.gguf" "$tmp/q8.gguf" && ok || bad "workbench quantize differs from lathe quantize"
printf 'load synthetic:tiny\nquantize %s q8_0\n' "$tmp/wb2.gguf" > "$tmp/script2"
expect "workbench synthetic" 1 "was not loaded from a file" -- "$bin" run "$tmp/script2" --no-journal

# errors
expect "bad TYPE" 2 "unknown TYPE 'Q4_X'" -- "$bin" quantize "$model" "$tmp/x.gguf" Q4_X
expect "bad TYPE lists" 2 "tensor types: f32, f16, bf16, q8_0.*iq4_xs" -- "$bin" quantize "$model" "$tmp/x.gguf" q3
expect "bad TYPE lists mixes" 2 "mixes \(llama-quantize's\): Q4_0.*Q4_K_M.*IQ4_XS" -- "$bin" quantize "$model" "$tmp/x.gguf" q3
expect "missing TYPE" 2 "expected an input, an output and a TYPE" -- "$bin" quantize "$model" "$tmp/x.gguf"
expect "bad input" 1 "nothere.gguf: cannot open" -- "$bin" quantize "$tmp/nothere.gguf" "$tmp/x.gguf" q8_0
expect "missing folder" 1 "the folder .*/nodir does not exist" -- \
  "$bin" quantize "$model" "$tmp/nodir/x.gguf" q8_0 --tokenizer "$tok"
[ ! -e "$tmp/x.gguf" ] && ok || bad "a failed quantize left a file"
expect "convert bad type" 2 "unknown --type 'q9_9'" -- "$bin" convert "$model" "$tmp/x.gguf" --type q9_9
# lathe's 2:4 types are not --type values (pruning makes them) and are not listed as such
expect "convert s24" 2 "'s24_f16' is a 2:4 sparse type.*--method sparse24" -- "$bin" convert "$model" "$tmp/x.gguf" --type s24_f16
out=$("$bin" quantize "$model" "$tmp/x.gguf" q3 2>&1)
! grep -q "s24" <<<"$out" && ok || bad "the --type list names s24 types: $out"
expect "convert hf k-quant" 2 "--type .q4_K. cannot be written as hf" -- "$bin" convert "$model" "$tmp/xhf" --type q4_K
expect "convert llama2c f16" 2 "llama2.c checkpoints are f32" -- "$bin" convert "$model" "$tmp/x.bin" --type f16

finish
