"""TeaCache's decision rule and coefficient fit, as the official code computes them, on
synthetic trajectories: the parity cases of `TeaCacheTests` (Tests/DiffusionTests).

Decision: the block of `ali-vilab/TeaCache` (commit 7c10efc)
`TeaCache4FLUX/teacache_flux.py`, `teacache_forward`, lines 107-124, run unchanged in torch
float32 on a sequence of "modulated inputs" (one per sampling step, [rows, D]) whose
step-to-step change varies, for several coefficient sets and thresholds. Recorded per step:
`should_calc` and the accumulated distance after the step.

Fit: `np.polyfit(x, y, 4)` (the authors' recipe, ali-vilab/TeaCache issue #2) on noisy
points of a known curve, and `np.poly1d` of it at a few x.

Usage: .build/venv-ref/bin/python scripts/reference/make_teacache_cases.py \
           -o Tests/Fixtures/reference-extra/teacache.safetensors
"""
import argparse
import json

import numpy as np
import torch
from safetensors.numpy import save_file

FLUX = [4.98651651e+02, -2.83781631e+02, 5.58554382e+01, -3.82021401e+00, 2.64230861e-01]
CASES = {
    # name: (coefficients, rel_l1_thresh, steps, rows, D)
    "flux_0.25": (FLUX, 0.25, 20, 6, 16),
    "flux_0.6": (FLUX, 0.6, 20, 6, 16),
    "linear_0.3": ([1.0, 0.0], 0.3, 25, 4, 8),
    "cubic_0.1": ([2.0, -1.0, 0.5, 0.01], 0.1, 12, 3, 5),
}


class Official:
    """The attributes `teacache_forward` reads and writes on the transformer."""

    def __init__(self, coefficients, thresh, steps):
        self.cnt, self.num_steps, self.rel_l1_thresh = 0, steps, thresh
        self.accumulated_rel_l1_distance = 0
        self.coefficients = coefficients

    def decide(self, modulated_inp):
        # teacache_flux.py lines 107-124, with the literal coefficients as a parameter.
        if self.cnt == 0 or self.cnt == self.num_steps - 1:
            should_calc = True
            self.accumulated_rel_l1_distance = 0
        else:
            coefficients = self.coefficients
            rescale_func = np.poly1d(coefficients)
            self.accumulated_rel_l1_distance += rescale_func(((modulated_inp - self.previous_modulated_input).abs().mean() / self.previous_modulated_input.abs().mean()).cpu().item())
            if self.accumulated_rel_l1_distance < self.rel_l1_thresh:
                should_calc = False
            else:
                should_calc = True
                self.accumulated_rel_l1_distance = 0
        self.previous_modulated_input = modulated_inp
        self.cnt += 1
        if self.cnt == self.num_steps:
            self.cnt = 0
        return should_calc


def trajectory(steps, rows, d, generator):
    """Modulated inputs whose relative change per step wanders between about 0.02 and 0.5."""
    x = torch.randn(rows, d, generator=generator)
    out = [x.clone()]
    for _ in range(steps - 1):
        size = float(torch.empty(1).uniform_(0.02, 0.5, generator=generator))
        x = x + size * torch.randn(rows, d, generator=generator)
        out.append(x.clone())
    return torch.stack(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    tensors, metadata = {}, {}
    for seed, (name, (coefficients, thresh, steps, rows, d)) in enumerate(sorted(CASES.items())):
        g = torch.Generator().manual_seed(4000 + seed)
        inputs = trajectory(steps, rows, d, g)
        model = Official(coefficients, thresh, steps)
        calc, accumulated = [], []
        for k in range(steps):
            calc.append(model.decide(inputs[k]))
            accumulated.append(float(model.accumulated_rel_l1_distance))
        tensors[f"{name}/inputs"] = inputs.numpy().astype(np.float32)
        tensors[f"{name}/should_calc"] = np.array(calc, dtype=np.int64)
        tensors[f"{name}/accumulated"] = np.array(accumulated, dtype=np.float64)
        metadata[name] = json.dumps({"coefficients": coefficients, "threshold": thresh})
        print(f"{name}: {sum(calc)} of {steps} steps run: {''.join('C' if c else '.' for c in calc)}")
    rng = np.random.default_rng(7)
    x = rng.uniform(0.02, 0.6, 400)
    y = 0.3 * x + 1.5 * x ** 2 - 0.8 * x ** 3 + 0.02 * rng.standard_normal(400)
    coefficients = np.polyfit(x, y, 4)
    probe = np.array([0.05, 0.2, 0.45])
    tensors["polyfit/x"], tensors["polyfit/y"] = x, y
    tensors["polyfit/coefficients"] = coefficients
    tensors["polyfit/probe"], tensors["polyfit/probe_values"] = probe, np.poly1d(coefficients)(probe)
    metadata["generator"] = json.dumps({"script": "scripts/reference/make_teacache_cases.py",
                                        "teacache": "ali-vilab/TeaCache@7c10efc TeaCache4FLUX/teacache_flux.py",
                                        "torch": torch.__version__, "numpy": np.__version__})
    save_file(tensors, args.out, metadata=metadata)
    print(f"{len(CASES)} decision cases and a fit → {args.out}")


if __name__ == "__main__":
    main()
