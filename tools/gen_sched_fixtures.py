#!/usr/bin/env python3
"""gen_sched_fixtures.py - golden trajectories of diffusers' DDPM, DDIM and Euler schedulers
for tests/test_scheduler.c.

Each case runs a scheduler from diffusers (0.42.1) for 10 steps the way its pipeline does
(noise * init_noise_sigma, scale_model_input, step with the generator) over a fake analytic
"model"  out = 0.5 * x_in + 0.75 * sin(t / 100)  (elementwise; the C test implements it as a
test denoiser), on a batch of 2 images of 3 x 2 x 2. Every normal number the run draws is
recorded in draw order (randn_tensor is wrapped), so lathe can replay the same stream:
the initial noise first, then each step's noise.

Writes tests/fixtures/sched/cases.json:
  {"diffusers": version, "model": {"a": .5, "b": .75}, "cases": [{name, class, config (the
   scheduler_config.json keys), steps, eta, shape, timesteps, init_sigma, alphas_cumprod_at_t,
   noise (flat stream), traj (the sample after each step, flat)}]}

Run: OMP_NUM_THREADS=2 nice -n 5 /tmp/venv/bin/python tools/gen_sched_fixtures.py
"""
import json
import os

import diffusers
import torch
from diffusers import DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler
from diffusers.schedulers import scheduling_ddim, scheduling_ddpm, scheduling_euler_discrete

A, B = 0.5, 0.75
SHAPE = (2, 3, 2, 2)
STEPS = 10

CASES = [
    # name, class, config, eta
    ("ddpm_linear_small", DDPMScheduler, {}, 0.0),
    ("ddpm_cifar10_large", DDPMScheduler,
     {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "clip_sample": True,
      "variance_type": "fixed_large", "trained_betas": None}, 0.0),
    ("ddpm_scaled_v_trailing", DDPMScheduler,
     {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "v_prediction",
      "timestep_spacing": "trailing", "clip_sample": False}, 0.0),
    ("ddpm_cos_sample_linspace", DDPMScheduler,
     {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample", "timestep_spacing": "linspace",
      "clip_sample_range": 0.5}, 0.0),
    ("ddpm_threshold", DDPMScheduler,
     {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.5, "steps_offset": 1}, 0.0),
    ("ddim_linear_eta0", DDIMScheduler, {}, 0.0),
    ("ddim_sd_eta0", DDIMScheduler,
     {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
      "set_alpha_to_one": False, "clip_sample": False, "skip_prk_steps": True}, 0.0),
    ("ddim_v_eta05", DDIMScheduler, {"prediction_type": "v_prediction", "clip_sample": False}, 0.5),
    ("ddim_cos_sample_trailing_eta05", DDIMScheduler,
     {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample", "timestep_spacing": "trailing"}, 0.5),
    ("ddim_linspace_eta0", DDIMScheduler, {"timestep_spacing": "linspace", "clip_sample_range": 2.0}, 0.0),
    ("euler_linear", EulerDiscreteScheduler, {}, 0.0),
    ("euler_sd_leading", EulerDiscreteScheduler,
     {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
      "timestep_spacing": "leading", "interpolation_type": "linear", "use_karras_sigmas": False}, 0.0),
    ("euler_v_trailing", EulerDiscreteScheduler, {"prediction_type": "v_prediction", "timestep_spacing": "trailing"}, 0.0),
    ("euler_cos_sample", EulerDiscreteScheduler, {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample"}, 0.0),
]

draws = []


def recording(orig):
    def f(*args, **kw):
        t = orig(*args, **kw)
        draws.append(t.detach().clone())
        return t
    return f


for mod in (scheduling_ddim, scheduling_ddpm, scheduling_euler_discrete):
    mod.randn_tensor = recording(mod.randn_tensor)


def flat(t):
    return [float(v) for v in t.flatten().tolist()]


def run(name, cls, cfg, eta, seed):
    sched = cls.from_config(cfg)
    sched.set_timesteps(STEPS)
    gen = torch.Generator().manual_seed(seed)
    draws.clear()
    init = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
    draws.insert(0, init.clone())
    x = init * sched.init_noise_sigma
    traj = []
    for t in sched.timesteps:
        inp = sched.scale_model_input(x, t)
        out = A * inp + B * torch.sin(t / 100)
        kw = {"generator": gen}
        if cls is DDIMScheduler:
            kw["eta"] = eta
        x = sched.step(out, t, x, **kw).prev_sample
        traj.append(flat(x))
    ac = sched.alphas_cumprod
    ts = [float(t) for t in sched.timesteps.tolist()]
    full = dict(cfg)
    full["_class_name"] = cls.__name__
    return {
        "name": name, "class": cls.__name__, "config": full, "steps": STEPS, "eta": eta, "shape": list(SHAPE),
        "timesteps": ts, "init_sigma": float(sched.init_noise_sigma),
        "alphas_cumprod_at_t": [float(ac[int(t)]) for t in ts],
        "noise": [v for d in draws for v in flat(d)], "traj": traj,
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {"diffusers": diffusers.__version__, "torch": torch.__version__, "model": {"a": A, "b": B},
           "cases": [run(n, c, cfg, eta, 1000 + i) for i, (n, c, cfg, eta) in enumerate(CASES)]}
    path = os.path.join(root, "tests/fixtures/sched/cases.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {len(out['cases'])} cases")


if __name__ == "__main__":
    main()
