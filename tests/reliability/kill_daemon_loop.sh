#!/usr/bin/env bash
# The kill -9 of test_daemon.sh, RUNS times in a row (default 50): a pretraining job of 160
# steps (progress every 10, a checkpoint every 30) is running, the daemon is killed with
# SIGKILL once the job passed step 50 and started again at once; the job must succeed with
# every progress step stored exactly once (10 20 … 160). Prints one line per run and a summary
# "N of N runs without a lost or doubled step"; exits 1 if any run failed.
#   tests/reliability/kill_daemon_loop.sh [RUNS]
set -u
cd "$(dirname "$0")/../.."
runs=${1:-50}
. tests/integration/daemon_client.sh
daemon_session
mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 2000 500
start_daemon --data-root "$tmp/data"
api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null
good=0
expected=$(seq -s ' ' 10 10 160)
for run in $(seq "$runs"); do
  id=$(api POST /api/v1/jobs '{"dataset": "fm", "model": {"embed_dim": 64, "depth": 2, "num_heads": 2},
    "train": {"epochs": 4, "batch_size": 50, "threads": 2},
    "schedule": {"progress_every_steps": 10, "checkpoint_every_steps": 30, "preview_every_steps": 1000}}' | json id)
  for _ in $(seq 600); do
    [ "$(api GET "/api/v1/jobs/$id" | json progress.step)" -ge 50 ] 2>/dev/null && break
    sleep 0.1
  done
  kill -9 "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null
  start_daemon --data-root "$tmp/data"
  wait_state "$id" succeeded 180
  state_ok=$?
  steps=$(api GET "/api/v1/jobs/$id/metrics" | python3 -c '
import json, sys
print(" ".join(str(m["step"]) for m in json.load(sys.stdin)["metrics"] if "loss" in m))')
  if [ $state_ok = 0 ] && [ "$steps" = "$expected" ]; then
    good=$((good + 1))
    echo "run $run: ok"
  else
    echo "run $run: FAILED — state $(api GET "/api/v1/jobs/$id" | json state), progress steps: $steps"
  fi
done
echo "$good of $runs runs without a lost or doubled step"
[ "$good" = "$runs" ]
