#!/usr/bin/env python3
"""DiT sampling-loop cases for the options the official reference files do not cover.

Runs facebookresearch/DiT's own `diffusion/` package (`create_diffusion`, `p_sample_loop`,
`ddim_sample_loop`) with an analytic model in place of the network: data ~ N(mu, s²·I), so
the exact noise prediction at original timestep t is
`eps = σ_t (x − α_t mu) / (α_t² s² + σ_t²)`, α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t) from the *base*
(un-respaced) schedule in float64 (the respaced diffusion hands the model original
timesteps); with learn_sigma the model also outputs `v = tanh(x)` (the learned-range
interpolation), both rounded to float32. Covered: `clip_denoised=True` (DiT samples latents
without it), the learned-range, fixed-large and fixed-small variances, and the
`squaredcos_cap_v2` noise schedule. Data with s = 0.8 make the predicted x0 leave [-1, 1]
often, so clipping changes the trajectories.

Output (safetensors): for each case K, `K/xT`, `K/noise [steps, ...]` (DiT draws noise at
every step, also the last where it is multiplied by 0), `K/trajectory [steps, ...]`,
`K/timesteps` (original t, high to low); metadata `K` = JSON
`{"sampler": "ddpm" | "ddim", "eta", "respacing", "noise_schedule", "learn_sigma",
"sigma_small", "clip_denoised", "variance_model", "computed_in"}` and `data` = `{"mu", "s"}`.
`computed_in` is "float32" (DiT as it runs) or "float64" (the sample in float64, the model
output and DiT's tables still float32 values) where float32 rounding alone would exceed the
tests' tolerance.

CI never runs this: it only reads the committed output. To regenerate:
    git clone https://github.com/facebookresearch/DiT /tmp/DiT
    .build/venv-ref/bin/python scripts/reference/make_dit_sampler_cases.py --dit /tmp/DiT \
        -o Tests/Fixtures/reference-extra/dit_samplers.safetensors
(the venv of make_scheduler_cases.py: torch, numpy, safetensors).
"""
import argparse
import json
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

MU, S = 0.25, 0.8
SHAPE = (3, 2, 4, 4)

CASES = {
    "ddpm_clip_learned_range_10": dict(sampler="ddpm", respacing="10", learn_sigma=True, clip_denoised=True),
    "ddpm_clip_fixed_large_10": dict(sampler="ddpm", respacing="10", learn_sigma=False, clip_denoised=True),
    "ddpm_clip_fixed_small_10": dict(sampler="ddpm", respacing="10", learn_sigma=False, sigma_small=True, clip_denoised=True),
    "ddim0_clip_10": dict(sampler="ddim", eta=0.0, respacing="10", learn_sigma=True, clip_denoised=True),
    "ddim05_clip_25": dict(sampler="ddim", eta=0.5, respacing="25", learn_sigma=True, clip_denoised=True),
    # squaredcos_cap_v2 starts at t = 999 with ᾱ = 2.4e-9: x0 = x/√ᾱ − eps·√(1/ᾱ − 1) cancels
    # two numbers of 2e4, so float32 rounding alone moves a float32 run ~2e-4 off the exact
    # trajectory. These run in float64 (model output and tables still float32 values).
    "ddpm_cosine_10": dict(sampler="ddpm", respacing="10", learn_sigma=True, noise_schedule="squaredcos_cap_v2",
                           float64=True),
    "ddim05_cosine_clip_10": dict(sampler="ddim", eta=0.5, respacing="10", learn_sigma=False,
                                  noise_schedule="squaredcos_cap_v2", clip_denoised=True, float64=True),
    "ddpm_fixed_small_10": dict(sampler="ddpm", respacing="10", learn_sigma=False, sigma_small=True),
}
DEFAULTS = dict(eta=0.0, noise_schedule="linear", learn_sigma=True, sigma_small=False, clip_denoised=False, float64=False)


class AnalyticModel:
    def __init__(self, alphas_cumprod, learn_sigma):
        self.ac = torch.from_numpy(alphas_cumprod)  # float64, base schedule
        self.learn_sigma = learn_sigma

    def __call__(self, x, t):
        ac = self.ac[t].view(-1, *([1] * (x.dim() - 1)))
        a, sg = ac.sqrt(), (1 - ac).sqrt()
        eps = (sg * (x.double() - a * MU) / (a * a * S * S + sg * sg)).float()
        if self.learn_sigma:
            eps = torch.cat([eps, torch.tanh(x.double()).float()], dim=1)
        return eps.to(x.dtype)  # float32 values, in the sample's dtype


def run_case(diffusion_module, spec, seed):
    from diffusion.gaussian_diffusion import get_named_beta_schedule
    spec = {**DEFAULTS, **spec}
    diffusion = diffusion_module.create_diffusion(spec["respacing"], noise_schedule=spec["noise_schedule"],
                                                  learn_sigma=spec["learn_sigma"], sigma_small=spec["sigma_small"])
    base = np.cumprod(1.0 - get_named_beta_schedule(spec["noise_schedule"], 1000))
    model = AnalyticModel(base, spec["learn_sigma"])
    generator = torch.Generator().manual_seed(seed)
    xT = torch.randn(SHAPE, generator=generator)
    dtype = torch.float64 if spec["float64"] else torch.float32
    draws = []
    original = torch.randn_like

    def recorded(x, *args, **kwargs):
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.dtype)
        draws.append(z.clone())
        return z

    trajectory = []
    torch.randn_like = recorded
    try:
        if spec["sampler"] == "ddpm":
            loop = diffusion.p_sample_loop_progressive(model, SHAPE, noise=xT.clone().to(dtype), clip_denoised=spec["clip_denoised"],
                                                       device="cpu")
        else:
            loop = diffusion.ddim_sample_loop_progressive(model, SHAPE, noise=xT.clone().to(dtype), clip_denoised=spec["clip_denoised"],
                                                          device="cpu", eta=spec["eta"])
        for out in loop:
            trajectory.append(out["sample"].clone())
    finally:
        torch.randn_like = original
    timesteps = np.array(diffusion.timestep_map[::-1], dtype=np.int64)
    tensors = {"xT": xT.numpy(), "noise": torch.stack(draws).float().numpy(),
               "trajectory": torch.stack(trajectory).float().numpy(), "timesteps": timesteps}
    spec["variance_model"] = "tanh(x)" if spec["learn_sigma"] else None
    spec["computed_in"] = "float64" if spec.pop("float64") else "float32"
    return spec, tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dit", required=True, help="a checkout of facebookresearch/DiT")
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.dit)
    import diffusion as diffusion_module
    commit = subprocess.run(["git", "-C", args.dit, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    tensors, metadata = {}, {}
    for seed, (name, spec) in enumerate(sorted(CASES.items())):
        config, arrays = run_case(diffusion_module, spec, seed=2000 + seed)
        metadata[name] = json.dumps(config)
        for key, value in arrays.items():
            tensors[f"{name}/{key}"] = np.ascontiguousarray(value)
        print(f"{name}: {config}")
    metadata["data"] = json.dumps({"mu": MU, "s": S})
    metadata["generator"] = json.dumps({"script": "scripts/reference/make_dit_sampler_cases.py",
                                        "dit_commit": commit or "unknown", "torch": torch.__version__})
    save_file(tensors, args.out, metadata=metadata)
    print(f"{len(CASES)} cases → {args.out}")


if __name__ == "__main__":
    main()
