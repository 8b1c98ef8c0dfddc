#!/usr/bin/env bash
# test_cli_sigint_tmp.sh - a second Ctrl-C exits at once but leaves no half file: two quick
# SIGINTs to `lathe quantize` (the first asks the work to stop at the next tensor, the second
# exits 130 straight away) leave neither OUT nor OUT.tmp.
set -u
set -m # background jobs keep SIGINT (a non-interactive shell would have them ignore it)
source "$(dirname "$0")/cli_lib.sh"
export LATHE_STATE_DIR="$tmp/state"

"$bin" convert --synthetic small "$tmp/small.gguf" >/dev/null 2>&1 || bad "convert --synthetic small"
for try in 1 2 3 4 5; do # the second SIGINT must come before the work notices the first: try a few times
  rm -f "$tmp/q.gguf" "$tmp/q.gguf.tmp"
  "$bin" quantize "$tmp/small.gguf" "$tmp/q.gguf" IQ4_NL >"$tmp/q.out" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do # wait until it writes (a progress line: the .tmp is open)
    grep -qE "\[ *1/" "$tmp/q.out" 2>/dev/null && [ -e "$tmp/q.gguf.tmp" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.02
  done
  kill -INT $pid 2>/dev/null
  kill -INT $pid 2>/dev/null
  wait $pid
  rc=$?
  [ $rc -eq 130 ] && ok || { bad "try $try: two Ctrl-C gave rc $rc (want 130)"; tail -c 400 "$tmp/q.out"; echo; }
  [ ! -e "$tmp/q.gguf.tmp" ] && ok || bad "try $try: two quick Ctrl-C left $(ls -l "$tmp/q.gguf.tmp")"
  [ ! -e "$tmp/q.gguf" ] && ok || bad "try $try: an interrupted quantize left $tmp/q.gguf"
done
finish
