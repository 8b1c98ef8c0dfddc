#!/usr/bin/env bash
# test_chat_cli.sh - `lathe chat` as a user meets it: piped turns give only the replies on
# stdout (loading and markers on stderr), /commands between turns, options through the
# session's `set` (the same range messages, exit 2), a model that does not load (exit 1),
# --stop (the reply ends before it), --system, Ctrl-C during a reply cancels only the reply
# and Ctrl-C while waiting for input ends with 130. With SmolLM2 (smollm2_path: the models
# folder or $LATHE_SMOLLM2): "What is the capital of France?" at --temp 0 answers "Paris" and ends on
# the chat template's end-of-turn (no stop marker).
set -u
source "$(dirname "$0")/cli_lib.sh"
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
chat=("$bin" chat -m "$model" --tokenizer "$tok" --temp 0 --device cpu)

expect "needs a model" 2 "-m MODEL is required" -- "$bin" chat
expect "unknown option" 2 "unknown option '--frobnicate'" -- "$bin" chat -m "$model" --frobnicate
expect "bad temp" 2 "lathe chat: --temp: set temp: '500' is not a number in \[0, 100\]" -- "$bin" chat -m "$model" --temp 500
expect "bad repeat-penalty" 2 "set repeat-penalty: 'x' is not a number" -- "$bin" chat -m "$model" --repeat-penalty x
expect "bad device" 2 "set device: 'tpu' is not cpu, cuda or auto" -- "$bin" chat -m "$model" --device tpu
expect "too many stops" 2 "at most 4 stop sequences" -- "$bin" chat -m "$model" --stop a --stop b --stop c --stop d --stop e
expect "missing model" 1 "nothere.bin" -- "$bin" chat -m "$tmp/nothere.bin" </dev/null
expect "help" 0 "--repeat-penalty" -- "$bin" chat --help
expect "usage lists chat" 0 "chat +chat with a model" -- "$bin" help

# piped turns: only the replies on stdout; /reset starts over, so the same prompt gives the same reply
printf 'Once upon a time\n/reset\nOnce upon a time\n' | "${chat[@]}" -n 20 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 2 ] && [ "$(sed -n 1p "$tmp/out")" = "$(sed -n 2p "$tmp/out")" ] &&
   [ -n "$(sed -n 1p "$tmp/out")" ] && ! grep -q "loaded\|stopped\|^>" "$tmp/out" &&
   grep -q "loaded 'stories260K'" "$tmp/err" && grep -q "\[stopped: max-tokens 20\]" "$tmp/err"; then ok
else bad "piped turns: rc=$rc"; cat "$tmp/out" "$tmp/err"; fi
first=$(sed -n 1p "$tmp/out")

# --stop: the reply ends right before the stop sequence (taken from inside the first reply)
stop=${first:12:4}
printf 'Once upon a time\n' | "${chat[@]}" -n 20 --stop "$stop" --stop 'q"z' >"$tmp/out" 2>"$tmp/err"
want=${first%%"$stop"*}
if [ "$(cat "$tmp/out")" = "$want" ] && grep -qF "[stopped: stop sequence \"$stop\"]" "$tmp/err"; then ok
else bad "--stop '$stop': got $(printf %q "$(cat "$tmp/out")"), want $(printf %q "$want")"; cat "$tmp/err"; fi

# commands between turns; a failing piped line makes the exit status 1 but the rest still runs
printf '/set temp 0.5\n/bogus\nOnce upon a time\n/set\n' | "${chat[@]}" -n 5 --system "Be kind." >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "unknown command 'bogus'" "$tmp/err" && grep -q "^temp 0.5" "$tmp/err" &&
   grep -q "^system Be kind.$" "$tmp/err" && [ "$(wc -l <"$tmp/out")" -eq 1 ]; then ok
else bad "commands: rc=$rc"; cat "$tmp/out" "$tmp/err"; fi

# Ctrl-C during a reply cancels that reply; Ctrl-C while waiting for input ends with 130
mkfifo "$tmp/in"
"$bin" chat -m synthetic:small --tokenizer "$tok" -n 100000 --device cpu <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
echo "Once upon a time" >&3
for _ in $(seq 300); do [ -s "$tmp/out" ] && break; sleep 0.1; done
kill -INT $pid
for _ in $(seq 100); do grep -q "cancelled after" "$tmp/err" && break; sleep 0.1; done
sleep 0.3
alive=0; kill -0 $pid 2>/dev/null && alive=1
kill -INT $pid
wait $pid
rc=$?
exec 3>&-
if [ $alive -eq 1 ] && [ $rc -eq 130 ] && grep -q "\[cancelled after [0-9]* tokens\]" "$tmp/err"; then ok
else bad "Ctrl-C: alive after the first $alive, rc=$rc"; cat "$tmp/err"; fi

smol=$(smollm2_path)
if [ -f "$smol" ]; then
  printf 'What is the capital of France?\nWhat is 2+2?\n' | "$bin" chat -m "$smol" --temp 0 --device cpu >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 2 ] && sed -n 1p "$tmp/out" | grep -q "Paris" &&
     sed -n 2p "$tmp/out" | grep -q "4" && ! grep -q "stopped" "$tmp/err"; then ok
  else bad "SmolLM2 chat: rc=$rc"; cat "$tmp/out" "$tmp/err"; fi
  printf 'What is the capital of France?\n' | "$bin" chat -m "$smol" --temp 0 --device cpu --stop Paris >"$tmp/out" 2>"$tmp/err"
  if [ "$(cat "$tmp/out")" = "The capital of France is " ] && grep -q 'stopped: stop sequence "Paris"' "$tmp/err"; then ok
  else bad "SmolLM2 --stop Paris: $(printf %q "$(cat "$tmp/out")")"; fi
else
  echo "note: $smol is absent - the SmolLM2 checks are skipped"
fi
finish
