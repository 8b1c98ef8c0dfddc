#!/usr/bin/env bash
# test_imagine_cli.sh - `lathe imagine` and `lathe bench imagine` as a user meets them, without
# a model: usage errors (exit 2) and clear errors for a missing folder (exit 1), the command in
# `lathe help` and in the workbench language (`lathe run`); then runs of a real (small, random-
# weight) UNet: tests/fixtures/unet/google_old, or LATHE_UNET_DIR (a diffusers UNet2DModel
# folder), and google_old's DDIM run from diffusers' noise stream (tests/fixtures/imagine; its
# pixels are checked against diffusers' image in tests/test_imagine_golden.c).
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
expect "eta above 1" 2 "eta" -- "$bin" imagine --eta 2
# a run's error names the option, said once ("lathe imagine: --steps 3000: ...")
expect "steps beyond training" 1 "^lathe imagine: --steps 3000: the model was trained with 1000 timesteps" -- \
    "$bin" imagine --steps 3000 --device cpu

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

g=$root/tests/fixtures/unet/google_old n=$root/tests/fixtures/imagine/google_old
# the wrong kind of model either way: each names the command that takes it
expect "imagine a llama2.c file" 1 "stories260K.bin: a llama2.c checkpoint, a language model: open it with .load." -- \
  "$bin" imagine -m "$root/assets/models/stories260K.bin" --device cpu
expect "imagine a file in the folder" 1 "a file of a diffusers folder: give the folder \(imagine -m $g\)" -- \
  "$bin" imagine -m "$g/config.json" --device cpu
expect "chat a diffusers folder" 1 "a diffusers folder \(an image diffusion model\), not a language model: .*imagine -m $g" -- \
  "$bin" chat -m "$g" --device cpu
u=${LATHE_UNET_DIR:-$g}
if [ -d "$u" ]; then
  expect "ddim png" 0 "wrote $tmp/a.png" -- "$bin" imagine -m "$u" --steps 10 --seed 1 --out "$tmp/a.png" -q
  expect "json" 0 '^\{"images": 2, .*"digest": "[0-9a-f]{16}"' -- "$bin" imagine -m "$u" --steps 4 --batch 2 --json
  expect "bench json" 0 '^\{"bench": "imagine", .*"unet_its": ' -- "$bin" bench imagine -m "$u" --steps 3 --json
  expect "bad scheduler" 1 "unknown scheduler 'heun'" -- "$bin" imagine -m "$u" --scheduler heun
fi
if [ -f "$n/noise_ddim.f32" ]; then
  expect "init-noise png" 0 '"images": 1, .*"scheduler": "ddim".*"digest": "[0-9a-f]{16}"' -- \
    "$bin" imagine -m "$g" --scheduler ddim --steps 10 --init-noise "$n/noise_ddim.f32" --out "$tmp/g.png" --json
  [ -s "$tmp/g.png" ] && ok || bad "init-noise png: no $tmp/g.png"
  expect "init-noise too short" 1 "noise_ddim.f32: holds 768 noise values, this run draws 7680" -- \
    "$bin" imagine -m "$g" --scheduler ddpm --steps 10 --init-noise "$n/noise_ddim.f32" --out "$tmp/h.png"
  expect "init-noise wrong shape" 1 "shape ends in \[3, 16, 16\], the model's images are \[1, 8, 8\]" -- \
    "$bin" imagine -m "$root/tests/fixtures/unet/no_attn_grey" --steps 10 --init-noise "$n/noise_ddpm.npy"
fi
finish
