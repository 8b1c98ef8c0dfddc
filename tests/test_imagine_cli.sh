#!/usr/bin/env bash
# test_imagine_cli.sh - `lathe imagine` and `lathe bench imagine` as a user meets them, without
# a model: usage errors (exit 2) and clear errors for a missing folder (exit 1), the command in
# `lathe help` and in the workbench language (`lathe run`). The runs with a real UNet come with
# models/unet.c (LATHE_UNET_DIR: a diffusers UNet2DModel folder; skipped when unset).
set -u
source "$(dirname "$0")/cli_lib.sh"

expect "no model" 2 "give -m DIR" -- "$bin" imagine
expect "both -m and experts" 2 "not both" -- "$bin" imagine -m a --experts a:0-999
expect "unknown option" 2 "unknown option '--frob'" -- "$bin" imagine -m a --frob
expect "steps 0" 2 "steps" -- "$bin" imagine -m a --steps 0
expect "batch too big" 2 "batch" -- "$bin" imagine -m a --batch 1000
expect "positional" 2 "unexpected argument 'x'" -- "$bin" imagine -m a x
expect "missing folder" 1 "lathe imagine: .*nothing" -- "$bin" imagine -m "$tmp/nothing" --device cpu
expect "bench: no model" 2 "give -m DIR" -- "$bin" bench imagine
expect "help lists it" 0 "imagine +images from a diffusion UNet" -- "$bin" help
printf 'imagine --steps 3\n' >"$tmp/s.txt"
expect "run: no denoiser" 1 "no denoiser loaded" -- env LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/s.txt"

if [ -n "${LATHE_UNET_DIR:-}" ]; then
  u=$LATHE_UNET_DIR
  expect "ddim png" 0 "wrote $tmp/a.png" -- "$bin" imagine -m "$u" --steps 10 --seed 1 --out "$tmp/a.png" -q
  expect "json" 0 '^\{"images": 2, .*"digest": "[0-9a-f]{16}"' -- "$bin" imagine -m "$u" --steps 4 --batch 2 --json
  expect "bench json" 0 '^\{"bench": "imagine", .*"unet_its": ' -- "$bin" bench imagine -m "$u" --steps 3 --json
  expect "bad scheduler" 1 "unknown scheduler 'heun'" -- "$bin" imagine -m "$u" --scheduler heun
fi
finish
