#!/usr/bin/env python3
"""gptq_rtn_head.py - a copy of a GPTQ folder written with `lathe compress --quant-head` whose lm_head
is replaced by round-to-nearest (IST-DASLab/gptq's min/max asymmetric quantizer per group, 4 bits,
gptq_v2 zeros, AutoGPTQ's packing), quantized from the folder's f16 embedding (the untied head's
weights) - the comparison row for GPTQ on the head in docs/PERF.md.

    python tools/gptq_rtn_head.py QHEAD_FOLDER OUT_FOLDER [--group 128]
"""
import argparse
import shutil

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--group", type=int, default=128)
    a = ap.parse_args()
    shutil.rmtree(a.dst, ignore_errors=True)
    shutil.copytree(a.src, a.dst)
    t = load_file(a.src + "/model.safetensors")
    assert "lm_head.qweight" in t, "not a --quant-head folder"
    W = t["model.embed_tokens.weight"].astype(np.float32)  # N x K
    N, K = W.shape
    gs = a.group
    G = (K + gs - 1) // gs
    q = np.zeros((N, K), np.uint32)
    S = np.zeros((G, N), np.float32)
    Z = np.zeros((G, N), np.uint32)
    for g in range(G):
        w = W[:, g * gs:(g + 1) * gs]
        xmin, xmax = np.minimum(w.min(1), 0), np.maximum(w.max(1), 0)
        both = (xmin == 0) & (xmax == 0)
        xmin[both], xmax[both] = -1, 1
        sc = (xmax - xmin) / 15
        z = np.clip(np.rint(-xmin / sc), 0, 15)
        q[:, g * gs:(g + 1) * gs] = np.clip(np.rint(w / sc[:, None]) + z[:, None], 0, 15).astype(np.uint32)
        S[g], Z[g] = sc, z.astype(np.uint32)
    qw = np.zeros((K // 8, N), np.uint32)
    for i in range(8):
        qw |= q[:, i::8].T << (4 * i)
    qz = np.zeros((G, N // 8), np.uint32)
    for i in range(8):
        qz |= Z[:, i::8] << (4 * i)
    t["lm_head.qweight"], t["lm_head.qzeros"] = qw.view(np.int32), qz.view(np.int32)
    t["lm_head.scales"] = S.astype(np.float16)
    t["lm_head.g_idx"] = (np.arange(K) // gs).astype(np.int32)
    save_file(t, a.dst + "/model.safetensors")


if __name__ == "__main__":
    main()
