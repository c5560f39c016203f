#!/usr/bin/env python3
"""FD against training steps and hours: scores every EMA snapshot a training run kept
(`train.snapshot_every`) with `dydit run`, and writes a CSV of the classifier metrics.

    python3 scripts/fd_curve.py runs/fashion-mnist-dit [--samples 1000] [--cfg 2] [--every 1] \
        [--out Experiments/results/fashion-mnist-dit/fd-curve.csv]

Each snapshot is one run of a generated sweep (runs/<name>-fd-curve/spec.json) over
`backbone.checkpoint`, so rerunning scores only new snapshots. Every snapshot draws the same
class-balanced images from the same noise (seed 0), DPM-Solver++ 25 steps, guidance on eps.
The CSV has step, hours (the run's train.csv elapsed time, plus --hours-offset for earlier
stages), fd, kid, kid_std, precision, recall, class_accuracy and the sample count.
Needs python3 only (json, csv, subprocess).
"""
import argparse
import csv
import glob
import json
import os
import re
import subprocess
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the training run's folder (holds snapshots/ and train.csv)")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--cfg", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--every", type=int, default=1, help="score every k-th snapshot")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--hours-offset", type=float, default=0.0, help="hours spent before this run (earlier stages)")
    p.add_argument("--dydit", default=".build/release/dydit")
    p.add_argument("--out", default=None, help="CSV to write (default: <run>/fd-curve.csv)")
    p.add_argument("--patience", type=int, default=3, help="snapshots the stopping rule looks back over")
    p.add_argument("--min-gain", type=float, default=0.03, help="relative FD gain below which training has stopped improving")
    args = p.parse_args()

    snapshots = sorted(glob.glob(os.path.join(args.run, "snapshots", "ema-step-*.safetensors")))
    snapshots = snapshots[::-1][::args.every][::-1]  # keep the newest, thin the rest
    if not snapshots:
        sys.exit(f"{args.run}/snapshots holds no ema-step-*.safetensors (train with train.snapshot_every)")
    name = os.path.basename(os.path.normpath(args.run)) + "-fd-curve"
    work = os.path.join("runs", name)
    os.makedirs(work, exist_ok=True)
    spec = {
        "name": name,
        "description": f"FD curve of {args.run}: every snapshot, {args.samples} class-balanced samples, seed 0",
        "seed": 0,
        "backbone": {"type": "dit", "checkpoint": os.path.abspath(snapshots[0])},
        "sampler": {"type": "dpm-solver++", "steps": args.steps},
        "guidance": {"scale": args.cfg, "channels": "eps"},
        "eval": {"samples": args.samples, "batch": args.batch, "classes": list(range(10)),
                 # One timed pass: the curve wants quality, and five rounds would sample every image five times.
                 "timing": {"rounds": 1},
                 "classifier": os.path.abspath("Experiments/checkpoints/fashion-mnist-classifier.safetensors"),
                 "metrics": ["latency", "fd", "kid", "precision", "recall", "class-accuracy"]},
        "compute": {"threads": args.threads},
        "output": {"dir": os.path.abspath(work)},
        "sweep": {"zip": {"backbone.checkpoint": [os.path.abspath(s) for s in snapshots]}},
    }
    spec_path = os.path.join(work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    subprocess.run([args.dydit, "run", spec_path], check=True)

    elapsed = {}
    train_csv = os.path.join(args.run, "train.csv")
    if os.path.exists(train_csv):
        for row in csv.DictReader(open(train_csv)):
            elapsed[int(row["step"])] = float(row["elapsed_s"])
    rows = []
    for m in glob.glob(os.path.join(work, "*", "metrics.json")):
        metrics = json.load(open(m))
        checkpoint = metrics["overrides"]["backbone.checkpoint"]
        step = int(re.search(r"ema-step-(\d+)", checkpoint).group(1))
        q = metrics["quality"]
        near = max([s for s in elapsed if s <= step], default=None)
        hours = args.hours_offset + (elapsed[near] / 3600 if near is not None else float("nan"))
        rows.append({"step": step, "hours": round(hours, 3), "fd": q["fd"], "kid": q["kid"], "kid_std": q["kid_std"],
                     "precision": q["precision"], "recall": q["recall"], "class_accuracy": q["class_accuracy"],
                     "samples": q["classifier_metrics_images"], "cfg": args.cfg})
    # A snapshot scored under two run ids (the sweep's ids change with its length) appears
    # twice with the same numbers: keep one row per step.
    rows = list({r["step"]: r for r in rows}.values())
    rows.sort(key=lambda r: r["step"])
    out = args.out or os.path.join(args.run, "fd-curve.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    best = min(rows, key=lambda r: r["fd"])
    print(f"wrote {out}: {len(rows)} snapshots; best FD (Fashion-MNIST classifier features) {best['fd']:.3f} at step {best['step']}")
    print(convergence(rows, args.patience, args.min_gain))


def convergence(rows, patience, min_gain):
    """The stopping rule: FD has stopped improving when none of the last `patience` snapshots
    beat the best before them by more than `min_gain` (relative). One snapshot's FD moves with
    its sample set, so a single worse point is not a plateau."""
    if len(rows) <= patience:
        return f"convergence: {len(rows)} snapshot(s), need more than {patience} to judge"
    before = min(r["fd"] for r in rows[:-patience])
    recent = min(r["fd"] for r in rows[-patience:])
    gain = (before - recent) / before
    verdict = "still improving" if gain > min_gain else "stopped improving"
    return (f"convergence: best of the last {patience} snapshots {recent:.3f} vs {before:.3f} before them "
            f"({100 * gain:+.1f}%; threshold {100 * min_gain:.0f}%): {verdict}")


if __name__ == "__main__":
    main()
