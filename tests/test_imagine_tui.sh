#!/usr/bin/env bash
# test_imagine_tui.sh - `imagine` in the workbench, in a real terminal (tmux, xterm-256color) at
# 80x24 and 120x40: without -m it loads the bundled digits model (assets/models/digits-unet);
# `/imagine --class 7 --steps 50` shows the finished digit in half-block cells in the main pane
# with its heading beside it, the summary line and "imagine done in ... (50 steps)"; a longer
# run (DDPM, 1000 steps) shows the previews while it denoises ("step N/1000"); the models pane
# lists the denoiser; /quit leaves, and `lathe replay --check` accepts the journal (the same
# images, digest for digest). The models folder is empty, so the workbench opens on the
# bundled toy language model. Polls the screen with timeouts.
set -u
. "$(dirname "$0")/tui_lib.sh"
export LC_ALL=C.UTF-8

# the rows of the screen that hold half-block cells
cell_rows() { screen | grep -c "▀▀▀▀"; }

run_size() {
  local cols=$1 rows=$2
  local state="$tmp/state-$cols" home="$tmp/home-$cols"
  mkdir -p "$state" "$home"
  echo "== ${cols}x${rows}"
  T new-session -d -s w -x "$cols" -y "$rows" -c "$root" \
    "env HOME='$home' LATHE_STATE_DIR='$state' LATHE_MODELS='$tmp/no-models' LATHE_CONFIG= XDG_CONFIG_HOME= TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin'; echo LATHE-EXITED=\$?; sleep 600" ||
    { bad "tmux new-session"; return; }
  expect "workbench opens" "loaded 'stories260K'" 30

  type_line "/imagine --class 7 --steps 50"
  # (the transcript's "loaded PATH as 'digits-unet'" wraps wherever the checkout's path puts it:
  # the models pane names it on one line)
  expect "the bundled model loads" "digits-unet [0-9.]+[KM]" 30
  expect "summary line" "imagine: 1 image 8x8, ddim 50 steps, seed [0-9]+" 30
  expect "status line counts steps" "imagine done in [0-9.]+ s \(50 steps\)" 30
  expect "the image with its heading" "(▀)+ 1 image, ddim 50 steps" 10
  local n
  n=$(cell_rows)
  # 8x8 pixels, enlarged by a whole factor: at least 3 (12 rows of cells) in both sizes
  if [ "$n" -ge 12 ] && [ "$n" -le $((rows * 3 / 5)) ]; then ok; else bad "preview rows: $n"; screen; fi
  expect "models pane lists the denoiser" "digits-unet [0-9.]+[KM]" 10
  expect "models pane: its kind" "denoiser (Intel|AMD|[A-Za-z])" 10

  # a longer run: previews while it denoises (the x0 prediction, every 10 steps, so one is on
  # screen for all but the first 1% of the run however fast the machine is)
  type_line "/imagine --class 3 --scheduler ddpm --preview 10"
  expect "preview during the run" "(▀)+ step [0-9]+/1000 t [0-9]+ ddpm" 60
  expect "ddpm run finishes" "imagine done in [0-9.]+ s \(1000 steps\)" 120
  expect "final image of the ddpm run" "(▀)+ 1 image, ddpm 1000 steps" 10

  type_line "/quit"
  expect "quits" "LATHE-EXITED=0" 30
  local j out rc
  j=$(ls "$state"/sessions/*.lathe 2>/dev/null | head -1)
  if [ -z "$j" ]; then bad "no journal in $state/sessions"; T kill-server >/dev/null 2>&1; return; fi
  [ "$(grep -c '"cmd":"imagine"' "$j")" = 2 ] && ok || bad "journal holds both imagine runs: $(cat "$j")"
  out=$("$bin" replay --check "$j" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -q "all OK"; then ok; else bad "replay --check of $j (rc $rc): $out"; fi
  T kill-server >/dev/null 2>&1
}

run_size 80 24
run_size 120 40
finish
