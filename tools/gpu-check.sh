#!/usr/bin/env bash
# gpu-check.sh OUTDIR - everything a machine with an NVIDIA GPU should run, in one go: build
# for the local GPU (sm_90 on Hopper), the whole test suite with the CUDA tests live, then the
# benchmarks the CUDA, speculative decoding and detection goals are judged by, each as JSON.
# Writes OUTDIR/{build,ctest}.log, OUTDIR/version.txt (lathe --version: the CUDA module's
# state) and OUTDIR/*.json; prints a summary. Needs nvcc and a GPU.
# Record the figures in docs/PERF.md with the date and the GPU.
set -u
out=${1:?usage: tools/gpu-check.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
arch=${LATHE_CUDA_ARCH:-90}
b="$root/build-gpu"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (see $out/nvidia-smi.txt)"

echo "== build (sm_$arch)"
if ! { cmake -S "$root" -B "$b" -DLATHE_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" &&
       cmake --build "$b" -j"$(nproc)"; } >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  exit 1
fi

# the CUDA backend is build-gpu/liblathe-cuda.so, loaded by lathe and the tests from their folder
"$b/lathe" --version >"$out/version.txt" 2>&1
grep "^cuda:" "$out/version.txt"
grep -qE "^cuda: module .* loaded, [1-9]" "$out/version.txt" ||
  echo "the CUDA module or the GPU is not usable (above): the CUDA tests will skip and the benchmarks fail"

echo "== tests"
(cd "$b" && ctest -j4 --output-on-failure --timeout 900) >"$out/ctest.log" 2>&1
tail -8 "$out/ctest.log"
for t in test_ops_cuda test_model_cuda test_vision_cuda; do # their per-check lines
  (cd "$b" && LATHE_ROOT="$root" "./$t") >"$out/$t.log" 2>&1
  echo "$t: $(tail -1 "$out/$t.log")"
done
grep "^speed:" "$out/test_ops_cuda.log" # matmul time per weight type (14336 x 4096, T = 1 and 8)
# the gq4 W4A16 kernel (matmul_marlin.cu; goal: >= 80% of the copy line at T = 1) against the
# GEMV it replaces (LATHE_CUDA_MARLIN=0 keeps gq4 matrices in rows)
(cd "$b" && LATHE_CUDA_MARLIN=0 LATHE_ROOT="$root" ./test_ops_cuda) >"$out/test_ops_cuda_gemv.log" 2>&1
echo "test_ops_cuda (LATHE_CUDA_MARLIN=0): $(tail -1 "$out/test_ops_cuda_gemv.log")"
grep "^speed: matmul gq4" "$out/test_ops_cuda_gemv.log" | sed 's/^speed:/speed (GEMV):/'

L="$b/lathe"
run() { # run NAME CMD...: JSON to OUTDIR/NAME.json, stderr to NAME.err
  local name=$1
  shift
  if "$@" >"$out/$name.json" 2>"$out/$name.err"; then echo "$name: ok"; else echo "$name: FAILED ($(tail -1 "$out/$name.err"))"; fi
}
echo "== benchmarks"
for t in f16 q8_0 q4_0; do
  run "bench_llama8b_$t" "$L" bench --synthetic llama-8b --type "$t" --device cuda --json
  run "bench_llama8b_${t}_nographs" env LATHE_GRAPHS=0 "$L" bench --synthetic llama-8b --type "$t" --device cuda -p 64 --json
done
# GGML's other weight types (kernels/cuda/matmul_quants.cu). Synthetic weights of a type need its
# host quantizer and the synthetic model to accept it: "skipped" until both are in.
for t in q4_1 q5_0 q5_1 iq4_nl q2_K q3_K q4_K q5_K q6_K iq4_xs; do
  if "$L" bench --synthetic llama-8b --type "$t" --device cuda --json >"$out/bench_llama8b_$t.json" 2>"$out/bench_llama8b_$t.err"; then
    echo "bench_llama8b_$t: ok"
  elif grep -q "not a matrix type\|no quantizer" "$out/bench_llama8b_$t.err"; then
    echo "bench_llama8b_$t: skipped ($(tail -1 "$out/bench_llama8b_$t.err"))"
  else
    echo "bench_llama8b_$t: FAILED ($(tail -1 "$out/bench_llama8b_$t.err"))"
  fi
done
# GPTQ gq4 (W4A16 kernel): decode (T = 1) and a 16-token prefill (T = 16), and the GEMV for both
for t in gq4_128 gq4_32; do
  run "bench_llama8b_$t" "$L" bench --synthetic llama-8b --type "$t" --device cuda -p 16 --json
  run "bench_llama8b_${t}_gemv" env LATHE_CUDA_MARLIN=0 "$L" bench --synthetic llama-8b --type "$t" --device cuda -p 16 --json
done
# 2:4 sparse s24_f16: a 128-token prefill on the mma.sp kernel (matmul_s24.cu) and decode on its
# GEMV; compare prefill with bench_llama8b_f16_nographs' dense cuBLAS (-p 64) and the speed lines above
run bench_llama8b_s24_f16 "$L" bench --synthetic llama-8b --type s24_f16 --device cuda -p 128 --json
run bench_llama1b_f16 "$L" bench --synthetic llama-1b --type f16 --device cuda --json
run bench_stories "$L" bench -m "$root/assets/models/stories260K.bin" --device cuda --json
run spec_triforce_4k "$L" bench spec --synthetic llama-1b --type f16 --prompt-tokens 4096 -n 128 --spec triforce \
  --budget 1024 --device cuda --json
run spec_ngram "$L" bench spec --synthetic llama-1b --type f16 --prompt-tokens 32 --self-prompt 200 -n 64 \
  --spec ngram --adaptive --device cuda --json
run detect_cuda "$L" bench detect --batch 64 --device cuda --json
run detect_cpu "$L" bench detect --batch 16 --device cpu --json
echo "results in $out"
