#!/usr/bin/env bash
# sanitize.sh - the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (+ LeakSanitizer): configures build-sanitize with -DLATHE_SANITIZE=ON (CUDA off), builds it
# and runs ctest there with every sanitizer report fatal. Extra arguments go to ctest
# (e.g. `tools/sanitize.sh -R gguf`). BUILD_DIR overrides the build folder; JOBS the
# parallelism (default: nproc). Exit status: ctest's.
# test_leak.sh (valgrind) skips itself in this build: LeakSanitizer checks every test instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build-sanitize}
jobs=${JOBS:-$(nproc)}
# -O1 -g: readable stacks at a build and run time CI can afford; asserts stay on.
cmake -S . -B "$dir" -DLATHE_SANITIZE=ON -DLATHE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
cmake --build "$dir" -j"$jobs"
supp="$PWD/tools/lsan.supp"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tools/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900 "$@"
