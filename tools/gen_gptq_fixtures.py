#!/usr/bin/env python3
"""gen_gptq_fixtures.py - tiny AutoGPTQ / GPTQModel Hugging Face folders for tests/test_gptq_hf.c.

Each folder under tests/fixtures/gptq/ is a 1-layer llama (hidden 64, intermediate 64) whose seven
linears are packed with AutoGPTQ's QuantLinear.pack() loops (qlinear_cuda_old.py / qlinear_exllama.py:
qweight along the input dim LSB first with the 3-bit word-crossing form, qzeros along the output dim,
v1 storing zero - 1), plus expected.safetensors: the f32 weights scale * (q - zero) that a reader
must give back. Random codes, f16 scales, numpy only.

    python3 tools/gen_gptq_fixtures.py tests/fixtures/gptq
"""
import json
import os
import struct
import sys

import numpy as np

H, I, V, NH, NKV, HD = 64, 64, 32, 2, 1, 32
LINEARS = [("self_attn.q_proj", NH * HD, H), ("self_attn.k_proj", NKV * HD, H), ("self_attn.v_proj", NKV * HD, H),
           ("self_attn.o_proj", H, NH * HD), ("mlp.gate_proj", I, H), ("mlp.up_proj", I, H), ("mlp.down_proj", H, I)]


def write_st(path, tensors):
    hdr, off, blobs = {}, 0, []
    for name, arr in tensors:
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int32): "I32"}[arr.dtype]
        b = np.ascontiguousarray(arr).tobytes()
        hdr[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def pack_qweight(intweight, bits):
    """AutoGPTQ's pack(): intweight [in, out] uint32 -> qweight [in // 32 * bits, out] (the loop as written there)."""
    qweight = np.zeros((intweight.shape[0] // 32 * bits, intweight.shape[1]), dtype=np.uint32)
    i = 0
    row = 0
    while row < qweight.shape[0]:
        if bits in [2, 4, 8]:
            for j in range(i, i + (32 // bits)):
                qweight[row] |= intweight[j] << (bits * (j - i))
            i += 32 // bits
            row += 1
        elif bits == 3:
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i))
            i += 10
            qweight[row] |= intweight[i] << 30
            row += 1
            qweight[row] |= (intweight[i] >> 2) & 1
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 1)
            i += 10
            qweight[row] |= intweight[i] << 31
            row += 1
            qweight[row] |= (intweight[i] >> 1) & 0x3
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 2)
            i += 10
            row += 1
    return qweight.astype(np.int32)


def pack_qzeros(zeros, bits):
    """AutoGPTQ's pack() for zeros [groups, out] (already minus 1 for v1) -> qzeros [groups, out // 32 * bits]."""
    zeros = zeros.astype(np.uint32)
    qzeros = np.zeros((zeros.shape[0], zeros.shape[1] // 32 * bits), dtype=np.uint32)
    i = 0
    col = 0
    while col < qzeros.shape[1]:
        if bits in [2, 4, 8]:
            for j in range(i, i + (32 // bits)):
                qzeros[:, col] |= zeros[:, j] << (bits * (j - i))
            i += 32 // bits
            col += 1
        elif bits == 3:
            for j in range(i, i + 10):
                qzeros[:, col] |= zeros[:, j] << (3 * (j - i))
            i += 10
            qzeros[:, col] |= zeros[:, i] << 30
            col += 1
            qzeros[:, col] |= (zeros[:, i] >> 2) & 1
            i += 1
            for j in range(i, i + 10):
                qzeros[:, col] |= zeros[:, j] << (3 * (j - i) + 1)
            i += 10
            qzeros[:, col] |= zeros[:, i] << 31
            col += 1
            qzeros[:, col] |= (zeros[:, i] >> 1) & 0x3
            i += 1
            for j in range(i, i + 10):
                qzeros[:, col] |= zeros[:, j] << (3 * (j - i) + 2)
            i += 10
            col += 1
    return qzeros.astype(np.int32)


def make(out, name, bits, group, sym, fmt, store_v2, desc_act, where, seed):
    rng = np.random.default_rng(seed)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    maxq = (1 << bits) - 1
    tensors, expected = [], []
    tensors.append(("model.embed_tokens.weight", (rng.standard_normal((V, H)) * 0.5).astype(np.float16)))
    tensors.append(("model.norm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float16)))
    tensors.append(("lm_head.weight", (rng.standard_normal((V, H)) * 0.2).astype(np.float16)))
    tensors.append(("model.layers.0.input_layernorm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float16)))
    tensors.append(("model.layers.0.post_attention_layernorm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float16)))
    for lin, n_out, n_in in LINEARS:
        g = group if group > 0 else n_in
        G = (n_in + g - 1) // g
        q = rng.integers(0, maxq + 1, size=(n_in, n_out)).astype(np.uint32)  # intweight [in, out]
        if sym:
            zeros = np.full((G, n_out), 1 << (bits - 1), dtype=np.int64)
        else:  # v1 cannot store a zero of 0 (AutoGPTQ's zeros - 1 would wrap into the next field)
            zeros = rng.integers(1, maxq + 1, size=(G, n_out)).astype(np.int64)
        scales = (0.01 + 0.05 * rng.random((G, n_out))).astype(np.float16)
        if desc_act:  # act-order: the groups of a random permutation, in original column order
            perm = rng.permutation(n_in)
            g_idx = np.empty(n_in, dtype=np.int32)
            g_idx[perm] = np.arange(n_in) // g
        else:
            g_idx = (np.arange(n_in) // g).astype(np.int32)
        w = scales[g_idx, :].astype(np.float32) * (q.astype(np.float32) - zeros[g_idx, :].astype(np.float32))
        stored = zeros if store_v2 else zeros - 1
        pre = "model.layers.0." + lin
        tensors.append((pre + ".qweight", pack_qweight(q, bits)))
        tensors.append((pre + ".qzeros", pack_qzeros(stored, bits)))
        tensors.append((pre + ".scales", scales))
        tensors.append((pre + ".g_idx", g_idx))
        expected.append((pre + ".weight", np.ascontiguousarray(w.T)))  # [out, in]
    write_st(os.path.join(d, "model.safetensors"), tensors)
    write_st(os.path.join(d, "expected.safetensors"), expected)
    qc = {"bits": bits, "group_size": group, "desc_act": desc_act, "sym": sym, "damp_percent": 0.01,
          "static_groups": False, "true_sequential": True, "quant_method": "gptq", "checkpoint_format": fmt}
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": 1, "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128, "vocab_size": V,
           "tie_word_embeddings": False, "torch_dtype": "float16", "hidden_act": "silu"}
    if where == "config":
        cfg["quantization_config"] = qc
    else:
        with open(os.path.join(d, "quantize_config.json"), "w") as f:
            json.dump(qc, f, indent=2)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gptq"
    # name, bits, group, sym, checkpoint_format, zeros stored as v2, desc_act, config place, seed
    make(out, "v1_4b_g32_asym", 4, 32, False, "gptq", False, False, "quantize_config", 1)
    make(out, "v2_4b_g64_sym", 4, 64, True, "gptq_v2", True, False, "config", 2)
    make(out, "v2_labelled_v1_4b_row", 4, -1, True, "gptq", True, False, "config", 3)  # GPTQModel's mislabel
    make(out, "v1_3b_g32_actorder", 3, 32, False, "gptq", False, True, "quantize_config", 4)
    make(out, "v2_8b_g32_asym", 8, 32, False, "gptq_v2", True, False, "config", 5)
    make(out, "v1_2b_g64_sym", 2, 64, True, "gptq", False, False, "config", 6)


if __name__ == "__main__":
    main()
