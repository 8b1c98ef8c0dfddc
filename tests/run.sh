#!/usr/bin/env bash
# Installs missing build dependencies (Debian), builds lathe and runs the whole test suite.
# The CUDA backend is compiled when nvcc is found; its tests skip without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900
