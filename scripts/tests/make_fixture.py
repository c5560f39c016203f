"""Make the checkpoint fixtures in scripts/tests/fixtures/ (run once; the outputs are committed).

Each fixture is a real `torch.save` zip checkpoint laid out like the ones the official DiT
and DyDiT training scripts write, built from a reference weights file so the converter's
output can be compared bit for bit with that file:

  dit_tiny_p2_ls.pt        {"model": weights*0.5, "ema": weights, "opt": AdamW state_dict,
                            "args": argparse.Namespace(...)}   from dit_tiny_p2_ls.weights
  dydit_tiny_p2.pt         the same from dydit_tiny_p2.weights, every state-dict key
                           prefixed "module." (as a DDP-wrapped model's state_dict())
  dit_tiny_p4_gray_bare.pt the bare state dict alone, like the released DiT-XL-2-256x256.pt,
                           from dit_tiny_p4_gray.weights (learn_sigma false, 1 channel)

The "ema" state dicts store a few tensors the way real checkpoints can: a transposed
(non-contiguous) view, and two tensors sharing one storage at different offsets (a flat
parameter buffer), so the converter's offset/stride handling is exercised.

Needs PyTorch and safetensors:
    /work/.venv-torch/bin/python scripts/tests/make_fixture.py [REFERENCE_DIR]
"""

import argparse
import collections
import os

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))


def as_state_dict(tensors):
    """An OrderedDict carrying `_metadata` the way nn.Module.state_dict() returns it."""
    sd = collections.OrderedDict(tensors)
    modules = {""}
    for key in tensors:
        parts = key.split(".")[:-1]
        modules.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    sd._metadata = collections.OrderedDict((m, {"version": 1}) for m in sorted(modules))
    return sd


def with_views(weights):
    """Same values, but some tensors stored as views: non-contiguous and storage-sharing."""
    out = dict(weights)
    # Transposed view: strides (1, rows), storage holds the transpose.
    w = weights["blocks.0.attn.proj.weight"]
    out["blocks.0.attn.proj.weight"] = w.t().contiguous().t()
    # One flat buffer holding qkv.weight then qkv.bias: the bias has a non-zero storage offset.
    qw, qb = weights["blocks.0.attn.qkv.weight"], weights["blocks.0.attn.qkv.bias"]
    flat = torch.cat([qw.reshape(-1), qb])
    out["blocks.0.attn.qkv.weight"] = flat[: qw.numel()].view(qw.shape)
    out["blocks.0.attn.qkv.bias"] = flat[qw.numel():]
    # A slice with both an offset and a row stride larger than its width.
    w = weights["final_layer.linear.weight"]
    padded = torch.zeros(w.shape[0] + 2, w.shape[1] + 3)
    padded[1:-1, 2:-1] = w
    out["final_layer.linear.weight"] = padded[1:-1, 2:-1]
    for k in out:
        assert torch.equal(out[k], weights[k]), k
    return out


def small_adamw_state(weights):
    """A realistic AdamW state_dict: one step over two parameters (as if fine-tuning them)."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(weights["y_embedder.embedding_table.weight"].clone()),
              torch.nn.Parameter(weights["final_layer.linear.bias"].clone())]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0)
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    return opt.state_dict()


def training_checkpoint(weights, prefix=""):
    ema = with_views(weights)
    return {
        "model": as_state_dict({prefix + k: v * 0.5 for k, v in weights.items()}),
        "ema": as_state_dict({prefix + k: v for k, v in ema.items()}),
        "opt": small_adamw_state(weights),
        "args": argparse.Namespace(model="DiT-S/2", image_size=256),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference_dir", nargs="?",
                        default=os.environ.get("DYDIT_REFERENCE_DIR",
                                               os.path.join(REPO_ROOT, "Tests", "Fixtures", "reference")))
    args = parser.parse_args()
    out_dir = os.path.join(HERE, "fixtures")
    os.makedirs(out_dir, exist_ok=True)

    def ref(name):
        return load_file(os.path.join(args.reference_dir, f"{name}.weights.safetensors"))

    jobs = {
        "dit_tiny_p2_ls.pt": training_checkpoint(ref("dit_tiny_p2_ls")),
        "dydit_tiny_p2.pt": training_checkpoint(ref("dydit_tiny_p2"), prefix="module."),
        "dit_tiny_p4_gray_bare.pt": as_state_dict(ref("dit_tiny_p4_gray")),
    }
    for name, obj in jobs.items():
        path = os.path.join(out_dir, name)
        torch.save(obj, path)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
