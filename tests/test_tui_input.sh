#!/usr/bin/env bash
# test_tui_input.sh - the workbench's input line and transcript in a real terminal (tmux,
# 120x40, xterm-256color): a bracketed paste of three lines (tmux paste-buffer -p) is ONE
# chat turn shown as one user turn of three lines, Alt-Enter and a trailing backslash continue
# the input on a new line, typed command lines are echoed, the context meter advances after a
# chat turn, Tab completes command names and file paths (the path of load, its --tokenizer),
# lines queued while a job runs are shown and Esc says how many it dropped, `/save-transcript`
# writes the transcript (and names an unwritable path); then the journal holds the multi-line
# chat as one entry and `lathe replay --check` accepts it. Polls the screen with timeouts.
set -u
. "$(dirname "$0")/tui_lib.sh"
chats() { screen | grep -cE "chat done in [0-9.]+ s"; }
E="( {2,}.*)?$" # the end of a transcript row (the side panes may follow)
ctx_used() { screen | grep -oE "ctx [0-9]+/[0-9]+" | head -1 | sed -E 's/ctx ([0-9]+)\/.*/\1/'; }

state="$tmp/state" home="$tmp/home"
mkdir -p "$state" "$home"
T new-session -d -s w -x 120 -y 40 \
  "cd '$root' && env HOME='$home' LATHE_STATE_DIR='$state' TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin'; echo LATHE-EXITED=\$?; sleep 600" ||
  { echo "tmux new-session failed"; exit 1; }
expect "bundled model loads" "loaded 'stories260K'" 30
expect "context meter at 120x40" "ctx 0/[1-9][0-9]* \[\.+\]" 10

# a typed command line is echoed as a user line; chat text is echoed once (by chat)
type_line "/set max-tokens 24"
expect "command line echoed" "^> /set max-tokens 24$E" 10
expect "setting applied" "max-tokens 24  stop" 10
type_line "Once upon a time"
expect "chat finishes" "chat done in" 30
n=$(screen | grep -cE "^> Once upon a time$E")
[ "$n" -eq 1 ] && ok || bad "chat text echoed once ($n times)"
expect "context meter after a chat turn" "ctx [1-9][0-9]*/[1-9][0-9]* \[#+\.*\]" 5
c0=$(ctx_used)

# a bracketed paste of three lines: one chat turn of three lines
T set-buffer -b p "$(printf 'first pasted line\nsecond pasted line\nthird pasted line')"
T paste-buffer -p -b p -t w
expect "paste shown as a multi-line input" "\[3 lines\] > third pasted line" 10
T send-keys -t w Enter
expect "pasted turn: first line" "^> first pasted line$E" 15
expect "pasted turn: continuation lines" "^  second pasted line$E" 5
expect "pasted turn: last line" "^  third pasted line$E" 5
expect "pasted chat finishes" "chat done in" 30
sleep 0.5
if screen | grep -qE "^> (second|third) pasted line"; then bad "pasted lines sent as separate turns"; else ok; fi
c1=$(ctx_used) t0=$SECONDS
while [ -n "$c1" ] && [ "$c1" -le "$c0" ] && ((SECONDS - t0 < 5)); do sleep 0.1; c1=$(ctx_used); done
[ -n "$c1" ] && [ "$c1" -gt "$c0" ] && ok || bad "context meter advances after the pasted turn ($c0 -> '$c1')"

# Alt-Enter and a trailing backslash insert a line break instead of sending
T send-keys -t w -l "alpha line"
T send-keys -t w M-Enter
T send-keys -t w -l "beta line"
expect "Alt-Enter continues the input" "\[2 lines\] > beta line" 10
T send-keys -t w Enter
expect "Alt-Enter turn" "^> alpha line$E" 15
expect "Alt-Enter turn, second line" "^  beta line$E" 5
expect "Alt-Enter chat finishes" "chat done in" 30
type_line 'gamma line\'
expect "trailing backslash continues the input" "\[2 lines\] > *$" 10
type_line "delta line"
expect "backslash turn" "^> gamma line$E" 15
expect "backslash turn, second line" "^  delta line$E" 5
expect "backslash chat finishes" "chat done in" 30

# Tab: command names, then file paths after load and its --tokenizer
T send-keys -t w -l "/save-tr"
T send-keys -t w Tab
expect "Tab completes a command name" "^> /save-transcript *$" 10
T send-keys -t w Escape
sleep 0.3
T send-keys -t w -l "/load assets/models/sto"
T send-keys -t w Tab
expect "Tab completes the common part of the paths" "^> /load assets/models/stories260K *$" 10
expect "Tab lists the matches" "2 matches: stories260K\.bin stories260K_v1\.bin" 5
T send-keys -t w -l ".b"
T send-keys -t w Tab
expect "Tab completes the model path" "^> /load assets/models/stories260K\.bin *$" 10
T send-keys -t w -l "as s2 --tokenizer assets/models/tok5"
T send-keys -t w Tab
expect "Tab completes the tokenizer path" "tokenizer assets/models/tok512\.bin *$" 10
T send-keys -t w Escape
sleep 0.3
T send-keys -t w -l "/load assets/mod"
T send-keys -t w Tab
expect "Tab completes a folder" "^> /load assets/models/ *$" 10
T send-keys -t w Escape
sleep 0.3

# lines typed while a job runs are shown as queued; Esc drops them and says so
type_line "/set threads 1"
type_line "/load synthetic:small as big --tokenizer $root/assets/models/tok512.bin"
expect "synthetic model loads" "loaded 'big'" 60
type_line "/set max-tokens 4000"
expect "setting applied" "max-tokens 4000  stop" 10
type_line "Tell me a very long story"
expect "generation running" "running 'chat Tell me" 10
type_line "/models"
type_line "/bench"
expect "queued lines shown" "queued: /models" 5
expect "second queued line shown" "queued: /bench" 5
T send-keys -t w Escape
expect "Esc cancels" "chat cancelled in" 15
expect "Esc says what it dropped" "dropped 2 queued lines" 5
sleep 0.5
if screen | grep -q "queued: /"; then bad "queued lines still shown after Esc"; else ok; fi
type_line "/unload big"
expect "unloaded" "unloaded 'big'" 10

# /save-transcript: the transcript as text, and a clear error for an unwritable path
type_line "/save-transcript $tmp/transcript.txt"
expect "save-transcript confirms" "transcript saved to .*transcript\.txt" 10
f="$tmp/transcript.txt"
grep -qx "> first pasted line" "$f" 2>/dev/null && ok || bad "transcript file: the pasted turn"
grep -qx "  third pasted line" "$f" 2>/dev/null && ok || bad "transcript file: its last line"
grep -qx "> /set max-tokens 24" "$f" 2>/dev/null && ok || bad "transcript file: a command line"
grep -q "loaded 'stories260K'" "$f" 2>/dev/null && ok || bad "transcript file: info lines"
grep -q "dropped 2 queued lines" "$f" 2>/dev/null && ok || bad "transcript file: the dropped lines"
type_line "/save-transcript $tmp/no/such/dir/t.txt"
expect "save-transcript names an unwritable path" "save-transcript: cannot write '.*/no/such/dir/t\.txt': No such file" 10
type_line "/help save-transcript"
expect "help knows save-transcript" "save-transcript FILE - write the workbench transcript" 10

type_line "/quit"
expect "quit" "LATHE-EXITED=0" 15
T kill-server >/dev/null 2>&1
sleep 0.2

# the journal: the pasted turn is one entry with its line breaks, and it replays
j=$(ls "$state"/sessions/*.lathe 2>/dev/null | head -1)
if [ -z "$j" ]; then
  bad "no journal in $state/sessions"
else
  grep -qF '"line":"chat first pasted line\nsecond pasted line\nthird pasted line"' "$j" && ok ||
    bad "journal: one entry for the pasted turn"
  n=$(grep -c '"line":"chat ' "$j")
  [ "$n" -eq 5 ] && ok || bad "journal: 5 chat entries, found $n"
  out=$("$bin" replay --check "$j" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -q "all OK"; then ok; else bad "replay --check of $j (rc $rc): $out"; fi
fi
# history keeps the multi-line entry as one (readline's multi-line history entries)
grep -q "first pasted line" "$state/history" 2>/dev/null && ok || bad "history has the pasted turn"

finish
