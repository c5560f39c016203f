#!/usr/bin/env python3
"""One FD curve for the base DiT across its training stages (python3 only).

    python3 scripts/stitch_fd_curve.py

Reads the stage-1 score (Experiments/results/fashion-mnist-dit/quality-step7947.md's guidance-2
row, restated here), the stage-2 snapshot scores (fd-curve-stage2.csv, by scripts/fd_curve.py)
and the stage-2 training log (runs/fashion-mnist-dit/train.csv, else the committed
stage2-train.csv), and writes Experiments/results/fashion-mnist-dit/fd-curve.csv with the total
optimiser step, the stage, and hours of training on 2 cores since step 0 of stage 1.

Stage 2 ran in several processes. Until elapsed_s summed over resumes, each process's log
restarted at 0: a row whose elapsed_s is below its predecessor's starts a new process, and its
time is added to the total so far (`repair_elapsed`).
"""
import csv
import os

RESULTS = "Experiments/results/fashion-mnist-dit"
STAGE1_STEPS = 7947
STAGE1_HOURS = 7898.4 / 3600  # the stage-1 log's last elapsed_s (train.csv, step 7925) ≈ its end
# quality-step7947.md, guidance 2, 1000 samples, seed 0
STAGE1 = {"fd": 164.3, "kid": 5.26, "precision": 0.573, "recall": 0.330, "class_accuracy": 0.575}


def repair_elapsed(rows):
    """elapsed_s made cumulative: a drop means a new process whose clock began at 0."""
    offset, previous, out = 0.0, 0.0, []
    for r in rows:
        e = float(r["elapsed_s"])
        if e + offset < previous - 1e-6:
            offset = previous
        previous = e + offset
        out.append(dict(r, elapsed_s=f"{previous:.1f}"))
    return out


def main():
    log_path = "runs/fashion-mnist-dit/train.csv"
    if not os.path.exists(log_path):
        log_path = os.path.join(RESULTS, "stage2-train.csv")
    log = repair_elapsed(list(csv.DictReader(open(log_path))))
    elapsed = {int(r["step"]): float(r["elapsed_s"]) for r in log}
    rows = [dict(step=STAGE1_STEPS, stage=1, stage_step=STAGE1_STEPS, hours=round(STAGE1_HOURS, 3), samples=1000, **STAGE1)]
    for r in csv.DictReader(open(os.path.join(RESULTS, "fd-curve-stage2.csv"))):
        s = int(r["step"])
        near = max(k for k in elapsed if k <= s)
        rows.append(dict(step=STAGE1_STEPS + s, stage=2, stage_step=s, hours=round(STAGE1_HOURS + elapsed[near] / 3600, 3),
                         samples=int(r["samples"]), fd=round(float(r["fd"]), 3), kid=round(float(r["kid"]), 4),
                         precision=float(r["precision"]), recall=float(r["recall"]), class_accuracy=float(r["class_accuracy"])))
    out = os.path.join(RESULTS, "fd-curve.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "stage", "stage_step", "hours", "fd", "kid", "precision", "recall",
                                          "class_accuracy", "samples"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in w.fieldnames})
    repaired = os.path.join(RESULTS, "stage2-train.csv")
    with open(repaired, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(log[0].keys()))
        w.writeheader()
        w.writerows(log)
    print(f"wrote {out} ({len(rows)} points) and {repaired} ({len(log)} rows, elapsed_s cumulative)")


if __name__ == "__main__":
    main()
