#!/usr/bin/env bash
# test_detect_cli.sh - `lathe detect` and `lathe bench detect` as a user meets them: the
# bundled detector on a sample image (text and --json, the annotated PNG), tiling, several
# images into a folder, and clear errors for missing/corrupt images, cfgs and weights.
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
