#!/usr/bin/env python3
"""A DiT reference pair (`NAME.weights.safetensors` + `NAME.io.safetensors`) of any size,
made by facebookresearch/DiT's own `models.py` and `diffusion/`, in the format of
Tests/Fixtures/reference/README.md: random weights (not the zero init), the eval-mode forward
with its activations, `forward_with_cfg`, one hybrid-loss training step with every gradient,
and the DDPM / DDIM (η 0 and 0.5) sampling loops on a 10-step respaced schedule.

It exists to check that the tests are data-driven: point DYDIT_REFERENCE_DIR at a folder of
such pairs (other names, other sizes) and every reference test must run them. Nothing made
by it is committed; CI never runs it. Needs torch, timm (DiT's models.py imports it), numpy,
safetensors:
    .build/venv-ref/bin/pip install torch timm numpy safetensors
    git clone https://github.com/facebookresearch/DiT /tmp/DiT
    .build/venv-ref/bin/python scripts/reference/make_dit_pair.py --dit /tmp/DiT -o /tmp/ref3 --name other_dit \
        --input-size 12 --patch-size 2 --in-channels 3 --hidden-size 48 --depth 3 --num-heads 3 --num-classes 5
"""
import argparse
import json
import os
import sys

import torch
from safetensors.numpy import save_file

from cases_common import arrays, randomize


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dit", required=True, help="a checkout of facebookresearch/DiT")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--name", required=True)
    for key, default in [("input-size", 12), ("patch-size", 2), ("in-channels", 3), ("hidden-size", 48), ("depth", 3),
                         ("num-heads", 3), ("num-classes", 5), ("batch", 3), ("seed", 0)]:
        p.add_argument(f"--{key}", type=int, default=default)
    p.add_argument("--no-learn-sigma", action="store_true")
    a = p.parse_args()
    sys.path.insert(0, a.dit)
    from diffusion import create_diffusion
    from models import DiT

    torch.manual_seed(a.seed)
    config = dict(input_size=a.input_size, patch_size=a.patch_size, in_channels=a.in_channels, hidden_size=a.hidden_size,
                  depth=a.depth, num_heads=a.num_heads, num_classes=a.num_classes, learn_sigma=not a.no_learn_sigma)
    model = DiT(**config)
    randomize(model)
    model.eval()
    B, C, S = a.batch, a.in_channels, a.input_size
    g = torch.Generator().manual_seed(a.seed + 1)
    io = {}
    x = torch.randn(B, C, S, S, generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    y = torch.randint(0, a.num_classes + 1, (B,), generator=g)  # may include the null class
    acts = {}
    hooks = [model.x_embedder.register_forward_hook(lambda m, i, o: acts.__setitem__("act/x_embedder", o)),
             model.t_embedder.register_forward_hook(lambda m, i, o: acts.__setitem__("act/t_embedder", o)),
             model.y_embedder.register_forward_hook(lambda m, i, o: acts.__setitem__("act/y_embedder", o)),
             model.final_layer.register_forward_hook(lambda m, i, o: acts.__setitem__("act/final_layer", o))]
    for i, block in enumerate(model.blocks):
        hooks.append(block.register_forward_hook(lambda m, inp, o, i=i: acts.__setitem__(f"act/block{i}", o)))
    with torch.no_grad():
        io["out"] = model(x, t, y)
    for h in hooks:
        h.remove()
    io.update(x=x, t=t, y=y, **acts)
    # Classifier-free guidance: [cond half; uncond half] with the same x and t.
    half = max(1, B // 2)
    cx, ct = torch.cat([x[:half], x[:half]]), torch.cat([t[:half], t[:half]])
    cy = torch.cat([y[:half].clamp(max=a.num_classes - 1), torch.full((half,), a.num_classes)])
    scale = 4.0
    with torch.no_grad():
        io["cfg/out"] = model.forward_with_cfg(cx, ct, cy, scale)
    io.update({"cfg/x": cx, "cfg/t": ct, "cfg/y": cy, "cfg/scale": torch.tensor([scale])})
    # One training step of the hybrid loss, label dropout off.
    model.train()
    model.y_embedder.dropout_prob = 0
    diffusion = create_diffusion(timestep_respacing="", learn_sigma=config["learn_sigma"])
    x0 = torch.randn(B, C, S, S, generator=g)
    tt = torch.randint(0, 1000, (B,), generator=g)
    tt[0] = 0  # the discretized-Gaussian decoder term
    noise = torch.randn(B, C, S, S, generator=g)
    yy = torch.randint(0, a.num_classes, (B,), generator=g)
    losses = diffusion.training_losses(model, x0, tt, model_kwargs=dict(y=yy), noise=noise)
    loss = losses["loss"].mean()
    model.zero_grad()
    loss.backward()
    io.update({"train/x0": x0, "train/t": tt, "train/noise": noise, "train/y": yy, "train/loss": loss.reshape(1),
               "train/loss_per_sample": losses["loss"], "train/mse": losses["mse"]})
    if "vb" in losses:
        io["train/vb"] = losses["vb"]
    for name, w in model.named_parameters():
        if w.grad is not None:
            io[f"grad/{name}"] = w.grad
    model.eval()
    # The samplers on a 10-step schedule, noise recorded as DiT draws it.
    sampling = create_diffusion("10", learn_sigma=config["learn_sigma"])
    ys = yy.clone()
    for kind, eta in [("ddpm", None), ("ddim0", 0.0), ("ddim05", 0.5)]:
        xT = torch.randn(B, C, S, S, generator=g)
        draws, trajectory = [], []
        original = torch.randn_like

        def recorded(z, *args, **kwargs):
            r = torch.randn(z.shape, generator=g, dtype=z.dtype)
            draws.append(r.clone())
            return r

        torch.randn_like = recorded
        try:
            kwargs = dict(noise=xT.clone(), clip_denoised=False, model_kwargs=dict(y=ys), device="cpu")
            loop = (sampling.p_sample_loop_progressive(model, xT.shape, **kwargs) if eta is None
                    else sampling.ddim_sample_loop_progressive(model, xT.shape, eta=eta, **kwargs))
            with torch.no_grad():
                for out in loop:
                    trajectory.append(out["sample"].clone())
        finally:
            torch.randn_like = original
        key = f"sample/{kind}_10"
        io.update({f"{key}/xT": xT, f"{key}/noise": torch.stack(draws), f"{key}/trajectory": torch.stack(trajectory),
                   f"{key}/timesteps": torch.tensor(sampling.timestep_map[::-1]), f"{key}/y": ys})

    os.makedirs(a.out, exist_ok=True)
    meta = {"config": json.dumps({"name": a.name, **config}),
            "source": "scripts/reference/make_dit_pair.py: facebookresearch/DiT models.py, random weights"}
    save_file(arrays(dict(model.state_dict())), os.path.join(a.out, f"{a.name}.weights.safetensors"), metadata=meta)
    save_file(arrays(io), os.path.join(a.out, f"{a.name}.io.safetensors"), metadata=meta)
    print(f"{a.name}: {config}, {len(io)} io tensors → {a.out}")


if __name__ == "__main__":
    main()
