"""Early exit (ASE) as the official code computes it: the parity cases of `EarlyExitParityTests`
(Tests/DiffusionTests).

`taehong-moon/ee-diffusion` commit dbe38d3, `DiT/`: its DiT (`models.py`) with the dropping
schedule of `drop_scheduler.py` — ten timestep intervals of 100, `exit_nums[i]` blocks run in
interval i — and random weights (not the zero init). The official file has one schedule
("demo", for 28 blocks); this script runs that file's code with the demo list replaced by
`EXITS` (a 3-block model), nothing else changed.

- `train/*` (`is_sampling=False`, the training forward): a batch whose timesteps fall in
  different intervals; every block runs and each sample takes the output of its own exit
  block. `train/x, t, y, out`.
- `<sampler>_cfg_<steps>/*` (`is_sampling=True`: only the first `exit_nums` blocks run, chosen
  by the batch's first timestep): DiT's own `ddim_sample_loop` (η = 0) and `p_sample_loop`
  on a respaced schedule, guided as DiT's `sample.py` guides (`forward_with_cfg`),
  `clip_denoised=False`; `xT`, `y`, `scale`, `noise` (the conditional half of every step's
  draw; DDIM draws too, and multiplies it by σ = 0 at η = 0), `trajectory`, `timesteps`.

Weights as `weights/<official name>`; metadata `config`, `exits` (the 10 exit counts, i.e.
boundaries 100…900), `generator`.

CI never runs this: it only reads the committed output. To regenerate:
    .build/venv-ref/bin/pip install timm
    git clone https://github.com/taehong-moon/ee-diffusion /tmp/ee && git -C /tmp/ee checkout dbe38d3
    .build/venv-ref/bin/python scripts/reference/make_early_exit_cases.py --ase /tmp/ee/DiT \
        -o Tests/Fixtures/reference-extra/early_exit.safetensors
"""
import argparse
import inspect
import json
import sys

import torch
from safetensors.numpy import save_file

from cases_common import arrays, randomize

CONFIG = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=3, num_heads=2, num_classes=4, learn_sigma=True)
# Blocks run in [0, 100), [100, 200), …, [900, 1000): all three near the data, one when noisiest.
EXITS = [3, 3, 3, 2, 2, 2, 2, 1, 1, 1]
OFFICIAL_DEMO = "[28, 28, 24, 24, 20, 20, 16, 16, 12, 12]"
BATCH, SCALE, STEPS = 3, 2.5, 10


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ase", required=True, help="the official repository's DiT/ folder")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args()
    sys.path.insert(0, a.ase)
    import timm
    import drop_scheduler as ds
    # The official schedule code with the demo's exit counts replaced by EXITS (only that).
    source = inspect.getsource(ds)
    assert source.count(OFFICIAL_DEMO) == 1, "drop_scheduler.py is not the expected version"
    exec(compile(source.replace(OFFICIAL_DEMO, repr(EXITS)), ds.__file__, "exec"), ds.__dict__)
    import models
    from diffusion import create_diffusion, gaussian_diffusion

    torch.manual_seed(0)
    train_model = models.DiT(**CONFIG, drop_schedule="demo", is_sampling=False)
    randomize(train_model)
    train_model.eval()  # label dropout off; is_sampling=False keeps the training forward
    sample_model = models.DiT(**CONFIG, drop_schedule="demo", is_sampling=True)
    sample_model.load_state_dict(train_model.state_dict())
    sample_model.eval()
    g = torch.Generator().manual_seed(1)
    B, C, S = BATCH, CONFIG["in_channels"], CONFIG["input_size"]
    tensors = {}

    # The training forward: timesteps in intervals with 3, 2 and 1 blocks (and a boundary).
    x = torch.randn(4, C, S, S, generator=g)
    t = torch.tensor([42, 300, 700, 999])
    y = torch.tensor([0, 1, 2, CONFIG["num_classes"]])
    with torch.no_grad():
        tensors.update({"train/x": x, "train/t": t, "train/y": y, "train/out": train_model(x, t, y)})

    for kind in ["ddim0", "ddpm"]:
        key = f"{kind}_cfg_{STEPS}"
        diffusion = create_diffusion(str(STEPS))
        xT = torch.randn(B, C, S, S, generator=g)
        labels = torch.tensor([0, 3, 1])[:B]
        z = torch.cat([xT, xT], 0)
        kwargs = dict(y=torch.cat([labels, torch.full((B,), CONFIG["num_classes"])]), cfg_scale=SCALE)
        noises = []
        randn_like = torch.randn_like

        def recording(v, **kw):
            n = torch.randn(v.shape, generator=g, dtype=v.dtype)
            noises.append(n[:B].clone())
            return n

        gaussian_diffusion.th.randn_like = recording
        try:
            if kind == "ddim0":
                loop = diffusion.ddim_sample_loop_progressive(sample_model.forward_with_cfg, z.shape, z, clip_denoised=False,
                                                              model_kwargs=kwargs, device="cpu", eta=0.0)
            else:
                loop = diffusion.p_sample_loop_progressive(sample_model.forward_with_cfg, z.shape, z, clip_denoised=False,
                                                           model_kwargs=kwargs, device="cpu")
            trajectory = [out["sample"][:B].clone() for out in loop]
        finally:
            gaussian_diffusion.th.randn_like = randn_like
        tensors.update({f"{key}/xT": xT, f"{key}/y": labels, f"{key}/scale": torch.tensor([SCALE]),
                        f"{key}/noise": torch.stack(noises), f"{key}/trajectory": torch.stack(trajectory),
                        f"{key}/timesteps": torch.tensor(diffusion.timestep_map[::-1])})
        print(f"{key}: timesteps {diffusion.timestep_map[::-1]}")

    weights = {f"weights/{k}": v for k, v in train_model.state_dict().items()}
    meta = {"config": json.dumps(CONFIG), "exits": json.dumps(EXITS),
            "generator": json.dumps({"script": "scripts/reference/make_early_exit_cases.py", "ee-diffusion": "dbe38d3",
                                     "torch": torch.__version__, "timm": timm.__version__})}
    save_file({**arrays(weights), **arrays(tensors)}, a.out, metadata=meta)
    print(f"{len(tensors)} tensors, {len(weights)} weights → {a.out}")


if __name__ == "__main__":
    main()
