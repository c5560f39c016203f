"""Helpers shared by the generators of reference cases that run an official DiT or one of its
forks (make_fora_cases.py, make_early_exit_cases.py, make_l2c_cases.py, make_dit_pair.py)."""
import numpy as np
import torch


def randomize(model, skip=lambda name: name == "pos_embed"):
    """Random weights instead of DiT's zero init (adaLN and the final layer), which would hide
    most of the network, so that every parameter matters: matrices ~ N(0, 1/fan_in), vectors
    ~ N(0, 0.05²). Parameters whose name `skip` accepts stay as they are (by default DiT's
    fixed sin-cos `pos_embed`)."""
    with torch.no_grad():
        for name, w in model.named_parameters():
            if skip(name):
                continue
            fan_in = w[0].numel() if w.dim() > 1 else 1
            w.copy_(torch.randn_like(w) * (fan_in ** -0.5 if w.dim() > 1 else 0.05))


def arrays(d):
    """Tensors as contiguous numpy arrays for safetensors: integers as int64, the rest float32."""
    out = {}
    for k, v in d.items():
        v = v.detach().cpu().numpy()
        out[k] = np.ascontiguousarray(v.astype(np.int64) if v.dtype.kind in "iu" else v.astype(np.float32))
    return out
