#!/usr/bin/env bash
# check.sh - the Hugging Face fixtures (tests/fixtures/hf) converted to GGUF by lathe, read by
# gguf-py and run by llama.cpp: llama.cpp's 64 greedy ids after the fixture's 64-token prompt
# must equal transformers' (expected.txt). Mistral (written as llama with
# llama.attention.sliding_window, which llama.cpp does not apply to llama) is compared within its
# 16-token window: 8 prompt ids and 8 generated, against transformers run here (needs torch).
#   LLAMA_CPP=/path/to/llama.cpp PYTHON=/path/to/python-with-gguf tools/llamacpp/check.sh [build]
# Not part of ctest: it needs a llama.cpp build and gguf-py (pip install gguf).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
lc=${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp source tree with build/bin}
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc "$root/tools/llamacpp/greedy.c" -I"$lc/include" -I"$lc/ggml/include" -L"$lc/build/bin" -lllama -lggml \
   -lggml-base -Wl,-rpath,"$lc/build/bin" -o "$tmp/greedy"
fail=0
for f in llama3_rope llama_bias qwen2_tied llama_yarn mistral_swa; do
    d=$root/tests/fixtures/hf/$f
    "$build/lathe" convert "$d" "$tmp/$f.gguf" >/dev/null 2>&1
    "$py" "$root/tools/llamacpp/addvocab.py" "$tmp/$f.gguf" "$tmp/${f}_v.gguf"
    if [ "$f" = mistral_swa ]; then
        prompt=$(head -1 "$d/expected.txt" | cut -d' ' -f1-8)
        got=$("$tmp/greedy" "$tmp/${f}_v.gguf" 8 $prompt 2>/dev/null | xargs)
        want=$("$py" - "$d" $prompt <<'PY'
import sys, torch
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager").eval()
ids = [int(x) for x in sys.argv[2:]]
with torch.no_grad():
    for _ in range(8):
        ids.append(int(m(torch.tensor([ids])).logits[0, -1].argmax()))
print(" ".join(map(str, ids[-8:])))
PY
)
    else
        got=$("$tmp/greedy" "$tmp/${f}_v.gguf" 64 $(head -1 "$d/expected.txt") 2>/dev/null | xargs)
        want=$(sed -n 2p "$d/expected.txt" | xargs)
    fi
    if [ "$got" = "$want" ]; then echo "$f: llama.cpp greedy ids equal transformers'"; else
        echo "$f: llama.cpp greedy ids DIFFER: $got vs $want"; fail=1; fi
done
exit $fail
