#!/usr/bin/env bash
# test_tui.sh - the workbench end to end in a real terminal (tmux), at 80x24 (vt100, no
# colours) and 200x50 (xterm-256color): the bundled model loads, a typed prompt streams
# into the main pane and the context meter advances, typed command lines are echoed, Ctrl-P opens the palette, a fuzzy query finds bench and Enter runs it, the side panes show numbers, Esc
# cancels a long generation (synthetic 4096-context model) and the UI still answers,
# at 200x50 `/spec ngram` makes chat speculative and the throughput pane shows the acceptance,
# /quit leaves; then `lathe replay --check` accepts the recorded journal and rejects a
# copy with one digest altered, naming that line. At 200x50 the workbench finds a stand-in
# libnvidia-ml.so.1 (FAKE_NVML_DIR, built by the tests) and the device pane shows its
# utilisation; at 80x24 there is none and the pane says so, and with LATHE_CUDA_MODULE naming a
# missing file it says why CUDA is not used. Polls the screen with timeouts. The models folder
# ($LATHE_MODELS) is an empty one, so the workbench opens on the bundled toy model (fast and
# the same everywhere; tests/test_startup_tui.sh covers the start-up choices).
set -u
. "$(dirname "$0")/tui_lib.sh"

run_size() {
  local cols=$1 rows=$2 term=$3 nvml=${4:-}
  local state="$tmp/state-$cols" home="$tmp/home-$cols"
  mkdir -p "$state" "$home"
  local nocuda="" # without NVML, also without the CUDA module: the device pane says why
  [ -z "$nvml" ] && nocuda="$tmp/no-cuda/liblathe-cuda.so"
  echo "== ${cols}x${rows} ($term)"
  T new-session -d -s w -x "$cols" -y "$rows" \
    "env HOME='$home' LATHE_STATE_DIR='$state' LATHE_MODELS='$tmp/no-models' LATHE_CONFIG= XDG_CONFIG_HOME= TERM=$term LANG=C.UTF-8 LC_ALL=C.UTF-8 ${nvml:+LD_LIBRARY_PATH='$nvml'} ${nocuda:+LATHE_CUDA_MODULE='$nocuda'} '$bin'; echo LATHE-EXITED=\$?; sleep 600" ||
    { bad "tmux new-session"; return; }
  expect "bundled model loads" "loaded 'stories260K'" 30
  expect "context meter, empty conversation" "ctx 0/[1-9][0-9]*" 10
  expect "device pane shows memory" "(weights [0-9.]+ (B|KiB|MiB|GiB)|W [0-9.]+[BKMG] K [0-9.]+[BKMG])" 10
  if [ -n "$nvml" ]; then
    expect "device pane shows NVML utilisation" "util 37%  Fake GPU 0" 10
  else
    expect "device pane without NVML" "util n/a \(CPU backend\)" 10
    expect "device pane: why not CUDA" "cuda: module not found" 10
  fi

  # a prompt streams into the main pane
  type_line "Once upon a time"
  expect "prompt echoed" "^> Once upon a time" 10
  expect "chat finishes" "chat done in [0-9.]+ s \([0-9]+ tokens\)" 30
  expect "context meter advances after a chat turn" "ctx [1-9][0-9]*/[1-9][0-9]* \[#+\.*\]" 10
  local words
  words=$(screen | grep -cE '[A-Za-z]+ [A-Za-z]+ [A-Za-z]+')
  if ((words >= 3)); then ok; else bad "streamed text in the main pane ($words lines of words)"; fi

  # the palette: Ctrl-P, fuzzy filter, Enter runs bench
  T send-keys -t w C-p
  expect "palette opens" "commands \([0-9]+\)" 10
  T send-keys -t w -l "bnch"
  expect "palette filters" "bench +bench \[-p" 10
  T send-keys -t w Enter
  expect "bench runs from the palette" "bench done in" 30
  if ((cols >= 150)); then expect "bench report" "decode [0-9]+ tokens [0-9.]+ tok/s" 5; fi
  expect "throughput pane: prefill" "prefill *[0-9]+\.[0-9] tok/s" 5
  expect "throughput pane: peak" "peak *[1-9][0-9]*\.[0-9] tok/s" 5
  expect "throughput pane: KV blocks" "KV blocks [0-9]+ / [1-9][0-9]*" 5
  expect "models pane" "\*stories260K f32 [0-9.]+[BKMG]" 5

  # Esc during a long generation (one thread: at most a few hundred tokens/s on any machine)
  type_line "/set threads 1"
  expect "command line echoed" "^> /set threads 1" 10
  expect "threads setting" "threads 1  tint" 10
  type_line "/load synthetic:small as big --tokenizer $root/assets/models/tok512.bin"
  expect "synthetic model loads" "loaded 'big'" 60
  type_line "/set max-tokens 4000"
  expect "setting applied" "max-tokens 4000  stop" 10
  type_line "Tell me a very long story"
  expect "generation running" "running 'chat Tell me" 10
  local s1 s2
  sleep 0.6
  s1=$(screen | grep -oE "running 'chat[^)]*[0-9]+\.[0-9]s")
  sleep 0.6
  s2=$(screen | grep -oE "running 'chat[^)]*[0-9]+\.[0-9]s")
  if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ]; then ok; else bad "screen redraws while busy ('$s1' / '$s2')"; fi
  T send-keys -t w Escape
  expect "Esc cancels" "chat cancelled in" 15
  expect "partial output kept" "\[cancelled after [0-9]+ tokens\]" 5
  type_line "/models"
  expect "UI answers after cancel" "^\* big +llm +synthetic" 10
  type_line "/lod"
  expect "unknown command message" "unknown command 'lod' - did you mean 'load'\?" 10

  # detect: the annotated image (half-block cells on a UTF-8 256-colour terminal) and the
  # detections beside it above the transcript; Esc when idle closes the preview
  type_line "/detect $root/assets/yolo/dog.jpg"
  expect "detect runs" "detect done in" 60
  expect "detections listed beside the image" "[0-9]+ detections? *$|[0-9]+ detections? " 5
  expect "dog found" "dog 0\.[0-9]+ \[[0-9]+ [0-9]+ [0-9]+ [0-9]+\]" 5
  if [ "$term" = xterm-256color ]; then
    expect "image drawn in half blocks" "▀▀▀▀" 5
  else
    expect "text-only preview" "image: needs UTF-8 \+ 256 colours" 5
  fi
  T send-keys -t w Escape
  sleep 0.3
  if screen | grep -q "dog 0\.[0-9]* \["; then bad "Esc closes the preview"; else ok; fi

  # speculative decoding (wide terminal only): n-gram drafts on the bundled model; the
  # throughput pane shows the acceptance, the mean accepted length and the speedup
  if ((cols >= 150)); then
    type_line "/unload big"
    expect "back to the bundled model" "unloaded 'big'" 10
    type_line "/set max-tokens 120"
    expect "setting applied" "max-tokens 120  stop" 10
    type_line "/spec ngram"
    expect "spec switched on" "speculative decoding of 'stories260K': ngram" 10
    type_line "Once upon a time there was a cat"
    expect "spec chat finishes" "chat done in [0-9.]+ s \([0-9]+ tokens\)" 30
    expect "throughput pane: acceptance" "spec ngram accept [0-9]+% len [0-9]+\.[0-9]+" 10
    expect "throughput pane: speedup" "speedup [0-9]+\.[0-9]+x" 5
  fi

  type_line "/quit"
  expect "quit" "LATHE-EXITED=0" 15
  T kill-server >/dev/null 2>&1
  sleep 0.2

  grep -q "Once upon a time" "$state/history" 2>/dev/null && ok || bad "history persisted under the state dir"
  local j
  j=$(ls "$state"/sessions/*.lathe 2>/dev/null | head -1)
  if [ -z "$j" ]; then bad "no journal in $state/sessions"; return; fi
  grep -q '"status":"cancelled"' "$j" && ok || bad "journal records the cancellation"

  # replay the journal: every command OK
  local out rc
  out=$("$bin" replay --check "$j" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -q "all OK"; then ok; else bad "replay --check of $j (rc $rc): $out"; fi

  # alter the digest of the first chat: replay --check fails at that line
  local n
  n=$(grep -n '"line":"chat Once upon a time"' "$j" | head -1 | cut -d: -f1)
  sed -E "${n}s/\"digest\":\"0/\"digest\":\"Z/; ${n}s/\"digest\":\"[1-9a-f]/\"digest\":\"0/; ${n}s/\"digest\":\"Z/\"digest\":\"1/" \
    "$j" >"$tmp/tampered.lathe"
  if cmp -s "$j" "$tmp/tampered.lathe"; then bad "tampering changed nothing"; fi
  out=$("$bin" replay --check "$tmp/tampered.lathe" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && echo "$out" | grep -q "tampered.lathe:$n:"; then ok; else bad "tampered replay (rc $rc, line $n): $out"; fi
}

run_size 80 24 vt100 # no colours
fake=""
if [ -n "${FAKE_NVML_DIR:-}" ] && [ -e "$FAKE_NVML_DIR/libnvidia-ml.so.1" ]; then fake=$FAKE_NVML_DIR; fi
run_size 200 50 xterm-256color "$fake"

finish
