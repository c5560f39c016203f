#!/bin/bash
# Submits sweep.sbatch as a job array with any --array expression, non-contiguous ones
# included: Slurm does not tell an array task the list of its array's ids, so this exports
# the expression as DYDIT_ARRAY_TASKS, from which `--shard auto` finds each task's position.
#
#   Experiments/slurm/submit.sh --array=1,3,8-9 [other sbatch options, as --name=value] run|train SPEC [dydit options]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sbatch_options=()
array=""
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
    case "$1" in
        --array=*) array=${1#--array=} ;;
        -a|--array) array=$2; shift ;;
        *) sbatch_options+=("$1") ;;
    esac
    shift
done
if [ -z "$array" ] || [ $# -lt 2 ]; then
    echo "usage: $0 --array=EXPR [sbatch options as --name=value] run|train SPEC [dydit options]" >&2
    exit 2
fi
export DYDIT_ARRAY_TASKS="$array"
exec sbatch --array="$array" "${sbatch_options[@]}" "$here/sweep.sbatch" "$@"
