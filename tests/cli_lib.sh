# cli_lib.sh - shared harness for the command-line tests (sourced by tests/test_*_cli.sh and
# tests/test_cli.sh): $bin and $root from ctest's environment, a temp dir removed on exit,
# pass/fail counters, and expect/ok/bad/finish.
bin=${LATHE_BIN:?} root=${LATHE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect NAME WANT_RC PATTERN -- CMD...: runs CMD, checks its exit code and that
# stdout+stderr match the extended regex PATTERN
expect() {
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then ok
  else bad "$name: rc=$rc (want $want), output:"; head -c 600 <<<"$out"; echo; fi
}

# smollm2_path: the default chat model SmolLM2-135M-Instruct: $LATHE_SMOLLM2, else the file in the
# models folder lathe looks in ($LATHE_MODELS, default ~/.cache/lathe/models, as `lathe --version`
# names it; tools/fetch-model.sh fetches it there). The file may be absent: tests then skip.
smollm2_path() {
  if [ -n "${LATHE_SMOLLM2:-}" ]; then echo "$LATHE_SMOLLM2"
  else echo "$("$bin" --version | sed -n 's/^models: //p')/SmolLM2-135M-Instruct.Q4_1.gguf"; fi
}

# finish: the summary line ctest's log shows, and the exit status
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
