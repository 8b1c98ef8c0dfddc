#!/usr/bin/env python3
"""gen_slicegpt_fixtures.py - a TransformerCompression (SliceGPT) folder made by the authors' code,
for lathe's reader, writer and sliced forward (tests/test_slicegpt.c, tests/test_torchpt.c,
tests/pending/test_slicegpt_tc.c).

Runs with a Python that has the authors' package (microsoft/TransformerCompression, src/slicegpt:
transformers 4.41) and torch:

    /work/ref/slicegpt-venv/bin/python tools/gen_slicegpt_fixtures.py [OUT]   (OUT: tests/fixtures/slicegpt-tiny)

What it makes, in OUT:
  - a tiny random LlamaForCausalLM with grouped-query attention (hidden 32, 2 layers, 4 heads, 2 KV
    heads, intermediate 64, vocab 260, tied embeddings as SmolLM2's) and a byte-level BPE
    tokenizer (256 byte tokens, two merges " t" 256 and "he" 257, <s> 258, </s> 259;
    tokenizer.json + tokenizer_config.json), made
    with seed 0;
  - sliced 25% by their code as experiments/run_slicegpt.py does it (replace_layers, fuse_modules,
    ConstSlicingScheduler(int(0.75 * 32) rounded down to a multiple of 8 = 24), rotate_and_slice
    with PCA on 4 fixed calibration sequences of 32 token ids, in float32), then saved in their
    layout: Llama-2-tiny_0.25.pt (torch.save of the state dict, the weights in float16 as their
    runs save them), Llama-2-tiny_0.25.json (SlicingConfig.to_json_string()), and the original
    model's config.json / generation_config.json and the tokenizer files copied beside them;
  - expected.json: the state dict's names, shapes and dtypes with the first values of each tensor,
    the widths, the token sequence, and the logits file's shape;
  - logits.f32: their sliced model's logits (float32, little-endian, [tokens, vocab]) for that
    sequence, computed in float32 from the float16 weights that were saved;
  - torch/: small torch.save files for tests/test_torchpt.c: views sharing one storage (with an
    offset), bf16/f32/f16 and a module's state dict with _metadata (sd_mixed.pt), strided views of
    one storage - transposed, and a column slice - as SliceGPT's saved sliced weights are
    (noncontig.pt); refused ones: a float64 tensor (f64.pt), a list value (list.pt), the legacy
    format (legacy.pt), an expanded tensor whose elements repeat (stride 0, expanded.pt).
It then loads the folder back with their hf_utils.load_sliced_model and checks the logits.

    /work/ref/slicegpt-venv/bin/python tools/gen_slicegpt_fixtures.py --check DIR MODEL_NAME SPARSITY
        [--expect LOGITS.f32] [--against DIR2]

loads a folder (e.g. one lathe wrote) with their load_sliced_model and torch.load(weights_only=True)
and prints its logits for the fixture's token sequence, and the largest difference from a
logits.f32 file (--expect) or from the logits of another folder (--against: the one lathe read).
MODEL_NAME picks their files (Path(MODEL_NAME).name + "_" + SPARSITY); a name that their Llama
adapter does not take (SmolLM2-135M-Instruct) is loaded through a subclass of it that takes any
name, as a local folder.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

MODEL_NAME = "meta-llama/Llama-2-tiny"  # their Llama adapter takes names starting meta-llama/Llama-2
SPARSITY = 0.25
TOKENS = [258, 72, 101, 108, 108, 111, 44, 256, 257, 32, 119, 111, 114, 108, 100, 259]


def tokenizer(out):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    bl = pre_tokenizers.ByteLevel.alphabet()
    byte_chars = sorted(bl, key=lambda c: ord(c))
    # byte-level characters in byte order (GPT-2's bytes_to_unicode)
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    b2u = {b: chr(c) for b, c in zip(bs, cs)}
    assert set(b2u.values()) == set(byte_chars)
    vocab = {b2u[b]: b for b in range(256)}
    merges = [(b2u[32], "t"), ("h", "e")]  # " t" -> 256, "he" -> 257 (lathe reads byte-level BPE with merges)
    for i, (x, y) in enumerate(merges):
        vocab[x + y] = 256 + i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    fast.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>"})
    assert fast.convert_tokens_to_ids("<s>") == 258 and fast.convert_tokens_to_ids("</s>") == 259
    fast.save_pretrained(out)


def logits_of(model, tokens):
    with torch.no_grad():
        return model(input_ids=torch.tensor([tokens])).logits[0].float()


def torch_files(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    base = torch.randn(24, generator=g).half()
    sd = {"whole": base, "view": base[6:18].view(3, 4), "bf": torch.randn(5, generator=g).bfloat16(),
          "f32": torch.randn(2, 3, generator=g), "scalar": torch.tensor(2.5)}
    torch.save(sd, os.path.join(out, "shared.pt"))
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2)).half()
    torch.nn.init.normal_(lin[0].weight, generator=g)
    torch.save(lin.state_dict(), os.path.join(out, "sd_mixed.pt"))
    x = torch.randn(3, 4, generator=g).half()  # views of one storage: transposed, and a column slice
    torch.save({"x": x, "t": x.t(), "s": x[:, 1:3]}, os.path.join(out, "noncontig.pt"))  # (at offset 1)
    torch.save({"d": torch.randn(3, generator=g).double()}, os.path.join(out, "f64.pt"))
    torch.save({"e": torch.ones(1).half().expand(8)}, os.path.join(out, "expanded.pt"))  # stride 0: refused
    torch.save({"l": [torch.ones(2).half()]}, os.path.join(out, "list.pt"))
    torch.save({"x": torch.ones(2).half()}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    vals = {}
    for name in ("shared.pt", "sd_mixed.pt", "noncontig.pt"):
        d = torch.load(os.path.join(out, name), weights_only=True)
        vals[name] = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                          "values": v.float().flatten().tolist()} for k, v in d.items()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(vals, f, indent=1)
        f.write("\n")


def generate(out):
    from transformers import LlamaConfig, LlamaForCausalLM
    from slicegpt import layernorm_fusion, rotate
    from slicegpt.adapters.llama_adapter import LlamaModelAdapter
    from slicegpt.config import config as sconfig
    from slicegpt.slicing_scheduler import ConstSlicingScheduler

    sconfig.device = torch.device("cpu")
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=260, max_position_embeddings=128, rms_norm_eps=1e-5,
                      rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=258, eos_token_id=259)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():  # norms that are not ones, so that folding them matters
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with tempfile.TemporaryDirectory() as orig:  # the original model's folder, as their --model-path
        model.save_pretrained(orig)
        tokenizer(orig)
        model.config.torch_dtype = torch.float32  # as their _from_pretrained sets it
        adapter = LlamaModelAdapter(model)
        adapter.model.config.use_cache = False
        g = torch.Generator().manual_seed(0)
        calib = [{"input_ids": torch.randint(0, 256, (1, 32), generator=g),
                  "attention_mask": torch.ones(1, 32, dtype=torch.long)} for _ in range(4)]
        layernorm_fusion.replace_layers(adapter)
        layernorm_fusion.fuse_modules(adapter)
        dim = int((1 - SPARSITY) * adapter.hidden_size)
        dim -= dim % 8
        scheduler = ConstSlicingScheduler(dim)
        rotate.rotate_and_slice(adapter, calib, scheduler, final_orientation="pca")
        stem = f"{os.path.basename(MODEL_NAME)}_{SPARSITY}"
        model = adapter.model.half()
        torch.save(model.state_dict(), os.path.join(out, stem + ".pt"))
        with open(os.path.join(out, stem + ".json"), "w") as f:
            f.write(adapter.slicing_conf.to_json_string())
        # as run_slicegpt.py: every *.json of the model folder (not safetensors indexes), tokenizer models, merges
        for fn in sorted(os.listdir(orig)):
            if (fn.endswith(".json") and "safetensors" not in fn) or fn == "merges.txt":
                shutil.copy(os.path.join(orig, fn), out)
    model = model.float()
    logits = logits_of(model, TOKENS)
    logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
    sd = torch.load(os.path.join(out, stem + ".pt"), weights_only=True)
    conf = json.load(open(os.path.join(out, stem + ".json")))
    exp = {"model_name": MODEL_NAME, "sparsity": SPARSITY, "stem": stem, "tokens": TOKENS,
           "logits_shape": list(logits.shape), "slicing": conf,
           "tensors": [{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                        "first": v.float().flatten()[:4].tolist(), "sum": float(v.double().sum())}
                       for k, v in sd.items()]}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
        f.write("\n")
    torch_files(os.path.join(out, "torch"))
    check(out, MODEL_NAME, SPARSITY, os.path.join(out, "logits.f32"), tol=1e-5)


def any_llama_adapter():
    """Their Llama adapter for any model name (theirs takes only meta-llama/Llama-2 and Meta-Llama-3 names),
    as the SmolLM2 driver does it: the folder's config.json decides."""
    from slicegpt.adapters.llama_adapter import LlamaModelAdapter
    from transformers import LlamaConfig, LlamaForCausalLM

    class AnyLlamaModelAdapter(LlamaModelAdapter):
        @classmethod
        def _from_pretrained(cls, model_name, model_path, *, dtype=torch.float16, local_files_only=False, token=None):
            model = LlamaForCausalLM.from_pretrained(model_path, torch_dtype=dtype, local_files_only=True)
            model.config.torch_dtype = dtype
            return LlamaModelAdapter(model)

        @classmethod
        def _from_uninitialized(cls, model_name, model_path, *, dtype=torch.float16, local_files_only=False, token=None):
            class Uninitialized(LlamaForCausalLM):
                def _init_weights(self, _):
                    pass

            config = LlamaConfig.from_pretrained(model_path, torch_dtype=dtype, local_files_only=True)
            return LlamaModelAdapter(Uninitialized(config).to(dtype=dtype))

    return AnyLlamaModelAdapter


def their_logits(d, model_name, sparsity):
    from slicegpt import hf_utils

    stem = f"{os.path.basename(model_name)}_{sparsity}"
    sd = torch.load(os.path.join(d, stem + ".pt"), weights_only=True)
    print(f"{d}: torch.load(weights_only=True): {len(sd)} tensors, {sorted({str(v.dtype) for v in sd.values()})}")
    adapter, tok = hf_utils.load_sliced_model(model_name, d, sparsity=sparsity)
    model = adapter.model.float().eval()
    print("  their tokenizer:", tok.__class__.__name__, tok("Hello, world!")["input_ids"][:8])
    got = logits_of(model, TOKENS)
    print("  load_sliced_model: logits", tuple(got.shape), "sum %.6f" % float(got.double().sum()))
    return got


def check(d, model_name, sparsity, expect=None, tol=None, against=None):
    """Their loader on folder d; prints the logits' summary and the largest difference from expect (a
    logits.f32 file) or from the logits of folder `against` (e.g. the folder lathe read, d the one it wrote)."""
    from slicegpt.config import config as sconfig

    sconfig.device = torch.device("cpu")
    if not model_name.startswith("meta-llama/"):
        global _ADAPTER  # their lookup walks __subclasses__ (weak references): keep the class alive
        _ADAPTER = any_llama_adapter()
    got = their_logits(d, model_name, sparsity)
    if against:
        ref = their_logits(against, model_name, sparsity)
        print("largest difference from %s: %g" % (against, float((got - ref).abs().max())))
    if expect:
        ref = torch.from_numpy(np.fromfile(expect, dtype="<f4").reshape(got.shape))
        diff = float((got - ref).abs().max())
        rel = diff / float(ref.abs().max())
        print("largest difference from %s: %.3g (%.3g of the largest logit)" % (expect, diff, rel))
        if tol is not None and rel > tol:
            sys.exit("their loader does not reproduce the logits")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--check":
        opt = {}
        for key in ("--expect", "--against"):
            if key in args:
                i = args.index(key)
                opt[key] = args[i + 1]
                del args[i:i + 2]
        check(args[1], args[2], float(args[3]), opt.get("--expect"), against=opt.get("--against"))
    else:
        generate(args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "slicegpt-tiny"))
