#!/usr/bin/env python3
"""gen_imagine_fixtures.py - end-to-end golden images for lathe's sampling loop
(tests/test_imagine_golden.c): diffusers' own pipelines run 10 steps over the random-weight UNets
of tests/fixtures/unet/<model>/ (tools/gen_unet_fixtures.py; not copied), with every normal number
they draw recorded, and the final images saved.

Unconditional models run DDPMPipeline and DDIMPipeline themselves (diffusers 0.42.1, torch CPU,
fp32). diffusers has no pipeline for class-conditional UNet2DModels, so class_cond runs the
pipelines' loop line for line with class_labels added to the UNet call (run_loop below: the
same randn_tensor call, set_timesteps, unet(image, t, class_labels), scheduler.step with the
generator, (image / 2 + 0.5).clamp(0, 1)). diffusers has no pipeline for Euler on an unconditional
UNet either: no_attn_grey's euler run is the same loop with the scheduler's init_noise_sigma and
scale_model_input, as diffusers' other pipelines apply them (fractional timesteps reach the UNet).

randn_tensor is wrapped in the pipeline and scheduler modules (as tools/gen_sched_fixtures.py
does), so the stream is the initial noise, then each step's noise, in draw order: what lathe's
--init-noise reads (core/diffusion/noise.h).

Writes tests/fixtures/imagine/<case>/:
  scheduler_config.json  the DDPMScheduler config the pipelines got (save_config's full key
                         set; DDIMPipeline turns it into a DDIMScheduler, as lathe's
                         `--scheduler ddim` does), except google_old, whose unet folder has one
  noise_<run>.npy        the stream, float32 [draws * batch, C, H, W] (google_old's DDIM eta 0
                         stream is raw little-endian float32, noise_ddim.f32)
  images.safetensors     img_<run> [batch, H, W, C] float32 in [0, 1], the pipelines'
                         output_type="np" images; classes [batch] i32 for class_cond

Run from the repository root (after gen_unet_fixtures.py):
  OMP_NUM_THREADS=2 nice -n 5 /tmp/venv/bin/python tools/gen_imagine_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import torch
from diffusers import (DDIMPipeline, DDIMScheduler, DDPMPipeline, DDPMScheduler, EulerDiscreteScheduler,
                       UNet2DModel)
from diffusers.pipelines.ddim import pipeline_ddim
from diffusers.pipelines.ddpm import pipeline_ddpm
from diffusers.schedulers import scheduling_ddim, scheduling_ddpm, scheduling_euler_discrete
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
UNETS = os.path.join(ROOT, "tests", "fixtures", "unet")
OUT = os.path.join(ROOT, "tests", "fixtures", "imagine")
STEPS = 10

# case: (the unet folder's scheduler_config.json or the DDPMScheduler config to write, batch,
#        class labels or None, runs: (name, pipeline, eta))
CASES = {
    # google/ddpm-cifar10-32's scheduler: fixed_large variance, clipped x0
    "google_old": (None, 1, None, [("ddpm", "ddpm", 0.0), ("ddim", "ddim", 0.0), ("ddim_eta05", "ddim", 0.5)]),
    # what diffusers' train_unconditional.py saves (linear betas, epsilon)
    "diffusers_new": ({"num_train_timesteps": 1000, "beta_schedule": "linear", "prediction_type": "epsilon"}, 2, None,
                      [("ddpm", "ddpm", 0.0), ("ddim", "ddim", 0.0)]),
    # sample prediction: x0 is the UNet's output, so Euler's images (no clipping) stay in range
    "no_attn_grey": ({"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample", "clip_sample_range": 1.5}, 2,
                     None, [("ddpm", "ddpm", 0.0), ("ddim", "ddim", 0.0), ("euler", "euler", 0.0)]),
    "class_cond": ({"prediction_type": "v_prediction", "timestep_spacing": "trailing"}, 2, [3, 7],
                   [("ddpm", "ddpm", 0.0), ("ddim", "ddim", 0.0)]),
}

draws = []


def recording(orig):
    def f(*args, **kw):
        t = orig(*args, **kw)
        draws.append(t.detach().clone())
        return t
    return f


for mod in (pipeline_ddpm, pipeline_ddim, scheduling_ddpm, scheduling_ddim, scheduling_euler_discrete):
    mod.randn_tensor = recording(mod.randn_tensor)


def run_loop(unet, sched, batch, labels, eta, gen):
    """DDPMPipeline.__call__ / DDIMPipeline.__call__ with class_labels passed to the UNet (for DDPM and
    DDIM init_noise_sigma is 1 and scale_model_input the identity)."""
    cfg = unet.config
    shape = (batch, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    image = pipeline_ddpm.randn_tensor(shape, generator=gen, device=torch.device("cpu"), dtype=unet.dtype)
    sched.set_timesteps(STEPS)
    image = image * sched.init_noise_sigma
    cl = None if labels is None else torch.tensor(labels, dtype=torch.long)
    for t in sched.timesteps:
        model_output = unet(sched.scale_model_input(image, t), t, class_labels=cl).sample
        if isinstance(sched, DDIMScheduler):
            image = sched.step(model_output, t, image, eta=eta, use_clipped_model_output=None,
                               generator=gen).prev_sample
        else:
            image = sched.step(model_output, t, image, generator=gen).prev_sample
    image = (image / 2 + 0.5).clamp(0, 1)
    return image.cpu().permute(0, 2, 3, 1).numpy()


def make_case(name, sched_cfg, batch, labels, runs, seed):
    unet = UNet2DModel.from_pretrained(os.path.join(UNETS, name)).eval()
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    # the schedulers come from the file, as in a pipeline loaded from disk (and as lathe reads it):
    # a config built in memory remembers which keys took DDPMScheduler's defaults, and from_config
    # gives another class its own defaults for those (Euler's timestep_spacing is linspace)
    src = os.path.join(UNETS, name)
    if sched_cfg is not None:
        DDPMScheduler(**sched_cfg).save_config(d)
        src = d
    with open(os.path.join(src, "scheduler_config.json")) as f:
        ddpm = DDPMScheduler.from_config(json.load(f))
    C, S = unet.config.in_channels, unet.config.sample_size
    imgs = {}
    for i, (run, kind, eta) in enumerate(runs):
        gen = torch.Generator().manual_seed(seed + i)
        draws.clear()
        with torch.no_grad():
            if labels is not None or kind == "euler":
                cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "euler": EulerDiscreteScheduler}[kind]
                img = run_loop(unet, cls.from_config(ddpm.config), batch, labels, eta, gen)
            elif kind == "ddpm":
                pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler.from_config(ddpm.config))
                pipe.set_progress_bar_config(disable=True)
                img = pipe(batch_size=batch, generator=gen, num_inference_steps=STEPS, output_type="np").images
            else:
                pipe = DDIMPipeline(unet=unet, scheduler=DDPMScheduler.from_config(ddpm.config))
                pipe.set_progress_bar_config(disable=True)
                img = pipe(batch_size=batch, generator=gen, eta=eta, num_inference_steps=STEPS,
                           output_type="np").images
        stream = torch.cat(draws).numpy().astype(np.float32)
        assert stream.shape[1:] == (C, S, S), stream.shape
        if name == "google_old" and run == "ddim":
            stream.tofile(os.path.join(d, "noise_ddim.f32"))
        else:
            np.save(os.path.join(d, f"noise_{run}.npy"), stream)
        imgs[f"img_{run}"] = np.ascontiguousarray(img, dtype=np.float32)
        print(f"{name} {run}: {len(draws)} draws, image {img.shape}, mean {img.mean():.3f}, "
              f"clamped {float(((img == 0) | (img == 1)).mean()):.2f}")
    if labels is not None:
        imgs["classes"] = np.array(labels, dtype=np.int32)
    save_file({k: torch.from_numpy(v) for k, v in imgs.items()}, os.path.join(d, "images.safetensors"))


def main():
    torch.set_num_threads(2)
    for i, (name, (cfg, batch, labels, runs)) in enumerate(CASES.items()):
        make_case(name, cfg, batch, labels, runs, 2000 + 10 * i)


if __name__ == "__main__":
    main()
