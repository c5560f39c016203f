#!/usr/bin/env python3
"""The fp32 forward's fraction of the arithmetic peak (issue 18, goal 4), in alternating rounds.

Each round runs `dydit bench peak` and then `dydit bench forward` for every model, so a phase
of the (shared, noisy) host touches both sides of a ratio. Per model it prints the median over
the rounds of two ratios, each forward's GFLOP/s over its round's peak:

  - median: the forward's median iteration against the peak (the best of three passes of
    `bench peak`): the conservative figure, which a noisy phase during the forward lowers
    while the peak keeps its best pass;
  - best:   the forward's fastest iteration against the same best-of-three peak: both sides
    the best the round saw.

Standard library only; the binary is the project's own (`--dydit`, default .build/release/dydit).
Example:
    scripts/peak_fraction.py --models DiT-S/2,DiT-B/2 --rounds 5 --threads 2 --json-out runs/peak.json
"""
import argparse
import json
import statistics
import subprocess
import sys


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    return json.loads(out.splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dydit", default=".build/release/dydit")
    p.add_argument("--models", default="DiT-S/2,DiT-B/2,DiT-XL/2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--iters", default="DiT-S/2=10,DiT-B/2=10,DiT-XL/2=3",
                   help="forwards timed per round, per model (model=n, comma-separated; others 5)")
    p.add_argument("--json-out", help="also write every round's raw figures here")
    a = p.parse_args()
    models = [m for m in a.models.split(",") if m]
    iters = dict(kv.split("=") for kv in a.iters.split(",") if kv)
    rounds = []
    for r in range(a.rounds):
        peak = run_json([a.dydit, "bench", "peak", "--threads", str(a.threads), "--json"])["gflops"]
        row = {"peak_gflops": peak, "models": {}}
        for m in models:
            n = int(iters.get(m, 5))
            f = run_json([a.dydit, "bench", "forward", "--model", m, "--batch", str(a.batch), "--threads", str(a.threads),
                          "--iters", str(n), "--warmup", "1", "--json"])
            flops = 2 * f["gmacs"] * a.batch  # GFLOP per forward
            row["models"][m] = {"ms": f["ms"], "ms_min": f["ms_min"],
                                "median_fraction": flops / f["ms"] * 1e3 / peak,
                                "best_fraction": flops / f["ms_min"] * 1e3 / peak}
        rounds.append(row)
        print(f"round {r + 1}: peak {peak:.1f} GFLOP/s; " + "; ".join(
            f"{m} {v['ms']:.1f} ms ({v['median_fraction']:.3f}), best {v['ms_min']:.1f} ms ({v['best_fraction']:.3f})"
            for m, v in row["models"].items()), file=sys.stderr, flush=True)
    summary = {}
    for m in models:
        med = [r["models"][m]["median_fraction"] for r in rounds]
        best = [r["models"][m]["best_fraction"] for r in rounds]
        summary[m] = {"median_fraction": statistics.median(med), "median_range": [min(med), max(med)],
                      "best_fraction": statistics.median(best), "best_range": [min(best), max(best)]}
        print(f"{m}: forward ÷ peak, median iteration {summary[m]['median_fraction']:.3f} "
              f"({min(med):.3f}–{max(med):.3f}); fastest iteration {summary[m]['best_fraction']:.3f} "
              f"({min(best):.3f}–{max(best):.3f}); {len(rounds)} rounds")
    peaks = [r["peak_gflops"] for r in rounds]
    print(f"peak, {a.threads} threads: {min(peaks):.1f}–{max(peaks):.1f} GFLOP/s")
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump({"args": vars(a), "rounds": rounds, "summary": summary}, fh, indent=1)


if __name__ == "__main__":
    main()
