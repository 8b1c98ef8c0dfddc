#!/usr/bin/env python3
"""gen_ct_fixtures.py - a tiny compressed-tensors 2:4 folder for tests/test_ct.c, made by
compressed-tensors' own compressor (#17).

A 1-layer llama (hidden 32, intermediate 64, vocab 32, f16, random weights, seed 0) whose seven
linears are pruned 2:4 by magnitude (the 2 largest |w| of each 4 columns; torch), then
  tests/fixtures/ct/s24/            their ModelCompressor (Sparse24BitMaskConfig, targets Linear,
                                    ignore lm_head): .compressed / .bitmask / .shape per linear,
                                    their update_config's quantization_config in config.json;
  tests/fixtures/ct/expected.safetensors  the dense f16 pruned linears (HF names) a reader must
                                    give back exactly.
compressed-tensors dropped the 2:4 formats after 0.14.0, so run it with that version:
    python -m venv --system-site-packages ct-venv && ct-venv/bin/pip install compressed-tensors==0.14.0
    ct-venv/bin/python tools/gen_ct_fixtures.py tests/fixtures/ct
"""
import json
import os
import shutil
import sys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ct"
    import torch
    import compressed_tensors
    from compressed_tensors import ModelCompressor
    from compressed_tensors.config import Sparse24BitMaskConfig
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, head_dim=16, vocab_size=32, max_position_embeddings=128,
                      tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0)
    model = LlamaForCausalLM(cfg).to(torch.float16).eval()
    expected = {}
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear) and name.startswith("model.layers."):
                w = mod.weight.data
                g = w.reshape(-1, 4)
                keep = torch.zeros_like(g, dtype=torch.bool)
                keep.scatter_(1, g.abs().float().topk(2, dim=1).indices, True)
                w.copy_(torch.where(keep, g, torch.zeros_like(g)).reshape(w.shape))  # +0, not -0
                expected[name + ".weight"] = w.clone().contiguous()
            elif name == "model.norm" or name.endswith("layernorm"):
                mod.weight.data.uniform_(0.5, 1.5)  # not all ones: a reader mixing them up shows
    sdir = os.path.join(out, "s24")
    shutil.rmtree(sdir, ignore_errors=True)
    os.makedirs(sdir)
    mc = ModelCompressor(sparsity_config=Sparse24BitMaskConfig(targets=["Linear"], ignore=["lm_head"],
                                                                global_sparsity=0.5))
    sd = mc.compress(model)
    sd = {k: v.contiguous() for k, v in sd.items() if k != "lm_head.weight"}  # tied
    save_file(sd, os.path.join(sdir, "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(sdir)
    mc.update_config(sdir)
    with open(os.path.join(sdir, "config.json")) as f:
        c = json.load(f)
    c.pop("transformers_version", None)
    with open(os.path.join(sdir, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    save_file(expected, os.path.join(out, "expected.safetensors"))
    print(f"compressed-tensors {compressed_tensors.__version__}: {len(expected)} linears ->", sdir,
          sorted(k for k in sd if k.endswith(("compressed", "bitmask", "shape")))[:3])


if __name__ == "__main__":
    main()
