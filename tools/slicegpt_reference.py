#!/usr/bin/env python3
"""SliceGPT reference side for issue #18: microsoft/TransformerCompression's own code, run outside lathe.

Nothing of theirs is copied here: their package `slicegpt` is imported from the checkout given by --tc-src
(a `git archive` of github.com/microsoft/TransformerCompression; the folder holding src/slicegpt). It needs
their pins (transformers 4.41.0, datasets 2.18.0, accelerate, ml-collections): a separate venv, e.g.
/work/ref/slicegpt-venv (torch reused from /tmp/venv through a .pth file).

Subcommands
  slice  their rotate-and-slice, as experiments/run_slicegpt.py runs it (replace_layers, fuse_modules,
         ConstSlicingScheduler(int((1-s)*D) rounded down to --round-interval), rotate_and_slice with
         --final-orientation, head not sliced), on a local Llama-architecture HF folder, calibrated on a
         plain-text file cut into paragraphs and drawn by their data_utils.prepare_dataloader (max_seqlen,
         nsamples, batch size, seed as given); saved with run_slicegpt.py's --save-dir layout:
         DIR/{name}_{s}.pt (torch.save of the state_dict), DIR/{name}_{s}.json (SlicingConfig), the HF *.json.
         Their run_slicegpt.py itself cannot run here: it imports wandb, its Llama adapter accepts only
         model names starting meta-llama/Llama-2 or meta-llama/Meta-Llama-3, and its data comes from HF
         datasets (no network). A small adapter subclass (LlamaModelAdapter for names containing "SmolLM")
         is the only addition; every step is their function.
  ppl    perplexity computed as `lathe eval ppl -f TEXT -c 512 --chunks 40` computes it (core/llm/ppl.c,
         llama-perplexity's convention): the whole text tokenized once (BOS first only when the tokenizer adds
         it), chunk c = tokens [c*ctx, (c+1)*ctx), its first token replaced by BOS when the vocab adds one,
         every chunk from an empty cache, positions ctx/2 .. ctx-2 scored (each predicts the next token),
         ppl = exp(mean nll), stderr = ppl*sqrt((E[nll^2]-E[nll]^2)/(n-1)). fp32 forward. Models: the dense HF
         folder, the dense folder after their fuse_modules (--fused), or a sliced folder (--sliced DIR
         --sparsity s, loaded by their hf_utils.load_sliced_model). --their-ppl adds their own
         gpu_utils.evaluate_ppl figure (their prepare_test_dataloader: the text as one item, 2048-token rows,
         batch 8, every token scored, pad id ignored).
  params parameter counts (their count: sum of model.parameters(); shortcut matrices and the untied head included).
  bench  PyTorch CPU speed: prefill of a --prompt-tokens prompt (one forward, KV cache on) and greedy decode
         of --gen-tokens tokens with the KV cache, dense vs each sliced model in alternating rounds; median
         tokens/s over --rounds.

Exact commands used for docs/PERF.md (issue #18; /work/ref/slicegpt-run/RESULTS.md has the numbers):
  PY=/work/ref/slicegpt-venv/bin/python; TC=/work/ref/slicegpt-src; R=/work/ref/slicegpt-run
  M=$R/SmolLM2-135M-Instruct     # /work/ref/gptq-run/f16-hf with its safetensors re-saved with metadata {"format": "pt"}
                                 # (transformers 4.41 refuses a safetensors file without it; tensors unchanged):
  /tmp/venv/bin/python -c "from safetensors.torch import load_file, save_file; \
      save_file(load_file('/work/ref/gptq-run/f16-hf/model.safetensors'), '$M/model.safetensors', metadata={'format': 'pt'})"
  cp /work/ref/gptq-run/f16-hf/*.json $M/
  for s in 0.1 0.2 0.25 0.3; do    # NN = 10 20 25 30
    OMP_NUM_THREADS=2 nice -n 5 $PY tools/slicegpt_reference.py slice --tc-src $TC --model $M \
        --calib assets/text/tinyshakespeare.txt --cal-nsamples 32 --sparsity $s --save-dir $R/tc-NN
    OMP_NUM_THREADS=2 nice -n 5 $PY tools/slicegpt_reference.py ppl --tc-src $TC --model $M --sliced $R/tc-NN \
        --sparsity $s -f /work/ref/gptq-run/vim.txt --json-out $R/ppl-tc-NN.json
  done
  (--cal-nsamples 32: 32 x 512 calibration tokens, not the protocol's 128 x 512, for time on a shared 2-core machine.)
  OMP_NUM_THREADS=2 $PY tools/slicegpt_reference.py ppl --tc-src $TC --model $M -f /work/ref/gptq-run/vim.txt
  OMP_NUM_THREADS=2 $PY tools/slicegpt_reference.py params --tc-src $TC --model $M --sliced-all $R
  OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE $PY tools/slicegpt_reference.py bench --tc-src $TC --model $M \
      --sliced-all $R --rounds 3
"""
import argparse
import json
import logging
import math
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

SPARSITIES = [0.1, 0.2, 0.25, 0.3]


def tc_import(src):
    p = pathlib.Path(src)
    if (p / "src" / "slicegpt").is_dir():
        p = p / "src"
    if not (p / "slicegpt").is_dir():
        sys.exit(f"--tc-src {src}: no slicegpt package there (expected {p}/slicegpt)")
    sys.path.insert(0, str(p))
    import slicegpt  # noqa: F401
    from slicegpt.adapters.llama_adapter import LlamaModelAdapter
    from transformers import LlamaConfig, LlamaForCausalLM

    class SmolLlamaModelAdapter(LlamaModelAdapter):
        """Their LlamaModelAdapter, for local Llama-architecture models named *SmolLM* (theirs only takes meta-llama names)."""

        @classmethod
        def _from_pretrained(cls, model_name, model_path, *, dtype=torch.float16, local_files_only=False, token=None):
            if "SmolLM" not in model_name:
                return None
            model = LlamaForCausalLM.from_pretrained(model_path, torch_dtype=dtype, local_files_only=True)
            model.config.torch_dtype = dtype
            return LlamaModelAdapter(model)

        @classmethod
        def _from_uninitialized(cls, model_name, model_path, *, dtype=torch.float16, local_files_only=False, token=None):
            if "SmolLM" not in model_name:
                return None

            class UninitializedLlamaForCausalLM(LlamaForCausalLM):
                def _init_weights(self, _):
                    pass

            config = LlamaConfig.from_pretrained(model_path, torch_dtype=dtype, local_files_only=True)
            model = UninitializedLlamaForCausalLM(config).to(dtype=dtype)
            return LlamaModelAdapter(model)

    from slicegpt.config import config

    config.device = torch.device("cpu")
    return SmolLlamaModelAdapter


def model_name(args):
    return args.name


def load_dense(args, dtype):
    from slicegpt import hf_utils

    ad, tok = hf_utils.get_model_and_tokenizer(model_name(args), args.model, dtype=dtype)
    return ad, fix_tok(tok)


def fix_tok(tok):
    # the HF folder made from the GGUF has no model_input_names: the fast tokenizer would also return
    # token_type_ids, which their dataloaders pass on to LlamaForCausalLM.forward (a TypeError)
    tok.model_input_names = ["input_ids", "attention_mask"]
    return tok


def load_sliced(args, folder, sparsity):
    from slicegpt import hf_utils

    ad, tok = hf_utils.load_sliced_model(model_name(args), str(folder), sparsity=sparsity, round_interval=8)
    return ad, fix_tok(tok)


def calib_dataset(path):
    import datasets

    text = pathlib.Path(path).read_text(encoding="utf-8")
    paras = [p for p in text.split("\n\n")]
    return datasets.Dataset.from_dict({"text": paras})


# ---- slice -------------------------------------------------------------------------------------------------


def cmd_slice(args):
    from slicegpt import data_utils, layernorm_fusion, rotate
    from slicegpt.slicing_scheduler import ConstSlicingScheduler
    import shutil

    t0 = time.time()
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    ad, tok = load_dense(args, dtype)
    model = ad.model
    loader = data_utils.prepare_dataloader(
        dataset=calib_dataset(args.calib), tokenizer=tok, max_seqlen=args.cal_max_seqlen,
        batch_size=args.cal_batch_size, nsamples=args.cal_nsamples, varied_seqlen=False, seed=args.seed)
    layernorm_fusion.replace_layers(ad)
    layernorm_fusion.fuse_modules(ad)
    orig = sum(int(p.nelement()) for p in model.parameters())
    d = int((1 - args.sparsity) * ad.hidden_size)
    d -= d % args.round_interval
    logging.info(f"original parameters {orig:,d}; new embedding dimension {d}")
    sched = ConstSlicingScheduler(d)
    np.random.seed(args.seed)  # their random final orientation draws from numpy's global RNG
    rotate.rotate_and_slice(ad, loader, sched, final_orientation=args.final_orientation)
    out = pathlib.Path(args.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    pt = out / f"{model_name(args)}_{args.sparsity}.pt"
    torch.save(model.state_dict(), pt)
    pt.with_suffix(".json").write_text(ad.slicing_conf.to_json_string())
    for f in pathlib.Path(args.model).glob("*.json"):  # as run_slicegpt.py: the HF config and tokenizer files
        if "safetensors" not in str(f):
            shutil.copy(str(f), out)
    sliced = sum(int(p.nelement()) for p in model.parameters())
    info = {"sparsity": args.sparsity, "dim": d, "orig_params": orig, "sliced_params": sliced,
            "sliced_fraction": 1 - sliced / orig, "seconds": time.time() - t0, "dtype": args.dtype,
            "final_orientation": args.final_orientation, "calib": str(args.calib), "nsamples": args.cal_nsamples,
            "max_seqlen": args.cal_max_seqlen, "seed": args.seed, "torch": torch.__version__}
    (out / "run-info.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))


# ---- ppl ---------------------------------------------------------------------------------------------------


@torch.no_grad()
def lathe_ppl(model, ids, ctx, n_chunks, bos):
    """lathe eval ppl / llama-perplexity: second half of each chunk scored."""
    n_max = len(ids) // ctx
    n_chunks = min(n_chunks, n_max) if n_chunks > 0 else n_max
    first = ctx // 2
    s = s2 = 0.0
    cnt = 0
    for c in range(n_chunks):
        chunk = list(ids[c * ctx:(c + 1) * ctx])
        if bos is not None:
            chunk[0] = bos
        x = torch.tensor([chunk], dtype=torch.long)
        logits = model(input_ids=x, use_cache=False).logits[0].float()
        lp = torch.log_softmax(logits[first:ctx - 1].double(), dim=-1)
        nxt = torch.tensor(ids[c * ctx + first + 1:c * ctx + ctx], dtype=torch.long)
        nll = -lp.gather(1, nxt[:, None])[:, 0]
        s += nll.sum().item()
        s2 += (nll * nll).sum().item()
        cnt += nll.numel()
    m = s / cnt
    v = s2 / cnt - m * m
    ppl = math.exp(m)
    return {"ppl": ppl, "ppl_stderr": math.sqrt(v / (cnt - 1)) * ppl, "nll_mean": m, "tokens_scored": cnt,
            "chunks": n_chunks, "ctx": ctx, "text_tokens": len(ids)}


def their_ppl(model, tok, pad_id, text, seqlen, batch):
    from slicegpt import data_utils, gpu_utils

    ds = {"text": [text]}
    loader = data_utils.prepare_test_dataloader(dataset=ds, tokenizer=tok, seqlen=seqlen, batch_size=batch)
    return gpu_utils.evaluate_ppl(model, pad_id, loader)


def cmd_ppl(args):
    text = pathlib.Path(args.file).read_text(encoding="utf-8")
    if args.sliced:
        ad, tok = load_sliced(args, args.sliced, args.sparsity)
        what = f"{args.sliced} (sparsity {args.sparsity})"
    else:
        ad, tok = load_dense(args, torch.float16)
        what = args.model
        if args.fused:
            from slicegpt import layernorm_fusion

            layernorm_fusion.replace_layers(ad)
            layernorm_fusion.fuse_modules(ad)
            what += " after their replace_layers + fuse_modules"
    model = ad.model.float().eval()
    ids = tok(text, add_special_tokens=True)["input_ids"]
    bos = tok.bos_token_id if getattr(tok, "add_bos_token", False) else None
    t0 = time.time()
    r = lathe_ppl(model, ids, args.ctx, args.chunks, bos)
    r["seconds"] = time.time() - t0
    r["model"] = what
    r["params"] = sum(int(p.nelement()) for p in model.parameters())
    if args.their_ppl:
        t0 = time.time()
        r["their_ppl"] = their_ppl(model, tok, model.config.pad_token_id, text, args.their_seqlen, args.their_batch)
        r["their_ppl_setup"] = f"their evaluate_ppl, prepare_test_dataloader seqlen {args.their_seqlen} batch {args.their_batch}, fp32"
        r["their_ppl_seconds"] = time.time() - t0
    print(json.dumps(r))
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(r, indent=1))


# ---- params / bench ----------------------------------------------------------------------------------------


def sliced_folders(root):
    out = []
    for s in SPARSITIES:
        d = pathlib.Path(root) / f"tc-{round(s * 100)}"
        if d.is_dir():
            out.append((s, d))
    return out


def cmd_params(args):
    ad, _ = load_dense(args, torch.float16)
    m = ad.model
    tied = sum(int(p.nelement()) for p in m.parameters())
    rows = [{"model": "dense (tied head)", "params": tied},
            {"model": "dense, head untied", "params": tied + m.lm_head.weight.numel()}]
    for s, d in sliced_folders(args.sliced_all):
        ad, _ = load_sliced(args, d, s)
        ps = dict(ad.model.named_parameters())
        sc = sum(v.numel() for k, v in ps.items() if "shortcut_Q" in k)
        rows.append({"model": f"sliced {s}", "params": sum(v.numel() for v in ps.values()), "shortcut_params": sc,
                     "head": ps["lm_head.weight"].numel()})
    for r in rows:
        print(json.dumps(r))


@torch.no_grad()
def speed(model, prompt, gen):
    x = torch.tensor([prompt], dtype=torch.long)
    t0 = time.perf_counter()
    out = model(input_ids=x, use_cache=True)
    t1 = time.perf_counter()
    pkv = out.past_key_values
    nxt = out.logits[:, -1:].argmax(-1)
    n = len(prompt)
    t2 = time.perf_counter()
    for i in range(gen):
        out = model(input_ids=nxt, past_key_values=pkv, use_cache=True,
                    position_ids=torch.tensor([[n + i]], dtype=torch.long))
        pkv = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
    t3 = time.perf_counter()
    return n / (t1 - t0), gen / (t3 - t2)


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    models = []
    ad, tok = load_dense(args, torch.float16)
    ad.model.config.use_cache = True
    models.append(("dense", ad.model.to(dtype).eval()))
    for s, d in sliced_folders(args.sliced_all):
        ad, _ = load_sliced(args, d, s)
        ad.model.config.use_cache = True
        models.append((f"sliced {s}", ad.model.to(dtype).eval()))
    text = pathlib.Path(args.file).read_text(encoding="utf-8")
    prompt = tok(text)["input_ids"][:args.prompt_tokens]
    res = {name: ([], []) for name, _ in models}
    speed(models[0][1], prompt[:16], 4)  # warm-up
    for r in range(args.rounds):
        for name, m in models:
            p, g = speed(m, prompt, args.gen_tokens)
            res[name][0].append(p)
            res[name][1].append(g)
            print(json.dumps({"round": r, "model": name, "prefill_tps": p, "decode_tps": g}), flush=True)
    for name, (p, g) in res.items():
        print(json.dumps({"model": name, "prefill_tps_median": statistics.median(p),
                          "decode_tps_median": statistics.median(g), "rounds": len(p), "threads": args.threads,
                          "dtype": args.dtype, "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--tc-src", required=True, help="TransformerCompression checkout (holds src/slicegpt)")
        p.add_argument("--model", required=True, help="dense HF folder (Llama architecture)")
        p.add_argument("--name", default="SmolLM2-135M-Instruct",
                       help="model name: picks the adapter and names their files {name}_{sparsity}.pt/.json")

    p = sub.add_parser("slice")
    common(p)
    p.add_argument("--calib", required=True)
    p.add_argument("--sparsity", type=float, required=True)
    p.add_argument("--save-dir", required=True)
    p.add_argument("--round-interval", type=int, default=8)
    p.add_argument("--final-orientation", default="random", choices=["random", "pca"])
    p.add_argument("--cal-nsamples", type=int, default=128)
    p.add_argument("--cal-max-seqlen", type=int, default=512)
    p.add_argument("--cal-batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    p = sub.add_parser("ppl")
    common(p)
    p.add_argument("-f", "--file", required=True)
    p.add_argument("-c", "--ctx", type=int, default=512)
    p.add_argument("--chunks", type=int, default=40)
    p.add_argument("--sliced", default=None)
    p.add_argument("--sparsity", type=float, default=None)
    p.add_argument("--fused", action="store_true")
    p.add_argument("--their-ppl", action="store_true")
    p.add_argument("--their-seqlen", type=int, default=2048)
    p.add_argument("--their-batch", type=int, default=8)
    p.add_argument("--json-out", default=None)
    p = sub.add_parser("params")
    common(p)
    p.add_argument("--sliced-all", required=True, help="folder holding tc-10, tc-20, tc-25, tc-30")
    p = sub.add_parser("bench")
    common(p)
    p.add_argument("--sliced-all", required=True)
    p.add_argument("-f", "--file", default="/work/ref/gptq-run/vim.txt")
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="fp32", choices=["fp16", "fp32"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    tc_import(args.tc_src)
    {"slice": cmd_slice, "ppl": cmd_ppl, "params": cmd_params, "bench": cmd_bench}[args.cmd](args)


if __name__ == "__main__":
    main()
