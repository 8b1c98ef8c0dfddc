#!/usr/bin/env python3
"""gen_unet_fixtures.py - golden fixtures for lathe's UNet2DModel (models/unet.c, tests/test_unet.c).

Writes small random-weight diffusers UNet2DModels (seeded, diffusers 0.42.1 on torch CPU, fp32) as
diffusers folders under tests/fixtures/unet/<case>/: config.json, diffusion_pytorch_model.safetensors
(written by save_pretrained; case google_old then renames its attention tensors to the old
Google-converted names query/key/value/proj_attn and checks that diffusers loads the renamed file to the
same outputs), and golden.safetensors with two calls of batch 2:
  x_a [2,C,H,W], t_a [2] f32, y_a [2,C,H,W] (diffusers' output), the same for _b, and class_a / class_b
  [2] i32 for class-conditional cases.

Run from the repository root:
  OMP_NUM_THREADS=2 nice -n 5 /tmp/venv/bin/python tools/gen_unet_fixtures.py
  (--bench DIR: times diffusers' UNet2DModel in DIR (a UNet folder, e.g. assets/models/digits-unet/unet)
   at 2 threads, batch 1, one timestep; when DIR has no model, first saves a random-weight
   google/ddpm-cifar10-32-shaped one there, not committed; --rounds N, --iters N)
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "unet")

BASE = dict(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
            norm_num_groups=4)

CASES = {
    # google/ddpm-cifar10-32 settings: old attention names, 1 head, flip false, shift 1, pad 0, eps 1e-6
    "google_old": dict(BASE, sample_size=16, block_out_channels=(8, 16, 16), layers_per_block=2,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                       attention_head_dim=None, flip_sin_to_cos=False, freq_shift=1, downsample_padding=0,
                       norm_eps=1e-6, resnet_time_scale_shift="default"),
    # what diffusers' training scripts write: heads of 8, flip true, shift 0, pad 1, eps 1e-5
    "diffusers_new": dict(BASE, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                          up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=8,
                          flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, norm_eps=1e-5,
                          center_input_sample=True),
    # no attention anywhere (mid block without attention), 3 resnets per up block
    "no_attn": dict(BASE, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                    add_attention=False, layers_per_block=2, in_channels=1, out_channels=2,
                    mid_block_scale_factor=1.4142135),
    # class-conditional (nn.Embedding of num_class_embeds rows added to the time embedding)
    "class_cond": dict(BASE, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=8, num_class_embeds=10),
    # FiLM-style time conditioning after norm2; the mid attention then has no group norm
    "scale_shift": dict(BASE, down_block_types=("AttnDownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "AttnUpBlock2D"), attention_head_dim=4,
                        resnet_time_scale_shift="scale_shift", time_embedding_dim=48),
    # Gaussian Fourier time embedding (score-SDE style; output divided by t)
    "fourier": dict(BASE, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                    up_block_types=("AttnUpBlock2D", "UpBlock2D"), time_embedding_type="fourier",
                    attention_head_dim=8, flip_sin_to_cos=False),
    # learned time embedding (nn.Embedding over the training timesteps)
    "learned": dict(BASE, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                    time_embedding_type="learned", num_train_timesteps=100),
    # grey images, no attention, as many channels out as in (what a sampling run needs: the end-to-end
    # runs of tools/gen_imagine_fixtures.py use it; no_attn above predicts 2 channels for 1)
    "no_attn_grey": dict(BASE, down_block_types=("DownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "UpBlock2D"), add_attention=False, in_channels=1,
                         out_channels=1),
}

# the timesteps of the two calls (learned embeddings take integer ids < num_train_timesteps)
TIMES = {"default": ([3.0, 617.0], [999.0, 250.5]), "learned": ([3.0, 61.0], [99.0, 0.0]),
         "fourier": ([0.05, 3.0], [17.5, 0.8])}

OLD = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def rename_old(path):
    sd = load_file(path)
    out = {}
    for k, v in sd.items():
        nk = k
        if ".attentions." in k:
            for new, old in OLD.items():
                if f".{new}." in k:
                    nk = k.replace(f".{new}.", f".{old}.")
        out[nk] = v.contiguous()
    save_file(out, path, metadata={"format": "pt"})


def run(model, x, t, cls):
    with torch.no_grad():
        return model(torch.from_numpy(x), torch.from_numpy(t), class_labels=None if cls is None else
                     torch.from_numpy(cls).long()).sample.numpy()


def make_case(name, cfg, seed):
    torch.manual_seed(seed)
    model = UNet2DModel(**cfg).eval()
    # random (not zero) norms and biases, so every affine term is exercised
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n and n.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    rng = np.random.default_rng(seed)
    C, S = cfg["in_channels"], cfg["sample_size"]
    ta, tb = TIMES.get(cfg.get("time_embedding_type", "positional"), TIMES["default"])
    g = {}
    for tag, ts in (("a", ta), ("b", tb)):
        x = rng.standard_normal((2, C, S, S)).astype(np.float32)
        t = np.array(ts, dtype=np.float32)
        if cfg.get("time_embedding_type") == "learned":
            t_in = t.astype(np.int64)
        else:
            t_in = t
        cls = rng.integers(0, cfg["num_class_embeds"], 2).astype(np.int32) if cfg.get("num_class_embeds") else None
        y = run(model, x, t_in, cls)
        g[f"x_{tag}"], g[f"t_{tag}"], g[f"y_{tag}"] = x, t, y
        if cls is not None:
            g[f"class_{tag}"] = cls
    if name == "google_old":
        rename_old(os.path.join(d, "diffusion_pytorch_model.safetensors"))
        m2 = UNet2DModel.from_pretrained(d).eval()
        y2 = run(m2, g["x_a"], g["t_a"], None)
        assert np.array_equal(y2, g["y_a"]), "diffusers does not load the old attention names to the same model"
        sd = load_file(os.path.join(d, "diffusion_pytorch_model.safetensors"))
        assert any(".query." in k for k in sd) and not any(".to_q." in k for k in sd)
        # a scheduler config beside it, as the google folders have (scheduler/ in a pipeline)
        with open(os.path.join(d, "scheduler_config.json"), "w") as f:
            json.dump({"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
                       "beta_start": 0.0001, "beta_end": 0.02, "variance_type": "fixed_large",
                       "clip_sample": True}, f, indent=2)
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in g.items()},
              os.path.join(d, "golden.safetensors"))
    amax = max(float(np.abs(g["y_a"]).max()), float(np.abs(g["y_b"]).max()))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} params, max |y| {amax:.3g}")


CIFAR = dict(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256),
             layers_per_block=2, down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), attention_head_dim=None,
             flip_sin_to_cos=False, freq_shift=1, downsample_padding=0, norm_eps=1e-6, norm_num_groups=32)


def bench(d, rounds, iters):
    torch.set_num_threads(2)
    if not os.path.exists(os.path.join(d, "config.json")):
        torch.manual_seed(0)
        UNet2DModel(**CIFAR).eval().save_pretrained(d, safe_serialization=True)
    model = UNet2DModel.from_pretrained(d).eval()
    c = model.config
    size = c.sample_size if isinstance(c.sample_size, int) else c.sample_size[0]
    x = torch.randn(1, c.in_channels, size, size)
    t = torch.tensor([500])
    kw = {"class_labels": torch.tensor([3])} if c.num_class_embeds else {}
    with torch.no_grad():
        model(x, t, **kw)
        for r in range(rounds):
            t0 = time.perf_counter()
            for _ in range(iters):
                model(x, t, **kw)
            dt = time.perf_counter() - t0
            print(f"diffusers round {r + 1}: {iters / dt:.3f} it/s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", metavar="DIR")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    if a.bench:
        bench(a.bench, a.rounds, a.iters)
        return
    torch.set_num_threads(2)
    for i, (name, cfg) in enumerate(CASES.items()):
        make_case(name, cfg, 1000 + i)


if __name__ == "__main__":
    sys.exit(main())
