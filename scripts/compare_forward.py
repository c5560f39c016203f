#!/usr/bin/env python3
"""Times DiT forward passes (or, with --kind train, training steps) of dydit and of baseline
engines in interleaved rounds on the same machine, so all see the same load, and prints each
side's median and the speed-ups.

In each round dydit runs first, then each engine of --engines once, each in its own process
(scripts/bench_engines.py for forward passes, scripts/bench_pytorch.py train for training
steps). The engines (bench_engines.py's docstring has their settings): eager (PyTorch eager
fp32, the default), compile, compile-freezing, onnxruntime, openvino, openvino-bf16,
openvino-int8. Every engine but eager needs packages beyond PyTorch; install them with

    .build/venv-ref/bin/pip install openvino nncf onnxruntime onnx onnxscript

Run with the venv's Python (the dydit side needs only the built binary):

    .build/venv-ref/bin/python scripts/compare_forward.py --model DiT-S/2 --batch 2 --threads 2 --rounds 5
    .build/venv-ref/bin/python scripts/compare_forward.py --model DiT-B/2 --batch 2 --threads 2 \\
        --rounds 5 --iters 5 --precision int8 --engines eager,openvino-int8
    .build/venv-ref/bin/python scripts/compare_forward.py --model DiT-S/2 --batch 2 --threads 2 --rounds 5 \\
        --engines eager,compile,compile-freezing,onnxruntime,openvino,openvino-bf16,openvino-int8
    .build/venv-ref/bin/python scripts/compare_forward.py --kind train --model DiT-S/4 --in-channels 1 \\
        --num-classes 10 --batch 16 --threads 2 --rounds 5 --iters 5 [--precision bf16 --engines eager,autocast-bf16]

With --kind train the engines are PyTorch eager fp32 (eager) and PyTorch with the model's
forward under bf16 autocast (autocast-bf16), and --precision is dydit's `train.products`
(fp32 or bf16).

Prints one JSON object: {"model", "batch", "threads", "precision", "dydit_ms", "engines": {name:
{"ms", "speedup", "version", "max_abs_err_vs_eager", "max_rel_err_vs_eager", "setup"}}, "rounds",
...}, where ms is the median of the engine's per-round medians and speedup = engine ms / dydit
ms (above 1: dydit is faster). When eager is among the engines (always for --kind train) the
keys of the eager-only version are there too: "torch_ms", "speedup" (eager's) and "torch".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_engines import ENGINES  # noqa: E402  (no heavy imports: torch and the engines load in the children)

# --kind train's baselines: PyTorch eager fp32, and eager with the model under bf16 autocast.
TRAIN_ENGINES = ["eager", "autocast-bf16"]

# bench_engines.py's keys that every engine has; the rest describe the engine's setup.
COMMON_KEYS = {"ms", "ms_min", "engine", "engine_version", "max_abs_err_vs_eager", "max_rel_err_vs_eager",
               "gmacs", "torch", "threads", "model", "batch", "input_size", "in_channels"}


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-4000:])
        sys.exit(f"error: exit status {r.returncode} from {' '.join(cmd)}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["forward", "train"], default="forward",
                   help="forward passes, or whole optimiser steps (forward, loss, backward, AdamW, EMA)")
    p.add_argument("--model", default="DiT-S/2")
    p.add_argument("--num-classes", type=int, default=None, help="default: 1000 (forward), 10 (train)")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--in-channels", type=int, default=4)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; each side reports a median per round")
    p.add_argument("--iters", type=int, default=10, help="timed forwards per round and side")
    p.add_argument("--precision", default="fp32",
                   help="dydit's precision (each engine keeps its own); --kind train: its products, fp32 or bf16")
    p.add_argument("--engines", default="eager",
                   help=f"comma list of baselines, from {','.join(ENGINES)} (default eager; --kind train: "
                        f"{','.join(TRAIN_ENGINES)})")
    p.add_argument("--dydit", default=os.path.join(ROOT, ".build/release/dydit"))
    a = p.parse_args()
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    known = TRAIN_ENGINES if a.kind == "train" else ENGINES
    unknown = [e for e in engines if e not in known]
    if unknown or not engines or len(set(engines)) != len(engines):
        p.error(f"--engines {a.engines!r}: expected distinct names from {', '.join(known)} (--kind {a.kind})")
    if a.kind == "train" and a.precision not in ("fp32", "bf16"):
        p.error(f"--precision {a.precision!r}: training's products are fp32 or bf16")
    classes = a.num_classes or (10 if a.kind == "train" else 1000)
    common = ["--model", a.model, "--input-size", str(a.input_size), "--in-channels", str(a.in_channels),
              "--num-classes", str(classes), "--batch", str(a.batch), "--threads", str(a.threads),
              "--iters", str(a.iters), "--json"]
    ours_cmd = [a.dydit, "bench", a.kind] + ["--precision" if a.kind == "forward" else "--products", a.precision]

    def engine_cmd(e):
        if a.kind == "train":
            autocast = ["--autocast", "bf16"] if e == "autocast-bf16" else []
            return [sys.executable, os.path.join(HERE, "bench_pytorch.py"), "train", "--warmup", "3"] + autocast + common
        return [sys.executable, os.path.join(HERE, "bench_engines.py"), "--engine", e, "--warmup", "3"] + common

    ours, theirs, last, last_engine = [], {e: [] for e in engines}, {}, {}
    for r in range(a.rounds):
        last = run_json(ours_cmd + common)
        ours.append(last["ms"])
        for e in engines:
            res = run_json(engine_cmd(e))
            theirs[e].append(res["ms"])
            last_engine[e] = res
        line = ", ".join(f"{e} {theirs[e][-1]:.2f} ms" for e in engines)
        print(f"round {r + 1}: dydit {ours[-1]:.2f} ms, {line}", file=sys.stderr)

    d = statistics.median(ours)
    out = {"kind": a.kind, "model": a.model, "batch": a.batch, "threads": a.threads, "precision": a.precision,
           "isa": last.get("isa"), "gmacs": last.get("gmacs"), "dydit_ms": round(d, 3)}
    per_engine = {}
    for e in engines:
        t, res = statistics.median(theirs[e]), last_engine[e]
        per_engine[e] = {"ms": round(t, 3), "speedup": round(t / d, 3),
                         "version": res.get("engine_version", res.get("torch")),
                         "max_abs_err_vs_eager": res.get("max_abs_err_vs_eager"),
                         "max_rel_err_vs_eager": res.get("max_rel_err_vs_eager"),
                         "setup": {k: v for k, v in res.items() if k not in COMMON_KEYS}}
    if "eager" in engines:  # the keys of the eager-only version
        t = statistics.median(theirs["eager"])
        out.update({"torch_ms": round(t, 3), "speedup": round(t / d, 3)})
    out.update({"rounds": a.rounds, "dydit_gflops": round(2 * last["gmacs"] * a.batch / d * 1e3, 1)})
    if "eager" in engines:
        out["torch"] = last_engine["eager"].get("torch")
    out["engines"] = per_engine
    print(json.dumps(out))


if __name__ == "__main__":
    main()
