#!/usr/bin/env python3
"""One picture of a guidance sweep: for each run (one guidance scale), the first K samples of
every class side by side, one row per class, the same noise in every block (the sweep samples
every scale from the same seed), so the effect of the scale is what differs.

    python3 scripts/guidance_grid.py runs/base-guidance-sweep --out Experiments/results/base-guidance-sweep/guidance.png
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics"))
import floors  # noqa: E402  (write_png)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64, "I32": np.int32}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtype).reshape(t["shape"])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", help="the sweep's output folder (runs/NAME)")
    p.add_argument("--out", required=True)
    p.add_argument("--per-class", type=int, default=6)
    p.add_argument("--scale", type=int, default=2, help="pixel upscale (default 2)")
    p.add_argument("--run", action="append", help="a run id (repeatable): these runs, left to right (default: every run, by guidance scale)")
    a = p.parse_args()
    runs = [d for d in os.listdir(a.sweep) if os.path.isfile(os.path.join(a.sweep, d, "samples.safetensors"))]
    if a.run:
        missing = [r for r in a.run if r not in runs]
        if missing:
            sys.exit(f"guidance_grid: no samples.safetensors for {', '.join(missing)} in {a.sweep} (runs with samples: {', '.join(sorted(runs))})")
        runs = a.run
    else:
        # Left to right by guidance scale (run ids number runs in the order the sweep lists them).
        scale = lambda d: json.load(open(os.path.join(a.sweep, d, "spec.json")))["guidance"]["scale"]
        runs.sort(key=scale)
    blocks = []
    for run in runs:
        t = read_safetensors(os.path.join(a.sweep, run, "samples.safetensors"))
        x, y = t["samples"][:, 0], t["classes"]
        rows = [np.concatenate([np.pad(x[i], 1, constant_values=-1) for i in np.flatnonzero(y == c)[:a.per_class]], axis=1)
                for c in sorted(set(y.tolist()))]
        blocks.append(np.concatenate(rows, axis=0))
        print(f"{run}: {len(rows)} classes × {a.per_class}")
    gap = np.ones((blocks[0].shape[0], 8))
    pic = np.concatenate(sum(([b, gap] for b in blocks), [])[:-1], axis=1)
    pic = np.kron(pic, np.ones((a.scale, a.scale)))
    floors.write_png(a.out, ((np.clip(pic, -1, 1) + 1) * 127.5).round().astype(np.uint8))
    print(f"wrote {a.out}: blocks left to right = {', '.join(runs)}")


if __name__ == "__main__":
    main()
