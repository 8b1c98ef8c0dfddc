#!/usr/bin/env python3
"""Makes tests/fixtures/hf: small random-weight models saved by transformers (safetensors,
f32) with the greedy ids and logits transformers computes for them (tests/test_hf_fidelity.c):
Llama with rope_parameters (theta 500000, llama3 scaling), Llama with attention_bias and
mlp_bias, Mistral with a 16-token window, Qwen2 with tied embeddings, Llama with YaRN, Qwen2
with the window in its second layer only, Phi3 with partial_rotary_factor 0.5, Phi3 with LongRoPE
(short factors; long factors).

    pip install torch transformers safetensors
    python3 tools/gen_hf_fixtures.py [--only=NAME,...] [tests/fixtures/hf]

Each model folder holds what save_pretrained wrote (config.json, model.safetensors,
generation_config.json) plus expected.txt (line 1: the 64 prompt ids; line 2: the 64
greedy ids that follow, computed by full forwards without a cache, eager attention) and
logits.bin (f32 little-endian [64, vocab]: the logits of the prompt positions).
CI does not need torch: the test reads only these files.
"""
import os
import sys

import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Phi3Config,
                          Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM)

VOCAB, HIDDEN, FFN, LAYERS, HEADS, KV_HEADS = 256, 64, 128, 2, 4, 2
N_PROMPT, N_GEN = 64, 64


def common(**kw):
    d = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
             num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=2048,
             rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    d.update(kw)
    return d


MODELS = {
    # transformers 5 writes rope_theta and the scaling inside rope_parameters
    "llama3_rope": (LlamaConfig, LlamaForCausalLM, common(rope_parameters={
        "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 256})),
    "llama_bias": (LlamaConfig, LlamaForCausalLM, common(attention_bias=True, mlp_bias=True)),
    "mistral_swa": (MistralConfig, MistralForCausalLM, common(sliding_window=16)),
    "qwen2_tied": (Qwen2Config, Qwen2ForCausalLM, common(tie_word_embeddings=True,
                                                        rope_parameters={"rope_type": "default",
                                                                         "rope_theta": 1000000.0})),
    # YaRN: the ramp and the attention factor (original context short enough that the ramp
    # falls inside the 8 frequency pairs)
    "llama_yarn": (LlamaConfig, LlamaForCausalLM, common(max_position_embeddings=256, rope_parameters={
        "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64})),
    # Qwen2 with the window in some layers only (layer 0 full, layer 1 sliding)
    "qwen2_swa_layers": (Qwen2Config, Qwen2ForCausalLM, common(use_sliding_window=True, sliding_window=16,
                                                               max_window_layers=1)),
    # partial rotary: transformers' Llama ignores partial_rotary_factor in its default rope; Phi3
    # applies it (the first half of each head's dimensions rotate) and fuses qkv and gate/up
    "phi3_partial": (Phi3Config, Phi3ForCausalLM, common(pad_token_id=0, rope_parameters={
        "rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})),
    # LongRoPE (with partial rotary, 4 frequency pairs): the prompt and generation (128 tokens)
    # within original_max_position_embeddings 256, so transformers uses the short factors; the
    # attention factor is derived from max_position_embeddings / original (4)
    "phi3_longrope": (Phi3Config, Phi3ForCausalLM, common(
        pad_token_id=0, max_position_embeddings=1024, original_max_position_embeddings=256, rope_parameters={
            "rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
            "short_factor": [1.0, 1.25, 1.5, 2.0], "long_factor": [1.5, 3.0, 6.0, 12.0]})),
    # the long factors: original 32, so every forward of 64 or more tokens uses them
    "phi3_longrope_long": (Phi3Config, Phi3ForCausalLM, common(
        pad_token_id=0, max_position_embeddings=128, original_max_position_embeddings=32, rope_parameters={
            "rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
            "short_factor": [1.0, 1.25, 1.5, 2.0], "long_factor": [1.5, 3.0, 6.0, 12.0]})),
}


def randomize(model, seed):
    """Weights with a spread that gives decisive greedy choices (transformers' default init
    of std 0.02 makes near-ties): matrices N(0, 1/fan_in), norms 1 + N(0, 0.1), biases N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5 * 2.0)
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--only=")]
    only = [a[7:].split(",") for a in sys.argv[1:] if a.startswith("--only=")]
    only = set(only[0]) if only else None
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "hf")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(14)
    prompt = torch.randint(3, VOCAB, (N_PROMPT,), generator=g).tolist()
    for i, (name, (cfg_cls, model_cls, kw)) in enumerate(MODELS.items()):
        if only is not None and name not in only:
            continue
        cfg = cfg_cls(**kw)
        model = model_cls(cfg).to(torch.float32).eval()
        randomize(model, 100 + i)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        d = os.path.join(out, name)
        model.save_pretrained(d, safe_serialization=True)
        with torch.no_grad():
            ids = list(prompt)
            logits = model(torch.tensor([ids])).logits[0]
            with open(os.path.join(d, "logits.bin"), "wb") as f:
                f.write(logits.to(torch.float32).contiguous().numpy().tobytes())
            for _ in range(N_GEN):
                nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
                ids.append(nxt)
        with open(os.path.join(d, "expected.txt"), "w") as f:
            f.write(" ".join(map(str, prompt)) + "\n")
            f.write(" ".join(map(str, ids[N_PROMPT:])) + "\n")
        print(f"{name}: {os.path.getsize(os.path.join(d, 'model.safetensors'))} bytes, greedy {ids[N_PROMPT:][:8]}...")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("Made by `python3 tools/gen_hf_fixtures.py` with torch %s, transformers %s "
                "(see the script for the layout); checked by tests/test_hf_fidelity.c.\n"
                % (torch.__version__.split("+")[0], transformers.__version__))


if __name__ == "__main__":
    main()
