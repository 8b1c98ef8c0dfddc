#!/usr/bin/env bash
# test_cli.sh - the lathe command line as a user meets it: help, bad commands and options,
# missing and corrupt model files (clear errors, no crash), convert round trips (GGUF f32
# generates exactly what the original does), bench --json (with peak RSS), an exhausted KV cache.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"

expect "help" 0 "usage: lathe COMMAND" -- "$bin"
expect "unknown command" 2 "unknown command 'bogus'" -- "$bin" bogus
expect "generate needs a model" 2 "-m MODEL is required" -- "$bin" generate -p hi
expect "unknown option" 2 "unknown option '--frobnicate'" -- "$bin" generate --frobnicate
expect "bad number" 2 "--temp expects a number" -- "$bin" generate -m "$model" -p hi --temp abc
expect "missing file" 1 "nothere.bin" -- "$bin" generate -m "$tmp/nothere.bin" -p hi
head -c 1000 "$model" > "$tmp/trunc.bin"
expect "truncated llama2.c" 1 "trunc.bin" -- "$bin" generate -m "$tmp/trunc.bin" --tokenizer "$tok" -p hi
printf 'GGUF\003\000\000\000garbage' > "$tmp/bad.gguf"
expect "corrupt gguf" 1 "bad.gguf" -- "$bin" generate -m "$tmp/bad.gguf" -p hi
expect "bad device" 1 "unknown device 'tpu'" -- "$bin" generate -m "$model" --tokenizer "$tok" -p hi --device tpu
expect "kv cache exhausted" 1 "KV cache full" -- "$bin" generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 100 --temp 0 --kv-blocks 2

# convert: f32 GGUF generates exactly what the llama2.c file generates
ref=$("$bin" generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 80 --temp 0 2>/dev/null)
expect "convert f32" 0 "wrote" -- "$bin" convert "$model" "$tmp/s.gguf" --tokenizer "$tok"
got=$("$bin" generate -m "$tmp/s.gguf" -p "Once upon a time" -n 80 --temp 0 2>/dev/null)
if [ -n "$ref" ] && [ "$ref" = "$got" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: GGUF output differs:"; echo "$ref"; echo "$got"; fi
expect "convert q8_0" 0 "wrote" -- "$bin" convert "$model" "$tmp/s8.gguf" --tokenizer "$tok" --type q8_0
expect "generate q8_0" 0 "decode: [0-9.]+ tok/s" -- "$bin" generate -m "$tmp/s8.gguf" -p "Once upon a time" -n 20
expect "convert bad type" 2 "unknown --type 'q3'" -- "$bin" convert "$model" "$tmp/x.gguf" --type q3
expect "convert llama2c" 0 "wrote" -- "$bin" convert "$tmp/s.gguf" "$tmp/back.bin"
got=$("$bin" generate -m "$tmp/back.bin" --tokenizer "$tok" -p "Once upon a time" -n 80 --temp 0 2>/dev/null)
if [ "$ref" = "$got" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: llama2.c round trip differs"; fi

# bench: one JSON object with the figures
expect "bench json" 0 '"decode":\{"tokens":8,.*"tok_s":' -- "$bin" bench --synthetic tiny --type q8_0 -p 16 -n 8 --json
expect "bench model" 0 "decode +8 tokens" -- "$bin" bench -m "$model" --tokenizer "$tok" -p 16 -n 8
# bench reports the process's peak resident set and the model file's size (both > 0)
expect "bench json rss" 0 '"model_file_bytes":[1-9][0-9]*,"peak_rss_bytes":[1-9][0-9]*' -- \
  "$bin" bench -m "$model" --tokenizer "$tok" -p 16 -n 8 --json
expect "bench rss" 0 "host +[0-9.]+ MiB peak resident \(model file" -- "$bin" bench -m "$model" --tokenizer "$tok" -p 16 -n 8
# ... and what #12's memory goal leaves out: the KV cache and scratch the backend holds, and the
# peak over the file with and without them (on the CPU both are host memory, so both are taken away)
json=$("$bin" bench -m "$model" --tokenizer "$tok" -p 16 -n 8 --json 2>/dev/null)
if python3 -c '
import json, sys
d = json.loads(sys.argv[1])
f, p, kv, sc = d["model_file_bytes"], d["peak_rss_bytes"], d["kv_bytes"], d["scratch_bytes"]
assert kv > 0 and sc > 0, (kv, sc)
assert abs(d["peak_rss_over_file"] - p / f) < 1e-9, d
assert abs(d["peak_rss_over_file_excl_kv_scratch"] - (p - kv - sc) / f) < 1e-9, d
kr, sr = d["kv_resident_bytes"], d["scratch_resident_bytes"]
assert 0 < kr <= kv + 2**21 and 0 < sr <= sc + 2**21, (kr, sr, kv, sc)  # touched, at most a huge page beyond
assert abs(d["peak_rss_over_file_excl_kv_scratch_resident"] - (p - kr - sr) / f) < 1e-9, d
' "$json"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: bench json kv/scratch figures: $json"; fi
expect "bench bad preset" 1 "unknown synthetic model 'llama-99b'" -- "$bin" bench --synthetic llama-99b

finish
