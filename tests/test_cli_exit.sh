#!/usr/bin/env bash
# test_cli_exit.sh - command hygiene as a user meets it: every subcommand's exit codes (0 ok,
# 1 failure, 2 usage, 130 Ctrl-C), the sampling options' ranges shared by `lathe generate` and
# the workbench's `set`, messages that name the command typed and say "unknown option",
# `lathe replay`'s exit codes (any difference: 1 unless --report-only; --check stops at the
# first), and `lathe --version` naming the backends.
set -u
set -m # background jobs keep SIGINT (a non-interactive shell would have them ignore it)
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
export LATHE_STATE_DIR="$tmp/state"

# ---- one range per value: the CLI takes what `set` takes -----------------------------------
expect "generate --temp -1" 2 "lathe generate --temp: '-1' is not a number in \[0, 100\]" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p hi --temp -1
expect "generate --top-p 2" 2 "lathe generate --top-p: '2' is not a number in \[0, 1\]" -- \
  "$bin" generate -m "$model" --tokenizer "$tok" -p hi --top-p 2
expect "generate --min-p 1.5" 2 "generate --min-p: .*\[0, 1\]" -- "$bin" generate -m "$model" -p hi --min-p 1.5
expect "generate --top-k -3" 2 "generate --top-k: .*\[0, " -- "$bin" generate -m "$model" -p hi --top-k -3
expect "generate --threads 5000" 2 "generate --threads: '5000' is not an integer in \[0, 1024\]" -- \
  "$bin" generate -m "$model" -p hi --threads 5000
expect "generate -n -2" 2 "generate --n-predict: '-2' is not an integer in \[-1, " -- "$bin" generate -m "$model" -p hi -n -2
expect "generate -n abc" 2 "generate: --n-predict expects a whole number, got 'abc'" -- "$bin" generate -m "$model" -p hi -n abc
echo "set temp -1" >"$tmp/set.txt"
expect "set temp -1" 1 "set temp: '-1' is not a number in \[0, 100\]" -- "$bin" run --no-journal "$tmp/set.txt"
expect "bench --threads -1" 2 "bench --threads: '-1'" -- "$bin" bench --synthetic tiny --threads -1
expect "eval --threads 9999" 2 "eval ppl --threads: '9999'" -- "$bin" eval ppl -m "$model" -f /dev/null --threads 9999
expect "detect --threads 9999" 2 "detect --threads: '9999'" -- "$bin" detect --threads 9999 x.jpg
expect "bench spec --temp 200" 2 "bench spec --temp: '200'" -- "$bin" bench spec --synthetic tiny --temp 200
expect "generate --temp 0 works" 0 "decode: [0-9.]+ tok/s" -- "$bin" generate -m "$model" --tokenizer "$tok" -p hi -n 4 --temp 0

# ---- the workbench's commands name themselves, and say "unknown option" ----------------------
cat >"$tmp/bad.txt" <<EOF
load $model --tokenizer $tok
generate -n abc hello
generate -n 0 hello
gen -n 99999999999 hello
detect --bogus
detect --bogus x.jpg
load x --bogus
load x --tokenizer
load x y
replay --bogus
replay a b
bench --bogus
bench -n 0
eval ppl --bogus
spec --bogus
quantize out.gguf Q8_0 --bogus
EOF
out=$("$bin" run --no-journal --keep-going "$tmp/bad.txt" 2>&1)
rc=$?
[ $rc -eq 1 ] && ok || bad "run --keep-going with failing lines: rc $rc (want 1)"
want=(
  ":2: generate: -n expects a whole number, got 'abc'"
  ":3: generate -n: '0' is not an integer in \[1, "
  ":4: generate: -n expects a whole number"
  ":5: detect: unknown option '--bogus'"
  ":6: detect: unknown option '--bogus'"
  ":7: load: unknown option '--bogus'"
  ":8: load: --tokenizer needs a value"
  ":9: load: unexpected argument 'y'"
  ":10: replay: unknown option '--bogus'"
  ":11: replay: unexpected argument 'b'"
  ":12: bench: unknown option '--bogus'"
  ":13: bench -n: '0' is not an integer"
  ":14: eval: unknown option '--bogus'"
  ":15: spec: unknown option '--bogus'"
  ":16: quantize: unknown option '--bogus'"
)
for w in "${want[@]}"; do
  grep -qE -- "$w" <<<"$out" && ok || bad "workbench message '$w' missing in: $out"
done
grep -q "set -n\|needs a value.*bogus\|--bogus.*needs a value" <<<"$out" && bad "a message names the wrong command: $out" || ok

# ---- exit codes: 2 for usage, 1 for failures -----------------------------------------------
for c in generate serve bench "bench spec" "bench detect" convert quantize detect "eval ppl" run replay; do
  # shellcheck disable=SC2086
  expect "$c unknown option" 2 "lathe $c: unknown option '--bogus'" -- "$bin" $c --bogus
done
expect "eval without ppl" 2 "usage: lathe eval ppl" -- "$bin" eval
expect "run without a script" 2 "usage: lathe run" -- "$bin" run
expect "replay without a file" 2 "give the session FILE" -- "$bin" replay
expect "replay two flags" 2 "exclude each other" -- "$bin" replay x --check --report-only
expect "convert missing args" 2 "usage: lathe convert" -- "$bin" convert
expect "quantize missing args" 2 "usage: lathe quantize" -- "$bin" quantize
expect "detect missing image" 1 "nothere.jpg" -- "$bin" detect "$tmp/nothere.jpg"
expect "replay missing file" 1 "nothere" -- "$bin" replay "$tmp/nothere.lathe"
expect "run missing script" 1 "nothere" -- "$bin" run "$tmp/nothere.txt"
expect "quantize missing model" 1 "nothere" -- "$bin" quantize "$tmp/nothere.gguf" "$tmp/o.gguf" Q8_0
expect "serve missing model" 1 "nothere" -- "$bin" serve -m "$tmp/nothere.gguf" --port 0
expect "serve --temp -1" 2 "lathe serve --temp: '-1' is not a number in \[0, 100\]" -- "$bin" serve -m "$model" --temp -1

# ---- --version names the backends compiled ---------------------------------------------------
expect "version" 0 "^lathe [0-9]" -- "$bin" --version
expect "version backends" 0 "backends: cpu" -- "$bin" --version
expect "version build" 0 "build: " -- "$bin" --version

# ---- lathe replay: exit 1 on any difference unless --report-only -----------------------------
printf 'load %s --tokenizer %s\nset seed 5\ngenerate -n 8 Once upon a time\nset temp 0.5\n' "$model" "$tok" >"$tmp/rec.txt"
expect "record a journal" 0 "" -- "$bin" run "$tmp/rec.txt"
j=$(ls "$LATHE_STATE_DIR"/sessions/*.lathe | head -1)
expect "replay clean" 0 "4 commands replayed, all OK" -- "$bin" replay "$j"
# tamper with the digests of the generation and of the last set (first hex digit: 0 <-> not 0)
flip='s/"digest":"0/"digest":"Z/; s/"digest":"[1-9a-f]/"digest":"0/; s/"digest":"Z/"digest":"1/'
sed -E "/\"line\":\"(generate -n 8|set temp 0.5)/ { $flip }" "$j" >"$tmp/t.lathe"
out=$("$bin" replay "$tmp/t.lathe" 2>&1); rc=$?
n_diff=$(grep -c " DIFF" <<<"$out")
[ $rc -eq 1 ] && ok || bad "replay with differences: rc $rc (want 1): $out"
[ "$n_diff" -eq 2 ] && ok || bad "replay reports every command ($n_diff DIFF lines, want 2): $out"
grep -q "2 of 4 commands differ" <<<"$out" && ok || bad "replay summary: $out"
out=$("$bin" replay --report-only "$tmp/t.lathe" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c " DIFF" <<<"$out")" -eq 2 ] && ok || bad "replay --report-only: rc $rc (want 0): $out"
out=$("$bin" replay --check "$tmp/t.lathe" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(grep -c " DIFF" <<<"$out")" -eq 1 ] && grep -q "t.lathe:[0-9]*: result differs" <<<"$out" && ok ||
  bad "replay --check stops at the first difference: rc $rc: $out"

# ---- Ctrl-C: exit 130 ------------------------------------------------------------------------
# sigint NAME PATTERN MSG -- CMD...: starts CMD, waits until its output matches PATTERN (it is
# working; PATTERN "-": waits 1.5 s), sends SIGINT and wants exit status 130 and, when MSG is
# set, that message. A command that ended before the SIGINT is a failure of its own (its work
# must outlast the wait on any machine): the benches below decode 4000 tokens on one CPU
# thread (--device cpu: a GPU would finish them in a moment), tens of seconds anywhere.
sigint() {
  local name=$1 pat=$2 msg=$3; shift 4
  "$@" >"$tmp/sig.out" 2>&1 &
  local pid=$! i
  [ "$pat" = - ] && sleep 1.2
  for i in $(seq 1 600); do
    [ "$pat" = - ] && break
    grep -qE -- "$pat" "$tmp/sig.out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  sleep 0.3
  if ! kill -INT $pid 2>/dev/null; then
    wait $pid
    bad "$name: ended (rc $?) before the Ctrl-C: its work is too short"; tail -c 400 "$tmp/sig.out"; echo
    return
  fi
  wait $pid
  local rc=$?
  if [ $rc -eq 130 ] && { [ -z "$msg" ] || grep -qE -- "$msg" "$tmp/sig.out"; }; then ok
  else bad "$name: Ctrl-C gave rc $rc (want 130)"; tail -c 400 "$tmp/sig.out"; echo; fi
}
"$bin" convert --synthetic small "$tmp/small.gguf" >/dev/null 2>&1 || bad "convert --synthetic small"
sigint "generate" "Once." "\[interrupted\]" -- "$bin" generate -m "$tmp/small.gguf" --tokenizer "$tok" -p Once -n -1 --ignore-eos
# bench prints nothing until the end (and the default SIGINT ends it)
sigint "bench" - "" -- "$bin" bench --synthetic small -p 16 -n 4000 --device cpu -t 1
sigint "quantize" "\[ *1/" "stopped \(Ctrl-C\)" -- "$bin" quantize "$tmp/small.gguf" "$tmp/q.gguf" IQ4_NL
[ ! -e "$tmp/q.gguf" ] && ok || bad "an interrupted quantize left $tmp/q.gguf"
awk 'BEGIN { srand(1); for (i = 0; i < 3000; i++) printf "%s ", (rand() < .5 ? "once upon a time" : "the cat sat"); print "" }' >"$tmp/text.txt"
sigint "eval ppl" "chunk" "interrupted after" -- "$bin" eval ppl -m "$tmp/small.gguf" --tokenizer "$tok" -f "$tmp/text.txt" --ctx 256
printf 'set device cpu\nset threads 1\nload synthetic:small\nbench -p 16 -n 4000\nset temp 0\n' >"$tmp/long.txt" # bench: no end-of-text stop
sigint "run" "loaded" "lathe run: interrupted at .*long.txt:4" -- "$bin" run "$tmp/long.txt"
jl=$(ls -t "$LATHE_STATE_DIR"/sessions/*.lathe | head -1)
grep -q '"status":"cancelled"' "$jl" && ok || bad "run: the interrupted command is journaled as cancelled"
grep -q '"line":"set temp 0"' "$jl" && bad "run went on after Ctrl-C" || ok
printf '{"lathe_journal":1}\n{"n":1,"line":"set device cpu","cmd":"set","status":"ok"}\n{"n":2,"line":"set threads 1","cmd":"set","status":"ok"}\n{"n":3,"line":"load synthetic:small","cmd":"load","status":"ok"}\n{"n":4,"line":"bench -p 16 -n 4000","cmd":"bench","status":"ok","digest":"0000000000000001"}\n' >"$tmp/long.lathe"
sigint "replay" "load synthetic:small +OK" "interrupted after" -- "$bin" replay "$tmp/long.lathe"

finish
