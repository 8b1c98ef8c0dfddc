#!/usr/bin/env python3
"""gen_q4_0_dot_fixtures.py - GGML's q4_0 x q8_0 dot products, for the check of lathe's q4_0
matmuls (plain and interleaved by 8 rows, kernels/cpu/matmul_q4r8.c) against GGML
(tests/test_q4r8.c reads the file; CI does not run this script).

Usage: tools/gen_q4_0_dot_fixtures.py LIBGGML_BASE_SO LIBGGML_CPU_SO OUT_FILE
  the two libraries of a llama.cpp / ggml build made outside this repository (the committed
  fixture names the version it came from in tests/fixtures/quants/README.md).

OUT_FILE (little-endian):
  header: b"LTQD", u32 version (1), u32 N (weight rows), u32 K, u32 T (activation rows)
  x    T*K f32            activations (seeded: normal rows of different scales, a row with outliers)
  w    N*K f32            weights (seeded normal, rows of different scales)
  wq   N*(K/32)*18 bytes  ggml_quantize_chunk(GGML_TYPE_Q4_0, w): what llama-quantize writes
  xq   T*(K/32)*34 bytes  ggml_quantize_chunk(GGML_TYPE_Q8_0, x): quantize_row_q8_0_ref
  y    T*N f32            y[t, n] = GGML's CPU vec_dot for q4_0 (ggml_get_type_traits_cpu(Q4_0)
                          ->vec_dot, the q4_0 x q8_0 dot of its x86 build) of wq row n and xq row t
"""
import ctypes
import struct
import sys

import numpy as np

Q4_0, Q8_0 = 2, 8
N, K, T = 16, 544, 3  # 17 blocks: an odd count (the kernels' pair loops and their tail)


class TraitsCpu(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


VECDOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                          ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(sys.argv[2])
    base.ggml_quantize_chunk.restype = ctypes.c_size_t
    base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    cpu.ggml_cpu_init.restype = None
    cpu.ggml_cpu_init()
    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TraitsCpu)
    cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
    tr = cpu.ggml_get_type_traits_cpu(Q4_0).contents
    assert tr.vec_dot_type == Q8_0, tr.vec_dot_type
    vec_dot = VECDOT(tr.vec_dot)

    rng = np.random.default_rng(20261207)
    x = rng.standard_normal((T, K)).astype(np.float32)
    x[0] *= 0.05
    x[1] *= 2.0
    x[2, rng.choice(K, 8, replace=False)] = rng.choice([-1, 1], 8) * rng.uniform(5, 20, 8)
    w = (rng.standard_normal((N, K)) * rng.uniform(0.01, 0.2, (N, 1))).astype(np.float32)
    wq = ctypes.create_string_buffer(N * (K // 32) * 18)
    xq = ctypes.create_string_buffer(T * (K // 32) * 34)
    assert base.ggml_quantize_chunk(Q4_0, w.ctypes.data, wq, 0, N, K, None) == len(wq.raw)
    assert base.ggml_quantize_chunk(Q8_0, x.ctypes.data, xq, 0, T, K, None) == len(xq.raw)
    y = np.zeros((T, N), np.float32)
    s = ctypes.c_float()
    wrow, xrow = (K // 32) * 18, (K // 32) * 34
    for t in range(T):
        for n in range(N):
            vec_dot(K, ctypes.byref(s), 0, ctypes.addressof(wq) + n * wrow, 0, ctypes.addressof(xq) + t * xrow, 0, 1)
            y[t, n] = s.value
    with open(sys.argv[3], "wb") as f:
        f.write(b"LTQD" + struct.pack("<4I", 1, N, K, T))
        f.write(x.tobytes() + w.tobytes() + wq.raw + xq.raw + y.tobytes())


if __name__ == "__main__":
    main()
