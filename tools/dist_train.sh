#!/usr/bin/env bash
# Multi-GPU / multi-node pretraining through torchrun.
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on each.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG GPUS [--work-dir DIR] [--resume [PATH]] [--amp] [--cfg-options k=v ...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-python}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON="$ROOT/.venv/bin/python"

PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" \
  --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" \
  --master_port="$PORT" \
  "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
