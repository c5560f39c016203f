"""Check scripts/dit_pytorch.py against the reference vectors made with facebookresearch/DiT.

For every `dit_*.weights.safetensors` in the reference directory (with its `.io.safetensors`):
run `forward(x, t, y)` and `forward_with_cfg(cfg/x, cfg/t, cfg/y, cfg/scale)`, and the
intermediate activations (`act/*`) through forward hooks, and print max|a-b| / max|b| for
each. Exit status 1 if any relative error exceeds --tol.

Needs PyTorch, numpy and safetensors:
    /work/.venv-torch/bin/python scripts/tests/check_dit_pytorch.py [REFERENCE_DIR]
REFERENCE_DIR defaults to $DYDIT_REFERENCE_DIR, else Tests/Fixtures/reference in the repo.
"""

import argparse
import glob
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dit_pytorch import load_dit  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def check_one(weights_path, tol):
    io_path = weights_path.replace(".weights.safetensors", ".io.safetensors")
    model, config = load_dit(weights_path)
    io = load_file(io_path)
    name = os.path.basename(weights_path).split(".")[0]
    results = []

    acts = {}

    def keep(key):
        def hook(_module, _inputs, output):
            acts[key] = output.detach().clone()
        return hook

    hooks = [model.x_embedder.register_forward_hook(keep("act/x_embedder")),
             model.t_embedder.register_forward_hook(keep("act/t_embedder")),
             model.y_embedder.register_forward_hook(keep("act/y_embedder")),
             model.final_layer.register_forward_hook(keep("act/final_layer"))]
    hooks += [b.register_forward_hook(keep(f"act/block{i}")) for i, b in enumerate(model.blocks)]

    with torch.inference_mode():
        out = model(io["x"], io["t"], io["y"])
        for h in hooks:
            h.remove()
        results.append(("out", rel_err(out, io["out"])))
        for key in sorted(acts):
            if key in io:
                results.append((key, rel_err(acts[key], io[key])))
        if "cfg/out" in io:
            cfg_out = model.forward_with_cfg(io["cfg/x"], io["cfg/t"], io["cfg/y"], io["cfg/scale"].item())
            results.append(("cfg/out", rel_err(cfg_out, io["cfg/out"])))

    ok = True
    for key, err in results:
        flag = "ok" if err <= tol else "FAIL"
        ok &= err <= tol
        print(f"{name:24s} {key:18s} max|a-b|/max|b| = {err:.3e}  {flag}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference_dir", nargs="?",
                        default=os.environ.get("DYDIT_REFERENCE_DIR",
                                               os.path.join(REPO_ROOT, "Tests", "Fixtures", "reference")),
                        help="directory with dit_*.weights.safetensors and dit_*.io.safetensors")
    parser.add_argument("--tol", type=float, default=1e-5, help="largest relative error accepted (default 1e-5)")
    args = parser.parse_args()

    paths = sorted(glob.glob(os.path.join(args.reference_dir, "dit_*.weights.safetensors")))
    if not paths:
        sys.exit(f"error: no dit_*.weights.safetensors in {args.reference_dir}; "
                 "pass the directory or set DYDIT_REFERENCE_DIR")
    torch.set_num_threads(1)
    ok = all([check_one(p, args.tol) for p in paths])
    print("all within tolerance" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
