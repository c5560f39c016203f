#!/usr/bin/env python3
"""Baseline timings for DyDiT.swift's benchmarks: PyTorch DiT forward passes and training
steps, and numpy GEMMs.

    python scripts/bench_pytorch.py forward --model DiT-S/2 --input-size 32 --in-channels 4 \\
        --batch 2 --threads 2 --warmup 3 --iters 20 --json
    python scripts/bench_pytorch.py train --model DiT-S/4 --input-size 32 --in-channels 1 \\
        --num-classes 10 --batch 16 --threads 2 --warmup 3 --iters 20 --json
    python3 scripts/bench_pytorch.py gemm --m 256 --n 1152 --k 1152 --threads 1 --json

`forward` and `train` need PyTorch (scripts/dit_pytorch.py is the model); `gemm` needs only
numpy and never imports torch, so it runs with the system python3. Each prints one JSON
object with --json, a readable line otherwise.

`train` times one optimiser step as facebookresearch/DiT's train.py takes it: DiT's hybrid
loss (GaussianDiffusion.training_losses: MSE on eps + the VLB term for the learned range of
the variance), backward, AdamW (lr 1e-4, no weight decay) and the EMA update.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

# DiT's table: size -> (depth, hidden_size, num_heads); the patch size comes from the name.
DIT_SIZES = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}
FREQ_DIM = 256  # TimestepEmbedder's frequency_embedding_size
NUM_TIMESTEPS = 1000  # DiT's diffusion steps in training


def parse_model(name):
    """'DiT-XL/2' -> (depth, hidden, heads, patch), or None if the name is not in DiT's table."""
    size, _, patch = name.removeprefix("DiT-").partition("/")
    if not name.startswith("DiT-") or size not in DIT_SIZES or patch not in ("2", "4", "8"):
        return None
    return DIT_SIZES[size] + (int(patch),)


def dit_macs(depth, hidden, patch, input_size, in_channels, learn_sigma, mlp_ratio=4):
    """Multiply-accumulates of one image's forward pass (METHOD.md section 5, full model)."""
    D, p, C = hidden, patch, in_channels
    N = (input_size // p) ** 2
    out_c = 2 * C if learn_sigma else C
    attn = N * D * 3 * D + N * D * D + 2 * N * N * D  # qkv, proj, q·kᵀ and softmax·v
    mlp = 2 * N * D * int(mlp_ratio * D)
    ada = D * 6 * D  # per block, on the conditioning vector
    patch_embed = N * (C * p * p) * D
    t_embed = FREQ_DIM * D + D * D  # y embedding is a table lookup: no MACs
    final = D * 2 * D + N * D * (p * p * out_c)
    return depth * (attn + mlp + ada) + patch_embed + t_embed + final


def sample_times(fn, warmup, iters):
    """Milliseconds of each of `iters` calls of fn, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def time_calls(fn, warmup, iters):
    times = sample_times(fn, warmup, iters)
    return statistics.median(times), min(times)


def build_dit(args, learn_sigma):
    """Sets the thread count and seed 0, then builds the DiT of --model (DiT's own init)."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from dit_pytorch import DiT

    depth, hidden, heads, patch = parse_model(args.model)
    if args.input_size % patch:
        sys.exit(f"error: --input-size {args.input_size} is not a multiple of the patch size {patch}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return DiT(input_size=args.input_size, patch_size=patch, in_channels=args.in_channels, hidden_size=hidden,
               depth=depth, num_heads=heads, num_classes=args.num_classes, learn_sigma=learn_sigma)


def forward_case(args):
    """The model and inputs every forward benchmark times: the DiT of --model in eval mode with
    random weights (seed 0, so every process gets the same ones), and (x, t, y) for --batch."""
    import torch

    model = build_dit(args, args.learn_sigma).eval()
    # DiT's init zeroes the adaLN and output layers; random weights give a realistic, non-trivial pass.
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    x = torch.randn(args.batch, args.in_channels, args.input_size, args.input_size)
    t = torch.randint(0, 1000, (args.batch,))
    y = torch.randint(0, args.num_classes, (args.batch,))
    return model, (x, t, y)


def cmd_forward(args):
    import torch

    depth, hidden, heads, patch = parse_model(args.model)
    model, (x, t, y) = forward_case(args)

    with torch.inference_mode():
        ms, ms_min = time_calls(lambda: model(x, t, y), args.warmup, args.iters)
    gmacs = dit_macs(depth, hidden, patch, args.input_size, args.in_channels, args.learn_sigma) / 1e9
    result = {"ms": ms, "ms_min": ms_min, "gmacs": gmacs, "torch": torch.__version__, "threads": args.threads,
              "model": args.model, "batch": args.batch, "input_size": args.input_size,
              "in_channels": args.in_channels}
    if args.json:
        print(json.dumps(result))
    else:
        rate = 2 * gmacs * args.batch / (ms / 1e3)
        print(f"{args.model} {args.input_size}x{args.input_size}x{args.in_channels} batch {args.batch}, "
              f"{args.threads} threads, torch {torch.__version__}: median {ms:.2f} ms (min {ms_min:.2f}), "
              f"{gmacs:.3f} GMACs/image, {rate:.1f} GFLOP/s")


def diffusion_tables(num_timesteps=1000):
    """DiT's GaussianDiffusion arrays for the linear schedule, float64 as DiT keeps them."""
    import numpy as np
    import torch

    scale = 1000 / num_timesteps
    betas = np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    tables = {
        "sqrt_ac": np.sqrt(ac), "sqrt_1m_ac": np.sqrt(1.0 - ac),  # q(x_t | x_0)
        "sqrt_recip_ac": np.sqrt(1.0 / ac), "sqrt_recipm1_ac": np.sqrt(1.0 / ac - 1),  # x_0 from eps
        "coef1": betas * np.sqrt(ac_prev) / (1.0 - ac), "coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
        "post_log_var": np.log(np.append(post_var[1], post_var[1:])),  # clipped at t = 0
        "log_betas": np.log(betas),
    }
    return {k: torch.from_numpy(v) for k, v in tables.items()}


def hybrid_loss(model, x0, t, y, noise, tab):
    """DiT's GaussianDiffusion.training_losses(...)["loss"].mean() for LossType.MSE,
    ModelMeanType.EPSILON, ModelVarType.LEARNED_RANGE: per image mse(eps) + vb in bits."""
    import torch

    B, C = x0.shape[:2]
    dims = tuple(range(1, x0.dim()))  # mean_flat
    at = lambda name: tab[name][t].float().view(B, *([1] * (x0.dim() - 1)))  # _extract_into_tensor
    x_t = at("sqrt_ac") * x0 + at("sqrt_1m_ac") * noise
    eps, v = model(x_t, t, y).split(C, dim=1)
    mse = ((noise - eps) ** 2).mean(dim=dims)
    # vb: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)); the mean comes from eps.detach(), so
    # only the variance learns from it.
    true_mean = at("coef1") * x0 + at("coef2") * x_t
    true_log_var = at("post_log_var")
    pred_x0 = at("sqrt_recip_ac") * x_t - at("sqrt_recipm1_ac") * eps.detach()
    mean = at("coef1") * pred_x0 + at("coef2") * x_t
    frac = (v + 1) / 2  # v in [-1, 1] spans [posterior log variance, log beta]
    log_var = frac * at("log_betas") + (1 - frac) * true_log_var
    kl = 0.5 * (-1.0 + log_var - true_log_var + torch.exp(true_log_var - log_var)
                + (true_mean - mean) ** 2 * torch.exp(-log_var))
    # t == 0: the discretized Gaussian decoder NLL of x_0 (8-bit bins on [-1, 1]).
    cdf = lambda z: 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    inv_std = torch.exp(-0.5 * log_var)
    cdf_plus = cdf(inv_std * (x0 - mean + 1.0 / 255.0))
    cdf_min = cdf(inv_std * (x0 - mean - 1.0 / 255.0))
    log_probs = torch.where(x0 < -0.999, cdf_plus.clamp(min=1e-12).log(),
                            torch.where(x0 > 0.999, (1.0 - cdf_min).clamp(min=1e-12).log(),
                                        (cdf_plus - cdf_min).clamp(min=1e-12).log()))
    vb = torch.where(t == 0, -log_probs.mean(dim=dims), kl.mean(dim=dims)) / math.log(2.0)
    return (mse + vb).mean()


def update_ema(ema_model, model, decay=0.9999):
    """DiT's update_ema: ema = decay * ema + (1 - decay) * p over named_parameters."""
    import torch

    with torch.no_grad():
        ema_params = dict(ema_model.named_parameters())
        for name, param in model.named_parameters():
            ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)


def cmd_train(args):
    import copy

    import torch

    depth, hidden, heads, patch = parse_model(args.model)
    model = build_dit(args, learn_sigma=True).train()  # train mode: labels dropped with p = 0.1
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    update_ema(ema, model, decay=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
    tab = diffusion_tables(NUM_TIMESTEPS)
    x0 = torch.randn(args.batch, args.in_channels, args.input_size, args.input_size)
    y = torch.randint(0, args.num_classes, (args.batch,))
    losses = []

    def autocast_model(x, t, y):
        # Mixed precision as PyTorch's recipe has it: the model under bf16 autocast (its
        # nn.Linear / conv products in bf16, parameters fp32), the loss in fp32.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, t, y)
        return out.float()

    forward = autocast_model if args.autocast == "bf16" else model

    def step():
        opt.zero_grad()
        t = torch.randint(0, NUM_TIMESTEPS, (args.batch,))
        noise = torch.randn_like(x0)
        loss = hybrid_loss(forward, x0, t, y, noise, tab)
        loss.backward()
        opt.step()
        update_ema(ema, model)
        losses.append(loss.item())  # train.py logs it every step

    times = sample_times(step, args.warmup, args.iters)
    ms = statistics.median(times)
    gmacs = dit_macs(depth, hidden, patch, args.input_size, args.in_channels, True) / 1e9
    result = {"ms": ms, "ms_min": min(times), "ms_all": times, "loss": losses[-1], "gmacs": gmacs,
              "params": sum(p.numel() for p in model.parameters()),
              "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "torch": torch.__version__, "threads": args.threads, "model": args.model, "batch": args.batch,
              "input_size": args.input_size, "in_channels": args.in_channels, "num_classes": args.num_classes,
              "autocast": args.autocast}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} train step ({'bf16 autocast' if args.autocast == 'bf16' else 'fp32'}) {args.input_size}x{args.input_size}x{args.in_channels} "
              f"{args.num_classes} classes, batch {args.batch}, {args.threads} threads, torch {torch.__version__}: "
              f"median {ms:.2f} ms (min {min(times):.2f}), {ms / args.batch:.2f} ms/image, "
              f"{result['params']:,} params, last loss {losses[-1]:.4f}")


def openblas_core():
    """The OpenBLAS kernel chosen at run time for this CPU (e.g. 'Haswell', 'SkylakeX').

    numpy's wheels build OpenBLAS with DYNAMIC_ARCH, so the build config does not say which
    kernel runs; OpenBLAS prints it on load with OPENBLAS_VERBOSE=2.
    """
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    r = subprocess.run([sys.executable, "-c", "import numpy"], env=env, capture_output=True, text=True, timeout=60)
    for line in (r.stdout + "\n" + r.stderr).splitlines():
        if "Core:" in line:
            return line.split("Core:", 1)[1].strip()
    return None


def blas_library(np):
    """Name and version of the BLAS numpy was built with, from numpy.show_config."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except (TypeError, KeyError):  # numpy older than 1.26 has no mode="dicts"
        return None


def cmd_gemm(args):
    # OpenBLAS reads its thread count once, when numpy loads it.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.m, args.k), dtype=np.float32)
    w = rng.standard_normal((args.n, args.k), dtype=np.float32)  # [out, in], as a Linear's weight
    ms, ms_min = time_calls(lambda: a @ w.T, args.warmup, args.iters)
    gflops = 2 * args.m * args.n * args.k / (ms / 1e3) / 1e9
    result = {"ms": ms, "ms_min": ms_min, "gflops": gflops, "library": blas_library(np), "kernel": openblas_core(),
              "threads": args.threads, "m": args.m, "n": args.n, "k": args.k, "numpy": np.__version__}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"numpy a[{args.m}x{args.k}] @ w[{args.n}x{args.k}].T float32, {args.threads} threads: "
              f"median {ms:.3f} ms (min {ms_min:.3f}), {gflops:.1f} GFLOP/s "
              f"({result['library']}, kernel {result['kernel']})")


def add_model_arguments(p, forward=True):
    """The model and input options every DiT baseline takes (bench_engines.py's too); `forward`
    adds --learn-sigma."""
    p.add_argument("--model", default="DiT-S/2", help="DiT-{S,B,L,XL}/{2,4,8} (default DiT-S/2)")
    p.add_argument("--input-size", type=int, default=32, help="latent height = width (default 32)")
    p.add_argument("--in-channels", type=int, default=4, help="latent channels (default 4)")
    p.add_argument("--num-classes", type=int, default=1000, help="class count (default 1000)")
    if forward:
        p.add_argument("--learn-sigma", action=argparse.BooleanOptionalAction, default=True,
                       help="2C output channels (default on)")


def main():
    parser = argparse.ArgumentParser(description="PyTorch / numpy baselines for DyDiT.swift benchmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    f = sub.add_parser("forward", help="time DiT forward passes in PyTorch (random weights, eval, inference_mode)")
    tr = sub.add_parser("train", help="time DiT training steps in PyTorch (hybrid loss, backward, AdamW, EMA)")
    add_model_arguments(f)
    add_model_arguments(tr, forward=False)
    f.add_argument("--batch", type=int, default=2, help="images per forward pass (default 2)")
    tr.add_argument("--batch", type=int, default=16, help="images per optimiser step (default 16)")
    tr.add_argument("--autocast", choices=["none", "bf16"], default="none",
                    help="bf16: the model's forward under torch.autocast('cpu', bfloat16), the loss fp32 (default none)")

    g = sub.add_parser("gemm", help="time numpy's float32 a @ w.T (system python3, no torch)")
    g.add_argument("--m", type=int, default=256, help="rows of a (tokens) (default 256)")
    g.add_argument("--n", type=int, default=1152, help="rows of w (output features) (default 1152)")
    g.add_argument("--k", type=int, default=1152, help="shared dimension (input features) (default 1152)")

    for p in (f, tr, g):
        p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
        p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
        p.add_argument("--iters", type=int, default=20, help="timed calls; the median is reported (default 20)")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    args = parser.parse_args()
    if args.iters < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--iters and --threads must be at least 1, --warmup at least 0")
    if args.command in ("forward", "train"):
        if parse_model(args.model) is None:
            parser.error(f"unknown model {args.model!r}: expected DiT-{{S,B,L,XL}}/{{2,4,8}}")
        if args.batch < 1 or args.num_classes < 1:
            parser.error("--batch and --num-classes must be at least 1")
        (cmd_forward if args.command == "forward" else cmd_train)(args)
    else:
        cmd_gemm(args)


if __name__ == "__main__":
    main()
