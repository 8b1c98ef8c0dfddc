#!/usr/bin/env python3
"""Check that the bundled digits model draws recognisable digits of the class asked for.

Samples 10 images of each class (100 in all) with diffusers from the model folder, classifies them
with the logistic-regression fixture (tools/digits_classifier.py), prints per-class and overall
accuracy plus the confusions, and saves a PNG grid (row = class asked for, 10 samples a row):

    nice -n 5 env OMP_NUM_THREADS=2 /tmp/venv/bin/python tools/check_digits_samples.py \
        --model assets/models/digits-unet --grid /tmp/digits_grid.png

The recipe is the folder's README's: the folder's DDIMScheduler config, 50 steps, eta 0, noise
N(0,1) from torch.Generator(seed). --scheduler ddpm samples with DDPMScheduler (same betas)
instead. Exit status 1 when the overall accuracy is under --min-acc (default 0.8).
"""
import argparse
import os
import sys

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_classifier import load_fixture, predict  # noqa: E402


@torch.no_grad()
def sample(unet, sched, labels, steps, seed, eta=0.0):
    gen = torch.Generator().manual_seed(seed)
    s = unet.config.sample_size
    x = torch.randn((len(labels), unet.config.in_channels, s, s), generator=gen)
    sched.set_timesteps(steps)
    y = torch.as_tensor(labels, dtype=torch.int64)
    for t in sched.timesteps:
        eps = unet(x, t, class_labels=y).sample
        kw = {"eta": eta} if isinstance(sched, DDIMScheduler) else {}
        x = sched.step(eps, t, x, generator=gen, **kw).prev_sample
    return (x / 2 + 0.5).clamp(0, 1)


def save_grid(img, rows, path, scale=4, gap=2):
    """img: [N,1,h,w] in [0,1], N = rows*cols -> grey PNG, white ink on black as in the data."""
    n, _, h, w = img.shape
    cols = n // rows
    cw, ch = w * scale + gap, h * scale + gap
    grid = np.full((rows * ch + gap, cols * cw + gap), 96, dtype=np.uint8)
    a = (img[:, 0].numpy() * 255.0 + 0.5).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        tile = np.kron(a[i], np.ones((scale, scale), dtype=np.uint8))
        grid[gap + r * ch: gap + r * ch + h * scale, gap + c * cw: gap + c * cw + w * scale] = tile
    Image.fromarray(grid, mode="L").save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="assets/models/digits-unet")
    ap.add_argument("--classifier", default="tests/fixtures/digits/logreg.json")
    ap.add_argument("--scheduler", choices=["ddim", "ddpm"], default="ddim")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--eta", type=float, default=0.0)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", default="/tmp/digits_grid.png")
    ap.add_argument("--min-acc", type=float, default=0.8)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    unet = UNet2DModel.from_pretrained(os.path.join(args.model, "unet"), low_cpu_mem_usage=False).eval()
    sdir = os.path.join(args.model, "scheduler")
    sched = (DDIMScheduler if args.scheduler == "ddim" else DDPMScheduler).from_pretrained(sdir)
    coef, intercept, meta = load_fixture(args.classifier)

    labels = np.repeat(np.arange(10), args.per_class)
    img = sample(unet, sched, labels, args.steps, args.seed, args.eta)
    pred = predict(coef, intercept, img.reshape(len(labels), -1).double().numpy())
    ok = pred == labels
    print(f"{args.model}: {type(sched).__name__} {args.steps} steps, eta {args.eta}, seed {args.seed}, "
          f"{len(labels)} samples; classifier held-out accuracy {meta['heldout_accuracy']}")
    for c in range(10):
        m = labels == c
        wrong = ", ".join(f"{p}" for p in pred[m][~ok[m]])
        print(f"  class {c}: {ok[m].mean():.2f}" + (f"  (labelled as {wrong})" if wrong else ""))
    acc = float(ok.mean())
    print(f"overall accuracy {acc:.3f}")
    ink = img.mean().item()
    print(f"mean ink {ink:.3f} (real digits {0.3053:.3f}); pixels saturated (0 or 1): "
          f"{((img == 0) | (img == 1)).float().mean().item():.3f}")
    if args.grid:
        save_grid(img, 10, args.grid)
        print(f"grid (rows = class 0..9): {args.grid}")
    sys.exit(0 if acc >= args.min_acc else 1)


if __name__ == "__main__":
    main()
