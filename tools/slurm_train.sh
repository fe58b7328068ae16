#!/usr/bin/env bash
# Pretraining on a Slurm cluster: one task per GPU through srun, each running
# tools/train.py --launcher slurm (mmengine reads SLURM_PROCID, SLURM_NTASKS,
# SLURM_NODELIST and friends to set up the process group).
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Environment variables:
#   GPUS            tasks (GPUs) in all                   default 8
#   GPUS_PER_NODE   GPUs (and tasks) per node             default min(GPUS, 8)
#   CPUS_PER_TASK   CPU cores per task (data workers)     default 5
#   SRUN_ARGS       extra srun options, e.g. "--quotatype=auto"
#   PYTHON          interpreter                           default: the active one
#   MASTER_PORT     rendezvous port (mmengine's default 29500 if unset)
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [--resume] [--amp] [--cfg-options k=v ...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-python}
[ -f "$CONFIG" ] || { echo "error: config file $CONFIG does not exist" >&2; exit 1; }

# SRUN_ARGS is split on spaces on purpose: it holds several options.
# shellcheck disable=SC2086
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec srun -p "$PARTITION" \
  --job-name="$JOB_NAME" \
  --gres="gpu:$GPUS_PER_NODE" \
  --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" \
  --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 \
  $SRUN_ARGS \
  "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@"
