#!/usr/bin/env bash
# Runs test programs, echoes their output, and counts the "ok -" / "not ok -" lines they
# print. A program that dies or exits non-zero without reporting a failure counts as one
# failed test. Ends with the line "N passed, N failed".
# Programs run TEST_JOBS at a time (default: the cores): most of an integration test's time is
# spent waiting on a daemon or a browser, so on 2 cores two at a time halve make test's wall
# time. Each program's output is printed whole, in the order given, as soon as it and every
# program before it are done. Every program keeps to its own scratch directory and ports.
set -u
# Idle OpenMP threads sleep instead of spinning: on a loaded 2-core machine spinning threads
# of tiny test-sized regions starve each other (seconds become minutes).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
jobs_max=${TEST_JOBS:-$(nproc)}
programs=("$@")
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
passed=0
failed=0

# run_program I: runs program I, leaving its output, exit status and duration in $results/I.*.
run_program() {
  local start=$SECONDS
  "${programs[$1]}" > "$results/$1.out" 2>&1
  echo $? > "$results/$1.rc.tmp"
  echo $((SECONDS - start)) > "$results/$1.secs"
  mv "$results/$1.rc.tmp" "$results/$1.rc"
}

# report_program I: prints program I's output and adds its lines to the counts.
report_program() {
  local t=${programs[$1]} out="$results/$1.out" rc p f
  rc=$(cat "$results/$1.rc")
  echo "== $t"
  cat "$out"
  echo "# $t took $(cat "$results/$1.secs") s" # what to trim when make test nears its 10 minutes
  p=$(grep -c '^ok - ' "$out")
  f=$(grep -c '^not ok - ' "$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

next_to_start=0
next_to_report=0
running=0
while [ $next_to_report -lt ${#programs[@]} ]; do
  while [ $running -lt "$jobs_max" ] && [ $next_to_start -lt ${#programs[@]} ]; do
    run_program $next_to_start &
    next_to_start=$((next_to_start + 1))
    running=$((running + 1))
  done
  wait -n
  running=$((running - 1))
  while [ $next_to_report -lt $next_to_start ] && [ -e "$results/$next_to_report.rc" ]; do
    report_program $next_to_report
    next_to_report=$((next_to_report + 1))
  done
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
