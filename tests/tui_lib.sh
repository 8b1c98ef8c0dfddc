# tui_lib.sh - the shared harness of the workbench's tmux tests (tests/test_tui.sh,
# test_tui_input.sh, test_startup_tui.sh, test_chat_tui.sh): cli_lib.sh's $bin, $root, $tmp,
# counters, finish and smollm2_path; a tmux server of the test's own (its socket under $tmp,
# killed on exit; $sock names it, and a test may move to a fresh one by changing it), and the
# screen polling: screen, wait_for REGEX SECONDS, expect NAME REGEX SECONDS, type_line TEXT.
# Skips (77) without tmux.
command -v tmux >/dev/null 2>&1 || { echo "tmux is not installed: skipped"; exit 77; }
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
[ -x "$bin" ] || { echo "no lathe binary at $bin"; exit 1; }
export TMUX_TMPDIR="$tmp" # the server's socket lives (and goes) with the temp dir
unset TMUX
sock="lathe-$(basename "$0" .sh)-$$"
T() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'T kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT

# the window's text (rows the terminal wrapped joined back)
screen() { T capture-pane -p -J -t w 2>/dev/null; }
# wait_for REGEX SECONDS: polls the screen until REGEX matches; on a timeout prints the screen
wait_for() {
  local pat=$1 limit=$2 start=$SECONDS
  while ((SECONDS - start < limit)); do
    if screen | grep -qE -- "$pat"; then return 0; fi
    sleep 0.1
  done
  echo "--- timed out after ${limit}s waiting for /$pat/; the screen:"
  screen
  echo "---"
  return 1
}
expect() { # expect NAME REGEX SECONDS
  if wait_for "$2" "$3"; then ok; else bad "$1"; fi
}
type_line() { T send-keys -t w -l "$1"; T send-keys -t w Enter; }
