#!/usr/bin/env bash
# Data-parallel throughput on this machine (issue 29): simmim-train on one process with 1
# thread, one process with 2 threads, and 2 ranks of 1 thread under mpirun, on the same
# pretraining (a Fashion-MNIST subset, cached), rounds interleaved as make bench does (the
# load of this shared host drifts). Per run: images/s after the first step (the progress
# events' img_per_s, weighted by their steps) and, for 2 ranks, the share of the step spent in
# the gradient exchange (progress exchange_s over the wall time of the same steps). Then
# tests/bench/overlap.c: whether overlapping the all-reduce with the backward pass wins here.
#   BENCH_PRESET (fmnist-q), BENCH_STEPS (40), BENCH_REPS (3 rounds); the output is the table
#   of docs/performance.md's "Several processes" and tests/bench/results/issue29-ranks.txt.
#   BENCH_STREAM=1 streams the images instead (issue 26's loader, data.cache_mb 0) from
#   Fashion-MNIST written as a PNG folder (build/bench/fmnist-png, made by make bench-data):
#   each rank decodes only its share of a step's images.
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${BENCH_PRESET:-fmnist-q}
steps=${BENCH_STEPS:-40}
reps=${BENCH_REPS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
if [ "${BENCH_STREAM:-0}" = 1 ]; then
  [ -d build/bench/fmnist-png/train ] || { echo "bench_ranks.sh: BENCH_STREAM=1 needs build/bench/fmnist-png (make bench-data writes it)" >&2; exit 1; }
  data="\"dataset\": {\"format\": \"imagefolder\", \"path\": \"$PWD/build/bench/fmnist-png\"}, \"data\": {\"cache_mb\": 0}"
  what="Fashion-MNIST streamed from a PNG folder (data.cache_mb 0)"
else
  python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/fm" 20480 256
  data="\"dataset\": {\"format\": \"idx\", \"path\": \"$tmp/fm\"}"
  what="a cached IDX subset of Fashion-MNIST"
fi
spec() { # spec FILE THREADS RANKS
  cat > "$1" <<JSON
{"kind": "pretrain", $data, "model": {"preset": "$preset"},
 "train": {"total_steps": $steps, "batch_size": 256, "threads": $2, "ranks": $3},
 "eval": {"knn": {"enabled": false}},
 "schedule": {"progress_every_steps": 10, "checkpoint_every_steps": 100000, "preview_every_steps": 100000}}
JSON
}
spec "$tmp/1x1.json" 1 1
spec "$tmp/1x2.json" 2 1
spec "$tmp/2x1.json" 1 2
# rate RUN_DIR: img/s over the steps after the first, and the exchange's share of them
rate() {
  python3 - "$1/events.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
prog = [e for e in ev if e["event"] == "progress"]
wall = sum((e["step"] - p["step"]) * 256 / e["img_per_s"] for p, e in zip(prog, prog[1:]))
images = (prog[-1]["step"] - prog[0]["step"]) * 256
exch = sum(e.get("exchange_s", 0) for e in prog[1:])
print("%.1f %.4f" % (images / wall, exch / wall))
PY
}
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $preset pretraining on $what, batch 256 (2 ranks: 128 each), $steps steps, img/s after step 10"
printf "%-6s %14s %14s %14s %12s\n" round "1 proc 1 thr" "1 proc 2 thr" "2 ranks 1 thr" "exchange"
for r in $(seq "$reps"); do
  build/simmim-train --spec "$tmp/1x1.json" --run-dir "$tmp/a$r" > /dev/null 2>&1
  build/simmim-train --spec "$tmp/1x2.json" --run-dir "$tmp/b$r" > /dev/null 2>&1
  "${mpi[@]}" build/simmim-train --spec "$tmp/2x1.json" --run-dir "$tmp/c$r" > /dev/null 2>&1
  read -r a _ <<< "$(rate "$tmp/a$r")"
  read -r b _ <<< "$(rate "$tmp/b$r")"
  read -r c share <<< "$(rate "$tmp/c$r")"
  printf "%-6s %14s %14s %14s %11.1f%%\n" "$r" "$a" "$b" "$c" "$(python3 -c "print($share * 100)")"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The all-reduce overlapped with the backward pass, on a stand-in step (tests/bench/overlap.c):
# the gradients of fmnist-q (806,160 floats) and of a 22M-parameter model.
mpicc -std=c11 -O2 -Wall -Wextra -Werror -pthread tests/bench/overlap.c -o "$tmp/overlap"
for floats in 806160 22000000; do "${mpi[@]}" "$tmp/overlap" "$floats" 200; done
