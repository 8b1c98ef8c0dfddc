#!/usr/bin/env bash
# test_detect_cli.sh - `lathe detect` and `lathe bench detect` as a user meets them: the
# bundled detector on a sample image (text and --json, the annotated PNG), tiling, several
# images into a folder, and clear errors for missing/corrupt/truncated/over-budget images,
# cfgs and weights; a model whose activations overflow prints valid JSON (no inf/nan).
set -u
source "$(dirname "$0")/cli_lib.sh"
y="$root/assets/yolo"


m=(-m "$y/yolo-fastest-1.1.cfg" --weights "$y/yolo-fastest-1.1.weights" --device cpu)
expect "text" 0 "dog +65%" -- "$bin" detect "${m[@]}" "$y/dog.jpg"
expect "json" 0 '^\{"image": ".*dog.jpg", "width": 768, "height": 576, "detections": \[\{"class": "dog", "class_id": 16, "confidence": 0.6492' -- "$bin" detect "${m[@]}" --json "$y/dog.jpg"
expect "json count" 0 '"class": "bicycle".*"class": "bicycle".*"class": "person"' -- "$bin" detect "${m[@]}" --json "$y/dog.jpg"
expect "bundled default" 0 "giraffe +94%" -- "$bin" detect --device cpu "$y/giraffe.jpg"
expect "annotated png" 0 "wrote .*out.png" -- "$bin" detect "${m[@]}" --out "$tmp/out.png" "$y/eagle.jpg"
if [ "$(head -c 8 "$tmp/out.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: out.png is not a PNG"; fi
expect "several images" 0 "person.jpg: [0-9]+ detections" -- "$bin" detect "${m[@]}" --out "$tmp/many" "$y/horses.jpg" "$y/person.jpg"
if [ -s "$tmp/many/horses.png" ] && [ -s "$tmp/many/person.png" ]; then pass=$((pass + 1))
else fail=$((fail + 1)); echo "FAIL: folder output missing"; fi
expect "tiling" 0 "kite" -- "$bin" detect "${m[@]}" --tile 640 --overlap 0.2 "$y/kite.jpg"
expect "threshold" 0 "dog.jpg: 2 detections" -- "$bin" detect "${m[@]}" --thresh 0.6 "$y/dog.jpg"
expect "no image" 2 "at least one IMAGE" -- "$bin" detect "${m[@]}"
expect "missing image" 1 "nothere.jpg" -- "$bin" detect "${m[@]}" "$tmp/nothere.jpg"
head -c 3000 "$y/dog.jpg" > "$tmp/cut.jpg"
printf 'not an image at all' > "$tmp/text.png"
expect "corrupt image" 1 "text.png: not a readable image" -- "$bin" detect "${m[@]}" "$tmp/text.png"
expect "one bad, one good" 1 "dog.jpg: 8 detections" -- "$bin" detect "${m[@]}" "$tmp/text.png" "$y/dog.jpg"
expect "truncated jpeg" 1 "cut.jpg: truncated JPEG" -- "$bin" detect "${m[@]}" "$tmp/cut.jpg"
expect "pixel budget" 1 "dog.jpg: image is 768x576 = 442368 pixels, over the budget of 100000 pixels" -- "$bin" detect "${m[@]}" --max-pixels 100000 "$y/dog.jpg"
expect "pixel budget raised" 0 "dog.jpg: 8 detections" -- "$bin" detect "${m[@]}" --max-pixels 442368 "$y/dog.jpg"
# a 16384x16384 PNG in 66 bytes (IHDR, a one-byte IDAT, IEND): refused from its header at once
printf '\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR\x00\x00\x40\x00\x00\x00\x40\x00\x08\x02\x00\x00\x00\x26\xaa\x87\xd3\x00\x00\x00\x09IDATx\x9cc\x00\x00\x00\x01\x00\x01\x5e\xff\x7d\xf9\x00\x00\x00\x00IEND\xaeB\x60\x82' > "$tmp/huge.png"
expect "huge png" 1 "huge.png: image is 16384x16384 = 268.4M pixels, over the budget of 67.1M pixels" -- "$bin" detect "${m[@]}" "$tmp/huge.png"

# activations that overflow (the weights file holds finite numbers only; a one-cell head:
# w = exp(100), h = exp(100), w = exp(85) (finite in the network's units, inf in pixels), and
# one ordinary box): --json stays valid JSON with only the finite box, and drawing works
printf '[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=24\nsize=8\nstride=8\npad=0\nactivation=linear\n[yolo]\nmask=0,1,2,3\nanchors=2,2, 4,4, 6,6, 3,3\nclasses=1\nnum=4\n' > "$tmp/over.cfg"
{
  printf '\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' # version 0.2.0, seen 0
  z='\x00\x00\x00\x00' ten='\x00\x00\x20\x41' e100='\x00\x00\xc8\x42' e85='\x00\x00\xaa\x42'
  printf "$z$z$e100$z$ten$ten$z$z$z$e100$ten$ten$z$z$e85$z$ten$ten$z$z$z$z$ten$ten" # biases
  head -c $((24 * 3 * 8 * 8 * 4)) /dev/zero # weights
} > "$tmp/over.weights"
o=(-m "$tmp/over.cfg" --weights "$tmp/over.weights" --device cpu)
expect "overflow json" 0 '^\{"image": ".*dog.jpg", "width": 768, "height": 576, "detections": \[\{"class": "class0", "class_id": 0, "confidence": 0\.99[0-9]*, "box": \[240\.000, 180\.000, 288\.000, 216\.000\]\}\]\}$' -- "$bin" detect "${o[@]}" --json "$y/dog.jpg"
"$bin" detect "${o[@]}" --json "$y/dog.jpg" "$y/eagle.jpg" > "$tmp/over.json" 2>&1
if ! grep -qiE 'inf|nan' "$tmp/over.json" && [ "$(wc -l < "$tmp/over.json")" -eq 2 ]; then ok
else bad "overflow json has inf/nan or lacks lines: $(head -c 400 "$tmp/over.json")"; fi
if command -v python3 >/dev/null; then
  if python3 -c 'import json, sys; [json.loads(l, parse_constant=lambda c: sys.exit("bad constant " + c)) for l in sys.stdin]' < "$tmp/over.json"; then ok
  else bad "overflow json does not parse"; fi
fi
expect "overflow text and drawing" 0 "class0 +100%  left +240  top +180  width +288  height +216" -- "$bin" detect "${o[@]}" --out "$tmp/over.png" "$y/dog.jpg"
printf '[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilterz=3\n' > "$tmp/bad.cfg"
expect "bad cfg" 1 "bad.cfg:6: unknown key 'filterz'" -- "$bin" detect -m "$tmp/bad.cfg" --device cpu "$y/dog.jpg"
head -c 5000 "$y/yolo-fastest-1.1.weights" > "$tmp/trunc.weights"
expect "truncated weights" 1 "trunc.weights: truncated" -- "$bin" detect -m "$y/yolo-fastest-1.1.cfg" --weights "$tmp/trunc.weights" --device cpu "$y/dog.jpg"
expect "bench" 0 '"bench": "detect".*"network_ips_b1": [0-9.]+.*"end_to_end_ips": [0-9.]+' -- "$bin" bench detect "${m[@]}" --batch 2 --seconds 0.2 --json
printf '[net]\nwidth=64\nheight=64\nchannels=3\n[convolutional]\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n[convolutional]\nfilters=18\nsize=1\nactivation=linear\n[yolo]\nmask=0,1\nanchors=10,10,20,20\nclasses=4\nnum=2\n' > "$tmp/small.cfg"
expect "bench random weights" 0 "batch 2 " -- "$bin" bench detect -m "$tmp/small.cfg" --random-weights --device cpu --batch 2 --seconds 0.1

# the workbench command language: `detect` through `lathe run`, then a replay with the same digests
printf 'set device cpu\ndetect %s --out %s\ndetect %s --tile 320\n' "$y/dog.jpg" "$tmp/run.png" "$y/horses.jpg" > "$tmp/script.txt"
expect "run detect" 0 "horses.jpg: [0-9]+ detections" -- env LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/script.txt"
[ -s "$tmp/run.png" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: run.png missing"; }
journal=$(ls "$tmp"/state/sessions/*.lathe 2>/dev/null | head -1)
expect "replay detect" 0 "all OK" -- env LATHE_STATE_DIR="$tmp/state" "$bin" replay "$journal" --check
printf 'detect\n' > "$tmp/script2.txt"
expect "run detect without image" 1 "detect" -- env LATHE_STATE_DIR="$tmp/state" "$bin" run "$tmp/script2.txt"

finish
