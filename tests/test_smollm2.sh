#!/usr/bin/env bash
# test_smollm2.sh - the real default chat model against llama.cpp (tests/data/smollm2_reference.txt):
# perplexity as llama-perplexity computes it (ctx 512, 4 chunks of the bundled Shakespeare
# excerpt) within 0.3% of llama.cpp's on the same file, for the downloaded Q4_1 file and the
# Q4_K_M lathe makes from it, and greedy continuations of a raw prompt equal to llama.cpp's
# token for token. Needs SmolLM2-135M-Instruct.Q4_1.gguf in the models folder ($LATHE_MODELS,
# default ~/.cache/lathe/models; tools/fetch-model.sh fetches it) or $LATHE_SMOLLM2; skips (77)
# without it.
source "$(dirname "$0")/cli_lib.sh"
smol=$(smollm2_path)
if [ ! -f "$smol" ]; then
  echo "skipped: $smol is absent (tools/fetch-model.sh fetches it)"
  exit 77
fi
ref=$root/tests/data/smollm2_reference.txt
text=$root/assets/text/tinyshakespeare-head.txt
# Under the sanitizers (ASAN_OPTIONS set by tools/sanitize.sh) only the downloaded Q4_1: quantizing
# and evaluating the Q4_K_M there took 4-10 minutes of CI's time, and the K-quant code paths run
# under ASan on small models (test_quants, test_quantize_cli.sh); the Release suite checks both.
types="Q4_1 Q4_K_M"
if [ -n "${ASAN_OPTIONS:-}" ]; then
  types="Q4_1"
else
  "$bin" quantize "$smol" "$tmp/q4km.gguf" Q4_K_M >/dev/null 2>&1 || bad "quantize Q4_K_M"
fi
for t in $types; do
  f=$smol
  [ $t = Q4_K_M ] && f=$tmp/q4km.gguf
  want=$(awk -v t=$t '$1 == "ppl" && $2 == t {print $3}' "$ref")
  got=$("$bin" eval ppl -m "$f" -f "$text" --ctx 512 --chunks 4 --device cpu --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
  if python3 -c "import sys; g, w = float('$got'), float('$want'); sys.exit(abs(g / w - 1) > 0.003)" 2>/dev/null; then ok
  else bad "$t perplexity $got, llama-perplexity $want (more than 0.3% apart)"; fi
  want=$(awk -v t=$t '$1 == "greedy" && $2 == t {sub(/^greedy [^ ]+ /, ""); print}' "$ref")
  got=$("$bin" generate -m "$f" -p "The capital of France is" -n 32 --temp 0 --device cpu 2>/dev/null)
  if [ "$(printf '%b' "$want")" = "$got" ]; then ok
  else bad "$t greedy: got $(printf %q "$got"), llama.cpp $(printf %q "$(printf '%b' "$want")")"; fi
done
finish
