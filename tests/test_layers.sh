#!/usr/bin/env bash
# test_layers.sh - the house rules of docs/ARCHITECTURE.md, checked on the source tree: no .c/.h
# directly in core/ (only its layer folders), every project #include goes down the layer order
# (or stays in its own folder; kernels/cpu and kernels/cuda may include core/backend/backend_impl.h,
# the op table they fill), and no file outside kernels/ includes a kernel backend's headers.
set -u
root=${LATHE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1

# rank of a folder in the layer order (lower = further down)
rank() {
  case $1 in
  kernels) echo 0 ;;           # kernels/lt_*.h: scalar math shared by CPU and CUDA
  core/base) echo 1 ;;
  kernels/cpu | kernels/cuda) echo 2 ;;
  core/backend) echo 3 ;;
  core/text) echo 4 ;;
  core/formats) echo 5 ;;
  core/llm | core/vision | core/diffusion) echo 6 ;;
  core/compress) echo 7 ;;     # passes over the engines' interfaces (lt_lm)
  models) echo 8 ;;
  core/app) echo 9 ;;
  core/cmd) echo 10 ;;
  tui) echo 11 ;;
  *) echo -1 ;;
  esac
}

fail=0
bad() {
  echo "FAIL: $*"
  fail=$((fail + 1))
}

for f in core/*.c core/*.h; do
  [ -e "$f" ] && bad "$f sits directly in core/ (put it in a layer folder)"
done

n=0
while IFS= read -r f; do
  dir=$(dirname "$f")
  from=$(rank "$dir")
  [ "$from" -lt 0 ] && { bad "$f: folder $dir is not in the layer order"; continue; }
  while IFS= read -r inc; do
    n=$((n + 1))
    case $inc in */*) ;; *) continue ;; esac # a sibling in the same folder
    idir=$(dirname "$inc")
    [ "$idir" = "$dir" ] && continue
    to=$(rank "$idir")
    # the one exception: backends implement the op table core/backend declares for them
    [ "$inc" = core/backend/backend_impl.h ] && [ "$from" -eq 2 ] && continue
    if [ "$to" -lt 0 ]; then
      bad "$f includes $inc: not a layer folder"
    elif [ "$to" -ge "$from" ]; then
      bad "$f includes $inc: $idir is not below $dir"
    fi
    case $idir in kernels/cpu | kernels/cuda) case $dir in kernels/*) ;; *) bad "$f includes the kernel header $inc" ;; esac ;; esac
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find core kernels models tui -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)

echo "$n includes checked, $fail problems"
[ "$fail" -eq 0 ]
