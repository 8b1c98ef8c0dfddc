#!/usr/bin/env python3
"""Run the authors' GPTQ (IST-DASLab/gptq) or their min/max round-to-nearest on a Llama-style
Hugging Face folder on the CPU, and save the fake-quantized model as a Hugging Face f16 folder
(which `lathe convert` / `lathe eval ppl` read). Used for docs/PERF.md's "GPTQ: lathe vs the
authors' code" table (#15).

Their code is imported from --gptq-src (a checkout of github.com/IST-DASLab/gptq; nothing of it
is copied here). Their llama_sequential and GPTQ.fasterquant run unchanged; this script only
  - supplies the calibration windows: --nsamples random windows of --seqlen tokens from a text
    file, drawn the way their datautils.get_wikitext2 draws them (random.seed(seed),
    random.randint(0, n - seqlen - 1)), tokens without BOS;
  - runs on the CPU: DEV = cpu, torch.cuda.synchronize a no-op, their fasterquant with
    --quant-threads torch threads (the same code, fewer threads);
  - adapts their harness to transformers >= 4.48, whose decoder layers take the rotary
    position_embeddings from the model (their Catcher keeps only attention_mask and
    position_ids): a layer called without them computes them from position_ids with the
    model's own rotary_emb;
  - for --nearest: their Quantizer (min/max, asymmetric unless --sym) on each group of
    --groupsize columns of every linear layer of the blocks (their own --nearest path in
    llama_eval ignores --groupsize; this is the grouped RTN their GPTQ's groups use).

Example:
  OMP_NUM_THREADS=2 nice -n 5 python tools/gptq_reference.py --gptq-src /path/to/gptq \
      --model f16-hf --calib assets/text/tinyshakespeare.txt --wbits 4 --groupsize 128 \
      [--act-order --static-groups] [--true-sequential] [--nearest] -o out-hf
"""
import argparse
import json
import os
import random
import shutil
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gptq-src", required=True, help="checkout of IST-DASLab/gptq (llama.py, gptq.py, quant.py)")
    ap.add_argument("--model", required=True, help="Hugging Face Llama folder (f16)")
    ap.add_argument("--calib", required=True, help="calibration text file")
    ap.add_argument("-o", "--out", required=True, help="output Hugging Face folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--percdamp", type=float, default=0.01)
    ap.add_argument("--wbits", type=int, default=4, choices=[2, 3, 4, 8])
    ap.add_argument("--groupsize", type=int, default=-1)
    ap.add_argument("--sym", action="store_true")
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--static-groups", action="store_true")
    ap.add_argument("--true-sequential", action="store_true")
    ap.add_argument("--nearest", action="store_true", help="their grouped min/max round-to-nearest, no calibration")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda (their code as written; not yet run on a GPU)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for the forward passes (default: torch's)")
    ap.add_argument("--quant-threads", type=int, default=1,
                    help="torch threads inside their fasterquant (its column loop is many tiny ops: 1 thread is "
                         "~10x faster than 2 on a busy 2-core machine)")
    a = ap.parse_args()

    import torch
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, os.path.abspath(a.gptq_src))
    if a.device == "cpu":
        torch.cuda.synchronize = lambda *x, **k: None  # their fasterquant syncs; no GPU here
    import llama  # their llama.py (imports their gptq, quant, modelutils)
    import gptq as their_gptq
    fasterquant = their_gptq.GPTQ.fasterquant

    def fq(self, *x, **k):
        n = torch.get_num_threads()
        torch.set_num_threads(a.quant_threads)
        try:
            return fasterquant(self, *x, **k)
        finally:
            torch.set_num_threads(n)

    their_gptq.GPTQ.fasterquant = fq
    from modelutils import find_layers
    from quant import Quantizer, quantize
    from transformers import AutoTokenizer
    from transformers.models.llama import modeling_llama

    dev = torch.device(a.device)
    model = llama.get_llama(a.model)
    model.eval()
    model.seqlen = a.seqlen
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

    t0 = time.time()
    if a.nearest:
        with torch.no_grad():
            for layer in model.model.layers:
                for name, lin in find_layers(layer).items():
                    W = lin.weight.data.to(dev).float()
                    g = a.groupsize if a.groupsize > 0 else W.shape[1]
                    Q = torch.empty_like(W)
                    for c in range(0, W.shape[1], g):
                        q = Quantizer()
                        q.configure(a.wbits, perchannel=True, sym=a.sym, mse=False)
                        q.find_params(W[:, c:c + g], weight=True)
                        Q[:, c:c + g] = quantize(W[:, c:c + g], q.scale, q.zero, q.maxq)
                    lin.weight.data = Q.to(lin.weight.dtype).cpu()
    else:
        tok = AutoTokenizer.from_pretrained(a.model)
        with open(a.calib, encoding="utf-8") as f:
            ids = tok(f.read(), return_tensors="pt", add_special_tokens=False).input_ids
        random.seed(a.seed)
        loader = []
        for _ in range(a.nsamples):
            i = random.randint(0, ids.shape[1] - a.seqlen - 1)
            inp = ids[:, i:i + a.seqlen]
            loader.append((inp, None))
        llama.args = argparse.Namespace(
            nsamples=a.nsamples, percdamp=a.percdamp, wbits=a.wbits, groupsize=a.groupsize,
            sym=a.sym, act_order=a.act_order, static_groups=a.static_groups,
            true_sequential=a.true_sequential, nearest=False)
        llama.llama_sequential(model, loader, dev)
    secs = time.time() - t0

    modeling_llama.LlamaDecoderLayer.forward = orig_fwd
    model.save_pretrained(a.out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(a.model, f)):
            shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))
    rep = dict(vars(a), seconds=round(secs, 1))
    with open(os.path.join(a.out, "gptq_reference.json"), "w") as f:
        json.dump(rep, f, indent=1)
    print(json.dumps(rep))


if __name__ == "__main__":
    main()
