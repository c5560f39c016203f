#!/bin/bash
# Checks the Slurm array example (Experiments/slurm/) against a real Slurm: starts a one-node
# cluster on localhost (munged + slurmctld + slurmd, Debian's slurm-wlm, all under a scratch
# folder and on their own ports, so a cluster the machine already runs is left alone), submits
# a tiny sweep (8 runs) as two job arrays — a non-contiguous one through submit.sh
# (--array=1,3,8-9) and a stepped one not starting at 0 through sbatch (--array=2-8:2) —
# waits, merges each with `dydit summarize`, and checks that both equal the same sweep run on
# one machine: the same runs, every sample file and mask byte for byte, and every summary
# column but the timing and memory ones. Needs root (slurmd starts jobs as their user) and
# a release build (.build/release/dydit). Not part of the default CI.
#
#   apt-get install slurm-wlm         # once (scripts/setup.sh does not install it)
#   scripts/slurm_check.sh            # ~1 minute; writes its record to Experiments/results/slurm-check/
#
# Environment: SLURM_CHECK_DIR (scratch folder; default a new one under /tmp),
# SLURM_CHECK_PORT (slurmctld's port, slurmd's is the next; default 16817),
# SLURM_CHECK_RECORD (where the record goes; empty: nowhere).
set -euo pipefail
cd "$(dirname "$0")/.."
project=$(pwd)
dydit=$project/.build/release/dydit
spec=Experiments/slurm/tiny-sweep-random-weights.json
record=${SLURM_CHECK_RECORD-$project/Experiments/results/slurm-check}
port=${SLURM_CHECK_PORT:-16817}

for tool in munged munge slurmctld slurmd sbatch sinfo; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found: apt-get install slurm-wlm (Debian's package brings munge too)" >&2; exit 1; }
done
[ -x "$dydit" ] || { echo "error: $dydit not found: swift build -c release first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "error: run as root: slurmd starts each job as its submitting user" >&2; exit 1; }
key=/etc/munge/munge.key
[ -r "$key" ] || { echo "error: $key missing: reinstall munge (its package creates the key)" >&2; exit 1; }

work=${SLURM_CHECK_DIR:-$(mktemp -d /tmp/dydit-slurm.XXXXXX)}
mkdir -p "$work/state" "$work/spool"
log=$work/check.log
: > "$log"
say() { echo "$*" | tee -a "$log"; }

stop_cluster() {
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munged.pid"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}
trap stop_cluster EXIT

host=$(hostname -s)
cat > "$work/slurm.conf" <<EOF
ClusterName=dyditcheck
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge.sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf

say "== one-node Slurm cluster in $work ($(sbatch --version), $(munged --version 2>&1 | head -1))"
munged --force --socket="$work/munge.sock" --pid-file="$work/munged.pid" --log-file="$work/munged.log" \
       --seed-file="$work/munge.seed" --key-file="$key"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 1
done
sinfo -h -o %T | grep -q idle || { echo "error: the node did not come up; see $work/slurmctld.log and $work/slurmd.log" >&2; exit 1; }
sinfo | tee -a "$log"

say "== $($dydit --version); the sweep: $spec"
say "== array 1: Experiments/slurm/submit.sh --array=1,3,8-9 (non-contiguous)"
Experiments/slurm/submit.sh --array=1,3,8-9 --wait --cpus-per-task=1 --output="$work/uneven-%A_%a.out" \
    run "$spec" --out "$work/uneven" | tee -a "$log"
say "== array 2: sbatch --array=2-8:2 Experiments/slurm/sweep.sbatch (stepped, not from 0)"
sbatch --array=2-8:2 --wait --cpus-per-task=1 --output="$work/stepped-%A_%a.out" \
    Experiments/slurm/sweep.sbatch run "$spec" --out "$work/stepped" | tee -a "$log"
for f in "$work"/uneven-*.out "$work"/stepped-*.out; do
    say "-- $(basename "$f")"
    grep -E '^(task|shard|[0-9]+ run)' "$f" | tee -a "$log" || true
done

say "== one machine: dydit run $spec"
"$dydit" run "$spec" --out "$work/single" > "$work/single.out" 2>&1
for array in uneven stepped; do
    "$dydit" summarize "$work/$array" > /dev/null
done

say "== comparison"
python3 - "$work" 2>&1 <<'EOF' | tee -a "$log"
import csv, filecmp, os, sys
work = sys.argv[1]
# What depends on the machine's moment, not on the computation.
timing = {"seconds_per_image", "dense_seconds_per_image", "speedup", "speedup_min", "speedup_max",
          "process_peak_rss_mb", "load_average_1m"}
def table(folder):
    with open(os.path.join(folder, "summary.csv")) as f:
        return {row["run"]: {k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(f)}
single = table(os.path.join(work, "single"))
failures = []
for array in ("uneven", "stepped"):
    folder = os.path.join(work, array)
    rows = table(folder)
    if sorted(rows) != sorted(single):
        failures.append(f"{array}: runs {sorted(rows)} != {sorted(single)}")
        continue
    for run, row in sorted(rows.items()):
        if row != single[run]:
            diff = {k: (row[k], single[run][k]) for k in row if row[k] != single[run][k]}
            failures.append(f"{array}/{run}: summary differs: {diff}")
        for name in ("samples.safetensors", "masks.csv"):
            a, b = os.path.join(folder, run, name), os.path.join(work, "single", run, name)
            if os.path.exists(a) != os.path.exists(b) or (os.path.exists(a) and not filecmp.cmp(a, b, shallow=False)):
                failures.append(f"{array}/{run}/{name} differs from the single-machine run's")
    print(f"{array}: {len(rows)} runs, summary (without timing and memory columns), samples and masks equal to the single-machine run"
          if not any(f.startswith(array) for f in failures) else f"{array}: DIFFERS")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
EOF

if [ -n "$record" ]; then
    mkdir -p "$record"
    cp "$log" "$record/check.log"
    cp "$work/single/summary.csv" "$record/summary-single-machine.csv"
    cp "$work/uneven/summary.csv" "$record/summary-array-1,3,8-9.csv"
    cp "$work/stepped/summary.csv" "$record/summary-array-2-8:2.csv"
    echo "record: $record"
fi
say "slurm check passed"
