#!/usr/bin/env bash
# Runs libFuzzer harnesses (build/fuzz/fuzz_<name>, built by `make fuzz`) one after another,
# FUZZ_SECONDS each (default 60), each on its seed corpus tests/fuzz/corpus/<name>/ and its
# regression inputs; new corpus entries go to build/fuzz/corpus/<name>/, a crash's input to
# build/fuzz/crashes/<name>/, the whole output to build/fuzz/logs/<name>.log. Prints per
# harness the executions, exec/s, coverage (libFuzzer's cov: edges and ft: features from its
# final stats line) and crashes, and writes the same table to tests/bench/results/fuzz.md
# (FUZZ_RESULTS to write elsewhere).
#   tests/fuzz/run.sh [NAME...]    default: every harness
# A harness stops at its first crash (libFuzzer's default): the crash is reported with its
# input, to become a regression input in tests/fuzz/regressions/<name>/ once understood.
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
results=${FUZZ_RESULTS:-tests/bench/results/fuzz.md}
# default: every harness there is a file of
[ $# -gt 0 ] || set -- $(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')

# What each harness feeds its parser, for the table.
declare -A what=(
  [spec]="job spec: spec_parse, spec_to_json round trip, spec_adopt_model"
  [idx]="IDX dataset dir (4 files, raw / gzip / corrupt .gz / absent): dataset_idx_shape, dataset_load, dataset_map_idx against it"
  [png]="PNG file: image_decode_file to 1 and 3 channels, image_fit"
  [jpeg]="JPEG file: image_decode_file to 1 and 3 channels, image_fit"
  [safetensors]="safetensors file: safetensors_read, find, meta"
  [checkpoint]="weights file: checkpoint_read (safetensors + __metadata__)"
  [state]="training state file: checkpoint_state_read"
  [http]="raw bytes on a loopback connection to an in-process simmimd: parsing, routing, token, query, bodies, Range"
  [tar]="tar shard (plain or gzip): shards_list, shard_next with and without the image bytes, shards_scan"
  [study]="POST /api/v1/studies body: study_plan (axes, presets, seeds, cells, each run's spec checked)"
  [stream]="JPEG or PNG bytes: stream_decode, evaluation and training views (crops, DCT scales, flips), 1 and 3 channels"
)

mkdir -p build/fuzz/logs
# The harnesses write each input to a file: on tmpfs that is 20-30 times faster than on disk.
scratch=build/fuzz/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
crash_notes=()
total_crashes=0
printf '%-12s %10s %8s %7s %7s %9s %s\n' harness executions exec/s cov ft corpus crashes
for name in "$@"; do
  bin=build/fuzz/fuzz_$name
  if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is not built (make fuzz builds it)" >&2
    exit 2
  fi
  log=build/fuzz/logs/$name.log
  mkdir -p "build/fuzz/corpus/$name" "build/fuzz/crashes/$name"
  dirs=("build/fuzz/corpus/$name" "tests/fuzz/corpus/$name")
  [ -d "tests/fuzz/regressions/$name" ] && dirs+=("tests/fuzz/regressions/$name")
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
  seeds=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
  TMPDIR=$scratch "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -artifact_prefix="build/fuzz/crashes/$name/" \
    "${dict[@]}" "${dirs[@]}" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$last")
  crashes=0
  if [ $rc -ne 0 ]; then
    crashes=1
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    kind=$(grep -m1 -E '^SUMMARY: |^==[0-9]+==ERROR: |fuzz check failed|runtime error' "$log" |
           cut -c1-200)
    crash_notes+=("- **$name**: ${kind:-exit status $rc} — input \`${input:-none written}\`, log \`$log\`")
    total_crashes=$((total_crashes + 1))
  fi
  printf '%-12s %10s %8s %7s %7s %9s %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "$seeds→${corp:-?}" "$crashes"
  rows+=("| $name | ${what[$name]:-} | $seconds | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $seeds → ${corp:-?} | $crashes |")
done

model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# Fuzzing: make fuzz"
  echo
  echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"\
       "$model, $(nproc) cores; $(clang --version | head -1)."
  echo "Each harness ran alone (one libFuzzer process on one core) for FUZZ_SECONDS=$seconds s"
  echo "under ASan and UBSan, starting from its seed corpus (tests/fuzz/corpus/) and the corpus"
  echo "kept in build/fuzz/corpus/ by earlier runs on this machine. cov: edges and ft: features"
  echo "are libFuzzer's, from its last stats line; corpus is seed files → inputs kept at the end."
  echo "Load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "(other work on the machine slows the harnesses; exec/s are lower bounds)."
  echo
  echo "| harness | input | seconds | executions | exec/s | cov | ft | corpus | crashes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  if [ $total_crashes -eq 0 ]; then
    echo "No crash found."
  else
    echo "Crashes (each harness stops at its first):"
    echo
    printf '%s\n' "${crash_notes[@]}"
  fi
} > "$results"
echo "figures written to $results"
[ $total_crashes -eq 0 ]
