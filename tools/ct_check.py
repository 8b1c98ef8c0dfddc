#!/usr/bin/env python3
"""Check a compressed-tensors 2:4 folder that lathe wrote (`lathe compress --method sparse24
--format hf`, sparse-24-bitmask) with compressed-tensors' own code (#17):

  1. their ModelCompressor reads the folder's config.json and their Sparse24BitMaskCompressor
     decompresses the folder; every tensor must equal the same tensor of --dense exactly (lathe's
     masked weights as a plain folder: `lathe convert S24.gguf DENSE`, which widens the s24_f16
     linears to f32 exactly and keeps the rest), the compressed linears as f16;
  2. their compressor (sparse24_bitmask_compress) run on --dense gives lathe's `compressed` and
     `bitmask` tensors (it picks the 2 largest |w| of each 4: where a kept value is 0 it may pick
     another position - counted, not an error);
  3. (--transformers) transformers' compressed-tensors loader (AutoModelForCausalLM) opens the
     folder and its linears equal --dense.

compressed-tensors removed the 2:4 formats after 0.14.0 (and vLLM its 2:4 kernels), so this
needs compressed-tensors <= 0.14.0, e.g. a venv:
    python -m venv --system-site-packages ct-venv && ct-venv/bin/pip install compressed-tensors==0.14.0
    ct-venv/bin/python tools/ct_check.py --ct OUT-ct --dense OUT-dense [--transformers]
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ct", required=True, help="compressed-tensors folder written by lathe")
    ap.add_argument("--dense", required=True, help="the same weights as a plain f16 Hugging Face folder")
    ap.add_argument("--transformers", action="store_true", help="also load --ct with transformers")
    a = ap.parse_args()

    import torch
    import compressed_tensors
    from compressed_tensors import ModelCompressor
    from compressed_tensors.compressors.sparse_compressors.sparse_24_bitmask import sparse24_bitmask_compress
    from safetensors.torch import load_file

    with open(os.path.join(a.ct, "config.json")) as f:
        qc = json.load(f)["quantization_config"]
    mc = ModelCompressor.from_compression_config(qc)
    comp = mc.sparsity_compressor
    print(f"compressed-tensors {compressed_tensors.__version__}: {type(comp).__name__}, "
          f"config {mc.sparsity_config.model_dump()}")
    dense = load_file(os.path.join(a.dense, "model.safetensors"))
    stored = load_file(os.path.join(a.ct, "model.safetensors"))
    n_eq = n_ne = 0
    seen = set()
    for name, w in comp.decompress(a.ct):
        d = dense[name]
        compressed = name.endswith(".weight") and name[: -len(".weight")] + ".compressed" in stored
        if compressed:
            seen.add(name)
        ok = w.shape == d.shape and torch.equal(w.float(), d.float()) and (w.dtype == torch.float16 or not compressed)
        n_eq += ok
        n_ne += not ok
        if not ok:
            print(f"DIFFERS: {name} {tuple(w.shape)} {w.dtype} vs {tuple(d.shape)} {d.dtype}")
    print(f"1. their decompressor: {n_eq} tensors equal the dense folder's ({len(seen)} 2:4 linears), {n_ne} differ")

    n_same = n_pos = n_kept0 = 0
    for name in sorted(seen):
        pre = name[: -len(".weight")]
        c, b = sparse24_bitmask_compress(dense[name].half())
        same = torch.equal(c.view(torch.int16), stored[pre + ".compressed"].view(torch.int16)) and \
            torch.equal(b, stored[pre + ".bitmask"])
        n_same += same
        if not same:
            n_pos += int((b != stored[pre + ".bitmask"]).sum())
            n_kept0 += int((stored[pre + ".compressed"] == 0).sum())
    print(f"2. their compressor on the dense weights: {n_same} of {len(seen)} linears give lathe's tensors "
          f"byte for byte; the others differ in {n_pos} bitmask bytes ({n_kept0} kept values there are 0)")

    if a.transformers:
        from transformers import AutoModelForCausalLM
        m = AutoModelForCausalLM.from_pretrained(a.ct, torch_dtype=torch.float16)
        sd = m.state_dict()
        bad = [k for k in seen if not torch.equal(sd[k].float(), dense[k].float())]
        print(f"3. transformers' loader: {len(seen) - len(bad)} of {len(seen)} linears equal the dense weights")
        n_ne += len(bad)
    sys.exit(1 if n_ne else 0)


if __name__ == "__main__":
    main()
