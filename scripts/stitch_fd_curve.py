#!/usr/bin/env python3
"""One FD curve for the base DiT across its training stages (python3 only).

    python3 scripts/stitch_fd_curve.py

Reads the stage-1 score (Experiments/results/fashion-mnist-dit/quality-step7947.md's guidance-2
row, restated here), each later stage's snapshot scores (fd-curve-stageN.csv, by
scripts/fd_curve.py) and training log (the live run's train.csv, else the committed
stageN-train.csv), and writes Experiments/results/fashion-mnist-dit/fd-curve.csv with the total
optimiser step, the stage, and hours of training on 2 cores since step 0 of stage 1
(hours_estimated 1 where the log did not survive and the log's pace stands in for it).

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


# Later stages: the stage, its snapshot scores (scripts/fd_curve.py --out), the live log and the
# committed copy of it, and the stage-2 step whose EMA weights it started from (None: stage 2).
STAGES = [
    (2, "fd-curve-stage2.csv", "runs/fashion-mnist-dit/train.csv", "stage2-train.csv", None),
    (3, "fd-curve-stage3.csv", "runs/fashion-mnist-dit-stage3/train.csv", "stage3-train.csv", 20000),
]


def stage_log(live, committed):
    """The stage's log with cumulative elapsed_s (the live run's when it exists), copied to the
    results folder; None when neither exists yet."""
    path = live if os.path.exists(live) else os.path.join(RESULTS, committed)
    if not os.path.exists(path):
        return None
    log = repair_elapsed(list(csv.DictReader(open(path))))
    with open(os.path.join(RESULTS, committed), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(log[0].keys()))
        w.writeheader()
        w.writerows(log)
    return log


def hours_at(log, step):
    """Training seconds at `step`, and whether they are estimated: past the log's end (stage 2's
    log from step 12 450 to 20 000 was lost with its run folder) the log's mean seconds per step
    carry it on."""
    elapsed = {int(r["step"]): float(r["elapsed_s"]) for r in log}
    last = max(elapsed)
    if step <= last:
        return elapsed[max(k for k in elapsed if k <= step)], False
    return elapsed[last] + (step - last) * elapsed[last] / last, True


def main():
    rows = [dict(step=STAGE1_STEPS, stage=1, stage_step=STAGE1_STEPS, hours=round(STAGE1_HOURS, 3), hours_estimated=0,
                 samples=1000, **STAGE1)]
    offset_steps, offset_seconds, starts = STAGE1_STEPS, STAGE1_HOURS * 3600, {}
    for stage, scores, live, committed, started_at in STAGES:
        if started_at is not None:  # begins where the previous stage's snapshot was taken
            seconds, estimated = starts[started_at]
            offset_steps, offset_seconds = STAGE1_STEPS + started_at, seconds
        log = stage_log(live, committed)
        scores_path = os.path.join(RESULTS, scores)
        if log is None or not os.path.exists(scores_path):
            continue
        for r in csv.DictReader(open(scores_path)):
            s = int(r["step"])
            seconds, estimated = hours_at(log, s)
            if stage == 2:
                starts[s] = (offset_seconds + seconds, estimated)
            rows.append(dict(step=offset_steps + s, stage=stage, stage_step=s, hours=round((offset_seconds + seconds) / 3600, 3),
                             hours_estimated=int(estimated or (started_at is not None and starts[started_at][1])),
                             samples=int(r["samples"]), fd=round(float(r["fd"]), 3), kid=round(float(r["kid"]), 4),
                             precision=float(r["precision"]), recall=float(r["recall"]),
                             class_accuracy=float(r["class_accuracy"])))
    out = os.path.join(RESULTS, "fd-curve.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "stage", "stage_step", "hours", "hours_estimated", "fd", "kid", "precision",
                                          "recall", "class_accuracy", "samples"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in w.fieldnames})
    print(f"wrote {out} ({len(rows)} points; logs copied to {RESULTS}/stage*-train.csv with cumulative elapsed_s)")


if __name__ == "__main__":
    main()
