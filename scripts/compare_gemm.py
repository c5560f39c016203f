#!/usr/bin/env python3
"""Times `dydit bench gemm` and numpy's float32 `a @ w.T` (OpenBLAS) in alternating rounds on
the same machine and prints both medians and the ratio.

Run with a python3 whose numpy uses OpenBLAS (pip's wheels do; Debian's python3-numpy uses
the reference BLAS). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from numpy's
environment, so OpenBLAS picks the kernel it detects (its name is printed).

    python3 scripts/compare_gemm.py --m 256 --n 1152 --k 1152 --threads 1 --rounds 7

With --threads T > 1, each round also times dydit on one thread and the report adds
`scaling_vs_1_thread` (ratio of the medians).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--m", type=int, default=256)
    p.add_argument("--n", type=int, default=1152)
    p.add_argument("--k", type=int, default=1152)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--iters", type=int, default=50, help="timed runs per round and side")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--dydit", default=os.path.join(ROOT, ".build/release/dydit"))
    a = p.parse_args()
    shape = ["--m", str(a.m), "--n", str(a.n), "--k", str(a.k), "--threads", str(a.threads),
             "--iters", str(a.iters), "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    ours, theirs, single, last, blas = [], [], [], {}, {}
    for r in range(a.rounds):
        last = run_json([a.dydit, "bench", "gemm", "--precision", a.precision] + shape)
        ours.append(last["gflops"])
        if a.threads > 1:
            one = [x if x != str(a.threads) or shape[i - 1] != "--threads" else "1" for i, x in enumerate(shape)]
            single.append(run_json([a.dydit, "bench", "gemm", "--precision", a.precision] + one)["gflops"])
        blas = run_json([sys.executable, os.path.join(HERE, "bench_pytorch.py"), "gemm"] + shape, env=env)
        theirs.append(blas["gflops"])
        print(f"round {r + 1}: dydit {ours[-1]:.1f}, numpy {theirs[-1]:.1f} GFLOP/s", file=sys.stderr)
    d, t = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({"m": a.m, "n": a.n, "k": a.k, "threads": a.threads, "precision": a.precision,
                      "isa": last.get("isa"), "dydit_gflops": round(d, 1), "numpy_gflops": round(t, 1),
                      "ratio": round(d / t, 3), "rounds": a.rounds, "numpy_library": blas.get("library"),
                      "numpy_kernel": blas.get("kernel"),
                      "scaling_vs_1_thread": round(d / statistics.median(single), 3) if single else None}))


if __name__ == "__main__":
    main()
