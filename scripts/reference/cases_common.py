"""Helpers shared by the generators of reference cases that run an official DiT fork
(make_fora_cases.py, make_early_exit_cases.py)."""
import numpy as np
import torch


def randomize(model, skip=("pos_embed",)):
    """Random weights instead of DiT's zero init, so that every parameter matters: matrices
    ~ N(0, 1/fan_in), vectors ~ N(0, 0.05²); `skip` names stay as they are."""
    with torch.no_grad():
        for name, w in model.named_parameters():
            if name in skip:
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
