#!/usr/bin/env bash
# test_reliability.sh - the hostile-input findings, each as a user meets it through the lathe
# binary: every repro exits with a clear one-line error (or works), within a time limit (no
# hang): NaN weights, FIFOs, devices and directories where files belong, a journal with no
# line end, a journal that replays itself, a prompt longer than the context, an address-space
# limit, a tokenizer path that is a directory.
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
T="timeout 60" # a hang fails the test (exit 124) instead of stopping the suite

# NaN weights: one NaN in the token embedding (a NaN logit, never chosen) still generates;
# a NaN norm (every logit NaN) is an error naming the position, not a crash
python3 - "$model" "$tmp" <<'PY' || { echo "python3 is needed to write the NaN models"; exit 77; }
import struct, sys
src, out = sys.argv[1], sys.argv[2]
b = bytearray(open(src, 'rb').read())
dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack('<7i', b[:28])
emb = 28                                   # token_embedding_table [vocab, dim]
nan = struct.pack('<f', float('nan'))
e = bytearray(b); e[emb + 4 * (100 * dim + 3): emb + 4 * (100 * dim + 4)] = nan   # token 100, one element
open(out + '/nan_emb.bin', 'wb').write(e)
rms_att = emb + 4 * abs(vocab) * dim       # rms_att_weight [layers, dim]
n = bytearray(b); n[rms_att: rms_att + 4] = nan
open(out + '/nan_norm.bin', 'wb').write(n)
PY
for temp in 0 0.8; do
  expect "NaN in one embedding row, temp $temp" 0 "decode: [0-9.]+ tok/s" -- $T "$bin" generate -m "$tmp/nan_emb.bin" \
    --tokenizer "$tok" -p "Once upon a time" -n 40 --temp $temp
  expect "NaN norm, temp $temp" 1 "the model produced NaN logits at position" -- $T "$bin" generate \
    -m "$tmp/nan_norm.bin" --tokenizer "$tok" -p "Once upon a time" -n 20 --temp $temp
done
expect "NaN norm, speculative" 1 "NaN logits" -- $T "$bin" generate -m "$tmp/nan_norm.bin" --tokenizer "$tok" \
  -p "Once upon a time" -n 20 --spec ngram
expect "NaN norm, bench" 1 "NaN logits" -- $T "$bin" bench -m "$tmp/nan_norm.bin" -p 8 -n 8

# FIFOs, devices and directories where a file belongs: refused at once
mkfifo "$tmp/fifo"
expect "load a FIFO" 1 "not a regular file \(a FIFO\)" -- $T "$bin" generate -m "$tmp/fifo" -p hi
printf 'load %s\n' "$tmp/fifo" >"$tmp/load_fifo.txt"
expect "run: load a FIFO" 1 "not a regular file" -- $T "$bin" run --no-journal "$tmp/load_fifo.txt"
expect "replay a FIFO" 1 "not a regular file \(a FIFO\)" -- $T "$bin" replay "$tmp/fifo"
expect "replay /dev/zero" 1 "not a regular file \(a character device\)" -- $T "$bin" replay /dev/zero
expect "run a directory" 1 "not a regular file \(a directory\)" -- $T "$bin" run --no-journal "$tmp"
expect "tokenizer is a directory" 1 "tokenizer.*not a regular file \(a directory\)" -- $T "$bin" generate -m "$model" \
  --tokenizer "$tmp" -p hi

# a journal line with no end (a runaway file) stops at the cap; a torn line is skipped and named
{ echo '{"lathe_journal":1}'; head -c 1100000 /dev/zero | tr '\0' x; } >"$tmp/long.lathe"
expect "replay an endless line" 0 "skipped 1 entry longer than 1048576 bytes on line 2" -- $T "$bin" replay \
  "$tmp/long.lathe"
# a chat line over the cap is recorded, and the journal still replays: that entry is skipped
printf 'set seed 1\nchat %s\nset seed 2\n' "$(head -c 1100000 /dev/zero | tr '\0' w)" >"$tmp/huge_chat.txt"
LATHE_STATE_DIR="$tmp/state" $T "$bin" run "$tmp/huge_chat.txt" >/dev/null 2>&1
j=$(ls "$tmp"/state/sessions/*.lathe 2>/dev/null | head -1)
if [ -n "$j" ]; then
  expect "replay a journal with an over-long entry" 0 "skipped 1 entry longer than" -- $T "$bin" replay "$j"
else
  bad "lathe run wrote no journal under $tmp/state"
fi
{
  echo '{"lathe_journal":1}'
  echo '{"n":1,"line":"set seed 3","cmd":"set","status":"ok","seed":"0"}'
  printf '{"n":2,"line":"set te'
  echo '{"n":3,"line":"set temp 0.5","cmd":"set","status":"ok","seed":"0"}'
} >"$tmp/torn.lathe"
expect "replay a torn line" 0 "skipped 1 torn entry .* line 3" -- $T "$bin" replay "$tmp/torn.lathe"

# a journal that replays itself stops at a depth limit
printf '{"lathe_journal":1}\n{"n":1,"line":"replay %s","cmd":"replay","status":"ok"}\n' "$tmp/self.lathe" >"$tmp/self.lathe"
expect "replay itself" 1 "diverges at line 2" -- $T "$bin" replay --check "$tmp/self.lathe"
printf 'replay %s\n' "$tmp/self.lathe" >"$tmp/self_run.txt"
expect "run a self-replaying journal" 1 "diverges" -- $T "$bin" run --no-journal "$tmp/self_run.txt"

# a prompt longer than the context, in the workbench language
words=$(printf 'word %.0s' $(seq 700))
printf 'load %s --tokenizer %s\nchat %s\n' "$model" "$tok" "$words" >"$tmp/long_prompt.txt"
expect "prompt longer than the context" 1 "the prompt has [0-9]+ tokens, the context holds 512" -- $T "$bin" run \
  --no-journal "$tmp/long_prompt.txt"
printf 'load %s --tokenizer %s\nchat Don'"'"'t stop, "she" said %s\n' "$model" "$tok" "$(printf 'w%d ' $(seq 40))" \
  >"$tmp/apostrophe.txt"
expect "chat with an apostrophe and 40 words" 0 "Don't stop" -- $T "$bin" run --no-journal "$tmp/apostrophe.txt"

# an address-space limit: the CPU path runs (OpenBLAS would spin allocating its buffers)
if ldd "$bin" | grep -q 'libcublas\|libcudart'; then
  echo "skip: this lathe links the CUDA libraries directly; the 200 MB address-space check needs the CUDA module build"
elif ldd "$bin" | grep -q 'libasan'; then
  echo "skip: an AddressSanitizer build reserves terabytes of shadow memory; ulimit -v cannot apply"
else
  P=$(printf 'word %.0s' $(seq 100))
  expect "100-token prompt under ulimit -v 200 MB" 0 "decode: [0-9.]+ tok/s" -- $T bash -c \
    'ulimit -v 204800 && exec "$0" generate -m "$1" --tokenizer "$2" -p "$3" -n 8 --temp 0 --device cpu' \
    "$bin" "$model" "$tok" "$P"
  expect "too big under ulimit: the limit is named" 1 "limited to .* of address space by ulimit" -- $T bash -c \
    'ulimit -v 307200 && exec "$0" bench --synthetic llama-1b --type q8_0 -p 8 -n 4 --device cpu' "$bin"
fi
finish
