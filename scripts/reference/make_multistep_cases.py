#!/usr/bin/env python3
"""Scheduler cases for diffusers' UniPCMultistepScheduler and DEISMultistepScheduler (issue
17's "fewer steps").

The format, analytic model and runner of `make_scheduler_cases.py` (data ~ N(mu, s²·I), the
exact eps at each integer timestep, float32 scheduler arithmetic as diffusers runs it), for
UniPC's options: bh1 and bh2, orders 1–3, the corrector switched off at chosen steps
(`disable_corrector`), the noise prediction (`predict_x0: false`), `lower_order_final`,
Karras σs, the timestep spacings, a σ_min end and the scaled_linear schedule. With a final
σ of zero, diffusers' own UniPC is NaN (or fails) unless it is bh2 on the data prediction
with lower_order_final; the project refuses those combinations, so those cases end at σ_min.
DEIS (log-ρ, orders 1–3; it always ends at σ_min): its defaults, orders 1 and 3, more than 15
steps (no lower orders at the end), `lower_order_final: false`, Karras σs, the spacings, the
scaled_linear schedule, and `algorithm_type`/`solver_type` values diffusers renames (stored
as given).

CI never runs this: it only reads the committed output. To regenerate (diffusers 0.42.1):
    python3 -m venv .build/venv-ref && .build/venv-ref/bin/pip install torch diffusers==0.42.1 safetensors numpy
    .build/venv-ref/bin/python scripts/reference/make_multistep_cases.py \
        -o Tests/Fixtures/reference-extra/schedulers_multistep.safetensors
"""
import pathlib
import sys

from diffusers import DEISMultistepScheduler, UniPCMultistepScheduler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_scheduler_cases import run_case, write_cases  # noqa: E402

UNIPC, DEIS = UniPCMultistepScheduler, DEISMultistepScheduler
SIGMA_MIN = {"final_sigmas_type": "sigma_min"}
SCALED = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}

# name: (scheduler, options, steps, run_case arguments)
CASES = {
    "unipc_bh2_10": (UNIPC, {}, 10, {}),
    "unipc_bh2_25": (UNIPC, {}, 25, {}),
    "unipc_bh1_sigma_min_10": (UNIPC, {"solver_type": "bh1", **SIGMA_MIN}, 10, {}),
    "unipc_bh2_order3_12": (UNIPC, {"solver_order": 3}, 12, {}),
    "unipc_bh1_order3_sigma_min_12": (UNIPC, {"solver_order": 3, "solver_type": "bh1", **SIGMA_MIN}, 12, {}),
    "unipc_order1_10": (UNIPC, {"solver_order": 1}, 10, {}),
    "unipc_no_lower_order_final_sigma_min_20": (UNIPC, {"lower_order_final": False, **SIGMA_MIN}, 20, {}),
    "unipc_disable_corrector_10": (UNIPC, {"disable_corrector": [0, 3]}, 10, {}),
    "unipc_predict_eps_sigma_min_10": (UNIPC, {"predict_x0": False, **SIGMA_MIN}, 10, {}),
    "unipc_predict_eps_bh1_order3_sigma_min_10": (UNIPC, {"predict_x0": False, "solver_type": "bh1", "solver_order": 3, **SIGMA_MIN}, 10, {}),
    "unipc_karras_10": (UNIPC, {"use_karras_sigmas": True}, 10, {}),
    "unipc_leading_10": (UNIPC, {"timestep_spacing": "leading", "steps_offset": 1}, 10, {}),
    "unipc_trailing_10": (UNIPC, {"timestep_spacing": "trailing"}, 10, {}),
    "unipc_scaled_linear_15": (UNIPC, SCALED, 15, {}),
    "deis_10": (DEIS, {}, 10, {}),
    "deis_order1_10": (DEIS, {"solver_order": 1}, 10, {}),
    "deis_order3_12": (DEIS, {"solver_order": 3}, 12, {}),
    "deis_order3_20": (DEIS, {"solver_order": 3}, 20, {}),
    "deis_no_lower_order_final_10": (DEIS, {"lower_order_final": False}, 10, {}),
    "deis_karras_10": (DEIS, {"use_karras_sigmas": True}, 10, {}),
    "deis_leading_10": (DEIS, {"timestep_spacing": "leading", "steps_offset": 1}, 10, {}),
    "deis_trailing_10": (DEIS, {"timestep_spacing": "trailing"}, 10, {}),
    "deis_scaled_linear_order3_15": (DEIS, {"solver_order": 3, **SCALED}, 15, {}),
    "deis_renamed_options_10": (DEIS, {"algorithm_type": "dpmsolver++", "solver_type": "midpoint"}, 10,
                                {"as_given": ("algorithm_type", "solver_type")}),
}


def main():
    write_cases(CASES, run_case, 3000, "make_multistep_cases.py", __doc__)


if __name__ == "__main__":
    main()
