#!/usr/bin/env python3
"""Scheduler cases for the options the official `schedulers.safetensors` does not cover.

Runs HuggingFace diffusers' own schedulers (DDPMScheduler, DDIMScheduler,
DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler) on the analytic model of
Tests/Fixtures/reference/README.md (data ~ N(mu, s²·I), exact eps from the scheduler's own
alphas_cumprod) and writes the trajectories in the same format as `schedulers.safetensors`,
so SchedulerParityTests reads both files the same way. Covered here: Karras sigmas, the
`heun` solver type (multistep and singlestep), `euler_at_final`, `lambda_min_clipped`,
timestep spacings of DPM-Solver, the `scaled_linear` and `squaredcos_cap_v2` beta
schedules, DDPM's `fixed_large`, `fixed_small_log`, `learned` and `learned_range` variance
types, DDIM's `use_clipped_model_output` and `steps_offset`, and DPM-Solver's
`variance_type` (whose model output carries variance channels the solver drops).

The scheduler steps in float32, as diffusers runs it, except for cases marked
`_computed_in: float64` (the sample, and DPM-Solver's σ table, in float64; the model output
and the tables still hold float32 values): where a step amplifies float32 rounding past the
tests' 1e-4, a float32 run measures its own rounding, not the formula.

A learned variance needs a model output `v` beside eps: the case's metadata names it in
`_variance_model` (`tanh(x)` for learned_range, whose `v` interpolates in [-1, 1];
`sigmoid(x)` for learned, whose `v` is the variance itself), elementwise on the sample
(float64, rounded to float32 like eps). Keys starting with `_` are not scheduler options.

CI never runs this: it only reads the committed output. To regenerate (diffusers 0.42.1):
    python3 -m venv .build/venv-ref && .build/venv-ref/bin/pip install torch diffusers==0.42.1 safetensors numpy
    .build/venv-ref/bin/python scripts/reference/make_scheduler_cases.py \
        -o Tests/Fixtures/reference-extra/schedulers_options.safetensors
"""
import argparse
import json
import math

import diffusers
import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler
from safetensors.numpy import save_file

MU, S = 0.25, 0.5
SHAPE = (3, 2, 4, 4)

VARIANCE_MODELS = {
    "tanh(x)": lambda x: torch.tanh(x.double()).float(),
    "sigmoid(x)": lambda x: torch.sigmoid(x.double()).float(),
}


def analytic_eps(x, t, alphas_cumprod):
    """eps(x, t) = σ_t (x − α_t mu) / (α_t² s² + σ_t²) in float64, rounded to float32."""
    ac = float(alphas_cumprod[t])
    a, sg = math.sqrt(ac), math.sqrt(1 - ac)
    return (sg * (x.double() - a * MU) / (a * a * S * S + sg * sg)).float()


class NoiseRecorder:
    """Wraps `randn_tensor` in a scheduler module, keeping every draw in order."""

    def __init__(self, module):
        self.module, self.draws = module, []
        # Deterministic schedulers' modules (Heun, UniPC) do not import randn_tensor at all.
        self.original = getattr(module, "randn_tensor", None)

    def __enter__(self):
        if self.original is None:
            return self

        def record(*args, **kwargs):
            # Drawn in float32 whatever the sample's dtype, so the stored noise is exact.
            dtype = kwargs.pop("dtype", None) or torch.float32
            z = self.original(*args, dtype=torch.float32, **kwargs).to(dtype)
            self.draws.append(z.clone())
            return z

        self.module.randn_tensor = record
        return self

    def __exit__(self, *exc):
        if self.original is not None:
            self.module.randn_tensor = self.original


def run_case(cls, options, steps, seed, shape=SHAPE, eta=None, clipped_output=None, variance_model=None, float64=False,
             as_given=()):
    """float64: the sample and the step arithmetic in float64 (the model output still float32
    values, the scheduler's tables still its float32 ones), for steps whose float32 rounding
    is amplified beyond the tests' tolerance (see FLOAT64 below)."""
    scheduler = cls(**options)
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float32)
    xT = x.clone()
    if float64:
        x = x.double()
        if hasattr(scheduler, "sigmas"):
            # DPM-Solver derives α_t, σ_t, λ_t from this table in its dtype: the float32
            # values, held in float64, so those come out in float64 too.
            scheduler.sigmas = scheduler.sigmas.double()
    ac = scheduler.alphas_cumprod.double().numpy()
    module = __import__(cls.__module__, fromlist=["randn_tensor"])
    trajectory = []
    with NoiseRecorder(module) as noise:
        for t in scheduler.timesteps:
            out = analytic_eps(x, int(t), ac)
            if variance_model is not None:
                out = torch.cat([out, VARIANCE_MODELS[variance_model](x)], dim=1)
            out = out.to(x.dtype)
            kwargs = {}
            if cls is DDIMScheduler:
                kwargs = {"eta": eta, "use_clipped_model_output": bool(clipped_output)}
            if cls in (DDIMScheduler, DDPMScheduler):
                kwargs["generator"] = generator
            x = scheduler.step(out, t, x, **kwargs).prev_sample
            trajectory.append(x.clone())
    config = dict(scheduler.config)
    config["_class_name"] = cls.__name__
    if cls is DDIMScheduler:
        config["eta"] = eta
        config["use_clipped_model_output"] = bool(clipped_output)
    if variance_model is not None:
        config["_variance_model"] = variance_model
    if float64:
        config["_computed_in"] = "float64"
    # Options diffusers renames on construction (deis → dpmsolver++, logrho → midpoint):
    # stored as the user gave them, so the test checks that they are read the same way.
    for key in as_given:
        config[key] = options[key]
    tensors = {
        "xT": xT.numpy(),
        "timesteps": scheduler.timesteps.numpy().astype(np.int64),
        "trajectory": torch.stack(trajectory).float().numpy(),
    }
    if noise.draws:
        tensors["noise"] = torch.stack(noise.draws).float().numpy()
    return config, tensors


DPMM, DPMS = DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler
SCALED = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
COSINE = {"beta_schedule": "squaredcos_cap_v2"}
SIGMA_MIN = {"final_sigmas_type": "sigma_min"}

# name: (scheduler, options, steps, extra run arguments)
CASES = {
    # Karras sigmas: timesteps from σ by interpolation in log σ, the solver on the Karras grid.
    "dpmpp_2m_karras_10": (DPMM, {"use_karras_sigmas": True}, 10, {}),
    "dpmpp_3m_karras_25": (DPMM, {"use_karras_sigmas": True, "solver_order": 3}, 25, {}),
    "dpm_2m_karras_sigma_min_12": (DPMM, {"use_karras_sigmas": True, "algorithm_type": "dpmsolver", **SIGMA_MIN}, 12, {}),
    "dpmpp_2s_karras_10": (DPMS, {"use_karras_sigmas": True}, 10, {}),
    "dpmpp_2m_karras_scaled_linear_15": (DPMM, {"use_karras_sigmas": True, **SCALED}, 15, {}),
    # The heun solver type.
    "dpmpp_2m_heun_10": (DPMM, {"solver_type": "heun"}, 10, {}),
    "dpm_2m_heun_sigma_min_10": (DPMM, {"solver_type": "heun", "algorithm_type": "dpmsolver", **SIGMA_MIN}, 10, {}),
    "dpmpp_2s_heun_10": (DPMS, {"solver_type": "heun"}, 10, {}),
    "dpmpp_3s_heun_12": (DPMS, {"solver_type": "heun", "solver_order": 3}, 12, {}),
    "dpm_3s_heun_sigma_min_13": (DPMS, {"solver_type": "heun", "solver_order": 3, "algorithm_type": "dpmsolver", **SIGMA_MIN}, 13, {}),
    # euler_at_final: first order at the last step even with 20 steps and a σ_min end.
    "dpmpp_2m_euler_at_final_20": (DPMM, {"euler_at_final": True, **SIGMA_MIN}, 20, {}),
    "dpmpp_3m_no_lower_order_final_20": (DPMM, {"solver_order": 3, "lower_order_final": False, **SIGMA_MIN}, 20, {}),
    # lambda_min_clipped: the schedule ends where λ reaches the clip.
    "dpmpp_2m_lambda_min_clipped_10": (DPMM, {"lambda_min_clipped": -3.0}, 10, {}),
    "dpmpp_2m_cosine_lambda_min_clipped_10": (DPMM, {"lambda_min_clipped": -5.1, **COSINE}, 10, {}),
    "dpmpp_2s_lambda_min_clipped_10": (DPMS, {"lambda_min_clipped": -3.0}, 10, {}),
    # DPM-Solver's timestep spacings.
    "dpmpp_2m_leading_10": (DPMM, {"timestep_spacing": "leading", "steps_offset": 1}, 10, {}),
    "dpmpp_2m_trailing_10": (DPMM, {"timestep_spacing": "trailing"}, 10, {}),
    # Non-linear beta schedules.
    "dpmpp_2m_scaled_linear_10": (DPMM, SCALED, 10, {}),
    # Starts at t = 999, where squaredcos_cap_v2 has ᾱ = 2.4e-9: the data prediction
    # (x − σ_t·eps)/α_t cancels to 5e-5 of its terms, and σ_t = 1 − 1.2e-9 rounded to float32
    # alone moves it by 1e-3. diffusers in float32 lands 3e-4 from the exact trajectory;
    # in float64 (sample and σ table) it agrees with ours (Double) to ~1e-7.
    "dpmpp_2m_cosine_10": (DPMM, COSINE, 10, {"float64": True}),
    "ddim_eta0_scaled_linear_10": (DDIMScheduler, SCALED, 10, {"eta": 0.0}),
    "ddim_eta05_cosine_10": (DDIMScheduler, COSINE, 10, {"eta": 0.5}),
    "ddpm_scaled_linear_10": (DDPMScheduler, SCALED, 10, {}),
    "ddpm_cosine_10": (DDPMScheduler, COSINE, 10, {}),
    # DDPM's variance types, learned ones with the model's v.
    "ddpm_fixed_large_10": (DDPMScheduler, {"variance_type": "fixed_large"}, 10, {}),
    "ddpm_fixed_small_log_10": (DDPMScheduler, {"variance_type": "fixed_small_log"}, 10, {}),
    "ddpm_learned_range_10": (DDPMScheduler, {"variance_type": "learned_range"}, 10, {"variance_model": "tanh(x)"}),
    "ddpm_learned_range_25": (DDPMScheduler, {"variance_type": "learned_range", "clip_sample": False}, 25,
                              {"variance_model": "tanh(x)"}),
    "ddpm_learned_10": (DDPMScheduler, {"variance_type": "learned"}, 10, {"variance_model": "sigmoid(x)"}),
    # Options diffusers maps to others, stored as given.
    "dpmpp_2m_deis_logrho_10": (DPMM, {"algorithm_type": "deis", "solver_type": "logrho", **SIGMA_MIN}, 10,
                                {"as_given": ("algorithm_type", "solver_type")}),
    "dpmpp_2s_deis_bh2_10": (DPMS, {"algorithm_type": "deis", "solver_type": "bh2", **SIGMA_MIN}, 10,
                             {"as_given": ("algorithm_type", "solver_type")}),
    # trained_betas instead of a named schedule; a clip range other than 1; DDPM's spacings.
    "ddpm_trained_betas_10": (DDPMScheduler, {"trained_betas": (np.linspace(1e-4 ** 0.5, 0.03 ** 0.5, 1000) ** 2).tolist()},
                              10, {}),
    "dpmpp_2m_trained_betas_10": (DPMM, {"trained_betas": (np.linspace(1e-4 ** 0.5, 0.03 ** 0.5, 1000) ** 2).tolist()},
                                  10, {}),
    "ddpm_clip_range_05_10": (DDPMScheduler, {"clip_sample_range": 0.5}, 10, {}),
    "ddpm_linspace_10": (DDPMScheduler, {"timestep_spacing": "linspace"}, 10, {}),
    "ddpm_trailing_10": (DDPMScheduler, {"timestep_spacing": "trailing"}, 10, {}),
    # DDIM's options passed to step, and steps_offset.
    "ddim_eta05_clipped_output_10": (DDIMScheduler, {}, 10, {"eta": 0.5, "clipped_output": True}),
    "ddim_eta0_steps_offset_10": (DDIMScheduler, {"steps_offset": 1, "set_alpha_to_one": False}, 10, {"eta": 0.0}),
    # A model with variance channels: DPM-Solver keeps the first 3 channels (the eps of a
    # 3-channel image) and drops v.
    "dpmpp_2m_variance_learned_range_10": (DPMM, {"variance_type": "learned_range"}, 10,
                                           {"variance_model": "tanh(x)", "shape": (2, 3, 4, 4)}),
}


def write_cases(cases, runner, first_seed, script, doc):
    """Runs `cases` (name → (scheduler, options, steps, runner arguments)) in name order, seed
    `first_seed + index`, through `runner` (→ config, arrays) and writes one file (`-o`) with the
    data and generator metadata: the main of every `make_*cases.py` here."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    tensors, metadata = {}, {}
    for seed, (name, (cls, options, steps, extra)) in enumerate(sorted(cases.items())):
        config, arrays = runner(cls, options, steps, seed=first_seed + seed, **extra)
        assert np.isfinite(arrays["trajectory"]).all(), f"{name}: diffusers' trajectory is not finite"
        metadata[name] = json.dumps(config)
        for key, value in arrays.items():
            tensors[f"{name}/{key}"] = np.ascontiguousarray(value)
        print(f"{name}: {cls.__name__}, {steps} steps, {len(arrays['timesteps'])} model calls, "
              f"timesteps {np.round(arrays['timesteps'], 3).tolist()[:8]}…")
    metadata["data"] = json.dumps({"mu": MU, "s": S})
    metadata["generator"] = json.dumps({"script": f"scripts/reference/{script}",
                                        "diffusers": diffusers.__version__, "torch": torch.__version__})
    save_file(tensors, args.out, metadata=metadata)
    print(f"{len(cases)} cases → {args.out}")


def main():
    write_cases(CASES, run_case, 1000, "make_scheduler_cases.py", __doc__)


if __name__ == "__main__":
    main()
