#!/usr/bin/env python3
"""Scheduler cases for diffusers' Euler family: EulerDiscreteScheduler,
EulerAncestralDiscreteScheduler and HeunDiscreteScheduler (issue 17's "fewer steps").

Same file format and analytic model as `make_scheduler_cases.py` (data ~ N(mu, s²·I)), run the
way diffusers' pipelines run these schedulers: the state starts at randn × init_noise_sigma,
the model sees `scale_model_input(state, t)` = state/√(σ²+1) at the (possibly fractional)
timestep t, and its exact noise prediction is taken at that σ:
    α = 1/√(σ²+1), σ_vp = σ·α, eps = σ_vp (x_in − α mu) / (α² s² + σ_vp²)
(float64 from the scheduler's float32 σ, rounded to float32 like a model output).

Per case K: `K/xT` is the unscaled noise (the test multiplies it by the sampler's
init_noise_sigma, as the sampling loop does), `K/timesteps` the scheduler's timesteps (F32,
one per model call: Heun's hold every timestep after the first twice), `K/trajectory` the state
after each call, `K/noise` the ancestral draws in order. Metadata `K`: the full config with
`_class_name`, and `_inference_steps` (Heun's model calls are 2n − 1 for n steps).

CI never runs this: it only reads the committed output. To regenerate (diffusers 0.42.1):
    python3 -m venv .build/venv-ref && .build/venv-ref/bin/pip install torch diffusers==0.42.1 safetensors numpy
    .build/venv-ref/bin/python scripts/reference/make_sigma_scheduler_cases.py \
        -o Tests/Fixtures/reference-extra/schedulers_sigma.safetensors
"""
import math
import pathlib
import sys

import numpy as np
import torch
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_scheduler_cases import MU, S, SHAPE, NoiseRecorder, write_cases  # noqa: E402


def sigma_space_eps(x_in, sigma):
    """The analytic model's eps for an input at noise level σ (k-diffusion parameterisation)."""
    a = 1 / math.sqrt(sigma * sigma + 1)
    sv = sigma * a
    return (sv * (x_in.double() - a * MU) / (a * a * S * S + sv * sv)).float()


def run_case(cls, options, steps, seed):
    scheduler = cls(**options)
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    noise0 = torch.randn(SHAPE, generator=generator, dtype=torch.float32)
    x = noise0 * scheduler.init_noise_sigma
    module = __import__(cls.__module__, fromlist=["randn_tensor"])
    trajectory = []
    with NoiseRecorder(module) as noise:
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(x, t)
            sigma = float(scheduler.sigmas[scheduler.step_index])
            out = sigma_space_eps(x_in, sigma)
            kwargs = {"generator": generator} if cls is not HeunDiscreteScheduler else {}
            x = scheduler.step(out, t, x, **kwargs).prev_sample
            trajectory.append(x.clone())
    config = dict(scheduler.config)
    config["_class_name"] = cls.__name__
    config["_inference_steps"] = steps
    tensors = {
        "xT": noise0.numpy(),
        "timesteps": scheduler.timesteps.numpy().astype(np.float32),
        "trajectory": torch.stack(trajectory).float().numpy(),
    }
    if noise.draws:
        tensors["noise"] = torch.stack(noise.draws).float().numpy()
    return config, tensors


EULER, EULER_A, HEUN = EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler
SCALED = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
DIT_BETAS = {"beta_start": 0.0001, "beta_end": 0.02}

# name: (scheduler, options, steps)
CASES = {
    # linspace spacing: fractional timesteps for 25 steps (999/24 apart), σ interpolated.
    "euler_10": (EULER, {}, 10),
    "euler_25": (EULER, {}, 25),
    "euler_karras_10": (EULER, {"use_karras_sigmas": True}, 10),
    "euler_karras_sigma_bounds_12": (EULER, {"use_karras_sigmas": True, "sigma_min": 0.05, "sigma_max": 40.0}, 12),
    # leading spacing: init_noise_sigma is √(σ_max² + 1).
    "euler_leading_10": (EULER, {"timestep_spacing": "leading", "steps_offset": 1}, 10),
    "euler_trailing_10": (EULER, {"timestep_spacing": "trailing"}, 10),
    "euler_sigma_min_10": (EULER, {"final_sigmas_type": "sigma_min"}, 10),
    "euler_scaled_linear_10": (EULER, SCALED, 10),
    "euler_ancestral_10": (EULER_A, {}, 10),
    "euler_ancestral_25": (EULER_A, {}, 25),
    "euler_ancestral_leading_10": (EULER_A, {"timestep_spacing": "leading"}, 10),
    "euler_ancestral_trailing_scaled_linear_10": (EULER_A, {"timestep_spacing": "trailing", **SCALED}, 10),
    # Heun with its own defaults (Stable Diffusion's betas), then with DiT's.
    "heun_10": (HEUN, {}, 10),
    "heun_dit_betas_10": (HEUN, DIT_BETAS, 10),
    "heun_dit_betas_25": (HEUN, DIT_BETAS, 25),
    "heun_karras_10": (HEUN, {"use_karras_sigmas": True, **DIT_BETAS}, 10),
    "heun_clip_sample_10": (HEUN, {"clip_sample": True, "clip_sample_range": 0.5, **DIT_BETAS}, 10),
    "heun_leading_10": (HEUN, {"timestep_spacing": "leading", "steps_offset": 1, **DIT_BETAS}, 10),
}


def main():
    write_cases({name: (cls, options, steps, {}) for name, (cls, options, steps) in CASES.items()}, run_case, 2000,
                "make_sigma_scheduler_cases.py", __doc__)


if __name__ == "__main__":
    main()
