"""FORA as the official code computes it: the parity cases of `FORAParityTests`
(Tests/DiffusionTests).

`prathebaselva/FORA` commit 29f4cf9 (the commit `FORAPolicy`'s doc comment cites), `src/`:
its DiT (`models.py`, `DiTBlock.forward` in mode `boost_infer_static`) with random weights
(not the zero init, so every parameter matters), sampled by its own `p_sample_loop`
(`diffusion/gaussian_diffusion.py`, which hands each block the respaced index `i` counting
down) on DiT's respaced schedule, as its `sample.py` samples: the batch doubled with the null
class, `forward_with_cfg` at `scale`, `clip_denoised=False`; and once unguided (the model's own
`forward`). The noise `p_sample` draws at each step is recorded (`torch.randn_like`), the
conditional half only: `forward_with_cfg` evaluates both halves at the conditional image, so
the other half never reaches the result.

Per case K (`fora<interval>_cfg_<steps>` or `fora<interval>_<steps>`): `K/xT`, `K/y`,
`K/noise [steps, B, C, H, W]` (drawn at every step, the last multiplied by 0),
`K/trajectory [steps, B, C, H, W]` (the sample after each step), `K/timesteps` (original t,
high to low), `K/scale [1]` (guided cases), `K/computed [steps]` (1 where the blocks ran,
0 where they reused the cache — what the official schedule decided); metadata `K` =
`{"interval", "steps", "guided"}`. The weights as `weights/<official name>`, metadata
`config` (the tiny DiT), `generator` (script, commit, versions).

CI never runs this: it only reads the committed output. To regenerate:
    .build/venv-ref/bin/pip install timm
    git clone https://github.com/prathebaselva/FORA /tmp/fora && git -C /tmp/fora checkout 29f4cf9
    .build/venv-ref/bin/python scripts/reference/make_fora_cases.py --fora /tmp/fora/src \
        -o Tests/Fixtures/reference-extra/fora.safetensors
"""
import argparse
import json
import sys

import torch
from safetensors.numpy import save_file

from cases_common import arrays, randomize

# 4 channels so that forward_with_cfg's first 3 (guided) are not every eps channel; learned
# sigma, as DiT's checkpoints and ours.
CONFIG = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=3, num_heads=2, num_classes=4, learn_sigma=True)
# (interval, steps, guided): 2 and 3 over 10 steps (3 divides 9, the first index, so the
# first step is a multiple too), 4 over 10 (the forced first step at i = 9 is not a
# multiple of 4), and one unguided loop.
CASES = [(2, 10, True), (3, 10, True), (4, 10, True), (3, 10, False)]
BATCH, SCALE = 3, 2.5


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fora", required=True, help="the official repository's src/ folder")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args()
    sys.path.insert(0, a.fora)
    import timm
    from diffusion import create_diffusion, gaussian_diffusion
    from models import DiT

    torch.manual_seed(0)
    model = DiT(**CONFIG)
    randomize(model)
    model.eval()
    model.cache_attn, model.cache_mlp = [], []
    g = torch.Generator().manual_seed(1)
    B, C, S = BATCH, CONFIG["in_channels"], CONFIG["input_size"]
    tensors, meta = {}, {}

    # Which steps ran the blocks: DiTBlock.forward caches inside `should_cache` only; a
    # forward hook on block 0's attention sees exactly those steps.
    calls = []
    model.blocks[0].attn.register_forward_hook(lambda m, i, o: calls.append(1))

    for interval, steps, guided in CASES:
        key = f"fora{interval}_cfg_{steps}" if guided else f"fora{interval}_{steps}"
        diffusion = create_diffusion(str(steps))
        model.num_steps, model.cache_threshold = steps, str(interval)
        xT = torch.randn(B, C, S, S, generator=g)
        y = torch.tensor([0, 3, 1])[:B]
        noises, computed = [], []
        randn_like = torch.randn_like

        def recording(x, **kw):
            n = torch.randn(x.shape, generator=g, dtype=x.dtype)
            noises.append(n[:B].clone())  # the conditional half (all of it unguided)
            return n

        gaussian_diffusion.th.randn_like = recording
        try:
            if guided:
                z = torch.cat([xT, xT], 0)
                kwargs = dict(y=torch.cat([y, torch.full((B,), CONFIG["num_classes"])]), cfg_scale=SCALE)
                fn = model.forward_with_cfg
            else:
                z, kwargs, fn = xT.clone(), dict(y=y), model.forward
            trajectory, seen = [], 0
            for out in diffusion.p_sample_loop_progressive(fn, z.shape, z, clip_denoised=False, model_kwargs=kwargs,
                                                           device="cpu", save_cache="boost_infer_static",
                                                           cache_subtype="default"):
                trajectory.append(out["sample"][:B].clone())
                computed.append(1 if len(calls) > seen else 0)  # one forward per step, guided or not
                seen = len(calls)
        finally:
            gaussian_diffusion.th.randn_like = randn_like
        calls.clear()
        # The schedule as the doc comment of FORAPolicy states it: the first index and every
        # multiple of the interval (i counting down); a mismatch means the statement is wrong.
        stated = [1 if (i == steps - 1 or i % interval == 0) else 0 for i in range(steps)[::-1]]
        assert computed == stated, (key, computed, stated)
        tensors[f"{key}/xT"] = xT
        tensors[f"{key}/y"] = y
        tensors[f"{key}/noise"] = torch.stack(noises)
        tensors[f"{key}/trajectory"] = torch.stack(trajectory)
        tensors[f"{key}/timesteps"] = torch.tensor(diffusion.timestep_map[::-1])
        tensors[f"{key}/computed"] = torch.tensor(computed)
        if guided:
            tensors[f"{key}/scale"] = torch.tensor([SCALE])
        meta[key] = json.dumps({"interval": interval, "steps": steps, "guided": guided})
        print(f"{key}: computed at steps {[k for k, d in enumerate(computed) if d]}")

    weights = {f"weights/{k}": v for k, v in model.state_dict().items()}
    meta.update({"config": json.dumps(CONFIG),
                 "generator": json.dumps({"script": "scripts/reference/make_fora_cases.py", "fora": "29f4cf9",
                                          "torch": torch.__version__, "timm": timm.__version__})})
    save_file({**arrays(weights), **arrays(tensors)}, a.out, metadata=meta)
    print(f"{len(tensors)} tensors, {len(weights)} weights → {a.out}")


if __name__ == "__main__":
    main()
