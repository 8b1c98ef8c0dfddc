#!/usr/bin/env bash
# test_imagine_cli.sh - `lathe imagine` and `lathe bench imagine` as a user meets them, without
# a model: usage errors (exit 2) and clear errors for a missing folder (exit 1), the command in
# `lathe help` and in the workbench language (`lathe run`). The runs with a real UNet come with
# models/unet.c (LATHE_UNET_DIR: a diffusers UNet2DModel folder; skipped when unset).
set -u
source "$(dirname "$0")/cli_lib.sh"

expect "both -m and experts" 2 "not both" -- "$bin" imagine -m a --experts a:0-999
expect "unknown option" 2 "unknown option '--frob'" -- "$bin" imagine -m a --frob
expect "steps 0" 2 "steps" -- "$bin" imagine -m a --steps 0
expect "batch too big" 2 "batch" -- "$bin" imagine -m a --batch 1000
expect "positional" 2 "unexpected argument 'x'" -- "$bin" imagine -m a x
expect "missing folder" 1 "lathe imagine: .*nothing" -- "$bin" imagine -m "$tmp/nothing" --device cpu
expect "help lists it" 0 "imagine +images from a diffusion UNet" -- "$bin" help
expect "scale out of range" 2 "scale" -- "$bin" imagine --scale 0

# without -m: the bundled digits model (assets/models/digits-unet), its scheduler_config.json's
# DDIM with 50 steps; a class-conditional model without --class spreads the classes over the batch
expect "bundled model" 0 "^10 images 8x8, ddim 50 steps, seed 5, .*digest [0-9a-f]{16}" -- \
  "$bin" imagine --batch 10 --seed 5 --scale 3 --out "$tmp/d.png" -q
if [ -f "$tmp/d.png" ] && [ "$(od -An -tu1 -j16 -N8 "$tmp/d.png" | tr -s ' ')" = " 0 0 0 114 0 0 0 84" ]; then ok
else bad "--scale 3: a 114x84 PNG (4 x 3 images of 8x8 with 2-pixel gaps, times 3)"; fi
expect "bundled: class 10 out of range" 1 "class 10 is out of range \\(the model has classes 0-9\\)" -- \
  "$bin" imagine --class 10 --steps 2
mkdir -p "$tmp/away/bin" && cp "$bin" "$tmp/away/bin/" # a lathe with no assets folder beside it
expect "bundled model missing" 1 "no bundled image model .* give -m DIR" -- \
  env -C "$tmp/away" LATHE_ASSETS="$tmp/none" "$tmp/away/bin/lathe" imagine --steps 2 --device cpu
expect "bench: bundled model" 0 '^\{"bench": "imagine", .*"image": \[1, 8, 8\]' -- "$bin" bench imagine --steps 2 --json
printf 'imagine --steps 3 --class 7 --seed 1\nimagine --steps 3 --class 7 --seed 1\n' >"$tmp/s.txt"
expect "run: the bundled model" 0 "loaded .*/digits-unet as 'digits-unet' \\(1x8x8, class-conditional\\)" -- \
  env LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/s.txt"
out=$(LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/s.txt" 2>&1)
digests=$(grep -oE "ddim 3 steps, seed 1, .*digest [0-9a-f]{16}" <<<"$out" | grep -oE "[0-9a-f]{16}$" | sort -u | wc -l)
[ "$(grep -c "^loaded " <<<"$out")" = 1 ] && [ "$digests" = 1 ] && ok ||
  bad "run: the second imagine reuses the loaded model: $out"

if [ -n "${LATHE_UNET_DIR:-}" ]; then
  u=$LATHE_UNET_DIR
  expect "ddim png" 0 "wrote $tmp/a.png" -- "$bin" imagine -m "$u" --steps 10 --seed 1 --out "$tmp/a.png" -q
  expect "json" 0 '^\{"images": 2, .*"digest": "[0-9a-f]{16}"' -- "$bin" imagine -m "$u" --steps 4 --batch 2 --json
  expect "bench json" 0 '^\{"bench": "imagine", .*"unet_its": ' -- "$bin" bench imagine -m "$u" --steps 3 --json
  expect "bad scheduler" 1 "unknown scheduler 'heun'" -- "$bin" imagine -m "$u" --scheduler heun
fi
finish
