#!/usr/bin/env python3
"""Times DiT forward passes (or, with --kind train, training steps) of dydit and of PyTorch in
alternating rounds on the same machine, so both see the same load, and prints each side's
median and the speed-up.

Run with a Python that has PyTorch (the dydit side needs only the built binary):

    /path/to/venv/bin/python scripts/compare_forward.py --model DiT-S/2 --batch 2 --threads 2 --rounds 5
    /path/to/venv/bin/python scripts/compare_forward.py --kind train --model DiT-S/4 --in-channels 1 \
        --num-classes 10 --batch 16 --threads 2 --rounds 5 --iters 5

Prints one JSON object: {"model", "batch", "threads", "dydit_ms", "torch_ms", "speedup", "rounds", ...}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


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
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; each side reports a median per round")
    p.add_argument("--iters", type=int, default=10, help="timed forwards per round and side")
    p.add_argument("--precision", default="fp32", help="dydit's precision (PyTorch always runs fp32)")
    p.add_argument("--dydit", default=os.path.join(ROOT, ".build/release/dydit"))
    a = p.parse_args()
    classes = a.num_classes or (10 if a.kind == "train" else 1000)
    common = ["--model", a.model, "--input-size", str(a.input_size), "--in-channels", str(a.in_channels),
              "--num-classes", str(classes), "--batch", str(a.batch), "--threads", str(a.threads),
              "--iters", str(a.iters), "--json"]
    ours_cmd = [a.dydit, "bench", a.kind] + (["--precision", a.precision] if a.kind == "forward" else [])
    ours, theirs, last = [], [], {}
    for r in range(a.rounds):
        last = run_json(ours_cmd + common)
        ours.append(last["ms"])
        torch = run_json([sys.executable, os.path.join(HERE, "bench_pytorch.py"), a.kind, "--warmup", "3"] + common)
        theirs.append(torch["ms"])
        print(f"round {r + 1}: dydit {ours[-1]:.2f} ms, torch {theirs[-1]:.2f} ms", file=sys.stderr)
    d, t = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({"kind": a.kind, "model": a.model, "batch": a.batch, "threads": a.threads, "precision": a.precision,
                      "isa": last.get("isa"), "gmacs": last.get("gmacs"), "dydit_ms": round(d, 3),
                      "torch_ms": round(t, 3), "speedup": round(t / d, 3), "rounds": a.rounds,
                      "dydit_gflops": round(2 * last["gmacs"] * a.batch / d * 1e3, 1),
                      "torch": torch.get("torch")}))


if __name__ == "__main__":
    main()
