"""Learning-to-Cache as the official code computes it: the parity cases of
`LearningToCacheTests` (Tests/TrainingTests).

`horseee/learning-to-cache` commit d6cc781, `DiT/`: a tiny DiT of `models/router_models.py`
with random weights (not the zero init) and random router logits (`Router`'s own randn), on
DiT's respaced schedule of `STEPS` steps (`diffusion/create_diffusion`).

- `train/*`: one `gaussian_diffusion.router_training_losses` call at the odd respaced index
  `R` (label dropout 0; the labels include the null class): the noisy input, the model output
  at `R`, the DDIM step's result, the complete model's output at `R − 1` (the target), the
  blended output, the loss terms, and the gradient of `mse + L1·l1_loss` with respect to every
  router's logits (only row `R − 1` is non-zero).
- `infer/*`: `models/dynamic_models.py`'s `DiT.forward` over a whole `STEPS`-step loop with
  the routers thresholded at `THRES` (`load_ranking`), on given inputs per step: the output
  of every step (full steps, and routed steps that reuse some layers).

Usage: .build/venv-ref/bin/pip install timm
       git clone https://github.com/horseee/learning-to-cache /tmp/l2c   (or the mirror's DiT/)
       .build/venv-ref/bin/python scripts/reference/make_l2c_cases.py --l2c /tmp/l2c/DiT \
           -o Tests/Fixtures/reference-extra/l2c.safetensors
"""
import argparse
import json
import sys

import torch
from safetensors.numpy import save_file

from cases_common import arrays, randomize

CONFIG = dict(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=3, num_heads=2, num_classes=4, learn_sigma=True)
STEPS, R, BATCH, L1, THRES = 6, 3, 3, 5e-3, 0.5


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--l2c", required=True, help="the official repository's DiT/ folder")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args()
    sys.path.insert(0, a.l2c)
    from diffusion import create_diffusion
    from models import dynamic_models, router_models

    torch.manual_seed(0)
    model = router_models.DiT(**CONFIG)
    # The routers keep their own init (`Router`'s randn logits, spread below).
    randomize(model, skip=lambda name: name == "pos_embed" or "routers" in name)
    diffusion = create_diffusion(str(STEPS))
    model.add_router(STEPS, diffusion.timestep_map)  # Router: torch.randn logits
    with torch.no_grad():
        for r in model.routers:  # spread them so that thresholds cut both ways
            r.prob.mul_(2)
    tensors = {}
    g = torch.Generator().manual_seed(1)
    B, C, S = BATCH, CONFIG["in_channels"], CONFIG["input_size"]

    # Training: one router_training_losses call, every model call recorded.
    model.train()
    x_start = torch.randn(B, C, S, S, generator=g)
    y = torch.tensor([1, CONFIG["num_classes"], 3])[:B]
    recorded = {}
    q_sample = diffusion.q_sample

    def q(x, t, noise=None):
        recorded["x_t"] = q_sample(x, t, noise=noise)
        return recorded["x_t"]

    diffusion.q_sample = q
    outputs = []
    hook = model.register_forward_hook(lambda m, i, o: outputs.append(o))
    ts = torch.full((B,), R, dtype=torch.long)
    losses = diffusion.router_training_losses(model, x_start, ts, dict(y=y, thres=None), dropout_prob=0.0)
    hook.remove()
    loss = losses["mse"].mean() + L1 * losses["l1_loss"].mean()
    model.zero_grad()
    loss.backward()
    first, target, (pred, _) = outputs
    # ddim_sample's x_next is the second call's input: recompute it as the code did.
    with torch.no_grad():
        model.reset()
        x_next = diffusion.ddim_sample(model, recorded["x_t"], ts, clip_denoised=False, model_kwargs=dict(y=y), eta=0.0)["sample"]
    model.reset()
    tensors.update({
        "train/x_start": x_start, "train/y": y, "train/x_t": recorded["x_t"], "train/first": first, "train/x_next": x_next,
        "train/target": target, "train/blended": pred, "train/mse": losses["mse"].mean().reshape(1),
        "train/l1": losses["l1_loss"].reshape(1), "train/loss": loss.reshape(1),
        "train/timesteps": torch.tensor([diffusion.timestep_map[R], diffusion.timestep_map[R - 1]]),
        "train/logits": torch.stack([r.prob.detach() for r in model.routers]),
        "train/logit_grad": torch.stack([r.prob.grad if r.prob.grad is not None else torch.zeros_like(r.prob) for r in model.routers]),
    })

    # Inference: dynamic_models.DiT with the same weights, ranking at THRES.
    dyn = dynamic_models.DiT(**CONFIG)
    dyn.load_state_dict({k: v for k, v in model.state_dict().items() if "routers" not in k})
    torch.save({"routers": model.routers.state_dict()}, "/tmp/l2c_routers.pt")
    dyn.load_ranking("/tmp/l2c_routers.pt", STEPS, diffusion.timestep_map, THRES)
    dyn.eval()
    dyn.reset(STEPS)
    xs = torch.randn(STEPS, B, C, S, S, generator=g)
    outs = []
    with torch.no_grad():
        for k in range(STEPS):
            t = torch.full((B,), diffusion.timestep_map[STEPS - 1 - k], dtype=torch.long)
            outs.append(dyn(xs[k], t, y))
    tensors.update({"infer/x": xs, "infer/y": y, "infer/out": torch.stack(outs),
                    "infer/timesteps": torch.tensor(diffusion.timestep_map[::-1])})

    weights = {f"weights/{k}": v for k, v in model.state_dict().items() if "routers" not in k}
    meta = {"config": json.dumps(CONFIG), "case": json.dumps({"steps": STEPS, "r": R, "l1": L1, "threshold": THRES}),
            "generator": json.dumps({"script": "scripts/reference/make_l2c_cases.py", "learning-to-cache": "d6cc781",
                                     "torch": torch.__version__})}
    save_file({**arrays(weights), **arrays(tensors)}, a.out, metadata=meta)
    print(f"{len(tensors)} tensors, {len(weights)} weights → {a.out}")


if __name__ == "__main__":
    main()
