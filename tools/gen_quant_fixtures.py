#!/usr/bin/env python3
"""gen_quant_fixtures.py - expected outputs of GGML's reference quantizers and dequantizers, for
lathe's bit-exactness tests (tests/test_quants.c reads them; CI does not run this script).

Usage: tools/gen_quant_fixtures.py LIBGGML_BASE_SO OUT_DIR
  LIBGGML_BASE_SO: libggml-base.so of a llama.cpp / ggml build made outside this repository
  (the committed fixtures name the version they came from in tests/fixtures/quants/README.md).

Per type, OUT_DIR/<type>.bin (little-endian):
  header: b"LTQF", u32 version (1), u32 ggml type id, u32 rows, u32 cols, u32 row_bytes, u32 blocks
  x        rows*cols f32       inputs (seeded: normal rows of different scales, a sparse row, outliers)
  q        rows*row_bytes      ggml_quantize_chunk(type, x, imatrix=NULL) - what llama-quantize writes
                               without an importance matrix (for q8_1 / q8_K: quantize_row_q8_1_ref /
                               quantize_row_q8_K_ref, GGML's activation quantizers)
  xq       rows*cols f32       to_float(q)                                 (weight types only)
  hand     blocks*block_bytes  random block bytes with finite f16 scales   (weight types only)
  xhand    blocks*block_elems  to_float(hand)                              (weight types only)
"""
import ctypes
import struct
import sys

import numpy as np

# ggml type id -> (name, elements per block, bytes per block, offsets of f16 fields to keep finite)
TYPES = {
    3: ("q4_1", 32, 20, [0, 2]),
    6: ("q5_0", 32, 22, [0]),
    7: ("q5_1", 32, 24, [0, 2]),
    20: ("iq4_nl", 32, 18, [0]),
    10: ("q2_K", 256, 84, [80, 82]),
    11: ("q3_K", 256, 110, [108]),
    12: ("q4_K", 256, 144, [0, 2]),
    13: ("q5_K", 256, 176, [0, 2]),
    14: ("q6_K", 256, 210, [208]),
    23: ("iq4_xs", 256, 136, [0]),
    9: ("q8_1", 32, 36, None),   # activation partner
    15: ("q8_K", 256, 292, None),  # activation partner
}
ROWS, COLS = 4, 512


class Traits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


ROWFN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def inputs(rng):
    x = np.empty((ROWS, COLS), np.float32)
    x[0] = rng.standard_normal(COLS) * 0.02
    x[1] = rng.standard_normal(COLS) * 1.5 + 0.3
    x[2] = 0.0
    x[2, rng.choice(COLS, 20, replace=False)] = rng.standard_normal(20)
    x[3] = rng.standard_normal(COLS) * 0.05
    x[3, rng.choice(COLS, 6, replace=False)] = rng.choice([-1, 1], 6) * rng.uniform(2, 8, 6)
    return x


def hand_blocks(rng, n, bb, f16_offs):
    raw = bytearray(rng.integers(0, 256, n * bb, dtype=np.uint8).tobytes())
    for b in range(n):
        for o in f16_offs:
            h = np.float16(rng.uniform(-0.05, 0.05) if o == 0 else rng.uniform(0.0, 0.05))
            raw[b * bb + o:b * bb + o + 2] = h.tobytes()
    return bytes(raw)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lib = ctypes.CDLL(sys.argv[1])
    lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    for tid, (name, blk, bb, offs) in TYPES.items():
        tr = lib.ggml_get_type_traits(tid).contents
        assert tr.blck_size == blk and tr.type_size == bb, name
        rng = np.random.default_rng(tid * 1000 + 7)
        x = inputs(rng)
        rb = COLS // blk * bb
        q = ctypes.create_string_buffer(ROWS * rb)
        if offs is None:
            f = getattr(lib, f"quantize_row_{name}_ref")  # GGML's reference activation quantizer
            f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            for r in range(ROWS):
                f(x[r].ctypes.data, ctypes.addressof(q) + r * rb, COLS)
        else:
            n = lib.ggml_quantize_chunk(tid, x.ctypes.data, q, 0, ROWS, COLS, None)
            assert n == ROWS * rb, name
        out = [struct.pack("<4s6I", b"LTQF", 1, tid, ROWS, COLS, rb, 0 if offs is None else 8), x.tobytes(), q.raw]
        if offs is not None:
            to_f = ROWFN(tr.to_float)
            xq = np.empty((ROWS, COLS), np.float32)
            to_f(q, xq.ctypes.data, ROWS * COLS)
            nh = 8
            hand = hand_blocks(rng, nh, bb, offs)
            hb = ctypes.create_string_buffer(hand, len(hand))
            xh = np.empty(nh * blk, np.float32)
            to_f(hb, xh.ctypes.data, nh * blk)
            out += [xq.tobytes(), hand, xh.tobytes()]
        with open(f"{sys.argv[2]}/{name}.bin", "wb") as fo:
            fo.write(b"".join(out))
        print(f"{name}: {sum(len(o) for o in out)} bytes")


if __name__ == "__main__":
    main()
