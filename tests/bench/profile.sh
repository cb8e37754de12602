#!/usr/bin/env bash
# Per-op profile of the training step with linux-perf (call graphs through OpenBLAS), for
# this working tree and optionally an older revision built beside it, printed side by side:
#   tests/bench/profile.sh [--before REV] [bench_step args, default: fmnist-q pretrain]
# e.g. tests/bench/profile.sh --before c10f33d --preset vit-t16-224 --batch 32 --threads 1
# The share of each op comes from perf samples; its ms per step = share × the step time
# bench_step measured in the same (profiled) run.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=
if [ "${1:-}" = --before ]; then before=$2; shift 2; fi
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--preset fmnist-q --kind pretrain --batch 256 --threads 2)
out=build/profile/$(echo "${args[*]}" | tr -c 'a-zA-Z0-9.\n-' _)
mkdir -p "$out"
deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev

# profile LABEL BENCH_STEP_BINARY → LABEL=script:img_per_s:batch on stdout
profile() {
  local label=$1 bin=$2
  perf record -q --call-graph dwarf,16384 -F 250 -o "$out/$label.data" \
    "$bin" --steps 3 --reps 3 "${args[@]}" > "$out/$label.json" 2>/dev/null
  perf script -i "$out/$label.data" -F tid,time,ip,sym --no-inline > "$out/$label.txt" 2>/dev/null
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%s=%s:%s:%s" % (sys.argv[2], sys.argv[3], r["img_per_s"], r["batch"]))' \
    "$out/$label.json" "$label" "$out/$label.txt"
}

runs=()
if [ -n "$before" ]; then
  tree=$(mktemp -d)
  trap 'git worktree remove --force "$tree"' EXIT
  git worktree add -q --detach "$tree" "$before"
  make -s -C "$tree" build/bench_step >/dev/null
  runs+=("$(profile before "$tree/build/bench_step")")
fi
make -s build/bench_step
runs+=("$(profile now build/bench_step)")
python3 tests/bench/profile.py "${runs[@]}"
