#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and fuzzes each for
# a while from its committed seeds. The smoke run tests/run.sh does; see tests/fuzz/README.md.
#
#   tests/fuzz/run.sh [TARGET...]      fuzz the targets (default: all), LATHE_FUZZ_SECONDS each
#   tests/fuzz/run.sh --regen          rewrite tests/fuzz/corpus with fuzz_gen_corpus
#
# Environment: LATHE_FUZZ_SECONDS (default 20) per target; LATHE_FUZZ_JOBS targets at a time
# (default: nproc; libFuzzer runs one thread each); LATHE_FUZZ_SEED (default: random, printed);
# LATHE_FUZZ_REQUIRE=1 makes a missing clang/libFuzzer an error instead of a skip; BUILD_DIR
# (default build-fuzz); LATHE_FUZZ_CC/LATHE_FUZZ_CXX (default clang/clang++; CC is not used, CI
# may set it to gcc for the main build).
# New inputs go to BUILD_DIR/corpus/TARGET (the committed corpus is only read); a crash, leak,
# timeout or out-of-memory input goes to BUILD_DIR/crashes/TARGET-<kind>-<sha1> and fails the
# run (exit 1) after every target has run. Exits 0 with "skipped" when clang or libFuzzer is
# missing (unless LATHE_FUZZ_REQUIRE=1).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dir=${BUILD_DIR:-build-fuzz}
case $dir in /*) ;; *) dir=$root/$dir ;; esac
secs=${LATHE_FUZZ_SECONDS:-20}
jobs=${LATHE_FUZZ_JOBS:-$(nproc)}
cc=${LATHE_FUZZ_CC:-clang}
cxx=${LATHE_FUZZ_CXX:-clang++}

skip() {
  echo "fuzz: skipped: $*"
  [ "${LATHE_FUZZ_REQUIRE:-0}" = 1 ] && exit 1
  exit 0
}

# ---- does this clang link libFuzzer with ASan and UBSan? --------------------------------------
command -v "$cc" >/dev/null 2>&1 || skip "no C compiler '$cc' (install clang: tools/install-deps.sh)"
command -v "$cxx" >/dev/null 2>&1 || skip "no C++ compiler '$cxx' (install clang)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$probe/p.c"
"$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1 ||
  skip "'$cc' cannot link -fsanitize=fuzzer,address,undefined (clang with libFuzzer: packages clang, libclang-rt-dev): $(head -c 300 "$probe/log")"

# ---- build ----------------------------------------------------------------------------------------
t0=$SECONDS
CC=$cc CXX=$cxx cmake -S . -B "$dir" -DLATHE_FUZZ=ON -DLATHE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >"$probe/cmake.log" 2>&1 ||
  { cat "$probe/cmake.log"; echo "fuzz: configuring $dir failed"; exit 1; }
cmake --build "$dir" --target fuzz -j"$(nproc)" >"$probe/build.log" 2>&1 ||
  { tail -50 "$probe/build.log"; echo "fuzz: building the fuzz targets failed"; exit 1; }
echo "fuzz: built the targets in $((SECONDS - t0)) s ($dir/fuzz)"
bin="$dir/fuzz"

if [ "${1:-}" = --regen ]; then
  rm -rf tests/fuzz/corpus
  "$bin/fuzz_gen_corpus" tests/fuzz/corpus assets || exit 1
  du -sh tests/fuzz/corpus
  exit 0
fi

# ---- fuzz -----------------------------------------------------------------------------------------
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
fi
for t in "${targets[@]}"; do
  [ -x "$bin/fuzz_$t" ] || { echo "fuzz: no target '$t' (tests/fuzz/fuzz_$t.c)"; exit 1; }
done
mkdir -p "$dir/crashes" "$dir/logs"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/tools/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$root/tools/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mkdir -p "$dir/tmp"
scratch=$(mktemp -d "$dir/tmp/run.XXXXXX") # this run's own: runs side by side do not clash

fuzz_one() {
  local t=$1 out="$dir/corpus/$t" log="$dir/logs/$t.log"
  mkdir -p "$out" "$scratch/$t"
  local seed=() dirs=("$out" "$root/tests/fuzz/corpus/$t")
  [ -n "${LATHE_FUZZ_SEED:-}" ] && seed=(-seed="$LATHE_FUZZ_SEED")
  [ -d "$root/tests/fuzz/regress/$t" ] && dirs+=("$root/tests/fuzz/regress/$t")
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a reader that allocates
  # far more than its input justifies is a finding too. The committed corpus and the
  # regression inputs are read-only inputs after the first (output) folder.
  LATHE_FUZZ_TMP="$scratch/$t" "$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${seed[@]}" -artifact_prefix="$dir/crashes/$t-" "${dirs[@]}" >"$log" 2>&1
  local rc=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  if [ $rc -eq 0 ]; then
    printf 'fuzz: %-16s ok    %8s runs in %s s, corpus %s files\n' "$t" "${runs:-?}" "$secs" "$(ls "$out" | wc -l)"
  else
    printf 'fuzz: %-16s FAIL  (exit %d) - log %s:\n' "$t" $rc "$log"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|artifact_prefix|Seed:' "$log" | head -20
    grep -A25 -m1 -E '^==[0-9]+==ERROR|runtime error' "$log" | head -40
  fi
  echo $rc >"$dir/logs/$t.rc"
  return $rc
}

t0=$SECONDS
for t in "${targets[@]}"; do
  rm -f "$dir/logs/$t.rc"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  fuzz_one "$t" &
done
wait
failed=()
for t in "${targets[@]}"; do
  [ "$(cat "$dir/logs/$t.rc" 2>/dev/null)" = 0 ] || failed+=("$t")
done
rm -rf "$scratch"
echo "fuzz: ${#targets[@]} targets x $secs s in $((SECONDS - t0)) s ($jobs at a time)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $dir/crashes/; reproduce with $dir/fuzz/fuzz_TARGET FILE)"
  exit 1
fi
echo "fuzz: no crash, leak or hang"
