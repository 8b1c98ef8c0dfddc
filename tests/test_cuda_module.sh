#!/usr/bin/env bash
# test_cuda_module.sh - the CUDA backend as a module loaded at run time (liblathe-cuda.so), as
# a user meets it: `lathe --version` names the module's state; the lathe binary links no CUDA
# library; `--device cpu` never loads the module (LD_DEBUG and a marker the stand-in modules
# write) and runs under a 200 MB address-space limit, which the CUDA libraries alone exceed;
# with LATHE_CUDA_MODULE naming a missing file, a folder without it, a text file, a module
# whose library is missing, one of another ABI, one without the entry point and one without
# a device, `--device cuda` fails with one clear line, `--device auto` runs on the CPU with
# the same text, and --version shows the reason; the real module, when this build made it,
# either runs or fails the same way. Every run is under a timeout: a hang is a failure.
# The stand-in modules are tests/fake/cuda_module.c, built into $FAKE_CUDA_DIR.
set -u
source "$(dirname "$0")/cli_lib.sh"
fake=${FAKE_CUDA_DIR:-$(dirname "$bin")/fake_cuda}
model="$root/assets/models/stories260K.bin" tok="$root/assets/models/tok512.bin"
gen=(generate -m "$model" --tokenizer "$tok" -p "Once upon a time" -n 20 --temp 0)
unset LATHE_CUDA_MODULE FAKE_CUDA_MARK
T=(timeout -k 5 60)
# OpenBLAS sizes its buffers by its thread count (on a 2-core machine the CPU path fits 200 MB
# with its default threads; below about 190 MB it hangs at exit, a separate OpenBLAS issue), so
# the limited runs use one OpenBLAS thread to stay independent of the core count: the point here
# is that no CUDA library is mapped (libcublasLt alone is more than 200 MB of address space).
limit_kb=204800

# one_line NAME WANT_RC PATTERN -- CMD...: as expect, and the output is exactly one line
one_line() {
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out" && [ "$(wc -l <<<"$out")" -eq 1 ]; then ok
  else bad "$name: rc=$rc (want $want, one line), output:"; head -c 800 <<<"$out"; echo; fi
}
# same_text NAME -- CMD...: exits 0 and prints the reference text on stdout
same_text() {
  local name=$1; shift 2
  local out rc
  out=$("$@" 2>"$tmp/err"); rc=$?
  if [ "$rc" -eq 0 ] && [ "$out" = "$ref" ]; then ok
  else bad "$name: rc=$rc, stdout:"; head -c 400 <<<"$out"; echo; head -c 400 "$tmp/err"; echo; fi
}

ref=$("${T[@]}" "$bin" "${gen[@]}" --device cpu 2>/dev/null)
if grep -q "^Once upon a time" <<<"$ref"; then ok; else bad "reference run on the CPU: '$ref'"; fi

# ---- --version -----------------------------------------------------------------------------
expect "version" 0 "^lathe [0-9]+\.[0-9]+\.[0-9]+" -- "${T[@]}" "$bin" --version
expect "version: the build" 0 "^build: [A-Za-z]+, (CUDA module built|CPU only)" -- "${T[@]}" "$bin" --version
expect "version: the module" 0 "^cuda: (module .*liblathe-cuda\.so loaded, [0-9]+ devices?|not available: .+)" -- \
  "${T[@]}" "$bin" --version
built=0
"$bin" --version | grep -q "^build: .*CUDA module built" && built=1

# ---- the binaries link no CUDA library -----------------------------------------------------
if command -v readelf >/dev/null 2>&1; then
  for b in "$bin" "$(dirname "$bin")"/test_ops_cuda "$(dirname "$bin")"/test_model_cuda; do
    [ -x "$b" ] || continue
    if readelf -d "$b" | grep NEEDED | grep -qE "libcuda|libcudart|libcublas"; then
      bad "$(basename "$b") links CUDA: $(readelf -d "$b" | grep NEEDED | grep -E 'cud|cublas' | tr -s ' ')"
    else ok; fi
  done
else
  echo "readelf is not installed: the link check is skipped"
fi

# ---- --device cpu never loads the module ---------------------------------------------------
out=$(LD_DEBUG=files "${T[@]}" "$bin" "${gen[@]}" --device cpu 2>&1)
if grep -qE "liblathe-cuda|libcudart|libcublas" <<<"$out"; then
  bad "--device cpu loaded: $(grep -oE '[^ ]*(liblathe-cuda|libcudart|libcublas)[^ ]*' <<<"$out" | sort -u | tr '\n' ' ')"
else ok; fi
same_text "cpu with a module present" -- env LATHE_CUDA_MODULE="$fake/nodev/liblathe-cuda.so" \
  FAKE_CUDA_MARK="$tmp/mark" "${T[@]}" "$bin" "${gen[@]}" --device cpu
if [ -e "$tmp/mark" ]; then bad "--device cpu loaded the module"; else ok; fi
same_text "auto probes the module, then the CPU" -- env LATHE_CUDA_MODULE="$fake/nodev/liblathe-cuda.so" \
  FAKE_CUDA_MARK="$tmp/mark" "${T[@]}" "$bin" "${gen[@]}" --device auto
if [ -e "$tmp/mark" ]; then ok; else bad "--device auto did not look at the module"; fi

# ---- under a 200 MB address-space limit -----------------------------------------------------
limited() { (ulimit -v "$limit_kb" && exec env OPENBLAS_NUM_THREADS=1 "$@"); }
if ldd "$bin" 2>/dev/null | grep -q libasan; then
  echo "AddressSanitizer build (LATHE_SANITIZE): its shadow memory needs terabytes of address space; the ${limit_kb} KiB runs are skipped"
else
  same_text "cpu under ${limit_kb} KiB" -- limited "${T[@]}" "$bin" "${gen[@]}" --device cpu
  same_text "auto under ${limit_kb} KiB" -- limited "${T[@]}" "$bin" "${gen[@]}" --device auto
  one_line "cuda under ${limit_kb} KiB" 1 "^lathe: device cuda: " -- limited "${T[@]}" "$bin" "${gen[@]}" --device cuda
  expect "version under ${limit_kb} KiB" 0 "^cuda: " -- limited "${T[@]}" "$bin" --version
fi

# ---- missing and broken modules -------------------------------------------------------------
printf 'this is not a shared object\n' >"$tmp/liblathe-cuda.so"
mkdir -p "$tmp/empty"
# case NAME MODULE PATTERN: --device cuda fails with one line, auto runs on the CPU, --version says why
case_() {
  local name=$1 mod=$2 pat=$3
  one_line "$name: --device cuda" 1 "^lathe: device cuda: .*$pat" -- env LATHE_CUDA_MODULE="$mod" "${T[@]}" "$bin" "${gen[@]}" --device cuda
  same_text "$name: --device auto" -- env LATHE_CUDA_MODULE="$mod" "${T[@]}" "$bin" "${gen[@]}" --device auto
  expect "$name: --version" 0 "^cuda: .*$pat" -- env LATHE_CUDA_MODULE="$mod" "${T[@]}" "$bin" --version
}
case_ "missing file" "$tmp/nothere/liblathe-cuda.so" \
  "the CUDA module was not found \(looked in: LATHE_CUDA_MODULE=$tmp/nothere/liblathe-cuda.so\)"
case_ "folder without the module" "$tmp/empty" "the CUDA module was not found \(looked in: LATHE_CUDA_MODULE=$tmp/empty"
case_ "a text file" "$tmp/liblathe-cuda.so" "the CUDA module $tmp/liblathe-cuda.so could not be loaded: .*(invalid ELF header|too short)"
case_ "a library missing" "$fake/missing_dep/liblathe-cuda.so" \
  "could not be loaded: libltmissing.so: cannot open shared object file"
case_ "another ABI" "$fake/abi/liblathe-cuda.so" "has ABI version [0-9]+, expected [0-9]+"
case_ "no entry point" "$fake/noentry" "is not a lathe CUDA module \(it has no lt_cuda_module_entry\)"
case_ "no device" "$fake/nodev/liblathe-cuda.so" "no CUDA-capable device is detected"
expect "no device: --version says loaded" 0 "^cuda: module .*/nodev/liblathe-cuda\.so loaded, 0 devices: " -- \
  env LATHE_CUDA_MODULE="$fake/nodev" "${T[@]}" "$bin" --version
expect "a working module: --version" 0 "^cuda: module .*/ok/liblathe-cuda\.so loaded, 1 device \(" -- \
  env LATHE_CUDA_MODULE="$fake/ok" "${T[@]}" "$bin" --version

# ---- the real module -----------------------------------------------------------------------
if [ "$built" -eq 1 ]; then
  if "$bin" --version | grep -qE "^cuda: module .* loaded, [1-9][0-9]* devices?"; then
    expect "real module: generate on the GPU" 0 "decode: [0-9.]+ tok/s \(20 tokens, cuda\)" -- \
      "${T[@]}" "$bin" "${gen[@]}" --device cuda
  else
    one_line "real module: --device cuda without a GPU" 1 "^lathe: device cuda: " -- "${T[@]}" "$bin" "${gen[@]}" --device cuda
    same_text "real module: auto falls back" -- "${T[@]}" "$bin" "${gen[@]}" --device auto
  fi
else
  echo "this build made no CUDA module: the checks of the real module are skipped"
fi
finish
