#!/usr/bin/env bash
# Every function of the lathe binary that uses 256/512-bit registers clears their upper halves
# (vzeroupper) on each path that returns. GCC skips it when an AVX function's last act is a call
# to another AVX function, and the SSE code the function returns to then runs slowly: the f16
# dot product behind SmolLM2's f16 decode ran at a third of its speed that way (kernels/cpu/
# matmul.c, df16_v; docs/PERF.md "f16 decode"). A path is the straight run of instructions
# before a `ret`, back to the previous jump or call. Needs objdump (binutils); skipped for
# sanitizer builds, whose instrumentation calls sit before every return.
set -euo pipefail
bin=${LATHE_BIN:-build/lathe}
command -v objdump >/dev/null || { echo "skip: no objdump"; exit 77; }
[ -x "$bin" ] || { echo "no binary at $bin"; exit 1; }
# (grep -c reads all its input: with pipefail, grep -q's early exit would fail the pipeline)
if [ "$(objdump -p "$bin" | grep -cE 'NEEDED +lib(asan|ubsan|tsan)')" != 0 ] ||
   [ "$(objdump -t "$bin" | grep -cE '__asan_init|__ubsan_handle')" != 0 ]; then
  echo "skip: sanitizer build"; exit 77
fi
case "$("$bin" --version 2>/dev/null | sed -n 's/^build: \([A-Za-z]*\).*/\1/p')" in
  Release) ;; # -O3, as CI and the README build it (other levels place vzeroupper differently)
  *) echo "skip: not a Release build (the check reads GCC's -O3 epilogues)"; exit 77 ;;
esac
bad=$(objdump -d --no-show-raw-insn "$bin" | awk '
  function flush() { if (fn != "" && wide && nbad) print fn " (" nbad " return path(s))"; }
  /^[0-9a-f]+ <.*>:$/ { flush(); fn = $2; wide = 0; nbad = 0; clean = 0; next }
  /%[yz]mm/ { wide = 1 }
  { op = $2 }
  op == "vzeroupper" { clean = 1; next }
  op ~ /^j/ || op == "call" { clean = 0; next }
  op == "ret" { if (!clean) nbad++; clean = 0 }
  END { flush() }')
n=$(printf '%s' "$bad" | grep -c . || true)
# The check is per path, not per state: a path that returns after an earlier vzeroupper (or
# before any vector code) is listed too. Each function allowed here was read: xq_extend,
# quant_x0_avx2 return early before any vector code; f16_to_f32_avx2 (core/base/dtype.c) clears
# the upper halves after its vector loop, before the scalar tail that calls lt_f16_to_f32.
list_ok='<(xq_extend|quant_x0_avx2|f16_to_f32_avx2)>'
real=$(printf '%s\n' "$bad" | grep -vE "$list_ok" | grep . || true)
if [ -n "$real" ]; then
  echo "functions using ymm/zmm that return without vzeroupper:"
  printf '%s\n' "$real"
  exit 1
fi
echo "ok: every path that returns from vector code clears the upper halves ($n allowed: $list_ok)"
