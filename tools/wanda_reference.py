#!/usr/bin/env python3
"""Run the authors' 2:4 pruning (locuslab/wanda: prune_magnitude, prune_wanda, prune_sparsegpt)
on a Llama-style Hugging Face folder on the CPU, and save the pruned model as a Hugging Face f16
folder (which `lathe convert` / `lathe eval ppl` read). Used for docs/PERF.md's "2:4: lathe vs
the authors' code" rows (#17).

Their code is imported from --wanda-src (a checkout of github.com/locuslab/wanda; nothing of it
is copied here). Their prune_magnitude / prune_wanda / prune_sparsegpt (lib/prune.py, with their
lib/sparsegpt.py and lib/layerwrapper.py) run unchanged; this script only
  - supplies the calibration windows in place of their C4 loader (lib.prune.get_loaders):
    --nsamples windows of --seqlen tokens from a text file, tokens without BOS, drawn
    --windows lathe (default): exactly lathe's draw (core/compress/calib.c: splitmix64 from
    --seed, start = r % (n - seqlen + 1)), so both sides calibrate on the same windows; or
    --windows theirs: their get_wikitext2 draw (random.seed(seed), random.randint(0, n-seqlen-1));
  - sets model.seqlen = --seqlen (their get_llm uses max_position_embeddings, 8192 for SmolLM2)
    and model.hf_device_map = {"": "cpu"} (their get_llm loads with device_map="auto" through
    accelerate; here the model is loaded on the CPU without it);
  - stubs the `datasets` module (their lib/data.py imports it; its loaders are never called) and
    torch.cuda.synchronize (their SparseGPT.fasterprune syncs; no GPU here);
  - adapts their harness to transformers >= 4.48, whose decoder layers take the rotary
    position_embeddings from the model (their Catcher keeps only attention_mask and
    position_ids): a layer called without them computes them from position_ids with the
    model's own rotary_emb (as tools/gptq_reference.py does for their GPTQ);
  - runs their SparseGPT.fasterprune with --prune-threads torch threads (default 1; the same code);
  - --dtype float16 (default, as their get_llm) or float32 (the layer forwards in f32; the
    saved weights are cast to f16 either way).

Example (the PERF.md rows):
  OMP_NUM_THREADS=2 nice -n 5 python tools/wanda_reference.py --wanda-src /path/to/wanda \
      --model f16-hf --calib assets/text/tinyshakespeare.txt --method wanda \
      --sparsity-type 2:4 --nsamples 32 --seqlen 512 --seed 0 -o ref-wanda-hf
"""
import argparse
import json
import os
import shutil
import sys
import time
import types


def splitmix(state):
    m = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & m
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return state, z ^ (z >> 31)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wanda-src", required=True, help="checkout of locuslab/wanda (lib/prune.py, ...)")
    ap.add_argument("--model", required=True, help="Hugging Face Llama folder (f16)")
    ap.add_argument("--calib", required=True, help="calibration text file")
    ap.add_argument("-o", "--out", required=True, help="output Hugging Face folder")
    ap.add_argument("--method", required=True, choices=["magnitude", "wanda", "sparsegpt"])
    ap.add_argument("--sparsity-type", default="2:4", help="N:M (their --sparsity_type), e.g. 2:4 or 4:8")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nsamples", type=int, default=32)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--windows", default="lathe", choices=["lathe", "theirs"])
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--prune-threads", type=int, default=1,
                    help="torch threads inside their SparseGPT.fasterprune (its column loop is many tiny ops: "
                         "1 thread is far faster than 2 on a busy 2-core machine)")
    a = ap.parse_args()

    import torch
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.cuda.synchronize = lambda *x, **k: None
    if "datasets" not in sys.modules:
        stub = types.ModuleType("datasets")

        def no_datasets(*x, **k):
            raise RuntimeError("datasets is stubbed: the calibration comes from --calib")

        stub.load_dataset = no_datasets
        sys.modules["datasets"] = stub
    sys.path.insert(0, os.path.abspath(a.wanda_src))
    np_seed = a.seed
    import numpy as np
    from lib import prune as their_prune  # their lib/prune.py
    from lib import sparsegpt as their_sparsegpt
    fasterprune = their_sparsegpt.SparseGPT.fasterprune

    def fp(self, *x, **k):  # the same code, fewer threads
        n = torch.get_num_threads()
        torch.set_num_threads(a.prune_threads)
        try:
            return fasterprune(self, *x, **k)
        finally:
            torch.set_num_threads(n)

    their_sparsegpt.SparseGPT.fasterprune = fp
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.models.llama import modeling_llama

    # their main.py: seeds, then N:M from --sparsity_type with sparsity_ratio 0.5
    np.random.seed(np_seed)
    torch.random.manual_seed(np_seed)
    prune_n, prune_m = map(int, a.sparsity_type.split(":"))
    dtype = getattr(torch, a.dtype)
    model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=dtype)
    model.eval()
    model.seqlen = a.seqlen
    model.hf_device_map = {"": "cpu"}
    tok = AutoTokenizer.from_pretrained(a.model)

    with open(a.calib, encoding="utf-8") as f:
        ids = tok(f.read(), return_tensors="pt", add_special_tokens=False).input_ids
    n = ids.shape[1]
    loader, starts = [], []
    if a.windows == "lathe":
        s = a.seed
        for _ in range(a.nsamples):
            s, r = splitmix(s)
            starts.append(r % (n - a.seqlen + 1))
    else:
        import random
        random.seed(a.seed)
        for _ in range(a.nsamples):
            starts.append(random.randint(0, n - a.seqlen - 1))
    for i in starts:
        inp = ids[:, i:i + a.seqlen]
        tar = inp.clone()
        tar[:, :-1] = -100
        loader.append((inp, tar))
    their_prune.get_loaders = lambda name, nsamples=128, seed=0, seqlen=2048, tokenizer=None: (loader, None)

    rotary = model.model.rotary_emb
    orig_fwd = modeling_llama.LlamaDecoderLayer.forward

    def fwd(self, hidden_states, *args, **kw):
        if kw.get("position_embeddings") is None:
            pos = kw.get("position_ids")
            if pos is None:
                pos = torch.arange(hidden_states.shape[1], device=hidden_states.device).unsqueeze(0)
            kw["position_embeddings"] = rotary(hidden_states, pos)
        return orig_fwd(self, hidden_states, *args, **kw)

    modeling_llama.LlamaDecoderLayer.forward = fwd

    args = argparse.Namespace(nsamples=a.nsamples, seed=a.seed, sparsity_ratio=0.5, use_variant=False,
                              sparsity_type=a.sparsity_type, prune_method=a.method)
    dev = torch.device("cpu")
    t0 = time.time()
    if a.method == "magnitude":
        their_prune.prune_magnitude(args, model, tok, dev, prune_n=prune_n, prune_m=prune_m)
    elif a.method == "wanda":
        their_prune.prune_wanda(args, model, tok, dev, prune_n=prune_n, prune_m=prune_m)
    else:
        their_prune.prune_sparsegpt(args, model, tok, dev, prune_n=prune_n, prune_m=prune_m)
    secs = time.time() - t0
    modeling_llama.LlamaDecoderLayer.forward = orig_fwd

    # check: exactly N zeros in each group of M of every block linear (their check_sparsity counts)
    bad = 0
    for layer in model.model.layers:
        for name, lin in their_prune.find_layers(layer).items():
            z = (lin.weight.data == 0).reshape(lin.weight.shape[0], -1, prune_m).sum(-1)
            bad += int((z < prune_n).sum())
    sparsity = their_prune.check_sparsity(model)

    del model.hf_device_map  # set for their code only; save_pretrained would treat the model as offloaded
    model = model.to(torch.float16)
    model.save_pretrained(a.out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(a.model, f)):
            shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))
    rep = dict(vars(a), seconds=round(secs, 1), calib_tokens_in_text=n, window_starts=starts,
               sparsity=round(sparsity, 6), groups_with_fewer_zeros=bad)
    with open(os.path.join(a.out, "wanda_reference.json"), "w") as f:
        json.dump(rep, f, indent=1)
    print(json.dumps({k: v for k, v in rep.items() if k != "window_starts"}))


if __name__ == "__main__":
    main()
